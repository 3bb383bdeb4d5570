"""The projection per epoch through the store: the key of the former code, and its checks."""

from __future__ import annotations

import pytest
from pinned_runs import make_pair

from landscape.experiment.projection import projection_over_epochs
from landscape.store import Store

# computed by the code before the experiment layer (stats.trajectory) on make_pair's runs
PINNED_PROJECTION = "281a242e706d0df8d5f9f2eca9fba40ac35421fc6fe6d71a3792a9553359c85b"
PINNED_TOPK = "64e7f72b624da16cabe14ce771c571df5673538625a677cf21a7a18a6758a11f"


def test_the_store_keys_are_those_of_the_former_code(tmp_path):
    sgd, grda = make_pair(tmp_path / "runs")
    store = Store(tmp_path / "store")
    p = projection_over_epochs(store, sgd, grda, top_k=2)
    assert p["epochs"] == [1] and 0 <= p["share"][0] <= 1 and p["baseline_share"] is None
    assert p["random_expected"] == pytest.approx(2 / p["num_parameters"])
    keys = {e.name: e.key for e in store.entries()}
    assert keys["projection.epoch"] == PINNED_PROJECTION
    assert keys["hessian.topk"] == PINNED_TOPK
    assert projection_over_epochs(store, sgd, grda, top_k=2) == p  # answered from the store


def test_wrong_roles_and_missing_epochs_are_refused_first(tmp_path):
    sgd, grda = make_pair(tmp_path / "runs")
    store = Store(tmp_path / "store")
    with pytest.raises(ValueError, match="swap them"):
        projection_over_epochs(store, grda, sgd)
    with pytest.raises(ValueError, match=r"epochs \[5\] are not checkpointed in every run"):
        projection_over_epochs(store, sgd, grda, epochs=[1, 5])
    assert not list(store.entries())
