"""The epoch loop that every optimisation of the suite runs on: training and curve fitting.

One loop, one owner: the trainer (:func:`landscape.train.train`) and curve fitting
(:func:`landscape.curves.fit_curve` and the resumable curve runs of the experiment layer)
supply only what one minibatch step computes and what happens at the end of an epoch; the
runner owns everything else. For each epoch ``e = start_epoch .. epochs - 1``:

1. the learning rate of every parameter group is set to ``schedule(e)``;
2. the global random stream (dropout, a ``DataLoader``'s shuffling) is seeded with
   ``derive_seed(seed, stream, e)``, inside ``torch.random.fork_rng`` so that the caller's
   stream is restored afterwards: an epoch's randomness depends on ``(seed, e)`` only, which
   is what makes a resumed run bit-identical to one that never stopped (CPU, deterministic
   algorithms);
3. every minibatch of ``batches(e)``: ``zero_grad``, ``step(e, k, x, y)`` (the forward pass:
   loss, objective, batch size, misclassified count), ``objective.backward()``,
   ``after_backward()``, ``optimizer.step()``, ``after_step(e, step)``. The loss and error
   sums stay on the device (no host synchronisation per step); a non-finite loss is
   detected every ``sync_every`` steps (every step on the CPU, where reading is free; every
   32 steps on an accelerator, where each read waits for the device) and at the end of the
   epoch;
4. at the end of the epoch: ``end_epoch(stats)`` builds the metrics row, then
   ``checkpoint(stats, row)`` and only then ``record(stats, row)`` (a crash in between
   leaves a checkpoint without its metrics row, which a resume restores from the checkpoint;
   never a metrics row without its checkpoint).

Mean minibatch loss and error of the epoch (``stats.loss``, ``stats.error``) are
``sum_k n_k l_k / sum_k n_k`` and ``sum_k wrong_k / sum_k n_k`` (a fraction), summed in
float64.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, NoReturn

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from landscape.seeding import derive_seed

__all__ = ["EpochRunner", "EpochStats", "LossNotFinite", "Step"]

Batches = Iterable[tuple[Tensor, Tensor]]


class LossNotFinite(RuntimeError):
    """The minibatch loss became NaN or infinite."""


@dataclass
class Step:
    """What one minibatch step computed.

    Attributes:
        loss: the mean loss over the minibatch (summed into the epoch's mean loss and
            checked for finiteness); detached or not.
        objective: the tensor to differentiate (``loss`` plus any penalty, or a rescaled
            local loss under data parallelism).
        size: the number of samples ``loss`` is the mean of.
        wrong: misclassified samples of the minibatch (a tensor or int), or ``None`` when
            the epoch's error is not wanted.

    """

    loss: Tensor
    objective: Tensor
    size: int
    wrong: Tensor | int | None = None


@dataclass
class EpochStats:
    """One finished epoch.

    Attributes:
        epoch: epochs completed (``e + 1`` after epoch ``e``).
        step: optimizer steps taken so far.
        lr: the learning rate of the epoch.
        loss: mean minibatch loss over the epoch's samples.
        error: fraction of misclassified samples (``None`` if the steps gave no counts).
        samples: samples seen in the epoch.
        seconds: wall time of the epoch's steps (not of ``end_epoch``).

    """

    epoch: int
    step: int
    lr: float
    loss: float
    error: float | None
    samples: int
    seconds: float

    def row(self) -> dict[str, Any]:
        """The stats as a JSON-able metrics row."""
        return asdict(self)


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool, device: torch.device) -> Iterator[None]:
    """Deterministic kernels for the duration (warn only on CUDA), restored afterwards."""
    if not enabled:
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark = previous[2]


def _not_finite(desc: str, loss: Tensor, epoch: int, step: int, lr: float) -> NoReturn:
    raise LossNotFinite(
        f"{desc}: the loss became non-finite ({loss.item()}) at epoch {epoch + 1} (by step "
        f"{step + 1}, lr {lr:g}): lower the learning rate, or check the data"
    )


class EpochRunner:
    """Runs epochs of minibatch steps with one optimizer (see the module docstring).

    Args:
        optimizer: the optimizer whose ``step()`` follows every backward pass.
        schedule: ``epoch -> learning rate`` (e.g. :func:`landscape.optim.create_schedule`).
        epochs: the total number of epochs (the last epoch run is ``epochs - 1``).
        seed: the run seed.
        stream: the purpose label of the per-epoch global random stream (``"dropout"``).
        device: where the model computes (the sums live there; CUDA's generator is forked).
        model: put in training mode at the start of every epoch (optional).
        deterministic: use deterministic algorithms while running.
        sync_every: steps between reads of the finiteness flag (default 1 on the CPU, 32
            elsewhere).
        diverged: called as ``diverged(loss, epoch, step, lr)`` when a non-finite loss is
            found; must raise (default: :class:`LossNotFinite`).
        progress: draw a bar per epoch (steps) and the ``report`` lines on stderr.
        desc: the name on the bars.

    Raises:
        ValueError: ``epochs`` or ``sync_every`` below 1.

    >>> net = nn.Linear(1, 1, bias=False)
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.0)
    >>> runner = EpochRunner(opt, lambda e: 0.5 / (e + 1), epochs=2, seed=0)
    >>> data = [(torch.ones(1, 1), torch.zeros(1, 1))]
    >>> def step(epoch, k, x, y):
    ...     loss = ((net(x) - y) ** 2).mean()
    ...     return Step(loss, loss, 1)
    >>> rows = []
    >>> _ = runner.run(step, data, record=lambda stats, row: rows.append(row))
    >>> [(r["epoch"], r["step"], r["lr"]) for r in rows]
    [(1, 1, 0.5), (2, 2, 0.25)]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Callable[[int], float],
        *,
        epochs: int,
        seed: int,
        stream: str = "dropout",
        device: torch.device | str = "cpu",
        model: nn.Module | None = None,
        deterministic: bool = False,
        sync_every: int | None = None,
        diverged: Callable[[Tensor, int, int, float], NoReturn] | None = None,
        progress: bool = False,
        desc: str = "train",
    ) -> None:
        if int(epochs) != epochs or epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
        self.device = torch.device(device)
        if sync_every is None:
            sync_every = 1 if self.device.type == "cpu" else 32
        if int(sync_every) != sync_every or sync_every < 1:
            raise ValueError(f"sync_every must be an integer >= 1, got {sync_every!r}")
        self.optimizer, self.schedule = optimizer, schedule
        self.epochs, self.seed, self.stream = int(epochs), int(seed), stream
        self.model, self.deterministic = model, bool(deterministic)
        self.sync_every = int(sync_every)
        self.diverged = diverged or (lambda loss, e, s, lr: _not_finite(desc, loss, e, s, lr))
        self.progress, self.desc = bool(progress), desc

    def set_lr(self, epoch: int) -> float:
        """Set every parameter group's learning rate to ``schedule(epoch)``; return it."""
        lr = float(self.schedule(epoch))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def run(
        self,
        step: Callable[[int, int, Tensor, Tensor], Step],
        batches: Callable[[int], Batches] | Batches,
        *,
        start_epoch: int = 0,
        start_step: int = 0,
        steps_per_epoch: int | None = None,
        after_backward: Callable[[], None] | None = None,
        after_step: Callable[[int, int], None] | None = None,
        end_epoch: Callable[[EpochStats], Mapping[str, Any]] | None = None,
        checkpoint: Callable[[EpochStats, Mapping[str, Any]], None] | None = None,
        record: Callable[[EpochStats, Mapping[str, Any]], None] | None = None,
        report: Callable[[EpochStats, Mapping[str, Any]], str | None] | None = None,
        reduce: Callable[[Tensor], Tensor] | None = None,
    ) -> int:
        """Run epochs ``start_epoch .. epochs - 1``; return the number of steps taken in all.

        Args:
            step: ``step(epoch, k, x, y) -> Step`` for the ``k``-th minibatch of an epoch.
            batches: ``epoch -> iterable of (x, y)`` (called after the epoch's seeding), or
                one re-iterable used every epoch (a ``DataLoader`` shuffles from the seeded
                stream).
            start_epoch: the first epoch to run (a resume passes the epochs already done).
            start_step: the steps already taken (a resume passes the checkpoint's).
            steps_per_epoch: the bar's length (default ``len(batches)`` when it has one).
            after_backward: called between ``backward()`` and ``optimizer.step()`` (e.g. an
                all-reduce of the gradients).
            after_step: ``after_step(epoch, step)`` after every optimizer step.
            end_epoch: ``end_epoch(stats) -> row``: the epoch's metrics row (default
                ``stats.row()``); may raise to stop before the checkpoint.
            checkpoint: ``checkpoint(stats, row)``, called first.
            record: ``record(stats, row)``, called after ``checkpoint``.
            report: ``report(stats, row) -> line`` printed on stderr with ``progress``.
            reduce: applied to the float64 vector ``[loss sum, wrong sum, samples]`` of the
                epoch before the means are taken (a sum over processes when each sees a
                share of every minibatch).

        Returns:
            The optimizer steps taken so far (``start_step`` plus this call's).

        Raises:
            LossNotFinite: (or what ``diverged`` raises) a non-finite minibatch loss; the
                epoch's checkpoint is not written.

        """
        source = batches if callable(batches) else (lambda _epoch: batches)
        devices = [self.device] if self.device.type == "cuda" else []
        total = steps_per_epoch
        if total is None and not callable(batches) and hasattr(batches, "__len__"):
            total = len(batches)  # type: ignore[arg-type]
        count = int(start_step)
        with deterministic_algorithms(self.deterministic, self.device), \
                torch.random.fork_rng(devices=devices):
            for epoch in range(int(start_epoch), self.epochs):
                count = self._epoch(epoch, count, step, source, total, after_backward,
                                    after_step, end_epoch, checkpoint, record, report, reduce)
        return count

    def _epoch(self, epoch: int, count: int, step: Callable[..., Step],
               source: Callable[[int], Batches], total: int | None,
               after_backward: Callable[[], None] | None,
               after_step: Callable[[int, int], None] | None,
               end_epoch: Callable[[EpochStats], Mapping[str, Any]] | None,
               checkpoint: Callable[..., None] | None, record: Callable[..., None] | None,
               report: Callable[..., str | None] | None,
               reduce: Callable[[Tensor], Tensor] | None) -> int:
        lr = self.set_lr(epoch)
        torch.manual_seed(derive_seed(self.seed, self.stream, epoch))
        if self.model is not None:
            self.model.train()
        began = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        wrong_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        seen, counted, loss = 0, True, None
        bar = tqdm(source(epoch), total=total, leave=False, file=sys.stderr,
                   desc=f"{self.desc} {epoch + 1}/{self.epochs}", disable=not self.progress)
        for k, (x, y) in enumerate(bar):
            self.optimizer.zero_grad(set_to_none=True)
            out = step(epoch, k, x, y)
            loss = out.loss
            finite &= torch.isfinite(loss.detach())
            if (count + 1) % self.sync_every == 0 and not bool(finite):
                self.diverged(loss, epoch, count, lr)
            out.objective.backward()
            if after_backward is not None:
                after_backward()
            self.optimizer.step()
            count += 1
            if after_step is not None:
                after_step(epoch, count)
            with torch.no_grad():
                loss_sum += loss.detach().double() * out.size
                if out.wrong is None:
                    counted = False
                else:
                    wrong_sum += out.wrong
            seen += int(out.size)
        if loss is not None and not bool(finite):
            self.diverged(loss, epoch, count, lr)
        sums = torch.stack([loss_sum, wrong_sum,
                            torch.tensor(float(seen), dtype=torch.float64, device=self.device)])
        if reduce is not None:
            sums = reduce(sums)
        total_loss, total_wrong, samples = (float(v) for v in sums.tolist())
        stats = EpochStats(
            epoch=epoch + 1, step=count, lr=lr, loss=total_loss / max(samples, 1.0),
            error=total_wrong / max(samples, 1.0) if counted else None,
            samples=int(samples), seconds=time.perf_counter() - began,
        )
        row = end_epoch(stats) if end_epoch is not None else stats.row()
        if checkpoint is not None:
            checkpoint(stats, row)
        if record is not None:
            record(stats, row)
        if self.progress and report is not None:
            line = report(stats, row)
            if line:
                tqdm.write(line, file=sys.stderr)
        return count
