"""The flatness table: each measure is the core's, on the subject's data, and cached."""

from __future__ import annotations

import pytest
import torch

import landscape.experiment.flatness as flatness_mod
from landscape.checkpoint import save_checkpoint
from landscape.curvature import FlatObjective, direction_increase, epsilon_sharpness
from landscape.experiment.flatness import flatness_row, flatness_table
from landscape.experiment.subject import DataOptions, resolve_subject
from landscape.models import create_model
from landscape.store import Store
from landscape.surface import random_directions

KW = {"widths": [5], "batchnorm": True, "num_classes": 3, "input_shape": [4]}
DATA = DataOptions(dataset="synthetic", options={"input_shape": [4], "num_classes": 3,
                                                 "num_train": 30, "num_test": 10},
                   batch_size=7, dtype=torch.float64)


@pytest.fixture
def subject(tmp_path):
    path = save_checkpoint(tmp_path / "net.pt", create_model("mlp", seed=3, **KW).double(),
                           model_name="mlp", model_kwargs=KW, epoch=1)
    return resolve_subject(path, data=DATA)


def test_each_measure_is_the_cores_on_the_subjects_data(subject, tmp_path):
    row = flatness_row(Store(tmp_path / "s"), subject, top_k=2, tol=1e-10, trace_probes=4,
                       epsilon=1e-2, steps=5, distance=0.2, directions=3, seed=1)
    obj = FlatObjective(subject.model, subject.split("train"))
    eps = epsilon_sharpness(obj.loss_and_gradient, obj.theta, epsilon=1e-2, steps=5, seed=1)
    # the same points in the same order (the row takes L(w) and the last point without the
    # gradient): equal up to float64 rounding
    assert row["epsilon_sharpness"] == pytest.approx(eps.sharpness, rel=1e-12)
    assert row["max_loss"] == pytest.approx(eps.max_loss, rel=1e-12)
    dirs = [random_directions(subject.point, num=1, seed=1 + j, model=subject.model).vectors[0]
            for j in range(3)]
    flat = [torch.cat([d[n].reshape(-1) for n in obj.names]) for d in dirs]
    inc = direction_increase(obj.loss, obj.theta, flat, distance=0.2)
    assert row["direction_increase"] == pytest.approx(inc.increase, rel=1e-12)
    assert row["loss"] == pytest.approx(obj.loss(obj.theta), rel=1e-12)
    assert row["topk_trace_share"] == pytest.approx(sum(row["eigenvalues"]) / row["trace"])
    assert row["computed"]


def test_the_table_answers_from_the_store(subject, tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    first = flatness_table(store, [subject], top_k=2, trace_probes=4, steps=2, directions=2)

    def forbidden(*args, **kwargs):
        raise AssertionError("must answer from the store")

    monkeypatch.setattr(flatness_mod, "FlatObjective", forbidden)
    second = flatness_table(store, [subject], top_k=2, trace_probes=4, steps=2, directions=2)
    assert not second[0]["computed"]
    assert {k: v for k, v in second[0].items() if k != "computed"} == {
        k: v for k, v in first[0].items() if k != "computed"}
    with pytest.raises(ValueError, match="pass at least one checkpoint"):
        flatness_table(store, [])
