"""``landscape curve fit|eval|plane`` end to end on a tiny problem, with the result store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.curves import load_curve, plane_cached
from landscape.data import EvalSet
from landscape.store import Store

DATA = ["--dataset", "synthetic", "--dataset-args", "input_shape=8,", "num_classes=4",
        "num_train=60", "num_test=30", "noise=0.8", "seed=3"]


def _json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return json.loads(out[0])


def test_fit_eval_plane_with_store_and_resume(tmp_path, bn_endpoints, capsys):
    out = tmp_path / "runs" / "curve"
    argv = ["curve", "fit", *map(str, bn_endpoints), "--out", str(out), "--epochs", "2",
            "--batch-size", "16", "--lr", "0.05", "--device", "cpu", "--json", *DATA]
    assert main(argv) == 0
    fit = _json(capsys)
    assert fit["epochs"] == 2 and fit["last"]["epoch"] == 2
    assert main(argv) == 2  # already fitted: needs --resume
    assert "pass --resume" in capsys.readouterr().err

    common = [str(out), "--batch-size", "25", "--device", "cpu", "--json"]
    fig = tmp_path / "along.png"
    assert main(["curve", "eval", *common, "--points", "5", "--figure", str(fig)]) == 0
    first = _json(capsys)
    assert not first["cached"] and fig.stat().st_size > 0
    assert len(first["t"]) == 5 and first["line"]["barrier"] >= 0
    assert main(["curve", "eval", *common, "--points", "5"]) == 0
    again = _json(capsys)
    assert again["cached"] and again["key"] == first["key"]
    assert again["curve"] == first["curve"]
    assert (tmp_path / "runs" / "store").is_dir()  # default store beside the run

    # an interrupted plane: 4 of 9 points done before, the CLI computes only the other 5
    loaded = load_curve(out)
    ds = loaded.dataset()
    train = EvalSet(ds, "train", batch_size=25, dtype=loaded.curve.start.dtype)
    test = EvalSet(ds, "test", batch_size=25, dtype=loaded.curve.start.dtype)
    store = Store(tmp_path / "runs" / "store")
    part = plane_cached(store, loaded, train, test, grid=3, margin=0.2,
                        indices=[(0, 0), (0, 1), (2, 2), (1, 1)])
    assert part["computed"] == 4 and not part["complete"]
    pfig = tmp_path / "plane.png"
    assert main(["curve", "plane", *common, "--grid", "3", "--figure", str(pfig)]) == 0
    plane = _json(capsys)
    assert plane["complete"] and plane["computed"] == 5 and pfig.stat().st_size > 0
    np.testing.assert_array_equal(np.array(plane["train_loss"])[[0, 0, 2, 1], [0, 1, 2, 1]],
                                  part["train_loss"][[0, 0, 2, 1], [0, 1, 2, 1]])
    np.testing.assert_allclose(plane["bends"], [[0, 0], plane["bends"][1], [1, 0]], atol=1e-9)
    assert main(["curve", "plane", *common, "--grid", "3"]) == 0
    assert _json(capsys)["computed"] == 0


def test_fit_accepts_run_directories_with_epochs(tmp_path, bn_endpoints, capsys):
    runs = []
    for k, path in enumerate(bn_endpoints):  # runs whose epoch 1 is the endpoint
        run = tmp_path / f"run{k}"
        run.mkdir()
        shutil.copy(path, run / "epoch_0001.pt")
        shutil.copy(bn_endpoints[1 - k], run / "epoch_0002.pt")
        runs.append(run)
    common = ["--epochs", "1", "--batch-size", "16", "--device", "cpu", "--json", *DATA]
    assert main(["curve", "fit", *map(str, bn_endpoints), "--out", str(tmp_path / "files"),
                 *common]) == 0
    assert main(["curve", "fit", *map(str, runs), "--start-epoch", "1", "--end-epoch", "1",
                 "--out", str(tmp_path / "runs"), *common]) == 0
    capsys.readouterr()
    by_file, by_run = load_curve(tmp_path / "files"), load_curve(tmp_path / "runs")
    assert torch.equal(by_file.curve.middle[0], by_run.curve.middle[0])
    assert by_run.config["endpoints"]["start"]["path"] == str((runs[0] / "epoch_0001.pt").resolve())
    assert main(["curve", "fit", str(runs[0]), str(runs[1]), "--start-epoch", "3",
                 "--out", str(tmp_path / "bad"), *common]) == 2
    assert "has no checkpoint of epoch 3" in capsys.readouterr().err


def test_fit_without_dataset_is_a_clear_error(tmp_path, bn_endpoints, capsys):
    code = main(["curve", "fit", *map(str, bn_endpoints), "--out", str(tmp_path / "c")])
    assert code == 2
    assert "does not record its dataset: pass --dataset" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["eval", "plane"])
def test_eval_of_a_non_curve_directory_is_a_clear_error(tmp_path, action, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"model": "mlp"}')
    assert main(["curve", action, str(tmp_path / "run"), "--device", "cpu"]) == 2
    assert "is not a curve run" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "flag"), [
    (["plane", "CURVE", "--grid", "0"], "--grid"),
    (["eval", "CURVE", "--points", "1"], "--points"),
    (["fit", "A", "B", "--out", "O", "--lr", "-1"], "--lr"),
    (["fit", "A", "B", "--out", "O", "--epochs", "0"], "--epochs"),
])
def test_impossible_sizes_are_refused_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["curve", *argv])
    assert exc.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err


def test_library_refuses_a_degenerate_grid_before_touching_the_store(tmp_path, bn_endpoints):
    from landscape.curves import CurveFitConfig, fit_curve
    from landscape.data import get_dataset

    ds = get_dataset("synthetic", input_shape=[8], num_classes=4, num_train=60, num_test=30,
                     noise=0.8, seed=3)
    loaded = fit_curve(*bn_endpoints, tmp_path / "c", dataset=ds,
                       config=CurveFitConfig(epochs=1, batch_size=30))
    train = EvalSet(ds, "train", batch_size=30, dtype=loaded.curve.start.dtype)
    with pytest.raises(ValueError, match="grid must be an integer >= 2"):
        plane_cached(Store(tmp_path / "store"), loaded, train, train, grid=0)
