"""Finding the runs of an experiment directory; final epochs."""

from __future__ import annotations

import pytest
from pinned_runs import make_pair, make_run

from landscape.experiment.runs import final_epoch, find_runs, is_curve_dir, is_store_dir
from landscape.rundir import RunDir
from landscape.store import Store


def _experiment(root):
    sgd, grda = make_pair(root)
    store = Store(root / "store")
    store.get_or_compute("demo", {}, None, lambda: {"x": 1})  # a real store, with its marker
    curve = make_run(root / "curve_sgd__grda", "sgd", shift=0.0)
    config = RunDir(curve).read_config()
    RunDir(curve).write_config({**config, "endpoints": {"start": {}, "end": {}}})
    return sgd, grda, store, curve


def test_runs_of_an_experiment_skip_its_store_and_curves(tmp_path):
    sgd, grda, store, curve = _experiment(tmp_path)
    assert is_store_dir(store.root) and is_curve_dir(curve) and not is_curve_dir(sgd)
    assert sorted(find_runs([tmp_path])) == sorted([sgd, grda])
    # as a shell expands `runs/*`: the store and the curve are skipped, not refused
    assert sorted(find_runs(sorted(tmp_path.iterdir()))) == sorted([sgd, grda])
    (tmp_path / "notes").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no run directory"):
        find_runs([tmp_path / "notes"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_runs([tmp_path / "missing"])


def test_final_epoch_needs_metrics_and_a_finished_run(tmp_path):
    sgd, _ = make_pair(tmp_path)
    with pytest.raises(ValueError, match="no metrics for its last epoch 1"):
        final_epoch(sgd)
    RunDir(sgd).metrics_path.write_text('{"epoch": 1, "test_acc": 0.5}\n')
    f = final_epoch(sgd)
    assert (f.epoch, f.checkpoint.name, f.metrics["test_acc"]) == (1, "epoch_0001.pt", 0.5)
    config = RunDir(sgd).read_config()
    RunDir(sgd).write_config({**config, "epochs": 3})
    with pytest.raises(ValueError, match="stopped at epoch 1 of 3"):
        final_epoch(sgd)
    assert final_epoch(sgd, allow_unfinished=True).epoch == 1
