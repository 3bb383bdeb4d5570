"""``landscape curve fit|eval|plane`` end to end: landscape checkpoints and your own networks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file

from landscape.checkpoint import save_checkpoint
from landscape.cli import main
from landscape.experiment.curves import load_curve, plane_cached
from landscape.models import create_model
from landscape.store import Store

DATA = ["--dataset", "synthetic", "--dataset-args", "input_shape=8,", "num_classes=4",
        "num_train=60", "num_test=30", "noise=0.8", "seed=3"]
KW = {"widths": [6, 5], "batchnorm": True, "num_classes": 4, "input_shape": [8]}


def _json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return json.loads(out[0])


@pytest.fixture
def endpoints(tmp_path):
    """Two float64 landscape checkpoints that record no dataset."""
    return [save_checkpoint(tmp_path / f"end{seed}.pt",
                            create_model("mlp", seed=seed, **KW).double(), model_name="mlp",
                            model_kwargs=KW, epoch=1) for seed in (1, 2)]


def test_fit_eval_plane_with_store_figures_and_resume(tmp_path, endpoints, capsys):
    out = tmp_path / "runs" / "curve"
    argv = ["curve", "fit", *map(str, endpoints), "--out", str(out), "--epochs", "2",
            "--batch-size", "16", "--lr", "0.05", "--device", "cpu", "--dtype", "float64",
            "--json", *DATA]
    assert main(argv) == 0
    fit = _json(capsys)
    assert fit["epochs"] == 2 and fit["last"]["epoch"] == 2 and 0 <= fit["last"]["train_error"] <= 1
    assert main(argv) == 2  # already fitted: needs --resume
    assert "pass --resume" in capsys.readouterr().err

    common = [str(out), "--batch-size", "25", "--device", "cpu", "--json"]
    figures = tmp_path / "figures"
    assert main(["curve", "eval", *common, "--points", "5", "--figures", str(figures)]) == 0
    first = _json(capsys)
    assert not first["cached"] and first["figures"] == [str(figures / "curve_along.png")]
    assert (figures / "curve_along.png").stat().st_size > 0
    assert len(first["t"]) == 5 and first["line"]["barrier"] >= 0
    along = np.array(first["along"]["curve"]["test_error"] + first["along"]["line"]["train_error"])
    assert ((along >= 0) & (along <= 1)).all() and 0 < first["curve"]["test_error_max"] <= 1
    assert main(["curve", "eval", *common, "--points", "5"]) == 0
    again = _json(capsys)
    assert again["cached"] and again["key"] == first["key"] and again["curve"] == first["curve"]
    assert again["store"] == str(tmp_path / "runs" / "store")  # default store beside the run

    # an interrupted plane: 4 of 9 points done before, the CLI computes only the other 5
    store = Store(tmp_path / "runs" / "store")
    part = plane_cached(store, load_curve(out, batch_size=25), grid=3, margin=0.2,
                        indices=[(0, 0), (0, 1), (2, 2), (1, 1)])
    assert part["computed"] == 4 and not part["complete"]
    assert main(["curve", "plane", *common, "--grid", "3", "--figures", str(figures)]) == 0
    plane = _json(capsys)
    assert plane["complete"] and plane["computed"] == 5
    assert (figures / "curve_plane.png").stat().st_size > 0
    np.testing.assert_array_equal(np.array(plane["train_loss"])[[0, 0, 2, 1], [0, 1, 2, 1]],
                                  part["train_loss"][[0, 0, 2, 1], [0, 1, 2, 1]])
    assert (np.array(plane["test_error"]) <= 1).all()
    np.testing.assert_allclose(plane["bends"], [[0, 0], plane["bends"][1], [1, 0]], atol=1e-9)
    assert main(["curve", "plane", *common, "--grid", "3"]) == 0
    assert _json(capsys)["computed"] == 0
    assert main(["curve", "plane", str(out), "--grid", "3", "--batch-size", "25"]) == 0
    assert "min test error" in capsys.readouterr().out  # printed text: percent


def test_fit_accepts_run_directories_with_epochs(tmp_path, endpoints, capsys):
    runs = []
    for k, path in enumerate(endpoints):  # runs whose epoch 1 is the endpoint
        run = tmp_path / f"run{k}"
        run.mkdir()
        shutil.copy(path, run / "epoch_0001.pt")
        shutil.copy(endpoints[1 - k], run / "epoch_0002.pt")
        runs.append(run)
    common = ["--epochs", "1", "--batch-size", "16", "--device", "cpu", "--json", *DATA]
    assert main(["curve", "fit", *map(str, endpoints), "--out", str(tmp_path / "files"),
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


def test_fit_without_data_is_a_clear_error(tmp_path, endpoints, capsys):
    code = main(["curve", "fit", *map(str, endpoints), "--out", str(tmp_path / "c")])
    assert code == 2
    assert "records no data: name them with --dataset NAME" in capsys.readouterr().err


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


def test_library_refuses_a_degenerate_grid_before_touching_the_store(tmp_path, endpoints):
    from landscape.experiment.curves import CurveFitConfig, fit_curve_run
    from landscape.experiment.subject import DataOptions, resolve_subject

    opts = DataOptions(dataset="synthetic", options={"input_shape": [8], "num_classes": 4,
                                                     "num_train": 60, "num_test": 30})
    loaded = fit_curve_run(*(resolve_subject(p, data=opts, splits=("train", "test"))
                             for p in endpoints), tmp_path / "c",
                           config=CurveFitConfig(epochs=1, batch_size=30))
    with pytest.raises(ValueError, match="grid must be an integer >= 2"):
        plane_cached(Store(tmp_path / "store"), loaded, grid=0)
    assert not (tmp_path / "store").exists()


# ---------------------------------------------------------------- bring your own network
DATA_FILE = """\
import torch

