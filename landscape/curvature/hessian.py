"""The Hessian of the mean loss over an evaluation set, as a linear operator.

``L(theta) = sum_b (|b| / N) * mean_{i in b} loss(f(x_i; theta), y_i)``, so
``H v = sum_b (|b| / N) * H_b v`` with exact batch weights (an uneven last batch included).
Products are exact Hessian-vector products (Pearlmutter 1994, "Fast exact multiplication by
the Hessian"):

* ``"reverse"``: double backward, ``H v = d/dtheta <grad L(theta), v>``;
* ``"forward"``: forward-over-reverse with ``torch.func``, ``H v = jvp(grad L, (theta,), (v,))``;
* ``"cached"`` (default): double backward through the gradient graph of each batch, built
  once and kept while it fits in ``cache_bytes``. The point never moves, so the forward pass
  and first backward are shared by every product an eigensolver makes; batches beyond the
  budget fall back to ``"reverse"``.

A block ``[P, K]`` is pushed through with ``is_grads_batched`` / ``vmap`` (one data pass for
``K`` vectors) when ``block="vmap"``, or column by column when ``block="loop"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, jvp, vmap

from landscape.curvature._functional import (
    FlatLoss,
    batch_weights,
    count_saved_bytes,
    select_names,
)
from landscape.curvature._rewrite import rewrite_for_hvp
from landscape.curvature.operator import CurvatureOperator, eval_mode

__all__ = ["METHODS", "HessianOperator"]

METHODS = ("cached", "reverse", "forward")
_BLOCK_MODES = ("auto", "vmap", "loop")


def _checked_rewrite(model: nn.Module, x: Tensor) -> nn.Module:
    """The rewritten network, if it gives the model's outputs on ``x``; else the model."""
    net = rewrite_for_hvp(model)
    if net is model:
        return model
    with torch.no_grad(), eval_mode(model), eval_mode(net):
        want = model(x)
        try:
            got = net(x)
        except RuntimeError as exc:  # e.g. a view() that channels-last memory cannot serve
            warnings.warn(f"HessianOperator: the rewritten network failed ({exc}); using the "
                          "model as it is (exact, slower products)", stacklevel=3)
            return model
    tol = torch.finfo(want.dtype).eps ** 0.5
    if not torch.allclose(got, want, rtol=tol, atol=tol * float(want.abs().max())):
        warnings.warn("HessianOperator: the rewritten network disagrees with the model; using "
                      "the model as it is (exact, slower products)", stacklevel=3)
        return model
    return net


