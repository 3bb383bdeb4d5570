"""Helpers for the surface tests: tiny models, and the rounding-error bound of a forward."""

from __future__ import annotations

import torch
from torch import nn


def tiny_mlp(*, batchnorm: bool = False, seed: int = 0, dtype=torch.float64) -> nn.Module:
    """Flatten -> Linear(8, 48) -> [BN] -> ReLU -> Linear(48, 6) -> ReLU -> Linear(6, 4)."""
    torch.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(8, 48)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(48))
    layers += [nn.ReLU(), nn.Linear(48, 6), nn.ReLU(), nn.Linear(6, 4)]
    model = nn.Sequential(*layers).to(dtype)
    if batchnorm:
        with torch.no_grad():  # stored statistics that differ from the data's
            model[2].running_mean.normal_()
            model[2].running_var.uniform_(0.5, 2.0)
    return model.eval()


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in model.named_parameters()}


def logit_error_bound(model: nn.Sequential, point, x, *, shared=None) -> torch.Tensor:
    """Per sample, a bound on ``max_class |computed logit - exact logit|`` of one forward.

    For a Sequential of Flatten / Linear / BatchNorm1d (eval) / ReLU at weights ``point``, in
    the dtype of ``x`` with unit roundoff ``u`` and ``gamma(n) = n u / (1 - n u)``:

    * Linear (Higham 2002, eq. 3.13): ``|fl(W a + b) - (W a + b)| <= gamma(n + 1) (|W||a| +
      |b|)`` for fan-in ``n`` and any summation order, and an input error ``e`` adds
      ``|W| e``; the weights themselves were rounded once from float64 (``u |W|``), hence
      ``gamma(n + 2)``;
    * the shared input layer (``shared = (coords, directions)``) sums ``1 + ndim`` products
      ``W x + b + sum_j c_j (D_j x + e_j)``: ``gamma(n + 2 + ndim)`` times the sum of all
      their magnitudes;
    * BatchNorm1d in eval mode, ``(a - mean) / sqrt(var + eps) * gamma + beta``: five
      roundings, ``|s| e + gamma(5) (|s| (|a| + |mean|) + |beta|)`` with ``s = gamma /
      sqrt(var + eps)``;
    * ReLU is 1-Lipschitz and exact.

    Two computations that each obey this bound differ by at most twice it.
    """
    u = torch.finfo(x.dtype).eps / 2

    def gamma(n: int) -> float:
        return n * u / (1 - n * u)

    a = x.flatten(1).double()
    err = torch.zeros_like(a)
    first = True
    for name, module in model.named_children():
        if isinstance(module, nn.Linear):
            w, b = point[f"{name}.weight"].double(), point[f"{name}.bias"].double()
            mag = a.abs() @ w.abs().T + b.abs()
            terms = module.in_features + 2
            if first and shared is not None:
                coords, dirs = shared
                for c, d in zip(coords, dirs):
                    mag = mag + abs(c) * (a.abs() @ d[f"{name}.weight"].double().abs().T
                                          + d[f"{name}.bias"].double().abs())
                terms += len(coords)
            err = err @ w.abs().T + gamma(terms) * mag
            a = a @ w.T + b
            first = False
        elif isinstance(module, nn.BatchNorm1d):
            s = (point[f"{name}.weight"].double()
                 / torch.sqrt(module.running_var.double() + module.eps))
            beta, mean = point[f"{name}.bias"].double(), module.running_mean.double()
            err = s.abs() * err + gamma(5) * (s.abs() * (a.abs() + mean.abs()) + beta.abs())
            a = (a - mean) * s + beta
        elif isinstance(module, nn.ReLU):
            a = a.clamp(min=0)
    return err.max(dim=1).values, a


def loss_tolerance(model, point, batches, *, shared=None) -> float:
    """Bound on ``|mean CE(one computation) - mean CE(another)|`` over ``batches``.

    Cross-entropy is 2-Lipschitz in the max norm of the logits (its gradient ``softmax - e_y``
    has 1-norm <= 2), so two forwards within ``B`` of the exact logits give per-sample losses
    within ``2 * 2B`` of each other. In float64, computing a loss from its logits costs a few
    roundings of ``|loss| + max |logit|`` (8 allowed) and summing N of them ``N`` roundings of
    their mean, for each of the two computations.
    """
    u64 = torch.finfo(torch.float64).eps / 2
    forward, per_sample, losses, n = 0.0, 0.0, 0.0, 0
    for x, y in batches:
        err, logits = logit_error_bound(model, point, x, shared=shared)
        ce = torch.nn.functional.cross_entropy(logits, y, reduction="none")
        forward += float(4 * err.sum())
        per_sample += float((8 * u64 * (ce + logits.abs().max(1).values)).sum())
        losses += float(ce.sum())
        n += x.shape[0]
    return (forward + 2 * per_sample + 2 * n * u64 * losses) / n
