"""The process group, set up from the environment variables that ``torchrun`` exports.

``torchrun --nproc-per-node N -m landscape ...`` starts ``N`` copies of the command line and
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in each. The
library never starts processes itself. :func:`context` reads those variables once and returns a
:class:`DistContext`:

* ``WORLD_SIZE`` unset (or ``1``): a single process; ``torch.distributed`` is not touched, every
  helper of this package is the identity, and results are bit-identical to a plain run.
* ``WORLD_SIZE > 1``: the default process group is initialised (``env://``) with backend
  ``nccl`` when CUDA is present and ``gloo`` otherwise (override with ``LANDSCAPE_DIST_BACKEND``);
  with NCCL each process uses ``cuda:LOCAL_RANK``, so ``--device auto``/``cuda`` means the
  process's own GPU.

Rank 0 is the only writer of run directories and of the result store (``is_main``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["BACKEND_ENV", "DistContext", "barrier", "context", "destroy", "init_from_env"]

BACKEND_ENV = "LANDSCAPE_DIST_BACKEND"
_BACKENDS = ("gloo", "nccl")

_CURRENT: DistContext | None = None


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job.

    Attributes:
        rank: global rank ``0 .. world_size - 1``.
        world_size: number of processes.
        local_rank: rank on this node (the GPU index under NCCL).
        backend: ``"gloo"``, ``"nccl"`` or ``None`` for a single process.

    >>> ctx = DistContext(rank=0, world_size=1, local_rank=0, backend=None)
    >>> ctx.distributed, ctx.is_main
    (False, True)
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str | None

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process (collectives are real)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the only writer of files."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"environment variable {name}={text!r} is not an integer: launch with torchrun, "
            "which sets RANK, WORLD_SIZE and LOCAL_RANK"
        ) from None


def init_from_env(*, backend: str | None = None, timeout_s: float = 1800.0) -> DistContext:
    """Initialise the process group from ``torchrun``'s variables (idempotent).

    Args:
        backend: ``"gloo"`` or ``"nccl"``; default ``$LANDSCAPE_DIST_BACKEND``, else ``nccl``
            when CUDA is available and ``gloo`` otherwise.
        timeout_s: collective timeout (long enough for rank 0 to write a checkpoint while the
            others wait).

    Returns:
        The :class:`DistContext` (also returned by :func:`context` from now on).

    Raises:
        ValueError: malformed variables, an unknown backend, or NCCL without CUDA.
        RuntimeError: ``WORLD_SIZE > 1`` but ``torch.distributed`` is not available.

    """
    global _CURRENT
    if _CURRENT is not None:
        return _CURRENT
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(
            f"RANK={rank} and WORLD_SIZE={world} are inconsistent (need 0 <= RANK < WORLD_SIZE)"
        )
    if world == 1:
        _CURRENT = DistContext(rank=0, world_size=1, local_rank=0, backend=None)
        return _CURRENT
    if not dist.is_available():
        raise RuntimeError(
            f"WORLD_SIZE={world} but this PyTorch build has no torch.distributed: install a "
            "build with distributed support or run a single process"
        )
    if dist.is_initialized():  # set up by the caller: adopt it
        _CURRENT = DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                               local_rank=local, backend=str(dist.get_backend()))
        return _CURRENT
    name = backend or os.environ.get(BACKEND_ENV) or (
        "nccl" if torch.cuda.is_available() else "gloo")
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    if name == "nccl":
        if not torch.cuda.is_available():
            raise ValueError("backend 'nccl' needs CUDA, which is not available: use gloo")
        torch.cuda.set_device(local % torch.cuda.device_count())
    dist.init_process_group(name, init_method="env://", rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    _CURRENT = DistContext(rank=rank, world_size=world, local_rank=local, backend=name)
    return _CURRENT


def context() -> DistContext:
    """The current :class:`DistContext`, initialising from the environment on first use."""
    return _CURRENT if _CURRENT is not None else init_from_env()


def barrier() -> None:
    """Wait for every rank (a no-op in a single process)."""
    if context().distributed:
        if context().backend == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def destroy() -> None:
    """Tear the process group down and forget the context (for tests and clean exits)."""
    global _CURRENT
    with contextlib.suppress(RuntimeError, ValueError):
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    _CURRENT = None
