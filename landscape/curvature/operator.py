"""A small base class for curvature linear operators (curvlinops' design).

A subclass supplies one method, the product with a block of flat vectors ``[P, K]``. The base
accepts a flat vector ``[P]``, a block ``[P, K]`` or a list of parameter-shaped tensors and
answers in the same form, counts products, hands itself to SciPy with :meth:`to_scipy`, and
keeps the model in eval mode while it works (restoring every module's mode afterwards).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["CurvatureOperator", "eval_mode"]


@contextlib.contextmanager
def eval_mode(model: nn.Module, *, enabled: bool = True) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode inside the block and restore each module's mode after it.

    Args:
        model: the network.
        enabled: when ``False`` the modes are left alone (a train-mode operator).

    """
    modes = [(m, m.training) for m in model.modules()]
    if enabled:
        model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


class CurvatureOperator(ABC):
    """A symmetric ``P x P`` matrix known only through its products with vectors.

    Subclasses implement :meth:`_matmat` on a ``[P, K]`` block (same device and dtype as the
    operator) and set ``shapes`` (the parameter shapes, in order), ``device`` and ``dtype``.
    ``op @ v`` then accepts

    * a flat vector ``[P]`` and returns ``[P]``;
    * a block ``[P, K]`` and returns ``[P, K]`` (one data pass for all ``K`` columns);
    * a list of parameter-shaped tensors and returns such a list.

    ``num_products`` counts matrix-vector products (a block of ``K`` columns counts ``K``).

    >>> class Diag(CurvatureOperator):
    ...     def __init__(self, d):
    ...         super().__init__([d.shape], device=d.device, dtype=d.dtype)
    ...         self.d = d
    ...     def _matmat(self, m):
    ...         return self.d[:, None] * m
    >>> op = Diag(torch.tensor([1.0, 2.0, 3.0]))
    >>> (op @ torch.ones(3)).tolist(), op.shape, op.num_products
    ([1.0, 2.0, 3.0], (3, 3), 1)
    """

    def __init__(
        self,
        shapes: Sequence[torch.Size | tuple[int, ...]],
        *,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        self.shapes = [torch.Size(s) for s in shapes]
        self.numels = [int(s.numel()) for s in self.shapes]
        self.device = torch.device(device)
        self.dtype = dtype
        self.num_products = 0

    @property
    def dim(self) -> int:
        """Number of rows (= columns) P."""
        return sum(self.numels)

    @property
    def shape(self) -> tuple[int, int]:
        """``(P, P)``."""
        return (self.dim, self.dim)

    @abstractmethod
    def _matmat(self, m: Tensor) -> Tensor:
        """``A @ m`` for a ``[P, K]`` block on the operator's device (each operator defines it)."""

    def matmat(self, m: Tensor) -> Tensor:
        """Return ``A @ m`` for a block ``m`` of shape ``[P, K]`` (counted as ``K`` products)."""
        if m.dim() != 2 or m.shape[0] != self.dim:
            raise ValueError(
                f"expected a block of shape [{self.dim}, K], got {tuple(m.shape)}"
            )
        self.num_products += int(m.shape[1])
        return self._matmat(m.to(device=self.device, dtype=self.dtype))

    def _matmat_rows(self, rows: Tensor) -> Tensor:
        """``(A @ rows.T).T`` for a ``[K, P]`` block of row vectors (override when rows are native).

        The default goes through :meth:`_matmat`; operators whose products are naturally
        row-major (a batch of vectors) override it to avoid the transposes.
        """
        return self._matmat(rows.T).T

    def matmat_rows(self, rows: Tensor) -> Tensor:
        """Return ``(A @ rows.T).T`` for ``K`` row vectors ``[K, P]`` (counted as ``K`` products).

        The eigensolvers keep their bases row-major (each vector a contiguous row), so a block
        of basis vectors is multiplied without a transpose or a column gather.

        Raises:
            ValueError: ``rows`` is not ``[K, P]``.

        """
        if rows.dim() != 2 or rows.shape[1] != self.dim:
            raise ValueError(
                f"expected a block of rows of shape [K, {self.dim}], got {tuple(rows.shape)}"
            )
        self.num_products += int(rows.shape[0])
        out = self._matmat_rows(rows.to(device=self.device, dtype=self.dtype))
        return out if out.is_contiguous() else out.contiguous()

    def flatten(self, tensors: Sequence[Tensor]) -> Tensor:
        """Concatenate parameter-shaped tensors into a flat vector ``[P]``."""
        if len(tensors) != len(self.shapes):
            raise ValueError(
                f"expected a list of {len(self.shapes)} parameter-shaped tensors, got "
                f"{len(tensors)}"
            )
        for i, (t, s) in enumerate(zip(tensors, self.shapes)):
            if t.shape != s:
                raise ValueError(
                    f"tensor {i} of the list has shape {tuple(t.shape)}, the parameter has "
                    f"{tuple(s)}: pass tensors shaped like the parameters, in order"
                )
        return torch.cat([t.reshape(-1) for t in tensors])

    def unflatten(self, v: Tensor) -> list[Tensor]:
        """Split a flat vector ``[P]`` into parameter-shaped views."""
        return [c.view(s) for c, s in zip(v.split(self.numels), self.shapes)]

    def __matmul__(self, v: Tensor | Sequence[Tensor]) -> Tensor | list[Tensor]:
        if isinstance(v, list | tuple):
            flat = self.flatten(list(v)).to(device=self.device, dtype=self.dtype)
            return self.unflatten(self.matmat(flat[:, None])[:, 0])
        if not isinstance(v, Tensor):
            raise TypeError(
                f"expected a tensor [P], a block [P, K] or a list of tensors, got "
                f"{type(v).__name__}"
            )
        if v.dim() == 1:
            return self.matmat(v[:, None])[:, 0]
        if v.dim() == 2:
            return self.matmat(v)
        raise ValueError(
            f"expected a vector [{self.dim}] or a block [{self.dim}, K], got shape "
            f"{tuple(v.shape)}"
        )

    def to_dense(self) -> Tensor:
        """Materialise the matrix column by column (tiny operators only: P products)."""
        return self.matmat(torch.eye(self.dim, device=self.device, dtype=self.dtype))

    def to_scipy(self, dtype: np.dtype | type | None = None):
        """Return a :class:`scipy.sparse.linalg.LinearOperator` (for ``eigsh``).

        Each product moves its vectors between NumPy and the operator's device; the
        device-resident eigensolvers of this package avoid that round trip.

        Args:
            dtype: NumPy dtype of the SciPy operator (default: the operator's).

        """
        from scipy.sparse.linalg import LinearOperator

        np_dtype = np.dtype(dtype) if dtype is not None else np.dtype(
            str(self.dtype).removeprefix("torch.")
        )

        def matmat(m: np.ndarray) -> np.ndarray:
            block = torch.from_numpy(np.ascontiguousarray(m).reshape(self.dim, -1))
            out = self.matmat(block)
            return out.detach().cpu().numpy().astype(np_dtype, copy=False)

        def matvec(v: np.ndarray) -> np.ndarray:
            return matmat(v.reshape(-1, 1)).reshape(-1)

        return LinearOperator(
            self.shape, matvec=matvec, matmat=matmat, rmatvec=matvec, rmatmat=matmat,
            dtype=np_dtype,
        )
