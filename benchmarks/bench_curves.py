"""Mode connectivity: curve-fitting epoch vs training epoch; cost of one plane grid point.

Baselines are measured in the same process:

* a training epoch (SGD with momentum) on the epoch runner (:class:`landscape.optim.
  EpochRunner`) against the same epoch as a bare loop: the runner's own cost (lr, seeding,
  sums on the device, the finiteness flag);
* a curve-fitting epoch on the runner (one t per minibatch, phi(t) as a parameter dict,
  functional_call: :func:`landscape.curves.curve_step`) against the training epoch on the
  runner, and against the previous implementation of the same epoch as a bare loop (phi(t)
  built as one flat vector and split into views, so backward gathers the per-tensor gradients
  into the flat control point and scales it: two extra passes over the P parameters per step,
  one more to build);
* a plane grid point (``evaluate_grid_point``: BN recalibration + train/test evaluation)
  against the sum of its parts measured alone (one BN pass + one evaluation pass).

The four epochs run back to back, ``--repeats`` times, on the same minibatches; reported are
the best and (for a shared machine) the median of each.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_curves.py [--device cuda]
[--repeats 5] [--clock cpu]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from landscape.curves import Curve, curve_step, evaluate_grid_point, plane_basis
from landscape.data import EvalSet, TrainLoader, get_dataset
from landscape.evaluation import evaluate_loss_error, forward_at, recalibrate_bn
from landscape.models import create_model
from landscape.optim import EpochRunner, Step

MODELS = {
    "mlp (widths=1000)": ("mlp", {"widths": [1000]}),
    "lenet300_100": ("lenet300_100", {}),
    "basicnet width=0.125 (CNN, BN)": ("basicnet", {"width": 0.125}),
}


_clock = time.perf_counter  # --clock cpu: time.process_time (immune to waiting for a core)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _times(fns, device, repeats: int) -> list[list[float]]:
    """``repeats`` times of each function, measured interleaved (robust to drift)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            _sync(device)
            t0 = _clock()
            fn()
            _sync(device)
            out.append(_clock() - t0)
    return times


def _best(fns, device, repeats: int) -> list[float]:
    """Best-of-``repeats`` time of each function, measured interleaved."""
    return [min(t) for t in _times(fns, device, repeats)]


def previous_curve_epoch(curve: Curve, model, batches, optimizer, ts) -> None:
    """The fitting epoch as it was before per-tensor points (the reference for the speed-up).

    ``phi(t)`` is one flat allocation plus fused in-place adds, split into views; backward
    gathers the per-tensor gradients into the flat middle point and scales it by ``b_1(t)``;
    the loss and error are read back every step.
    """
    for k, (x, y) in enumerate(batches):
        vec = None
        for wj, theta in zip(curve.coefficients(ts[k]), curve.control_points()):
            if wj != 0.0:
                vec = theta * wj if vec is None else vec.add_(theta, alpha=wj)
        out = forward_at(model, curve.split(vec), x)
        loss = F.cross_entropy(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss.detach()), int((out.detach().argmax(1) != y).sum())


def bench_model(label: str, name: str, kw: dict, ds, device, repeats: int) -> None:
    common = {"num_classes": ds.num_classes, "input_shape": ds.input_shape, **kw}
    a = create_model(name, seed=1, **common).to(device)
    b = create_model(name, seed=2, **common).to(device)
    loader = TrainLoader(ds, batch_size=128, seed=0, device=device)
    batches = list(loader.epoch(0))  # same batches for both; data loading not measured

    model = create_model(name, seed=3, **common).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def bare_epoch() -> None:
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

    def train_step(epoch: int, k: int, x: torch.Tensor, y: torch.Tensor) -> Step:
        loss = F.cross_entropy(model(x), y)
        return Step(loss, loss, int(y.shape[0]))

    trainer = EpochRunner(opt, lambda e: 0.01, epochs=1, seed=0, model=model, device=device)

    curve = Curve(dict(a.named_parameters()), dict(b.named_parameters()), degree=2).to(device)
    copt = torch.optim.SGD(curve.middle.parameters(), lr=0.01, momentum=0.9)
    net = create_model(name, **common).to(device).train()
    fitter = EpochRunner(copt, lambda e: 0.01, epochs=1, seed=0, stream="curve_dropout",
                         model=net, device=device)
    fit_step = curve_step(curve, net, seed=0)
    ts = torch.rand(len(batches), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    epochs = [bare_epoch, lambda: trainer.run(train_step, batches),
              lambda: fitter.run(fit_step, batches),
              lambda: previous_curve_epoch(curve, net, batches, copt, ts)]
    for fn in epochs:  # warm-up
        fn()
    times = _times(epochs, device, repeats)
    t_bare, t_train, t_fit, t_prev = (min(t) for t in times)
    m_bare, m_train, m_fit, m_prev = (statistics.median(t) for t in times)

    train = EvalSet(ds, "train", batch_size=1000, device=device)
    test = EvalSet(ds, "test", batch_size=1000, device=device)
    with torch.no_grad():
        curve.middle[0].add_(0.01 * torch.randn_like(curve.middle[0]))
    basis = plane_basis(curve.start, curve.middle[0].detach(), curve.end)
    params = curve.split(basis.point(0.3, 0.7))

    def grid_point():
        with torch.no_grad():
            evaluate_grid_point(net, basis, curve.split, 0.3, 0.7, train, test)

    def bn_pass():
        recalibrate_bn(net, params, train)

    buffers = recalibrate_bn(net, params, train)

    def eval_pass():
        evaluate_loss_error(net, params, train, buffers=buffers)
        evaluate_loss_error(net, params, test, buffers=buffers)

    grid_point()
    t_point, t_bn, t_eval = _best([grid_point, bn_pass, eval_pass], device, repeats)
    print(f"{label}: {curve.num_parameters:,} parameters, {len(batches)} minibatches of 128")
    print(f"  training epoch: bare loop {t_bare:.3f} s | on the runner {t_train:.3f} s | ratio "
          f"{t_train / t_bare:.2f} (medians: {m_train / m_bare:.2f}; target ~1.0)")
    print(f"  curve-fitting epoch on the runner {t_fit:.3f} s | ratio to training "
          f"{t_fit / t_train:.2f} (medians: {m_fit / m_train:.2f}; target <= 1.3)")
    print(f"  previous (flat phi) curve-fitting epoch {t_prev:.3f} s | ratio "
          f"{t_prev / t_train:.2f} (medians: {m_prev / m_train:.2f}) | speed-up "
          f"{t_prev / t_fit:.2f}x")
    print(f"  grid point {t_point:.3f} s | BN pass {t_bn:.3f} s + eval pass {t_eval:.3f} s = "
          f"{t_bn + t_eval:.3f} s | ratio {t_point / (t_bn + t_eval):.2f} (target ~1.0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or CPU time of this process (for a shared machine)")
    args = parser.parse_args()
    global _clock
    _clock = time.perf_counter if args.clock == "wall" else time.process_time
    device = torch.device(args.device)
    ds = get_dataset("mnist5k")
    print(f"mnist5k ({len(ds.train)} train / {len(ds.test)} test), device {device}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.clock} clock")
    for label in args.models:
        name, kw = MODELS[label]
        bench_model(label, name, kw, ds, device, args.repeats)


if __name__ == "__main__":
    main()
