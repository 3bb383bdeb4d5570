"""Curvature along a curve: a closed form, BatchNorm at every t, the cache, kill and resume."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from curve_toys import (
    CURVATURE,
    QUARTIC,
    bn_curve,
    quartic_curve,
    quartic_hessian,
    quartic_loss,
    quartic_value,
)

import landscape.experiment.curvehessian as curvehessian_mod
import landscape.experiment.subject as subject_mod
from landscape.curvature import HessianOperator, lanczos
from landscape.evaluation import recalibrate_bn
from landscape.experiment.curvehessian import (
    curvature_along,
    curve_hessian_partial,
    curve_jobs,
    point_curvature,
)
from landscape.store import Store

WORKER = Path(__file__).with_name("_curvehessian_worker.py")


@pytest.fixture
def quartic(monkeypatch):
    """The quartic toy, its loss known by name for this test only."""
    monkeypatch.setitem(subject_mod.LOSSES, QUARTIC, quartic_loss)
    return quartic_curve()


def test_curvature_along_the_path_matches_the_closed_form(quartic, tmp_path):
    out = curvature_along(Store(tmp_path), quartic, points=7, k=3, tol=1e-12, trace_probes=4)
    assert out["complete"] and out["computed"] == 7 + 5  # the line shares the endpoints
    line = quartic.curve.line()
    for name, path in (("curve", quartic.curve), ("line", line)):
        for i, t in enumerate(out["t"]):
            w = path.point(float(t))["w"].detach()
            exact = quartic_hessian(w).sort(descending=True).values
            # |lambda - theta| <= ||r|| <= tol |theta| with tol = 1e-12; the rest is float64
            # rounding of w(t) through the closed form
            np.testing.assert_allclose(out[name]["eigenvalues"][i], exact[:3].numpy(),
                                       rtol=1e-10)
            # Rademacher probes of a diagonal Hessian give its trace exactly (z_i^2 = 1)
            assert out[name]["trace"][i] == pytest.approx(float(exact.sum()), rel=1e-12)
            assert out[name]["loss"][i] == pytest.approx(quartic_value(w), rel=1e-12)
        assert out[name]["lambda_max"].tolist() == out[name]["eigenvalues"][:, 0].tolist()
    # exact: t = 0 is the start model for both paths, the same point computed once
    assert out["line"]["eigenvalues"][0].tolist() == out["curve"]["eigenvalues"][0].tolist()


def test_each_point_gets_its_own_batchnorm_statistics():
    loaded = bn_curve()
    params = loaded.curve.point(0.5)
    values, vectors = point_curvature(loaded.model, params, loaded.data["train"],
                                      loss_fn=torch.nn.functional.cross_entropy, k=2,
                                      tol=1e-10, trace_probes=0)
    # the reference: the model at phi(1/2) holding the statistics recomputed for it
    net = bn_curve().model
    with torch.no_grad():
        for name, value in {**params, **recalibrate_bn(net, params,
                                                       loaded.data["train"])}.items():
            net.get_parameter(name).copy_(value) if name in params else \
                net.get_buffer(name).copy_(value)
    ref = lanczos(HessianOperator(net, loaded.data["train"]), 2, tol=1e-10)
    np.testing.assert_allclose(values["eigenvalues"], ref.eigenvalues.numpy(), rtol=1e-9)
    assert np.isnan(values["trace"]) and vectors.shape == (2, ref.eigenvectors.shape[0])
    # with the start model's statistics instead, the curvature differs
    stale = lanczos(HessianOperator(loaded.model, loaded.data["train"], point=params), 2,
                    tol=1e-10)
    assert abs(float(stale.eigenvalues[0]) - values["eigenvalues"][0]) > 1e-3


def test_a_second_call_answers_from_the_store(quartic, tmp_path, monkeypatch):
    store = Store(tmp_path)
    first = curvature_along(store, quartic, points=5, k=2, tol=1e-10, trace_probes=2)

    def forbidden(*args, **kwargs):
        raise AssertionError("must answer from the store")

    monkeypatch.setattr(curvehessian_mod, "point_curvature", forbidden)
    second = curvature_along(store, quartic, points=5, k=2, tol=1e-10, trace_probes=2)
    assert second["computed"] == 0 and second["key"] == first["key"]
    np.testing.assert_array_equal(second["curve"]["eigenvalues"], first["curve"]["eigenvalues"])
    # warm starts are not part of the key: a cold computation asks the same question
    assert curvature_along(store, quartic, points=5, k=2, tol=1e-10, trace_probes=2,
                           warm=False)["key"] == first["key"]
    with pytest.raises(ValueError, match="points must be an integer >= 2"):
        curvature_along(store, quartic, points=1)


def test_warm_and_cold_starts_agree_to_the_tolerance(tmp_path, monkeypatch):
    loaded = bn_curve()
    starts = []
    real = curvehessian_mod.lanczos

    def spy(op, k, **kw):
        starts.append(kw.get("start"))
        return real(op, k, **kw)

    monkeypatch.setattr(curvehessian_mod, "lanczos", spy)
    warm = curvature_along(Store(tmp_path / "w"), loaded, points=5, **CURVATURE)
    # the previous point's 3 eigenvectors and a random vector, as columns
    assert starts[0] is None and all(s is not None and s.shape[1] == 4 for s in starts[1:])
    starts.clear()
    cold = curvature_along(Store(tmp_path / "c"), loaded, points=5, warm=False, **CURVATURE)
    assert starts == [None] * 8
    for name in ("curve", "line"):
        # residuals within tol * |lambda| on both sides: Ritz values agree to 2 tol |lambda|
        np.testing.assert_allclose(warm[name]["eigenvalues"], cold[name]["eigenvalues"],
                                   rtol=2 * CURVATURE["tol"])
        np.testing.assert_allclose(warm[name]["trace"], cold[name]["trace"], rtol=1e-12)
        assert warm[name]["converged"].all()


def _kill_now(proc: subprocess.Popen) -> list[str]:
    proc.send_signal(signal.SIGKILL)
    out = proc.stdout.read().split("\n")
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, "the child must die by SIGKILL, not finish"
    return [line for line in out if line]


def test_a_killed_computation_resumes_only_the_missing_t(tmp_path, monkeypatch):
    points = 9
    proc = subprocess.Popen([sys.executable, str(WORKER), str(tmp_path / "store"), str(points)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "R"
    lines = [proc.stdout.readline().strip() for _ in range(3)]
    lines += _kill_now(proc)  # at once: the child is in the middle of its next point
    reported = {(int(x.split()[1]), int(x.split()[2])) for x in lines if x.startswith("D")}
    loaded = bn_curve()
    part = curve_hessian_partial(Store(tmp_path / "store"), loaded, points=points, **CURVATURE)
    done = part.done.copy()
    assert all(done[c] for c in reported), "a point reported durable was lost"
    assert 3 <= done.sum() < done.size
    computed = []
    real = curvehessian_mod._Runner.__call__

    def spy(self, job):
        computed.append(job)
        return real(self, job)

    monkeypatch.setattr(curvehessian_mod._Runner, "__call__", spy)
    out = curvature_along(Store(tmp_path / "store"), loaded, points=points, **CURVATURE)
    missing = [j for j in curve_jobs(points, line=True) if not done[j]]
    assert computed == missing and out["computed"] == len(missing) and out["complete"]
    ref = curvature_along(Store(tmp_path / "ref"), loaded, points=points, **CURVATURE)
    assert out["key"] == ref["key"]
    for name in ("curve", "line"):
        # other warm starts after the kill: the same answer to the residual tolerance; the
        # trace and loss are the same computation, up to the child's thread count
        np.testing.assert_allclose(out[name]["eigenvalues"], ref[name]["eigenvalues"],
                                   rtol=2 * CURVATURE["tol"])
        np.testing.assert_allclose(out[name]["trace"], ref[name]["trace"], rtol=1e-10)
        np.testing.assert_allclose(out[name]["loss"], ref[name]["loss"], rtol=1e-12)
