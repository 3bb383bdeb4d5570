"""Curves built in memory for the curvature-along-a-curve tests (shared with the worker).

* :func:`quartic_curve`: ``f(x; w) = w`` and the loss ``sum_i a_i w_i^2 / 2 + b_i w_i^4 / 12``,
  whose Hessian ``diag(a_i + b_i w_i^2)`` is known at every point of the curve;
* :func:`bn_curve`: a small MLP with BatchNorm on synthetic data (the BatchNorm pass runs at
  every ``t``), slow enough per point to be killed in the middle of the curve.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from landscape.curves import Curve
from landscape.data import EvalSet
from landscape.experiment.curves import LoadedCurve
from landscape.experiment.subject import Subject

A = torch.tensor([3.0, 0.5, 2.0, 1.0, 0.25, 1.5, 0.75, 2.5], dtype=torch.float64)
B = torch.tensor([1.0, 4.0, 0.5, 2.0, 3.0, 0.25, 1.0, 0.1], dtype=torch.float64)
QUARTIC = "quartic_toy"


def quartic_loss(out: Tensor, y: Tensor) -> Tensor:
    """``mean over the batch of sum_i a_i w_i^2 / 2 + b_i w_i^4 / 12``."""
    return (0.5 * A * out**2 + B * out**4 / 12).sum(1).mean()


def quartic_hessian(w: Tensor) -> Tensor:
    """The diagonal of the exact Hessian at ``w``."""
    return A + B * w**2


def quartic_value(w: Tensor) -> float:
    """The exact loss at ``w``."""
    return float((0.5 * A * w**2 + B * w**4 / 12).sum())


class Vector(nn.Module):
    """``f(x; w) = w`` for every sample."""

    def __init__(self, w: Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.w.expand(x.shape[0], -1)


def _loaded(model: nn.Module, start: dict, end: dict, middle: Tensor, data, spec: dict,
            loss: str) -> LoadedCurve:
    curve = Curve(start, end, degree=2, middle=[middle])
    subject = Subject(model=model, data={"train": data}, data_spec={"train": spec},
                      digest="start-digest", label="start", loss_name=loss)
    config = {"endpoints": {"start": {"digest": "start-digest"},
                            "end": {"digest": "end-digest"}}}
    return LoadedCurve(curve=curve, model=model, config=config, epoch=1, start=subject,
                       end=subject)


def quartic_curve() -> LoadedCurve:
    """The quartic toy on a curve with a bend (its loss :data:`QUARTIC` must be in ``LOSSES``)."""
    g = torch.Generator().manual_seed(0)
    start, end = (torch.randn(8, generator=g, dtype=torch.float64) for _ in range(2))
    middle = 1.5 * torch.randn(8, generator=g, dtype=torch.float64)
    data = [(torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3)),
            (torch.zeros(2, 1, dtype=torch.float64), torch.zeros(2))]
    return _loaded(Vector(start), {"w": start}, {"w": end}, middle, data,
                   {"name": "zeros5"}, QUARTIC)


def bn_curve() -> LoadedCurve:
    """A float64 MLP with BatchNorm (4-16-BN-16-3) between two random points, 60 samples."""
    torch.manual_seed(0)

    def net() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Tanh(),
                             nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)).double()

    a, b = net(), net()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (60,), generator=g)
    data = EvalSet.from_tensors(x, y, batch_size=25, name="bn60")
    start = {n: p.detach() for n, p in a.named_parameters()}
    end = {n: p.detach() for n, p in b.named_parameters()}
    flat = torch.cat([(start[n] + end[n]).reshape(-1) / 2 for n in start])
    middle = flat + 0.3 * torch.randn(flat.shape, generator=g, dtype=torch.float64)
    return _loaded(a, start, end, middle, data, data.spec(), "cross_entropy")


CURVATURE = {"k": 3, "tol": 1e-8, "trace_probes": 4}
"""The settings of the kill-and-resume test (worker and parent)."""
