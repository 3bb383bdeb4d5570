"""Gradual magnitude pruning (Zhu & Gupta 2017) and random pruning on the same schedule.

Gale, Elsen & Hooker 2019, Sec. 3.1 and 3.4. The sparsity of the masked weights follows the
cubic schedule

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))**3,   t = t0, t0 + dt, ..., t0 + n*dt,

from the initial sparsity ``s_i`` at step ``t0`` to the target ``s_f`` at ``t0 + n*dt`` (it is
``s_i`` before and ``s_f`` after). At each of those steps the mask is updated so that exactly
``round(s_t * N)`` weights are masked, ``N`` counted per layer (``scope="layer"``, the same
sparsity in every layer as in Gale et al. 2019) or over all prunable weights (``scope="global"``):

* magnitude pruning masks the active weights of smallest ``|w|``;
* random pruning masks active weights chosen uniformly at random (Gale et al. 2019, Sec. 3.4:
  "selecting the weights to be pruned each step at random ... and does not allow pruned weights to
  reactivate"; a lower bound of the trade-off curve).

A masked weight never comes back, and after every optimizer step the masks are applied, so
pruned weights are exactly zero at all times; their momentum (``momentum_buffer`` of SGD,
``exp_avg`` of Adam) is zeroed too, as masking the gradient would. Biases and normalisation
parameters are never masked.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from landscape.pruning._masks import (
    apply_masks,
    count_active,
    load_masks,
    masks_state,
    prunable_parameters,
    prune_lowest,
    zero_masked_state,
)
from landscape.pruning._options import resolve_sparsity, steps_option
from landscape.seeding import generator
from landscape.train.sparsifier import register_sparsifier

__all__ = ["GradualPruning", "MagnitudePruning", "RandomPruning", "cubic_sparsity"]

SCOPES = ("layer", "global")


def cubic_sparsity(step: int, *, initial: float, final: float, begin: int, end: int,
                   frequency: int) -> float:
    """Zhu & Gupta's sparsity ``s_t`` after ``step`` optimizer steps.

    ``n = (end - begin) // frequency`` pruning intervals, so the target is reached at
    ``begin + n * frequency <= end`` (at ``begin`` itself when ``n = 0``: one-shot pruning).

    >>> cubic_sparsity(5, initial=0.0, final=0.5, begin=0, end=10, frequency=1)  # 0.5 (1 - 1/8)
    0.4375
    >>> cubic_sparsity(3, initial=0.0, final=0.8, begin=4, end=10, frequency=2)
    0.0
    """
    n = (end - begin) // frequency
    if step < begin or (step == begin and n > 0):
        return float(initial)
    if n <= 0 or step >= begin + n * frequency:
        return float(final)
    frac = 1.0 - (step - begin) / (n * frequency)
    return float(min(max(final + (initial - final) * frac**3, initial), final))


class GradualPruning:
    """Prune to a target sparsity on Zhu & Gupta's cubic schedule (base of the two selections).

    Args:
        target_sparsity: ``s_f``, the final fraction of masked weights (or give ``density``).
        density: ``1 - s_f`` (what ``--density`` passes); give one of the two.
        initial_sparsity: ``s_i`` (default 0).
        begin_step: ``t0`` (default 0); or ``begin_epoch`` (``t0 = round(e * steps/epoch)``).
        end_step: last step of the schedule (default 75% of the run); or ``end_epoch``.
        frequency: ``dt`` in steps (default a quarter epoch, at least 1).
        scope: ``"layer"`` (same sparsity in every layer) or ``"global"`` (one ranking).
        dense_first_last: keep the first and the last weight tensor dense.
        seed: seed of the random selection (random pruning only); the trainer passes
            ``derive_seed(run seed, "prune")`` unless ``prune_args`` gives one.

    >>> p = MagnitudePruning(target_sparsity=0.5, begin_step=0, end_step=2, frequency=1)
    >>> lin = nn.Linear(5, 2)
    >>> p.bind(lin, torch.optim.SGD(lin.parameters(), lr=0.1), 4, 1)
    >>> p.schedule(1), p.schedule(2)     # 0.5 (1 - 1/8) at the midpoint, then the target
    (0.4375, 0.5)
    >>> p.after_step(1); p.sparsity, int((lin.weight == 0).sum())   # round(0.4375 * 10) = 4
    (0.4, 4)
    """

    selection: ClassVar[str] = "magnitude"

    def __init__(
        self,
        *,
        target_sparsity: float | None = None,
        density: float | None = None,
        initial_sparsity: float = 0.0,
        begin_step: int | None = None,
        end_step: int | None = None,
        begin_epoch: float | None = None,
        end_epoch: float | None = None,
        frequency: int | None = None,
        scope: str = "layer",
        dense_first_last: bool = False,
        seed: int = 0,
    ) -> None:
        self.target = resolve_sparsity(target_sparsity, density, what=self.selection)
        if not (isinstance(initial_sparsity, int | float) and 0 <= initial_sparsity <= self.target):
            raise ValueError(f"initial_sparsity must be in [0, target_sparsity={self.target}], "
                             f"got {initial_sparsity!r}")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        if frequency is not None and not (isinstance(frequency, int) and frequency >= 1):
            raise ValueError(f"frequency must be an integer number of steps >= 1, "
                             f"got {frequency!r}")
        self.initial = float(initial_sparsity)
        self._when = {"begin": (begin_step, begin_epoch), "end": (end_step, end_epoch)}
        self.frequency = frequency
        self.scope = scope
        self.dense_first_last = bool(dense_first_last)
        self.seed = int(seed)
        self.step = 0
        self.pruned_at: list[int] = []

    # -- binding -------------------------------------------------------------------------------
    def bind(self, model: nn.Module, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
             epochs: int) -> None:
        """Resolve the schedule for this run, start with dense masks and prune at step 0."""
        self.params = prunable_parameters(model, dense_first_last=self.dense_first_last)
        self.optimizer = optimizer
        total = steps_per_epoch * epochs
        self.begin = steps_option("begin", *self._when["begin"], steps_per_epoch, default=0)
        self.end = steps_option("end", *self._when["end"], steps_per_epoch,
                                default=max(self.begin, round(0.75 * total)))
        if self.frequency is None:
            self.frequency = max(1, steps_per_epoch // 4)
        if self.end < self.begin:
            raise ValueError(f"the schedule ends (step {self.end}) before it begins (step "
                             f"{self.begin}): pass end_step >= begin_step")
        if total and self.end > total:
            raise ValueError(
                f"the schedule ends at step {self.end} but the run has {total} steps "
                f"({epochs} epochs x {steps_per_epoch}): the target would never be reached; "
                "lower end_step/end_epoch or train longer"
            )
        self.masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in self.params.items()}
        if self.begin == 0:
            self._prune(0)

    # -- schedule ------------------------------------------------------------------------------
    def schedule(self, step: int) -> float:
        """``s_t`` after ``step`` steps (see :func:`cubic_sparsity`)."""
        return cubic_sparsity(step, initial=self.initial, final=self.target, begin=self.begin,
                              end=self.end, frequency=self.frequency)

    def is_pruning_step(self, step: int) -> bool:
        """Whether the mask is updated after ``step`` (``t0 + k*dt``, ``k = 0..n``)."""
        n = (self.end - self.begin) // self.frequency
        k, r = divmod(step - self.begin, self.frequency)
        return step >= self.begin and r == 0 and k <= n

    @property
    def sparsity(self) -> float:
        """Fraction of masked entries over all prunable weights."""
        total = sum(m.numel() for m in self.masks.values())
        return 1.0 - count_active(self.masks) / total

    # -- the trainer's calls -------------------------------------------------------------------
    def after_step(self, step: int) -> None:
        """Keep pruned weights at zero; on a schedule step, prune to ``s_t``."""
        self.step = step
        if self.is_pruning_step(step):
            self._prune(step)
        apply_masks(self.params, self.masks)
        zero_masked_state(self.optimizer, self.params, self.masks)

    def on_epoch_end(self, epoch: int) -> None:
        """Nothing to do at epoch ends: the schedule counts steps."""

    def state_dict(self) -> dict[str, Any]:
        """Masks and schedule position (plain values and tensors)."""
        return {"kind": self.selection, "step": self.step, "pruned_at": list(self.pruned_at),
                "masks": masks_state(self.masks)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output and apply its masks.

        Raises:
            ValueError: the state is of another sparsifier or another model.

        """
        if state.get("kind") != self.selection:
            raise ValueError(f"the checkpoint's sparsifier state is {state.get('kind')!r}, "
                             f"this run prunes with {self.selection!r}")
        self.masks = load_masks(state["masks"], self.params, what=f"{self.selection} pruning")
        self.step = int(state["step"])
        self.pruned_at = [int(s) for s in state["pruned_at"]]
        apply_masks(self.params, self.masks)

    # -- selection -----------------------------------------------------------------------------
    def _scores(self, step: int) -> dict[str, Tensor]:
        if self.selection == "magnitude":
            return {n: p.detach().abs() for n, p in self.params.items()}
        g = generator(self.seed, "random-prune", step)
        return {n: torch.rand(p.shape, generator=g, dtype=torch.float64).to(p.device)
                for n, p in self.params.items()}

    @torch.no_grad()
    def _prune(self, step: int) -> None:
        target = self.schedule(step)
        scores = self._scores(step)
        if self.scope == "layer":
            for n, m in self.masks.items():
                k = round(target * m.numel()) - (m.numel() - int(m.sum()))
                if k > 0:
                    self.masks[n] = prune_lowest(scores[n], m, k)
        else:
            names = list(self.masks)
            flat = torch.cat([self.masks[n].flatten() for n in names])
            k = round(target * flat.numel()) - (flat.numel() - int(flat.sum()))
            if k > 0:
                score = torch.cat([scores[n].flatten().to(torch.float64) for n in names])
                flat = prune_lowest(score, flat, k)
                for n, part in zip(names, flat.split([self.masks[n].numel() for n in names])):
                    self.masks[n] = part.view_as(self.masks[n])
        self.pruned_at.append(step)
        apply_masks(self.params, self.masks)
        zero_masked_state(self.optimizer, self.params, self.masks)


@register_sparsifier("magnitude", "gradual magnitude pruning, Zhu & Gupta cubic schedule "
                     "(target_sparsity, begin_step, end_step, frequency, scope)")
class MagnitudePruning(GradualPruning):
    """Gradual magnitude pruning: mask the active weights of smallest ``|w|``.

    Gale et al. 2019, Sec. 3.1.
    """

    selection: ClassVar[str] = "magnitude"


@register_sparsifier("random", "random pruning on the magnitude schedule, no regrowth")
class RandomPruning(GradualPruning):
    """Random pruning on the same cubic schedule, never regrowing (Gale et al. 2019, Sec. 3.4).

    >>> p = RandomPruning(density=0.25, begin_step=0, end_step=0, seed=1)   # one-shot at 0
    >>> lin = nn.Linear(8, 4, bias=False)
    >>> p.bind(lin, torch.optim.SGD(lin.parameters(), lr=0.1), 1, 1)
    >>> int((lin.weight != 0).sum())       # round(0.25 * 32)
    8
    """

    selection: ClassVar[str] = "random"
