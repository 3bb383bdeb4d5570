"""Evaluation along t: endpoints reproduce their models, batching-independent metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.checkpoint import load_checkpoint
from landscape.curves import (
    Curve,
    barrier,
    curve_forward,
    evaluate_along,
    evaluate_loss_error,
    recalibrate_bn,
)
from landscape.data import EvalSet


def _curve(paths):
    a, b = (load_checkpoint(p) for p in paths)
    curve = Curve(a.parameters(), b.parameters(), degree=2)
    with torch.no_grad():
        curve.middle[0].add_(0.05)
    return curve, a, b


def test_curve_endpoints_reproduce_endpoint_models_after_recalibration(bn_endpoints, tiny_sets):
    train, _ = tiny_sets
    curve, *ends = _curve(bn_endpoints)
    x = train.x
    for t, ckpt in zip((0.0, 1.0), ends):
        endpoint = ckpt.build_model().double()
        # the endpoint model itself, with its BatchNorm statistics recalibrated in place
        stats = recalibrate_bn(endpoint, dict(endpoint.named_parameters()), train)
        endpoint.load_state_dict(stats, strict=False)
        endpoint.eval()
        with torch.no_grad():
            want = endpoint(x)
        model = ckpt.build_model().double().eval()
        params = curve.point(t)
        got = curve_forward(model, params, x, recalibrate_bn(model, params, train))
        assert torch.equal(got, want)


def test_loss_and_error_do_not_depend_on_batching(bn_endpoints, tiny_data):
    ckpt = load_checkpoint(bn_endpoints[0])
    model = ckpt.build_model().double()
    params = ckpt.parameters()
    whole = EvalSet(tiny_data, "test", batch_size=1000, dtype=torch.float64)
    split = EvalSet(tiny_data, "test", batch_size=7, dtype=torch.float64)
    loss, err = evaluate_loss_error(model, params, split)
    model.eval()
    with torch.no_grad():
        out = model(whole.x)
    assert loss == pytest.approx(float(F.cross_entropy(out, whole.y)), rel=1e-12)
    assert err == pytest.approx(100.0 * float((out.argmax(1) != whole.y).double().mean()))
    with pytest.raises(ValueError, match="empty data set"):
        evaluate_loss_error(model, params, [])


def test_barrier_definition():
    assert barrier([1.0, 3.0, 2.0]) == 1.0
    assert barrier(np.array([2.0, 1.0, 0.5])) == 0.0
    with pytest.raises(ValueError, match="at least 2 losses"):
        barrier([1.0])


def test_evaluate_along_reports_curve_and_line(bn_endpoints, tiny_sets):
    train, test = tiny_sets
    curve, *_ = _curve(bn_endpoints)
    res = evaluate_along(curve, _curve(bn_endpoints)[1].build_model().double(), train, test,
                         points=5)
    np.testing.assert_allclose(res["t"], [0, 0.25, 0.5, 0.75, 1])
    for part in ("curve", "line"):
        r = res[part]
        assert all(r[k].shape == (5,) for k in ("train_loss", "train_error", "test_loss",
                                                "test_error"))
        assert r["segment_lengths"].shape == (4,)
        assert r["barrier"] == pytest.approx(r["train_loss"].max() - max(r["train_loss"][0],
                                                                         r["train_loss"][-1]))
    # both paths share their endpoints exactly
    for key in ("train_loss", "test_error"):
        assert res["curve"][key][0] == res["line"][key][0]
        assert res["curve"][key][-1] == res["line"][key][-1]
    # the line is traversed at constant speed: equal segments summing to ||w1 - w0||
    chord = float(torch.linalg.vector_norm(curve.end - curve.start))
    np.testing.assert_allclose(res["line"]["segment_lengths"], chord / 4, rtol=1e-10)
    assert res["curve"]["length"] > res["line"]["length"]
    with pytest.raises(ValueError, match="points must be an integer >= 2"):
        evaluate_along(curve, None, train, test, points=1)
