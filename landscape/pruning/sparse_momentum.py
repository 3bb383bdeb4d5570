"""Sparse momentum (Dettmers & Zettlemoyer 2019): prune, redistribute and regrow every epoch.

Dettmers & Zettlemoyer 2019, Sec. 3 and Algorithm 1. The network starts sparse: every prunable layer
keeps a random ``density`` fraction of its weights. At the end of every epoch ``e`` (0-based,
``E`` epochs), with the prune rate cosine-decayed from ``p0 = 0.5`` to zero at the last epoch,

    p_e = p0 * (1 + cos(pi * (e + 1) / E)) / 2,

1. (a) redistribution: the contribution of layer ``i`` is the mean ``|M_i|`` over its active
   weights, sum-normalised over the layers (``M`` the momentum);
2. (b) pruning: each layer masks ``round(p_i * nonzero_i)`` of its active weights of smallest
   ``|w|``, with ``p_i = min(p_e, sparsity_i)`` (the paper's edge case for dense layers);
3. (c) regrowth: the ``R`` weights removed in total are handed out in proportion to the
   contributions (largest remainders; a layer given more than it has room for passes the
   excess equally to the others, the paper's other edge case), and each layer activates its
   inactive weights of largest ``|M|``, the ones pruned in (b) included. Every regrown weight
   starts at exactly zero: (b) zeroes the pruned weights first, as Algorithm 1 does.

So the number of active weights, the density, is the same after every redistribution. The
paper uses ``floor(p_i * total_nonzero * contribution_i)``, which lets the density drift down
by a few weights per epoch; we hand out exactly ``R``.

The momentum ``M`` is the optimizer's own (``momentum_buffer`` of SGD/RMSprop with momentum,
``exp_avg`` of Adam); optimizers without one (plain SGD, gRDA, Adagrad) get an exponentially
smoothed gradient kept here, ``M <- beta * M + (1 - beta) * g`` (Dettmers & Zettlemoyer 2019,
Sec. 3.2). The momentum of a missing weight is the growth signal (Sec. 3.2: it estimates "how
quickly the error would change if these weights would be included"), so it keeps accumulating
while the weight is masked; a weight's momentum is zeroed when it is pruned and not regrown (a
regrown weight keeps the momentum that chose it). Masks are applied after every optimizer step, so
masked weights are exactly zero. Biases and normalisation parameters stay dense;
``dense_first_last`` keeps the first and last weight tensors dense too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from landscape.pruning._masks import (
    apply_masks,
    count_active,
    grow_highest,
    load_masks,
    masks_state,
    prunable_parameters,
    prune_lowest,
    random_masks,
    zero_masked_state,
)
from landscape.pruning._options import resolve_sparsity
from landscape.seeding import generator
from landscape.train.sparsifier import register_sparsifier

__all__ = ["SparseMomentum", "allocate_regrowth", "cosine_prune_rate"]

MOMENTUM_SOURCES = ("auto", "optimizer", "own")


def cosine_prune_rate(epoch: int, epochs: int, initial: float = 0.5) -> float:
    """``p_e = p0 (1 + cos(pi (e + 1) / E)) / 2``: the rate used after 0-based epoch ``e``.

    >>> cosine_prune_rate(0, 2), cosine_prune_rate(1, 2)     # p0/2 half-way, 0 at the end
    (0.25, 0.0)
    """
    return float(initial * (1.0 + math.cos(math.pi * (epoch + 1) / max(epochs, 1))) / 2.0)


def allocate_regrowth(total: int, contributions: list[float], capacity: list[int]) -> list[int]:
    """Split ``total`` regrown weights over layers in proportion to ``contributions``.

    Largest remainders make the parts add up to ``total`` exactly; a part above the layer's
    ``capacity`` is cut and the excess is split equally among the layers with room left.

    >>> allocate_regrowth(10, [0.5, 0.3, 0.2], [100, 100, 100])
    [5, 3, 2]
    >>> allocate_regrowth(10, [0.8, 0.1, 0.1], [4, 100, 100])    # 8 -> 4, excess 4 -> 2 + 2
    [4, 3, 3]

    Raises:
        ValueError: the layers cannot hold ``total`` weights.

    """
    if total > sum(capacity):
        raise ValueError(f"cannot regrow {total} weights into layers with room for "
                         f"{sum(capacity)}")
    s = sum(contributions)
    shares = ([c / s for c in contributions] if s > 0
              else [1.0 / len(contributions)] * len(contributions))
    raw = [total * c for c in shares]
    parts = [math.floor(r) for r in raw]
    left = total - sum(parts)
    for i in sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))[:left]:
        parts[i] += 1
    excess = 0
    for i, cap in enumerate(capacity):
        if parts[i] > cap:
            excess += parts[i] - cap
            parts[i] = cap
    while excess:
        room = [i for i, cap in enumerate(capacity) if parts[i] < cap]
        each, extra = divmod(excess, len(room))
        excess = 0
        for j, i in enumerate(room):
            want = parts[i] + each + (1 if j < extra else 0)
            parts[i] = min(want, capacity[i])
            excess += want - parts[i]
    return parts


@register_sparsifier("sparse-momentum", "sparse momentum (Dettmers & Zettlemoyer): fixed density, "
                     "per-epoch prune / momentum redistribution / momentum regrowth")
class SparseMomentum:
    """Sparse momentum at a fixed density (Dettmers & Zettlemoyer 2019, Algorithm 1).

    Args:
        density: fraction of active prunable weights (or give ``target_sparsity``).
        target_sparsity: ``1 - density``.
        prune_rate: ``p0``, the initial prune rate (0.5 in the paper), cosine-decayed to 0.
        dense_first_last: keep the first and the last weight tensor dense.
        momentum: ``"auto"`` (the optimizer's momentum when it has one, else ``"own"``),
            ``"optimizer"`` (require it) or ``"own"`` (smoothed gradient kept here).
        beta: smoothing factor of the own momentum.
        seed: seed of the random initial masks; the trainer passes
            ``derive_seed(run seed, "prune")`` unless ``prune_args`` gives one.

    >>> sm = SparseMomentum(density=0.25)
    >>> lin = nn.Linear(8, 4)
    >>> sm.bind(lin, torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9), 1, 3)
    >>> int((lin.weight != 0).sum()), int((lin.bias != 0).sum())   # 0.25 * 32; bias dense
    (8, 4)
    """

    def __init__(
        self,
        *,
        density: float | None = None,
        target_sparsity: float | None = None,
        prune_rate: float = 0.5,
        dense_first_last: bool = False,
        momentum: str = "auto",
        beta: float = 0.9,
        seed: int = 0,
    ) -> None:
        self.density = round(1.0 - resolve_sparsity(target_sparsity, density,
                                                    what="sparse-momentum"), 12)
        if not (isinstance(prune_rate, int | float) and 0 <= prune_rate <= 1):
            raise ValueError(f"prune_rate must be in [0, 1], got {prune_rate!r}")
        if momentum not in MOMENTUM_SOURCES:
            raise ValueError(f"momentum must be one of {MOMENTUM_SOURCES}, got {momentum!r}")
        if not (isinstance(beta, int | float) and 0 <= beta < 1):
            raise ValueError(f"beta must be in [0, 1), got {beta!r}")
        self.prune_rate = float(prune_rate)
        self.dense_first_last = bool(dense_first_last)
        self.momentum = momentum
        self.beta = float(beta)
        self.seed = int(seed)
        self.history: list[dict[str, Any]] = []

    def bind(self, model: nn.Module, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
             epochs: int) -> None:
        """Draw the random initial masks (exact density per layer) and apply them.

        Raises:
            ValueError: ``momentum="optimizer"`` with an optimizer that keeps no momentum.

        """
        self.params = prunable_parameters(model, dense_first_last=self.dense_first_last)
        self.optimizer = optimizer
        self.epochs = epochs
        self.key = self._momentum_key(optimizer)
        self.masks = random_masks(self.params, self.density,
                                  generator(self.seed, "sparse-momentum-init"))
        self.own = ({n: torch.zeros_like(p) for n, p in self.params.items()}
                    if self.key is None else {})
        apply_masks(self.params, self.masks)

    def _momentum_key(self, optimizer: torch.optim.Optimizer) -> str | None:
        if self.momentum == "own":
            return None
        group = optimizer.param_groups[0]
        if group.get("momentum", 0):
            return "momentum_buffer"
        if "betas" in group:
            return "exp_avg"
        if self.momentum == "optimizer":
            raise ValueError(f"momentum='optimizer' but {type(optimizer).__name__} keeps no "
                             "momentum: use an optimizer with momentum, or momentum='own'")
        return None

    def momenta(self) -> dict[str, Tensor]:
        """The momentum ``M`` of every prunable tensor (zeros before the first step)."""
        if self.key is None:
            return self.own
        out = {}
        for n, p in self.params.items():
            buf = self.optimizer.state.get(p, {}).get(self.key)
            out[n] = buf if isinstance(buf, Tensor) else torch.zeros_like(p)
        return out

    @property
    def sparsity(self) -> float:
        """Fraction of masked entries over all prunable weights."""
        total = sum(m.numel() for m in self.masks.values())
        return 1.0 - count_active(self.masks) / total

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        """Update the own momentum (if used) and keep masked weights at exactly zero."""
        if self.key is None:
            for n, p in self.params.items():
                if p.grad is not None:
                    self.own[n].mul_(self.beta).add_(p.grad, alpha=1.0 - self.beta)
        apply_masks(self.params, self.masks)

    @torch.no_grad()
    def on_epoch_end(self, epoch: int) -> None:
        """Prune, redistribute and regrow with the rate of this epoch (a no-op at rate 0)."""
        p = cosine_prune_rate(epoch, self.epochs, self.prune_rate)
        if p <= 0:
            return
        momenta = self.momenta()
        names = list(self.masks)
        contrib, removed, pruned = [], [], {}
        for n in names:
            m, mom = self.masks[n], momenta[n]
            active = int(m.sum())
            contrib.append(float(mom.abs()[m].mean()) if active else 0.0)
            p_i = min(p, 1.0 - active / m.numel())
            k = round(p_i * active)
            removed.append(k)
            pruned[n] = prune_lowest(self.params[n].abs(), m, k)
        # Algorithm 1 zeroes the pruned weights before regrowth (W_i[|W_i| < t] = 0), so a
        # weight pruned and regrown in the same round restarts at zero like every regrown one.
        apply_masks(self.params, pruned)
        capacity = [m.numel() - int(pruned[n].sum()) for n, m in self.masks.items()]
        regrow = allocate_regrowth(sum(removed), contrib, capacity)
        old = self.masks
        self.masks = {n: grow_highest(momenta[n].abs(), pruned[n], k)
                      for n, k in zip(names, regrow)}
        lost = {n: old[n] & ~self.masks[n] for n in names}
        apply_masks(self.params, self.masks)
        zero_masked_state(self.optimizer, self.params, {n: ~lost[n] for n in names})
        for n in names:
            if n in self.own:
                self.own[n].masked_fill_(lost[n], 0.0)
        self.history.append({"epoch": epoch, "prune_rate": p, "removed": removed,
                             "regrown": regrow})

    def state_dict(self) -> dict[str, Any]:
        """Masks, the own momentum (if used) and the redistribution history."""
        return {"kind": "sparse-momentum", "masks": masks_state(self.masks),
                "own_momentum": {n: t.detach().cpu().clone() for n, t in self.own.items()},
                "history": [dict(h) for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output and apply its masks.

        Raises:
            ValueError: the state is of another sparsifier or another model.

        """
        if state.get("kind") != "sparse-momentum":
            raise ValueError(f"the checkpoint's sparsifier state is {state.get('kind')!r}, "
                             "this run prunes with 'sparse-momentum'")
        self.masks = load_masks(state["masks"], self.params, what="sparse-momentum")
        own = state.get("own_momentum") or {}
        if self.key is None:
            if set(own) != set(self.params):
                raise ValueError("sparse-momentum: the checkpoint has no smoothed gradient for "
                                 f"{sorted(set(self.params) - set(own))}")
            self.own = {n: own[n].to(p.device, p.dtype, copy=True)
                        for n, p in self.params.items()}
        self.history = [dict(h) for h in state.get("history", [])]
        apply_masks(self.params, self.masks)

