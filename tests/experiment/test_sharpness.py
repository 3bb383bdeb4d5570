"""Sharpness over training: exact values, warm starts, shared keys, the cache, the lr limit."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import landscape.experiment.curvature as curvature_mod
import landscape.experiment.sharpness as sharpness_mod
from landscape.curvature import (
    HessianOperator,
    hutchinson,
    lanczos,
    subspace_overlap,
    subspace_share,
)
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.sharpness import sharpness_over_training, stability_limit, warm_start
from landscape.experiment.subject import DataOptions, resolve_subject
from landscape.store import Store
from landscape.testing import dense_hessian
from landscape.train import TrainConfig, train

F64 = DataOptions(dtype=torch.float64, batch_size=16)
TOL = 1e-9  # float64: the eigenvalues are then exact to ~TOL * |lambda|


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An SGD run (momentum 0.5) and a gRDA run, float64, 3 epochs of a tiny MLP."""
    root = tmp_path_factory.mktemp("sharpness")
    base = TrainConfig(model="mlp", model_args={"widths": [6]}, dataset="synthetic",
                       dataset_args={"num_train": 40, "num_test": 10, "input_shape": [1, 3, 3],
                                     "num_classes": 3},
                       optimizer="sgd", optimizer_args={"momentum": 0.5}, lr=0.2, epochs=3,
                       batch_size=8, seed=0, dtype="float64", eval_batch_size=16)
    train(base, root / "sgd", progress=False)
    train(replace(base, optimizer="grda", optimizer_args={"c": 0.01, "mu": 0.6}),
          root / "grda", progress=False)
    return root / "sgd", root / "grda"


def _call(store, runs, **kw):
    return sharpness_over_training(store, runs, data=F64, top_k=2, tol=TOL, trace_probes=6,
                                   **kw)


def test_values_are_those_of_the_exact_hessian_at_every_epoch(runs, tmp_path):
    store = Store(tmp_path / "store")
    out = _call(store, runs)
    assert set(out["runs"]) == {"sgd", "grda"}
    sgd = out["runs"]["sgd"]
    assert sgd["epochs"] == [0, 1, 2, 3] and out["top_k"] == 2
    previous = None
    for i, epoch in enumerate(sgd["epochs"]):
        subject = resolve_subject(runs[0], epoch=epoch, data=F64)
        data = list(subject.split("train"))
        exact = torch.linalg.eigvalsh(dense_hessian(subject.model, data)).flip(0)
        # Ritz values with relative residuals <= TOL are within TOL * |lambda| of eigenvalues
        torch.testing.assert_close(torch.tensor(sgd["eigenvalues"][i], dtype=torch.float64),
                                   exact[:2], rtol=2 * TOL, atol=1e-13)
        assert sgd["lambda_max"][i] == sgd["eigenvalues"][i][0]
        op = HessianOperator(subject.model, subject.split("train"))
        tr = hutchinson(op, 6, block_size=6, seed=0)
        # the same operator and probes: equal up to the summation order of a block product
        assert sgd["trace"][i] == pytest.approx(tr.value, rel=1e-12)
        assert sgd["trace_stderr"][i] == pytest.approx(tr.stderr, rel=1e-10)
        loss, grad = op.loss_and_gradient()
        assert sgd["loss"][i] == pytest.approx(loss, rel=1e-12)
        top = hessian_topk(store, subject, k=2, tol=TOL)  # shared with `landscape hessian`
        assert top.cached
        vectors = torch.as_tensor(top["eigenvectors"])
        assert sgd["gradient_share"][i] == pytest.approx(subspace_share(vectors, grad).share,
                                                         rel=1e-10)
        if previous is None:
            assert sgd["overlap_previous"][i] is None and sgd["angles_previous"][i] is None
        else:
            assert sgd["overlap_previous"][i] == pytest.approx(
                subspace_overlap(previous, vectors), rel=1e-12)
            assert len(sgd["angles_previous"][i]) == 2
        previous = vectors
    assert out["random_expected"] == pytest.approx(2 / out["num_parameters"])


