"""Optimizer registry: ``create_optimizer(name, params, *, lr, l2, weight_decay, **kw)``.

Every optimizer takes either L2 regularisation or decoupled weight decay, never both
(Yaguchi et al. 2018; Mehta et al. 2019 compare the two):

* ``l2``: the gradient of ``l2/2 * ||theta||^2`` is added to the gradient before the update,
  ``g <- g + l2 * theta`` (torch's coupled ``weight_decay`` argument; ``l2`` for gRDA). With
  Adam this term is divided by ``sqrt(v)``, which is what drives whole units to zero
  (Yaguchi et al. 2018).
* ``weight_decay``: decoupled, ``theta <- theta * (1 - lr * weight_decay)`` before the update
  (AdamW's form, Loshchilov & Hutter 2019; ``torch.optim.AdamW`` for the Adam family, the
  wrapper of :mod:`landscape.optim._decay` for the others).

For plain SGD (no momentum) the two coincide: ``theta - lr (g + l2 theta) =
theta (1 - lr l2) - lr g``. For Adam they differ. ``adamw`` is Adam with decoupled weight
decay, so it refuses ``l2`` (use ``adam`` for that); gRDA refuses ``weight_decay`` (its weights
are recomputed from the accumulator every step, so shrinking them would be lost).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from landscape.optim._decay import decoupled
from landscape.optim.grda import GRDA

__all__ = ["OptimizerEntry", "create_optimizer", "list_optimizers", "optimizer_entry"]


@dataclass(frozen=True)
class OptimizerEntry:
    """A registered optimizer.

    Attributes:
        name: registry name.
        cls: the optimizer class used without decay or with L2.
        description: one line for ``--help`` and the README.
        options: keyword options accepted besides ``lr``/``l2``/``weight_decay``.
        fixed: keyword arguments always passed (``amsgrad=True``).
        l2_arg: the constructor argument that implements coupled L2 (``None``: refuses L2).
        decoupled_cls: class used with decoupled weight decay (``None``: refuses it);
            it takes ``weight_decay`` (AdamW) or ``decoupled_weight_decay`` (the wrapper).

    """

    name: str
    cls: type[torch.optim.Optimizer]
    description: str
    options: tuple[str, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    l2_arg: str | None = "weight_decay"
    decoupled_cls: type[torch.optim.Optimizer] | None = None


def _entries() -> dict[str, OptimizerEntry]:
    adam_opts = ("betas", "eps")
    entries = [
        OptimizerEntry("sgd", torch.optim.SGD, "SGD (momentum, nesterov, dampening)",
                       ("momentum", "nesterov", "dampening"),
                       decoupled_cls=decoupled(torch.optim.SGD)),
        OptimizerEntry("adam", torch.optim.Adam, "Adam (Kingma & Ba)", adam_opts,
                       decoupled_cls=torch.optim.AdamW),
        OptimizerEntry("adamw", torch.optim.AdamW,
                       "Adam with decoupled weight decay (Loshchilov & Hutter)", adam_opts,
                       fixed={"weight_decay": 0.0}, l2_arg=None,
                       decoupled_cls=torch.optim.AdamW),
        OptimizerEntry("amsgrad", torch.optim.Adam, "Adam with the AMSGrad maximum", adam_opts,
                       fixed={"amsgrad": True}, decoupled_cls=torch.optim.AdamW),
        OptimizerEntry("rmsprop", torch.optim.RMSprop, "RMSprop (alpha, momentum, centered)",
                       ("alpha", "eps", "momentum", "centered"),
                       decoupled_cls=decoupled(torch.optim.RMSprop)),
        OptimizerEntry("adagrad", torch.optim.Adagrad, "Adagrad",
                       ("lr_decay", "eps", "initial_accumulator_value"),
                       decoupled_cls=decoupled(torch.optim.Adagrad)),
        OptimizerEntry("adadelta", torch.optim.Adadelta, "Adadelta", ("rho", "eps"),
                       decoupled_cls=decoupled(torch.optim.Adadelta)),
        OptimizerEntry("grda", GRDA,
                       "gRDA: dual averaging + growing soft threshold (Chao et al. 2020)",
                       ("c", "mu"), l2_arg="l2"),
    ]
    return {e.name: e for e in entries}


_REGISTRY = _entries()


def list_optimizers() -> list[str]:
    """Return the registered optimizer names, sorted.

    >>> list_optimizers()
    ['adadelta', 'adagrad', 'adam', 'adamw', 'amsgrad', 'grda', 'rmsprop', 'sgd']
    """
    return sorted(_REGISTRY)


def optimizer_entry(name: str) -> OptimizerEntry:
    """Return the registry entry of ``name`` (unknown names list the valid ones)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(
            f"unknown optimizer {name!r}; choose one of: {', '.join(list_optimizers())}"
        )
    return entry


def _coefficient(what: str, value: Any) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def create_optimizer(
    name: str,
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    *,
    lr: float,
    l2: float = 0.0,
    weight_decay: float = 0.0,
    **kw: Any,
) -> torch.optim.Optimizer:
    """Build a registered optimizer with L2 regularisation or decoupled weight decay.

    Args:
        name: one of :func:`list_optimizers`.
        params: parameters or parameter groups.
        lr: learning rate.
        l2: coefficient of the L2 term added to the gradient (``g + l2 * theta``).
        weight_decay: decoupled decay, ``theta <- theta * (1 - lr * weight_decay)``.
        **kw: the optimizer's own options (``momentum``, ``nesterov``, ``dampening``,
            ``betas``, ``eps``, ``alpha``, ``centered``, ``rho``, ``c``, ``mu`` ...; see
            :attr:`OptimizerEntry.options`).

    Returns:
        The optimizer.

    Raises:
        ValueError: unknown name or option, invalid value, or both ``l2`` and
            ``weight_decay`` non-zero.

    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> type(create_optimizer("adam", [w], lr=1e-3, weight_decay=1e-2)).__name__
    'AdamW'
    """
    entry = optimizer_entry(name)
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"optimizer {name!r}: lr must be a positive finite number, got {lr!r}")
    l2 = _coefficient("l2", l2)
    weight_decay = _coefficient("weight_decay", weight_decay)
    if l2 and weight_decay:
        raise ValueError(
            f"optimizer {name!r}: got both l2={l2} and weight_decay={weight_decay}; they are "
            "different regularisers: pass only one (--l2 or --weight-decay)"
        )
    unknown = sorted(set(kw) - set(entry.options))
    if unknown:
        raise ValueError(
            f"optimizer {name!r} has no option(s) {unknown}; its options are "
            f"{list(entry.options)}"
        )
    if "betas" in kw:
        kw["betas"] = tuple(float(b) for b in kw["betas"])
    args: dict[str, Any] = {**entry.fixed, **kw, "lr": lr}
    cls = entry.cls
    if weight_decay:
        if entry.decoupled_cls is None:
            raise ValueError(
                f"optimizer {name!r} takes no decoupled weight decay (its weights are rebuilt "
                "from the accumulator each step); use l2 (--l2) instead"
            )
        cls = entry.decoupled_cls
        key = "weight_decay" if cls is torch.optim.AdamW else "decoupled_weight_decay"
        args[key] = weight_decay
    elif l2:
        if entry.l2_arg is None:
            raise ValueError(
                f"optimizer {name!r} is Adam with decoupled weight decay and takes no L2 term; "
                "for Adam with L2 use --optimizer adam --l2 X, or pass --weight-decay X"
            )
        args[entry.l2_arg] = l2
    try:
        return cls(params, **args)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"optimizer {name!r}: {exc}") from exc