class HessianOperator(CurvatureOperator):
    """Hessian of the mean loss over ``data`` at fixed parameters, w.r.t. a parameter subset.

    Args:
        model: the network; evaluated with ``torch.func.functional_call`` (its own tensors are
            not modified).
        data: the evaluation set: a :class:`landscape.data.EvalSet` or any re-iterable of
            ``(x, y)`` batches; every pass must yield the same batches.
        params: names (or module prefixes such as ``"hidden.0"``) of the parameters to
            differentiate; ``None`` takes every trainable parameter. Others stay fixed.
        point: parameter values at which ``H`` is taken (a subset of names is fine); the
            model's current values otherwise.
        loss_fn: ``(logits, targets) -> mean loss over the batch`` (cross-entropy).
        method: ``"cached"``, ``"reverse"`` or ``"forward"`` (see the module docstring).
        block: ``"vmap"`` (one pass for a block), ``"loop"`` (column by column) or ``"auto"``
            (``vmap`` on CUDA, ``loop`` on CPU, where it was faster for a conv net;
            ``vmap`` won for an MLP, see benchmarks/README.md).
        train_mode: keep the model's modes instead of switching to eval mode (the
            determinism probe then catches dropout).
        check_deterministic: evaluate the gradient twice at construction and raise if they
            differ (train-mode dropout, augmented or reshuffled data).
        cache_bytes: budget for ``"cached"`` graphs (default: 2 GiB on CPU, half the free
            memory on CUDA).
        rewrite: evaluate an equivalent copy of the network whose second derivatives are
            cheaper (BatchNorm folded into the layer before it, ReLU as a constant mask,
            ReLU after max-pooling, a data-input convolution by im2col; see
            ``landscape/curvature/_rewrite.py``); checked against the model on the first
            batch, and ignored with ``train_mode``.

    Raises:
        ValueError: an unknown method, block mode or parameter name; empty data.
        RuntimeError: the determinism probe found two different gradients.

    For ``L(w) = mean_i (w . x_i)^2 / 2`` the Hessian is ``mean_i x_i x_i^T``:

    >>> lin = nn.Linear(2, 1, bias=False)
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> mse = lambda out, y: 0.5 * (out.squeeze(1) ** 2).mean()
    >>> H = HessianOperator(lin, [(x[:2], x[:2]), (x[2:], x[2:])], loss_fn=mse)
    >>> (H @ torch.eye(2)) * 3
    tensor([[2., 1.],
            [1., 5.]])
    """

    def __init__(
        self,
        model: nn.Module,
        data: Iterable[tuple[Tensor, Tensor]],
        *,
        params: Sequence[str] | None = None,
        point: Mapping[str, Tensor] | None = None,
        loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
        method: str = "cached",
        block: str = "auto",
        train_mode: bool = False,
        check_deterministic: bool = True,
        cache_bytes: int | None = None,
        rewrite: bool = True,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if block not in _BLOCK_MODES:
            raise ValueError(f"block must be one of {_BLOCK_MODES}, got {block!r}")
        self.model = model
        self.data = data
        self.names = select_names(model, params)
        point = dict(point or {})
        unknown = sorted(set(point) - {n for n, _ in model.named_parameters()})
        if unknown:
            raise ValueError(f"point has entries {unknown} that are not parameters of the model")
        values = {n: point.get(n, p).detach() for n, p in model.named_parameters()}
        self.theta = torch.cat([values[n].reshape(-1) for n in self.names])
        fixed = {n: v for n, v in values.items() if n not in self.names}
        fixed.update({n: b.detach() for n, b in model.named_buffers()})
        super().__init__(
            [values[n].shape for n in self.names], device=self.theta.device,
            dtype=self.theta.dtype,
        )
        self.batch_sizes, self.num_samples = batch_weights(data)
        net = model
        if rewrite and not train_mode:
            net = _checked_rewrite(model, next(iter(data))[0].to(self.device))
        self.loss = FlatLoss(net, self.names, self.shapes, fixed, loss_fn)
        self.method = method
        if block == "auto":
            block = "vmap" if self.device.type == "cuda" else "loop"
        self.block = block
        self.train_mode = train_mode
        if cache_bytes is None:
            if self.device.type == "cuda":
                cache_bytes = torch.cuda.mem_get_info(self.device)[0] // 2
            else:
                cache_bytes = 2 << 30
        self.cache_bytes = int(cache_bytes)
        self._graphs: list[Tensor | None] | None = None
        self._theta_req: Tensor | None = None
        self.loss_value = float("nan")
        if check_deterministic:
            self.check_deterministic()

    # ----------------------------------------------------------------- helpers
    def _batches(self):
        seen = 0
        for i, (x, y) in enumerate(self.data):
            if i >= len(self.batch_sizes) or int(y.shape[0]) != self.batch_sizes[i]:
                raise RuntimeError(
                    "the evaluation data changed between passes (batch sizes differ): pass a "
                    "fixed EvalSet or a list of batches"
                )
            seen += 1
            yield x.to(self.device), y.to(self.device), self.batch_sizes[i] / self.num_samples
        if seen != len(self.batch_sizes):
            raise RuntimeError(
                f"the evaluation data yielded {seen} batches, the first pass "
                f"{len(self.batch_sizes)}: pass a fixed EvalSet or a list of batches"
            )

    def loss_and_gradient(self) -> tuple[float, Tensor]:
        """Return the mean loss and its gradient ``[P]`` at the point (one data pass)."""
        total = torch.zeros((), device=self.device, dtype=self.dtype)
        g = torch.zeros_like(self.theta)
        theta = self.theta.detach().requires_grad_(True)
        with eval_mode(self.loss.model, enabled=not self.train_mode):
            for x, y, w in self._batches():
                value = self.loss(theta, x, y, w)
                g += torch.autograd.grad(value, theta)[0]
                total += value.detach()
        return float(total), g

    def check_deterministic(self) -> None:
        """Evaluate the gradient twice; raise if the two differ beyond rounding.

        Raises:
            RuntimeError: naming the likely causes (train mode, augmentation, shuffling).

        """
        loss1, g1 = self.loss_and_gradient()
        loss2, g2 = self.loss_and_gradient()
        tol = 100 * torch.finfo(self.dtype).eps * (float(g1.norm()) + 1e-30)
        diff = float((g1 - g2).norm())
        if diff > tol or abs(loss1 - loss2) > 100 * torch.finfo(self.dtype).eps * abs(loss1):
            raise RuntimeError(
                f"the Hessian operator is not deterministic: two passes gave losses {loss1!r} "
                f"and {loss2!r} and gradients {diff:.3g} apart (tolerance {tol:.3g}). Expected "
                "the same answer twice: use eval mode (no dropout, BatchNorm running "
                "statistics), unaugmented data in a fixed order (landscape.data.EvalSet)"
            )
        self.loss_value = loss1

    # ----------------------------------------------------------------- products
    def _build_cache(self) -> None:
        theta = self.theta.detach().requires_grad_(True)
        graphs: list[Tensor | None] = []
        used = 0
        with eval_mode(self.loss.model, enabled=not self.train_mode):
            for x, y, w in self._batches():
                if used >= self.cache_bytes:
                    graphs.append(None)
                    continue
                with count_saved_bytes() as saved:
                    g = torch.autograd.grad(self.loss(theta, x, y, w), theta, create_graph=True)[0]
                if used + saved[0] > self.cache_bytes:
                    graphs.append(None)
                    used = self.cache_bytes
                    continue
                used += saved[0]
                graphs.append(g)
        self.cached_bytes = used
        self._graphs, self._theta_req = graphs, theta

    def release_cache(self) -> None:
        """Free the cached gradient graphs (they are rebuilt on the next product)."""
        self._graphs, self._theta_req = None, None

    def _hvp_reverse(self, theta: Tensor, g: Tensor, rows: Tensor, *, retain: bool) -> Tensor:
        if rows.shape[0] == 1:
            return torch.autograd.grad(g, theta, rows[0], retain_graph=retain)[0][None]
        if self.block == "vmap":
            return torch.autograd.grad(
                g, theta, rows, retain_graph=retain, is_grads_batched=True
            )[0]
        last = rows.shape[0] - 1
        return torch.stack([
            torch.autograd.grad(g, theta, row, retain_graph=retain or i < last)[0]
            for i, row in enumerate(rows)
        ])

    def _hvp_forward(self, x: Tensor, y: Tensor, w: float, rows: Tensor) -> Tensor:
        def gradient(t: Tensor) -> Tensor:
            return grad(self.loss)(t, x, y, w)

        def one(v: Tensor) -> Tensor:
            return jvp(gradient, (self.theta,), (v,))[1]

        if rows.shape[0] == 1 or self.block == "loop":
            return torch.stack([one(row) for row in rows])
        return vmap(one)(rows)

    def _matmat(self, m: Tensor) -> Tensor:
        return self._matmat_rows(m.T.contiguous()).T

    def _matmat_rows(self, rows: Tensor) -> Tensor:
        products = iter(self._batch_products(rows))
        total = next(products)  # the running sum: a fresh tensor, never a view of rows
        if total.untyped_storage().data_ptr() == rows.untyped_storage().data_ptr():
            total = total.clone()
        for h in products:
            total.add_(h)
        return total

    def _batch_products(self, rows: Tensor) -> Iterator[Tensor]:
        """Each batch's weighted product with ``rows``, in batch order."""
        graphs = self._graphs if self.method == "cached" else None
        if graphs is not None and all(g is not None for g in graphs):
            # every batch is cached: the graphs hold the data and were built in eval mode
            for g in graphs:
                yield self._hvp_reverse(self._theta_req, g, rows, retain=True)
            return
        with eval_mode(self.loss.model, enabled=not self.train_mode):
            if self.method == "forward":
                for x, y, w in self._batches():
                    yield self._hvp_forward(x, y, w, rows)
                return
            if self.method == "cached" and self._graphs is None:
                self._build_cache()
            graphs = self._graphs if self.method == "cached" else None
            for i, (x, y, w) in enumerate(self._batches()):
                if graphs is not None and graphs[i] is not None:
                    yield self._hvp_reverse(self._theta_req, graphs[i], rows, retain=True)
                    continue
                theta = self.theta.detach().requires_grad_(True)
                g = torch.autograd.grad(self.loss(theta, x, y, w), theta, create_graph=True)[0]
                yield self._hvp_reverse(theta, g, rows, retain=False)
