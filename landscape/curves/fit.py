"""Fitting a curve of low loss between two minima, in memory, on the epoch runner.

Garipov et al. (2018, Sec. 3.2) and Chao et al. (2020, Appendix C.3): the middle control
points minimise ``E_{t ~ U(0, 1)} L(phi(t))``, estimated with one ``t`` per minibatch:

    t ~ U(0, 1),   loss = loss_fn(f(x; phi(t)), y) + 0.5 * wd * ||phi(t)||^2

minimised by SGD with momentum under Garipov et al.'s schedule (base lr for 50% of the
epochs, linear to 1% by 90%, then 1%). The endpoints are buffers and never change. The
values of ``t`` of epoch ``e`` are drawn in order from a generator seeded with
``(seed, "curve_t", e)`` and dropout from ``(seed, "curve_dropout", e)``
(:class:`landscape.optim.EpochRunner`), so a fit is determined by its settings and its data.

>>> import torch
>>> from torch import nn
>>> torch.manual_seed(0) and None
>>> a, b = nn.Linear(4, 3), nn.Linear(4, 3)
>>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
>>> loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
>>> curve = fit_curve(a, b, loader, epochs=2)
>>> curve.degree, torch.equal(curve.point(0.0)["weight"], a.weight.detach())
(2, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape.curves._forward import ParameterSlots
from landscape.curves.bezier import Curve
from landscape.evaluation import LossFn
from landscape.optim import EpochRunner, EpochStats, Step, create_schedule
from landscape.seeding import generator

__all__ = ["T_STREAM", "curve_step", "fit_curve", "parameter_point"]

T_STREAM = "curve_t"
"""Purpose label of the stream of ``t`` values (:func:`landscape.seeding.derive_seed`)."""
DROPOUT_STREAM = "curve_dropout"

Batches = Iterable[tuple[Tensor, Tensor]]


def parameter_point(point: nn.Module | Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``name -> tensor`` of a module's parameters (detached), or a parameter dict as given.

    >>> sorted(parameter_point(nn.Linear(2, 1)))
    ['bias', 'weight']
    """
    if isinstance(point, nn.Module):
        return {n: p.detach() for n, p in point.named_parameters()}
    if isinstance(point, Mapping):
        return {n: t.detach() for n, t in point.items()}
    raise TypeError(f"expected an nn.Module or a dict name -> tensor, got {type(point).__name__}")


def curve_step(
    curve: Curve,
    model: nn.Module,
    *,
    seed: int = 0,
    loss_fn: LossFn = F.cross_entropy,
    weight_decay: float = 0.0,
) -> Callable[[int, int, Tensor, Tensor], Step]:
    """The minibatch step of curve fitting for :meth:`landscape.optim.EpochRunner.run`.

    Step ``k`` of epoch ``e`` draws the ``k``-th ``t`` of the stream ``(seed, "curve_t", e)``
    (steps must come in order within an epoch, as the runner calls them), builds ``phi(t)``
    per parameter tensor (:meth:`Curve.point`), evaluates the unmodified network there and
    returns the loss, the objective with the ``0.5 * wd * ||phi(t)||^2`` term, the batch size
    and the misclassified count. Floating inputs are cast to the curve's device and dtype.

    Args:
        curve: the curve whose middle points the optimizer updates.
        model: a network of the endpoints' architecture (its parameters are not used).
        seed: the fit's seed.
        loss_fn: ``(logits, targets) -> mean loss over the batch``.
        weight_decay: ``wd``.

    Returns:
        ``step(epoch, k, x, y) -> Step``.

    """
    state: dict[str, Any] = {"epoch": None, "gen": None}
    device, dtype = curve.start.device, curve.start.dtype
    forward = ParameterSlots(model, curve.names)  # functional_call without its per-call work

    def step(epoch: int, k: int, x: Tensor, y: Tensor) -> Step:
        if state["epoch"] != epoch:
            state["epoch"], state["gen"] = epoch, generator(seed, T_STREAM, epoch)
        t = float(torch.rand((), generator=state["gen"], dtype=torch.float64))
        x = x.to(device, dtype) if x.is_floating_point() else x.to(device)
        y = y.to(device)
        params = curve.point(t)  # per tensor, no flat phi(t) (see Curve.point)
        out = forward(model, params, x)
        loss = loss_fn(out, y)
        objective = loss
        if weight_decay:
            objective = loss + 0.5 * weight_decay * sum(p.square().sum() for p in params.values())
        with torch.no_grad():
            wrong = (out.argmax(1) != y).sum()
        return Step(loss=loss, objective=objective, size=int(y.shape[0]), wrong=wrong)

    return step


