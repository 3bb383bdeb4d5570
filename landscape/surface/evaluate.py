"""Loss and error at many points of a surface, several points per pass over the data.

At each point ``w(c) = origin + sum_i c_i d_i`` (summed in float64, then cast to the model's
dtype) the model is evaluated in eval mode on the training data (and the test data):

    loss  = (1/N) sum_b n_b loss_fn(f(x_b; w(c)), y_b)   (batch means on float64 outputs,
                                                        weighted and summed in float64),
    error = (1/N) sum_n [argmax f(x_n; w(c)) != y_n]      (a fraction, not percent),

so neither depends on how the data are batched (beyond float64 rounding); ``loss_fn(outputs,
targets)`` returns the mean loss over a batch, as everywhere in the suite. BatchNorm either
keeps the origin's running statistics (``bn="keep"``, Li et al. 2018) or gets the exact
statistics of every point (``bn="recalibrate"``: :func:`landscape.evaluation.recalibrate_bn`,
one pass over the training data per point, as curves do; the evaluation passes are then
shared).

Speed: :class:`SurfaceEvaluator` evaluates K points per pass over the data (K from a memory
budget), so every batch is read and moved once for K points, and the network's input layer
is computed once per batch for all of them (:mod:`landscape.surface._shared`). The K points
run either one after the other on each batch (``strategy="loop"``: each point's values are
bitwise those of evaluating it alone, whatever K and whichever points share its pass) or as
one ``torch.func.vmap`` over ``functional_call`` with stacked parameters (``"vmap"``: fewer,
larger kernels, which pays on a GPU; different kernels, so equal to the loop up to rounding).
Convolutional networks run in channels-last memory format by default (``channels_last=
"auto"``: the same products through the faster kernels of that layout on a CPU, equal up to
rounding). The plain reference is :func:`landscape.evaluation.evaluate_loss_error` (one
point, the model's own forward; :func:`landscape.evaluation.evaluate_weights` with BatchNorm
recalibration), which ``strategy="loop"`` matches bitwise when nothing is shared and the
layout is the model's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from landscape._types import ParamDict
from landscape.evaluation import recalibrate_bn
from landscape.surface._options import BN_MODES, STRATEGIES, check_options, surface_fields
from landscape.surface._shared import (
    InputLayerShare,
    activation_bytes_per_sample,
    find_input_layer,
)
from landscape.surface.directions import SurfaceDirections

__all__ = [
    "BN_MODES",
    "STRATEGIES",
    "SurfaceEvaluator",
    "cross_entropy",
    "top1_wrong",
]

_PIECE_BYTES = 32 * 2**20  # max_batch="auto": activations of one piece on a CPU
Batches = Iterable[tuple[Tensor, Tensor]]
LossFn = Callable[[Tensor, Tensor], Tensor]


def cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy ``mean_n (logsumexp(z_n) - z_{n, y_n})`` (the default ``loss_fn``).

    ``F.cross_entropy`` up to rounding, and several times faster on CPU for a few classes
    (``log_softmax`` takes a slow path there); computed in the outputs' dtype (float64 here).

    >>> z = torch.tensor([[0.0, 0.0], [3.0, 1.0]], dtype=torch.float64)
    >>> y = torch.tensor([0, 1])
    >>> abs(float(cross_entropy(z, y) - torch.nn.functional.cross_entropy(z, y))) < 1e-15
    True
    """
    return (torch.logsumexp(outputs, -1)
            - outputs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)).mean()


def top1_wrong(outputs: Tensor, targets: Tensor) -> Tensor:
    """``1`` where the top-1 class is not the target (the default ``error_fn``)."""
    return outputs.argmax(-1) != targets


def _layout(t: Tensor) -> Tensor:
    """A 4D tensor in channels-last memory format (the same values); others unchanged."""
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def _pieces(x: Tensor, y: Tensor, max_batch: int | None) -> Iterator[tuple[Tensor, Tensor]]:
    if max_batch is None or x.shape[0] <= max_batch:
        yield x, y
    else:
        yield from zip(x.split(max_batch), y.split(max_batch))


