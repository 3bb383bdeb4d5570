"""Evaluation along t: endpoints reproduce their models, errors as fractions, any batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from landscape.checkpoint import load_checkpoint
from landscape.curves import Curve, barrier, evaluate_along
from landscape.evaluation import evaluate_loss_error, forward_at, recalibrate_bn


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
        got = forward_at(model, params, x, recalibrate_bn(model, params, train))
        assert torch.equal(got, want)


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


def test_errors_are_fractions_and_a_dataloader_gives_the_evalset_values(bn_endpoints, tiny_sets):
    train, test = tiny_sets
    curve, a, _ = _curve(bn_endpoints)
    model = a.build_model().double()
    res = evaluate_along(curve, model, train, test, points=3)
    x, y = torch.cat([b[0] for b in train]), torch.cat([b[1] for b in train])
    # a DataLoader of the same batches for training (the BatchNorm pass of a network with two
    # BatchNorm layers depends on the batches: the second sees batch-normalised inputs)
    loader = DataLoader(TensorDataset(x, y), batch_size=25)
    tx, ty = torch.cat([b[0] for b in test]), torch.cat([b[1] for b in test])
    res2 = evaluate_along(curve, model, loader, [(tx, ty)], points=3)  # test: one batch
    for part in ("curve", "line"):
        for key in ("train_error", "test_error"):
            assert ((res[part][key] >= 0) & (res[part][key] <= 1)).all()
            # exact: counts of the same samples at the same weights, divided once
            np.testing.assert_array_equal(res[part][key], res2[part][key])
        # exact: the same batches through the same kernels
        np.testing.assert_array_equal(res2[part]["train_loss"], res[part]["train_loss"])
        # float64 sums over another partition of the test set: 30 roundings at most
        np.testing.assert_allclose(res2[part]["test_loss"], res[part]["test_loss"],
                                   rtol=30 * 2.3e-16)
    # t = 0 is the start: its error is the start's error with its own statistics
    params = curve.point(0.0)
    want = evaluate_loss_error(model, params, test, buffers=recalibrate_bn(model, params, train))
    assert res["curve"]["test_error"][0] == want[1]