def make(n=12, size=16):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    batches = [(x[i:i + 6], y[i:i + 6]) for i in range(0, n, 6)]
    return {"train": batches, "test": batches[:1]}
"""

MODEL_FILE = """\
from torch import nn

def make(num_classes=10, width=4):
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
"""


@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    """Two seeds of a torchvision ResNet-18 (10 classes) and of a user-file network, saved as
    a plain state_dict (.pt) and as .safetensors; a data file of 16x16 images."""
    root = tmp_path_factory.mktemp("byo_curve")
    (root / "data.py").write_text(DATA_FILE)
    (root / "model.py").write_text(MODEL_FILE)
    for seed in (1, 2):
        torch.manual_seed(seed)
        net = torchvision.models.resnet18(num_classes=10)
        torch.save(net.state_dict(), root / f"resnet{seed}.pt")
        save_file(net.state_dict(), root / f"resnet{seed}.safetensors")
        torch.manual_seed(seed)
        small = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 10))
        torch.save(small.state_dict(), root / f"small{seed}.pt")
        save_file(small.state_dict(), root / f"small{seed}.safetensors")
    return root


def _byo_end_to_end(root, capsys, a, b, model) -> dict:
    data = ["--data-file", str(root / "data.py:make")]
    out = root / f"curve_{a.stem}"
    assert main(["curve", "fit", str(root / a), str(root / b), "--out", str(out), "--epochs",
                 "1", "--device", "cpu", "--json", *model, *data]) == 0
    fit = _json(capsys)
    assert fit["last"]["step"] == 2 and 0 <= fit["last"]["train_error"] <= 1  # 2 batches
    assert main(["curve", "eval", str(out), "--points", "3", "--json"]) == 0
    along = _json(capsys)
    assert not along["cached"] and len(along["t"]) == 3
    assert all(0 <= e <= 1 for e in along["along"]["curve"]["test_error"])
    assert main(["curve", "plane", str(out), "--grid", "3", "--json"]) == 0
    plane = _json(capsys)
    assert plane["complete"] and plane["computed"] == 9 and np.isfinite(plane["train_loss"]).all()
    assert main(["curve", "eval", str(out), "--points", "3", "--json"]) == 0
    assert _json(capsys)["cached"]
    return json.loads((out / "config.json").read_text())


def test_a_torchvision_resnet18_state_dict_and_safetensors_end_to_end(byo, capsys):
    config = _byo_end_to_end(byo, capsys, byo / "resnet1.pt", byo / "resnet2.safetensors",
                             ["--model", "torchvision:resnet18", "--model-args",
                              "num_classes=10"])
    start = config["endpoints"]["start"]["source"]
    assert start["kind"] == "weights" and start["model"] == "torchvision:resnet18"
    assert config["data_source"]["kind"] == "file"


def test_a_model_defined_in_a_user_file_end_to_end(byo, capsys):
    config = _byo_end_to_end(byo, capsys, byo / "small1.safetensors", byo / "small2.pt",
                             ["--model-file", str(byo / "model.py:make")])
    assert config["endpoints"]["end"]["source"]["model"] == f"{byo / 'model.py'}:make"