def fit_curve(
    start: nn.Module | Mapping[str, Tensor],
    end: nn.Module | Mapping[str, Tensor],
    model: nn.Module | Batches | Callable[[int], Batches],
    train_batches: Batches | Callable[[int], Batches] | None = None,
    *,
    epochs: int = 10,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    degree: int = 2,
    kind: str = "bezier",
    schedule: str | Callable[[int], float] = "garipov",
    seed: int = 0,
    loss_fn: LossFn = F.cross_entropy,
    curve: Curve | None = None,
    progress: bool = False,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> Curve:
    """Fit the middle control points of a curve between two networks, in memory.

    ``fit_curve(model_a, model_b, loader, epochs=10)`` uses ``model_a`` as the network;
    ``fit_curve(params_a, params_b, model, loader)`` takes parameter dicts and the network.

    Args:
        start: the first minimum (``t = 0``): a module or ``name -> tensor``.
        end: the second minimum (``t = 1``), same names and shapes.
        model: the network to evaluate ``phi(t)`` with; or, when ``train_batches`` is not
            given, the training batches (then ``start`` must be a module and is the network).
        train_batches: ``epoch -> iterable of (x, y)`` or one re-iterable of minibatches (a
            ``DataLoader``; its shuffling draws from the per-epoch seeded stream).
        epochs: epochs of SGD.
        lr: base learning rate.
        momentum: SGD momentum.
        weight_decay: ``wd`` of the ``0.5 * wd * ||phi(t)||^2`` term.
        degree: K (2: quadratic Bezier or a chain with one bend).
        kind: ``"bezier"`` or ``"chain"``.
        schedule: a schedule name (:func:`landscape.optim.list_schedules`) or ``epoch -> lr``.
        seed: the fit's seed (values of ``t``, dropout, a ``DataLoader``'s order).
        loss_fn: ``(logits, targets) -> mean loss over the batch``.
        curve: continue fitting this curve instead of starting on the chord.
        progress: progress bars (epochs and steps) on stderr.
        on_epoch: called with each finished epoch's :class:`landscape.optim.EpochStats`.

    Returns:
        The fitted :class:`Curve` (on the device and in the dtype of ``start``).

    Raises:
        TypeError: ``start``/``end`` are neither modules nor parameter dicts, or no network.
        ValueError: the endpoints differ in names or shapes, or a bad setting.

    """
    if train_batches is None:
        if not isinstance(start, nn.Module):
            raise TypeError(
                "fit_curve(start, end, batches) needs modules as endpoints; with parameter "
                "dicts pass the network too: fit_curve(start, end, model, batches)"
            )
        net, train_batches = start, model
    elif isinstance(model, nn.Module):
        net = model
    else:
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if int(degree) != degree or degree < 2:
        raise ValueError(f"degree must be >= 2 to have a middle control point to fit, got "
                         f"{degree!r}")
    if curve is None:
        curve = Curve(parameter_point(start), parameter_point(end), degree=degree, kind=kind)
    sched = (create_schedule(schedule, base_lr=lr, epochs=epochs) if isinstance(schedule, str)
             else schedule)
    optimizer = torch.optim.SGD(curve.middle.parameters(), lr=lr, momentum=momentum)
    runner = EpochRunner(optimizer, sched, epochs=epochs, seed=seed, stream=DROPOUT_STREAM,
                         device=curve.start.device, model=net, progress=progress,
                         desc="curve fit")
    step = curve_step(curve, net, seed=seed, loss_fn=loss_fn, weight_decay=weight_decay)
    runner.run(step, train_batches,
               record=(lambda stats, row: on_epoch(stats)) if on_epoch is not None else None)
    return curve
