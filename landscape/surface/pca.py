"""Trajectory PCA directions (Li et al. 2018, Sec. 7).

A training trajectory ``w_0 .. w_{E-1}`` (e.g. one checkpoint per epoch) ends at ``w_final``.
With the rows ``x_e = w_e - w_final`` and, as Li et al.'s code does (scikit-learn's PCA), the
column means removed, ``X_c = X - 1 mean(X)``, the principal directions are the top right
singular vectors of ``X_c``. P (parameters) is large and E (epochs) small, so they come from
the ``E x E`` Gram matrix, accumulated tensor by tensor in float64 (no ``E x P`` copy):

    G = X_c X_c^T = U diag(lambda) U^T,   v_i = X_c^T u_i / sqrt(lambda_i),
    explained variance ratio_i = lambda_i / sum_j lambda_j,
    trajectory coordinates c_{e,i} = <x_e, v_i>   (so w_final sits at the origin).

The directions are **orthonormal** (coordinates are distances in weight space). Each sign is
fixed so that the first point of the trajectory has a non-negative coordinate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landscape._types import ParamDict
from landscape.surface._vectors import check_like
from landscape.surface.directions import SurfaceDirections

__all__ = ["pca_directions"]


def _block(trajectory: Sequence[Mapping[str, Tensor]], final: Mapping[str, Tensor],
           name: str) -> Tensor:
    """``[E, numel]`` float64 rows ``w_e[name] - w_final[name]``."""
    ref = final[name].detach().double().reshape(-1)
    return torch.stack([w[name].detach().double().reshape(-1).to(ref.device) - ref
                        for w in trajectory])


def pca_directions(
    trajectory: Sequence[Mapping[str, Tensor]],
    final: Mapping[str, Tensor],
    *,
    num: int = 2,
    center: bool = True,
    labels: Sequence[str] | None = None,
    final_label: str = "final",
) -> SurfaceDirections:
    """The first ``num`` principal directions of ``w_e - w_final`` (module docstring).

    Args:
        trajectory: the points ``w_e`` (``name -> tensor`` dicts, e.g. every epoch's
            checkpoint; including ``w_final`` or not changes nothing but its row). Read
            tensor by tensor, twice: a sequence that loads lazily works.
        final: ``w_final``, the origin of the surface.
        num: 2 (a plane) or 1 (a line).
        center: remove the column means before the PCA (Li et al.'s code); ``False`` takes
            the principal directions of the uncentred differences.
        labels: one label per trajectory point (default ``"0"``, ``"1"`` ...).
        final_label: the name of the origin's mark.

    Returns:
        :class:`SurfaceDirections` with orthonormal float64 directions; ``path`` holds the
        ``[E, num]`` coordinates of the trajectory; ``info["explained_variance_ratio"]`` the
        ratio of each returned direction (and ``"all_explained_variance_ratio"`` every one).

    Raises:
        ValueError: fewer than ``num + 1`` points, mismatching parameters, or a trajectory
            that spans fewer than ``num`` dimensions.

    >>> fin = {"w": torch.zeros(3)}
    >>> traj = [{"w": torch.tensor([0.0, 4.0, 0.0])}, {"w": torch.tensor([0.0, 1.0, 0.0])}, fin]
    >>> dirs = pca_directions(traj, fin, num=1)    # a straight path along the second axis
    >>> dirs.vectors[0]["w"].round(decimals=12).tolist(), dirs.path.round(12).ravel().tolist()
    ([0.0, 1.0, 0.0], [4.0, 1.0, 0.0])
    >>> round(dirs.info["explained_variance_ratio"][0], 12)
    1.0
    """
    if num not in (1, 2):
        raise ValueError(f"num must be 1 (a line) or 2 (a plane), got {num!r}")
    count = len(trajectory)
    if count < num + 1:
        raise ValueError(f"a trajectory PCA with {num} direction(s) needs at least {num + 1} "
                         f"points, got {count}")
    for e, w in enumerate(trajectory):
        check_like(final, w, "the final point", f"trajectory point {e}")
    point_labels = tuple(str(x) for x in labels) if labels is not None else tuple(
        str(e) for e in range(count))
    if len(point_labels) != count:
        raise ValueError(f"got {len(point_labels)} labels for {count} trajectory points")
    gram = np.zeros((count, count))
    for name in final:
        b = _block(trajectory, final, name)
        if center:
            b = b - b.mean(0, keepdim=True)
        gram += (b @ b.T).cpu().numpy()
    lam, u = np.linalg.eigh(gram)
    order = np.argsort(lam)[::-1]
    lam, u = np.clip(lam[order], 0.0, None), u[:, order]
    total = float(lam.sum())
    if total <= 0 or lam[num - 1] <= 1e-12 * lam[0]:
        raise ValueError(
            f"the trajectory spans fewer than {num} dimension(s) around the final point "
            f"(variances {lam[:num].tolist()}): no {num}-direction PCA plane")
    weights = torch.from_numpy(u[:, :num] / np.sqrt(lam[:num]))  # [E, num]
    vectors: list[ParamDict] = [{} for _ in range(num)]
    path = torch.zeros(count, num, dtype=torch.float64)
    for name, ref in final.items():
        raw = _block(trajectory, final, name)
        b = raw - raw.mean(0, keepdim=True) if center else raw
        v = b.T @ weights.to(b.device)  # [numel, num]
        path += (raw @ v).cpu()
        for i in range(num):
            vectors[i][name] = v[:, i].reshape(ref.shape).clone()
    signs = torch.where(path[0] < 0, -1.0, 1.0).double()
    path = path * signs
    vectors = [{k: t * float(signs[i]) for k, t in d.items()} for i, d in enumerate(vectors)]
    ratio = (lam / total).tolist()
    axis = tuple(f"PC {i + 1} ({100 * ratio[i]:.1f}% of variance)" for i in range(num))
    definition: dict[str, Any] = {"method": "pca", "num": int(num), "center": bool(center),
                                  "points": count, "labels": list(point_labels)}
    info = {"explained_variance_ratio": ratio[:num], "all_explained_variance_ratio": ratio,
            "singular_values": np.sqrt(lam[: min(count, 10)]).tolist()}
    return SurfaceDirections(tuple(vectors), final, definition, axis,
                             marks={final_label: (0.0,) * num}, path=path.numpy(),
                             path_labels=point_labels, info=info)