class _Sums:
    """Per-point running sums of one pass (float64 on the device: one sync at the end)."""

    def __init__(self, k: int, loss_fn: LossFn, error_fn: LossFn | None) -> None:
        self.loss: list[Tensor | float] = [0.0] * k
        self.wrong: list[Tensor | float] = [0.0] * k
        self.n = 0
        self.loss_fn, self.error_fn = loss_fn, error_fn

    def add(self, k: int, out: Tensor, y: Tensor) -> None:
        value = self.loss_fn(out.double(), y)
        if value.dim() != 0:
            raise TypeError(
                f"loss_fn must return the mean loss over the batch (a scalar), got shape "
                f"{tuple(value.shape)}: use reduction='mean'"
            )
        self.loss[k] = self.loss[k] + value.double() * int(y.shape[0])
        if self.error_fn is not None:
            self.wrong[k] = self.wrong[k] + self.error_fn(out, y).double().sum()

    def result(self, k: int, split: str) -> dict[str, float]:
        if self.n == 0:
            raise ValueError(f"the {split} data are empty: pass at least one (x, y) batch")
        out = {f"{split}_loss": float(self.loss[k]) / self.n}
        if self.error_fn is not None:
            out[f"{split}_error"] = float(self.wrong[k]) / self.n
        return out


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class SurfaceEvaluator:
    """Evaluate many points of one surface, K per pass over the data (module docstring).

    Args:
        model: the network (its own parameters are not used where the origin has a name).
        directions: the surface (origin and directions).
        train: training batches ``(x, y)``, re-iterable (a ``DataLoader`` included).
        test: test batches, or ``None`` (no test fields).
        bn: ``"keep"`` or ``"recalibrate"``.
        bn_data: data of the BatchNorm pass (default: ``train``).
        loss_fn: ``(outputs, targets) -> mean loss over the batch``, given float64 outputs
            (default: cross-entropy).
        error_fn: ``(outputs, targets) -> per-sample 0/1 errors`` (default: top-1), or
            ``None`` for no error fields.
        memory_budget: bytes for the points of one pass (their parameters, and their
            activations under ``vmap``); sets K.
        points_per_pass: K, overriding ``memory_budget``.
        strategy: ``"loop"`` or ``"vmap"``.
        share_input_layer: compute the input layer once per batch for all points:
            ``"auto"`` when its fan-in (multiply-adds per output value) is at least
            ``16 * ndim`` (an MLP on images, not a 3x3 convolution of 1-3 channels, where
            combining the ``1 + ndim`` products costs as much as the layer), ``True``
            whenever it can be shared, ``False`` never.
        max_batch: split data batches into pieces of at most this many samples for the
            evaluation passes (eval mode: the values do not depend on it beyond rounding; the
            BatchNorm pass keeps the data's batches). ``"auto"``: on a CPU, pieces whose
            activations (every module output of one forward) stay under 32 MiB, so they stay
            in cache (a conv net's full-resolution activations of 1,000 images do not: split
            to 127 images, its pass takes about 0.6x the time; an MLP's batches stay whole);
            on other devices the data's batches. ``None``: the data's batches.
        channels_last: evaluate 2D convolutions in channels-last memory format (the points'
            4D weights and the 4D input batches; the same products through other kernels:
            equal up to rounding). ``"auto"``: when the model has a ``Conv2d`` (on a CPU a
            channels-last pass of a small conv net with BatchNorm takes about 0.6x the time
            of the default layout).

    >>> net = nn.Linear(1, 1, bias=False)       # f(x) = w x, the loss (w x - 0)^2 at x = 1
    >>> w = {"weight": torch.zeros(1, 1)}
    >>> d = {"weight": torch.ones(1, 1, dtype=torch.float64)}
    >>> line = SurfaceDirections((d,), w, {"method": "example"}, ("w",))
    >>> data = [(torch.ones(4, 1), torch.zeros(4, 1))]
    >>> ev = SurfaceEvaluator(net, line, data, loss_fn=lambda z, y: ((z - y) ** 2).mean(),
    ...                       error_fn=None)
    >>> ev.evaluate([[0.5], [2.0]])["train_loss"].tolist()
    [0.25, 4.0]

    """

    def __init__(
        self,
        model: nn.Module,
        directions: SurfaceDirections,
        train: Batches,
        test: Batches | None = None,
        *,
        bn: str = "keep",
        bn_data: Batches | None = None,
        loss_fn: LossFn = cross_entropy,
        error_fn: LossFn | None = top1_wrong,
        memory_budget: int = 2**29,
        points_per_pass: int | None = None,
        strategy: str = "loop",
        share_input_layer: bool | str = "auto",
        max_batch: int | str | None = "auto",
        channels_last: bool | str = "auto",
    ) -> None:
        check_options(bn=bn, strategy=strategy, share_input_layer=share_input_layer,
                      max_batch=max_batch, channels_last=channels_last)
        if points_per_pass is not None and int(points_per_pass) < 1:
            raise ValueError(f"points_per_pass must be a positive integer, got "
                             f"{points_per_pass!r}")
        if not memory_budget > 0:
            raise ValueError(f"memory_budget must be a positive number of bytes, got "
                             f"{memory_budget!r}")
        self.model, self.directions = model, directions
        self.train, self.test = train, test
        self.bn, self.bn_data = bn, bn_data if bn_data is not None else train
        self.loss_fn, self.error_fn = loss_fn, error_fn
        self.memory_budget, self.strategy = int(memory_budget), strategy
        self.share_input_layer, self.max_batch = share_input_layer, max_batch
        self.channels_last = channels_last is True or (channels_last == "auto" and any(
            isinstance(m, nn.Conv2d) for m in model.modules()))
        self._fixed_k = int(points_per_pass) if points_per_pass is not None else None
        self._rows = None if max_batch in (None, "auto") else int(max_batch)
        self._probed = False
        self._share: InputLayerShare | None = None
        self._point_bytes = 0
        origin = directions.origin
        self.device = next(iter(origin.values())).device

    @property
    def fields(self) -> tuple[str, ...]:
        """The values computed at every point, in ``PLANE_FIELDS`` order."""
        return surface_fields(test=self.test is not None, errors=self.error_fn is not None)

    @property
    def max_rows(self) -> int | None:
        """Samples per piece of the evaluation passes (``None``: the data's batches)."""
        self._probe()
        return self._rows

    @property
    def shared_layer(self) -> str | None:
        """The module computed once per batch for all points (after the first pass)."""
        return self._share.name if self._share is not None else None

    def _probe(self) -> None:
        """Find the input layer and the bytes one point of a pass needs (one small forward)."""
        if self._probed:
            return
        x, _ = next(iter(self.train))
        x = x.to(self.device)
        origin = self.directions.origin
        probe = x[: min(2, x.shape[0])]
        with _eval_mode(self.model), torch.no_grad():
            if self.share_input_layer is not False:
                least = 16 * self.directions.ndim if self.share_input_layer == "auto" else 0
                self._share = find_input_layer(self.model, origin, self.directions.vectors,
                                               probe, min_fan_in=least)
            per_point = sum(t.numel() * t.element_size() for t in origin.values())
            auto = self.max_batch == "auto" and self.device.type == "cpu"
            sample = (activation_bytes_per_sample(self.model, origin, probe)
                      if self.strategy == "vmap" or auto else 0)
            if auto:
                self._rows = max(1, _PIECE_BYTES // sample)
            if self.strategy == "vmap":
                per_point += 2 * min(x.shape[0], self._rows or x.shape[0]) * sample
        self._point_bytes = per_point
        self._probed = True

    @property
    def points_per_pass(self) -> int:
        """K: the points evaluated per pass over the data."""
        if self._fixed_k is not None:
            return self._fixed_k
        self._probe()
        return max(1, self.memory_budget // max(1, self._point_bytes))

    def evaluate(self, coords: Any) -> dict[str, np.ndarray]:
        """Values at ``coords`` (``[M, ndim]``), ``points_per_pass`` points per data pass.

        Returns:
            One ``[M]`` float64 array per field of :attr:`fields`.

        """
        c = np.asarray(coords, dtype=np.float64).reshape(-1, self.directions.ndim)
        out = {f: np.empty(len(c)) for f in self.fields}
        k = self.points_per_pass
        for start in range(0, len(c), k):
            for i, row in enumerate(self.evaluate_pass(c[start:start + k])):
                for f, v in row.items():
                    out[f][start + i] = v
        return out

    @torch.no_grad()
    def evaluate_pass(self, coords: Any) -> list[dict[str, float]]:
        """Values at ``coords`` (``[K, ndim]``) with one pass over each data set."""
        self._probe()
        c = np.asarray(coords, dtype=np.float64).reshape(-1, self.directions.ndim)
        shared = self._share.params if self._share is not None else {}
        names = [k for k in self.directions.origin if k not in shared]
        if self.bn == "recalibrate":  # the BatchNorm pass needs the whole point
            points = [self.directions.point(row) for row in c]
            buffers = [recalibrate_bn(self.model, p, self.bn_data) for p in points]
            rest = [{k: p[k] for k in names} for p in points]
            del points
        else:  # the shared layer's weights are never built
            rest = [self.directions.point(row, names) for row in c]
            buffers = [{} for _ in rest]
        if self.channels_last:
            rest = [{k: _layout(v) for k, v in p.items()} for p in rest]
        rows: list[dict[str, float]] = [{} for _ in rest]
        with _eval_mode(self.model):
            for split, data in (("train", self.train), ("test", self.test)):
                if data is None:
                    continue
                run = self._vmap_pass if self.strategy == "vmap" else self._loop_pass
                sums = run(rest, buffers, c, data)
                for i, row in enumerate(rows):
                    row.update(sums.result(i, split))
        return rows

    def _batches(self, data: Batches) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in data:
            x = _layout(x.to(self.device)) if self.channels_last else x.to(self.device)
            yield from _pieces(x, y.to(self.device), self._rows)

    def _loop_pass(self, rest: list[ParamDict], buffers: list[ParamDict], coords: np.ndarray,
                   data: Batches) -> _Sums:
        share = self._share
        shared = share.params if share is not None else {}
        sums = _Sums(len(rest), self.loss_fn, self.error_fn)
        with share if share is not None else contextlib.nullcontext():
            for x, y in self._batches(data):
                sums.n += int(y.shape[0])
                if share is not None:
                    share.new_batch()
                for k, p in enumerate(rest):
                    if share is not None:
                        share.coords = [float(v) for v in coords[k]]
                    out = functional_call(self.model, (p, shared, buffers[k]), (x,))
                    self._check_hits()
                    sums.add(k, out, y)
        return sums

    def _vmap_pass(self, rest: list[ParamDict], buffers: list[ParamDict], coords: np.ndarray,
                   data: Batches) -> _Sums:
        share = self._share
        shared = share.params if share is not None else {}
        stacked = {k: torch.stack([p[k] for p in rest]) for k in rest[0]}
        bufs = {k: torch.stack([b[k] for b in buffers]) for k in buffers[0]}
        dtype = next(iter(self.directions.origin.values())).dtype
        ck = torch.as_tensor(coords, dtype=dtype, device=self.device)

        def forward(p: ParamDict, b: ParamDict, c: Tensor, x: Tensor) -> Tensor:
            if share is not None:
                share.coords = [c[j] for j in range(c.shape[0])]
            return functional_call(self.model, (p, shared, b), (x,))

        batched = vmap(forward, in_dims=(0, 0 if bufs else None, 0, None))
        sums = _Sums(len(rest), self.loss_fn, self.error_fn)
        with share if share is not None else contextlib.nullcontext():
            for x, y in self._batches(data):
                sums.n += int(y.shape[0])
                if share is not None:
                    share.new_batch()
                out = batched(stacked, bufs, ck, x)
                self._check_hits()
                for k in range(len(rest)):
                    sums.add(k, out[k], y)
        return sums

    def _check_hits(self) -> None:
        if self._share is not None and self._share.take_hits() != 1:
            raise RuntimeError(
                f"the input layer {self._share.name!r} was not computed exactly once in a "
                "forward: evaluate with share_input_layer=False"
            )
