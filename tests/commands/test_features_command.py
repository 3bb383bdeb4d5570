"""``landscape features``: JSON, reduction, figures, the cache, and the user's own networks."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from landscape.checkpoint import save_checkpoint
from landscape.cli import main
from landscape.models import create_model
from landscape.rundir import RunDir

DATA_FILE = """\
import torch

def make(n=3, size=32, classes=10):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 3, size, size, generator=g),
             torch.randint(0, classes, (4,), generator=g)) for _ in range(n)]
"""

MODEL_FILE = """\
from torch import nn

def make(width=8, num_classes=10):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
"""


def _json(capsys, argv):
    assert main([*argv, "--json", "--device", "cpu"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_json_reduce_figures_and_cache(tmp_path, capsys):
    kwargs = {"num_classes": 3, "input_shape": [1, 4, 4], "widths": [6], "batchnorm": True}
    model = create_model("mlp", seed=0, **kwargs)
    with torch.no_grad():
        model.hidden[0][1].weight[:2] = 0.0
        model.hidden[0][1].bias[:2] = -1.0
    cfg = {"dataset": "synthetic", "dataset_args": {"input_shape": [1, 4, 4], "num_train": 40}}
    ckpt = save_checkpoint(tmp_path / "run" / "epoch_0001.pt", model, model_name="mlp",
                           model_kwargs=kwargs, epoch=1, config=cfg)
    RunDir(tmp_path / "run").write_config(cfg)
    argv = ["features", str(ckpt), "--reduce", "--batch-size", "16", "--figures",
            str(tmp_path / "figs")]
    out = _json(capsys, argv)
    assert out["cached"] is False and out["summary"]["dead_scale"] >= 2
    assert out["store"] == str(tmp_path / "store")  # the default: beside the run directory
    # fractions in the JSON, never percentages
    assert out["summary"]["dead_scale_fraction"] == pytest.approx(out["summary"]["dead_scale"] / 6)
    assert not any("pct" in k for k in out["summary"]) and out["table"][-1]["layer"] == "total"
    assert out["reduction"]["removed"]["hidden.0.0"] >= 2
    assert out["reduction"]["max_abs_diff"] < 1e-5 and len(out["figures"]) == 4
    assert all(0 <= out["reduction"][k] <= 1 for k in ("agreement", "accuracy_original"))
    assert main(["features", str(ckpt), "--batch-size", "16", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "(cached" in text and "% by gamma" in text
    assert main(["features", str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["features", str(ckpt), "--xi", "0"])
    assert exc.value.code == 2 and "expected a positive number" in capsys.readouterr().err


@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    """A torchvision ResNet-18 (random init, 10 classes) as .pt and .safetensors, user files."""
    root = tmp_path_factory.mktemp("byo")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    torch.save(net.state_dict(), root / "resnet18.pt")
    save_file(net.state_dict(), root / "resnet18.safetensors")
    (root / "data.py").write_text(DATA_FILE)
    (root / "model.py").write_text(MODEL_FILE)
    return root


def test_a_torchvision_state_dict_and_its_safetensors_end_to_end(byo, capsys):
    data = ["--data-file", f"{byo / 'data.py'}:make", "--num-classes", "10"]
    model = ["--model", "torchvision:resnet18", "--model-args", "num_classes=10"]
    pt = _json(capsys, ["features", str(byo / "resnet18.pt"), *model, *data])
    assert pt["cached"] is False and pt["store"] == str(byo / "store")
    # torchvision's BasicBlock calls its one ReLU twice: one site per call
    layers = [row["layer"] for row in pt["table"]]
    assert layers[:3] == ["relu", "layer1.0.relu@0", "layer1.0.relu@1"] and len(layers) == 18
    s = pt["summary"]
    assert s["features"] == 64 + 2 * 2 * (64 + 128 + 256 + 512)
    assert 0 <= s["dead_activation_fraction"] <= 1 and s["features_with_batchnorm"] > 0
    # the same network and tensors in a .safetensors file: the same digest, the same entry
    st = _json(capsys, ["features", str(byo / "resnet18.safetensors"), *model, *data])
    assert st["cached"] is True and st["key"] == pt["key"]


def test_a_model_defined_in_a_user_file(byo, tmp_path, capsys):
    torch.manual_seed(1)
    exec(compile(MODEL_FILE, "model.py", "exec"), ns := {})
    net = ns["make"]()
    with torch.no_grad():
        net[1].weight[3] = 0.0  # one channel inactive by BatchNorm scale
    weights = tmp_path / "mine.pt"
    torch.save(net.state_dict(), weights)
    out = _json(capsys, ["features", str(weights), "--model-file", f"{byo / 'model.py'}:make",
                         "--data-file", f"{byo / 'data.py'}:make", "--reduce"])
    assert out["table"][0]["layer"] == "2" and out["summary"]["dead_scale"] == 1
    assert out["reduction"]["removed"] == {"0": 1} and out["reduction"]["params_after"] < (
        out["reduction"]["params_before"])


def test_a_state_dict_of_another_model_is_refused_with_key_and_shapes(byo, capsys):
    argv = ["features", str(byo / "resnet18.pt"), "--model", "torchvision:resnet18",
            "--model-args", "num_classes=5", "--data-file", f"{byo / 'data.py'}:make"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "'fc.weight' has shape (10, 512)" in err and "(5, 512) in the model" in err


def test_weights_without_a_model_are_refused_with_the_fix(byo, capsys):
    assert main(["features", str(byo / "resnet18.pt"), "--data-file",
                 f"{byo / 'data.py'}:make"]) == 2
    assert "--model torchvision:NAME" in capsys.readouterr().err


def test_the_features_of_a_feature_free_model_are_refused(tmp_path, byo, capsys):
    (tmp_path / "tanh.py").write_text(textwrap.dedent("""\
        from torch import nn

        def make():
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10), nn.Tanh())
        """))
    weights = tmp_path / "tanh.pt"
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10), nn.Tanh()).state_dict(),
               weights)
    assert main(["features", str(weights), "--model-file", f"{tmp_path / 'tanh.py'}:make",
                 "--data-file", f"{byo / 'data.py'}:make"]) == 2
    assert "has no nn.ReLU module" in capsys.readouterr().err