def test_warm_starts_use_the_previous_epoch_and_agree_with_cold_starts(runs, tmp_path,
                                                                       monkeypatch):
    starts = []
    real = curvature_mod.lanczos

    def spy(op, k, **kw):
        starts.append(kw.get("start"))
        return real(op, k, **kw)

    monkeypatch.setattr(curvature_mod, "lanczos", spy)
    warm = _call(Store(tmp_path / "warm"), runs[:1])
    vectors = [torch.as_tensor(hessian_topk(Store(tmp_path / "warm"), resolve_subject(
        runs[0], epoch=e, data=F64), k=2, tol=TOL)["eigenvectors"]) for e in range(4)]
    assert starts[0] is None and len(starts) == 4
    for start, before in zip(starts[1:], vectors[:-1]):
        # exact: epoch e starts from epoch e-1's vectors (columns), plus one random vector
        assert start.shape[1] == 3 and torch.equal(start[:, :2].T, before)
    starts.clear()
    cold = _call(Store(tmp_path / "cold"), runs[:1], warm=False)
    assert starts == [None] * 4
    # both meet the same residual tolerance: the Ritz values agree to 2 * TOL * |lambda|
    for a, b in zip(warm["runs"]["sgd"]["eigenvalues"], cold["runs"]["sgd"]["eigenvalues"]):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=2 * TOL, atol=1e-13)
    assert all(c == 2 for c in warm["runs"]["sgd"]["converged"])


def test_a_second_call_answers_from_the_store(runs, tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    first = _call(store, runs)
    assert all(first["runs"]["sgd"]["computed"])

    def forbidden(*args, **kwargs):
        raise AssertionError("must answer from the store")

    for module, name in ((curvature_mod, "lanczos"), (sharpness_mod, "hutchinson"),
                         (sharpness_mod, "hessian_operator"),
                         # the overlaps of consecutive eigenspaces are entries too: asking
                         # again reads three numbers, not two [k, P] eigenvector arrays
                         (sharpness_mod, "principal_angles"),
                         (sharpness_mod, "subspace_overlap")):
        monkeypatch.setattr(module, name, forbidden)
    second = _call(store, runs)
    assert not any(second["runs"]["grda"]["computed"])
    for label in ("sgd", "grda"):
        for key, value in first["runs"][label].items():
            if key != "computed":
                assert second["runs"][label][key] == value, key


def test_the_learning_rate_and_the_stability_limit_of_each_run(runs, tmp_path):
    out = _call(Store(tmp_path / "store"), runs, epochs=[1, 3])
    sgd, grda = out["runs"]["sgd"], out["runs"]["grda"]
    assert sgd["epochs"] == grda["epochs"] == [1, 3]
    assert sgd["lr"] == [0.2, 0.2] and grda["lr"] == [0.2, 0.2]
    # heavy-ball momentum 0.5: 2 (1 + beta) / lr; no limit drawn for gRDA
    assert sgd["stability_limit"] == pytest.approx([15.0, 15.0])
    assert grda["stability_limit"] == [None, None]
    config = {"optimizer": "sgd", "lr": 1.0, "epochs": 10, "schedule": "step",
              "schedule_args": {"step_size": 2, "gamma": 0.5},
              "optimizer_args": {"momentum": 0.5, "nesterov": True}}
    # the checkpoint of epoch 3 ends the epoch run at lr = schedule(2) = 0.5
    assert stability_limit(config, 3) == pytest.approx((0.5, 2 * 1.5 / (2.0 * 0.5)))
    assert stability_limit(config, 0)[0] == 1.0


def test_missing_epochs_are_refused_before_any_work(runs, tmp_path):
    store = Store(tmp_path / "store")
    with pytest.raises(ValueError, match=r"epochs \[7\] are not checkpointed in run .*sgd"):
        _call(store, runs, epochs=[1, 7])
    with pytest.raises(FileNotFoundError):
        _call(store, [tmp_path / "nothing"])
    assert not list(store.entries())


@pytest.mark.parametrize(("k", "outliers"), [(1, False), (2, True), (5, True)])
def test_a_warm_start_from_eigenvectors_that_are_no_longer_the_top_finds_the_top(k, outliers):
    """The previous eigenvectors are exact eigenvectors of the new point (an invariant start),
    but not its top ones: the random vector of the warm start still leads to the top k.
    ``outliers``: a Hessian-like spectrum (a few large values, the rest ~0)."""
    if outliers:
        d = torch.full((300,), 1e-6, dtype=torch.float64)
        d[:8] = torch.tensor([100.0, 95.0, 90.0, 85.0, 80.0, 75.0, 70.0, 65.0])
    else:
        d = torch.linspace(2.0, 1.0, 300, dtype=torch.float64)
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    d = d[perm]  # the top eigenvectors anywhere
    previous = torch.eye(300, dtype=torch.float64)[perm.argsort()[1:k + 1]]  # 2nd..(k+1)th
    res = lanczos(torch.diag(d), k, tol=1e-6, start=warm_start(previous))
    # |lambda - theta| <= ||H v - theta v|| <= tol |theta| for a converged pair: rtol = tol
    torch.testing.assert_close(res.eigenvalues, d.sort(descending=True).values[:k],
                               rtol=1e-6, atol=0)
