import json

import numpy as np
import pytest
import torch

from landscape.checkpoint import save_checkpoint
from landscape.cli import main
from landscape.data import EvalSet, get_dataset
from landscape.models import create_model
from landscape.store import Store
from landscape.testing.hessian import dense_hessian

DATA = {"input_shape": [1, 3, 3], "num_classes": 3, "num_train": 50, "num_test": 10}


@pytest.fixture
def checkpoint(tmp_path):
    kwargs = {"num_classes": 3, "input_shape": [1, 3, 3], "widths": [5], "batchnorm": True}
    model = create_model("mlp", seed=0, **kwargs)
    path = tmp_path / "run" / "epoch_0001.pt"
    save_checkpoint(path, model, model_name="mlp", model_kwargs=kwargs, epoch=1,
                    config={"dataset": "synthetic", "dataset_args": DATA})
    return path, model


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_hessian_command_matches_dense_and_answers_second_call_from_cache(
    checkpoint, tmp_path, capsys
):
    path, model = checkpoint
    argv = ["hessian", str(path), "--top-k", "3", "--dtype", "float64", "--batch-size", "16",
            "--tol", "1e-8", "--json", "--figures", str(tmp_path / "fig")]
    first = _json(capsys, argv)
    assert first["cached"] is False and all(first["converged"])
    data = EvalSet(get_dataset("synthetic", **DATA), "train", batch_size=16, dtype=torch.float64)
    evals = torch.linalg.eigvalsh(dense_hessian(model.double(), data)).flip(0)[:3]
    np.testing.assert_allclose(first["eigenvalues"], evals.numpy(), rtol=1e-6)
    assert (tmp_path / "fig" / "run_epoch_0001_hessian_topk.png").is_file()
    # the default store sits next to the run directory
    store = Store(tmp_path / "store")
    entry = store.get(first["key"])
    vectors = entry["eigenvectors"]
    assert vectors.shape == (3, first["num_parameters"]) and vectors.dtype == np.float64
    second = _json(capsys, argv[:-2])
    assert second["cached"] is True and second["key"] == first["key"]
    assert second["eigenvalues"] == first["eigenvalues"]
    np.testing.assert_array_equal(store.get(second["key"])["eigenvectors"], vectors)


def test_hessian_subset_and_params_change_the_key(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    base = ["hessian", str(path), "--top-k", "2", "--json", "--store", str(tmp_path / "s")]
    a = _json(capsys, base)
    b = _json(capsys, [*base, "--subset", "20"])
    c = _json(capsys, [*base, "--params", "out"])
    assert len({a["key"], b["key"], c["key"]}) == 3
    assert c["num_parameters"] == 5 * 3 + 3


def test_spectrum_command_and_cache(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    argv = ["spectrum", str(path), "--probes", "4", "--steps", "10", "--trace-probes", "20",
            "--grid-size", "50", "--json", "--figures", str(tmp_path / "fig")]
    first = _json(capsys, argv)
    assert first["cached"] is False and len(first["density"]) == 50
    assert first["trace_stderr"] > 0 and first["ritz_min"] <= first["ritz_max"]
    assert (tmp_path / "fig" / "run_epoch_0001_hessian_density.png").is_file()
    second = _json(capsys, argv)
    assert second["cached"] is True and second["density"] == first["density"]


def test_human_output_and_errors(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    assert main(["hessian", str(path), "--top-k", "2"]) == 0
    assert "Hessian eigenvalues" in capsys.readouterr().out
    assert main(["spectrum", str(path), "--probes", "2", "--steps", "5", "--grid-size", "20"]) == 0
    assert "trace (Hutchinson)" in capsys.readouterr().out
    assert main(["hessian", str(tmp_path / "nope.pt"), "--top-k", "2"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["hessian", str(path), "--top-k", "2", "--params", "zzz"]) == 2
    assert "matches no trainable parameter" in capsys.readouterr().err


def test_top_k_errors_name_the_flag_and_the_range(checkpoint, capsys):
    path, model = checkpoint
    num = sum(p.numel() for p in model.parameters())
    with pytest.raises(SystemExit):
        main(["hessian", str(path), "--top-k", "0"])
    assert "--top-k" in capsys.readouterr().err
    assert main(["hessian", str(path), "--top-k", str(num)]) == 2
    err = capsys.readouterr().err
    assert f"--top-k must be between 1 and {num - 1}" in err and "block" not in err
    assert main(["hessian", str(path), "--top-k", str(num - 1), "--block-size", "2"]) == 2
    assert f"between 1 and {num - 2} (the {num} parameters minus --block-size 2)" in (
        capsys.readouterr().err)


def test_progress_on_a_terminal_unless_no_progress(checkpoint, tmp_path, capsys, monkeypatch):
    path, _ = checkpoint
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    base = ["--store", str(tmp_path / "s")]
    assert main(["hessian", str(path), "--top-k", "2", *base]) == 0
    err = capsys.readouterr().err
    assert "converged=2/2" in err and "residual=" in err
    assert main(["spectrum", str(path), "--probes", "3", "--steps", "4", "--grid-size", "9",
                 "--trace-probes", "4", *base]) == 0
    err = capsys.readouterr().err
    assert "slq:" in err and "/3 [" in err and "probe/s" in err  # counted in probes
    assert main(["hessian", str(path), "--top-k", "3", "--no-progress", *base]) == 0
    assert "converged=" not in capsys.readouterr().err


# ---------------------------------------------------------------- bring your own network
@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    from byo import write_byo

    return write_byo(tmp_path_factory.mktemp("byo_hessian"))


def test_a_torchvision_resnet18_state_dict_and_safetensors(byo, capsys):
    from byo import RESNET, data_flags

    # the last layer's Hessian (5,130 parameters) to a tight tolerance; the same network and
    # tensors from .pt and .safetensors are one subject: the second answers from the store
    argv = ["--top-k", "2", "--params", "fc", "--tol", "1e-6", *RESNET, *data_flags(byo),
            "--device", "cpu", "--json"]
    pt = _json(capsys, ["hessian", str(byo / "resnet1.pt"), *argv])
    assert pt["cached"] is False and all(pt["converged"]) and pt["num_parameters"] == 5130
    assert pt["store"] == str(byo / "store")  # beside the weights file
    st = _json(capsys, ["hessian", str(byo / "resnet1.safetensors"), *argv])
    assert st["cached"] is True and st["key"] == pt["key"]
    # the whole network's spectrum (11.2M parameters): a few SLQ steps, end to end
    spec = _json(capsys, ["spectrum", str(byo / "resnet1.pt"), "--probes", "1", "--steps", "3",
                          "--trace-probes", "0", *RESNET[:2], "--model-args", "num_classes=10",
                          *data_flags(byo), "--device", "cpu", "--json"])
    assert spec["num_parameters"] == 11_181_642 and spec["ritz_max"] > spec["ritz_min"]


def test_a_model_defined_in_a_user_file(byo, capsys, tmp_path):
    from byo import data_flags, model_file_flags

    out = _json(capsys, ["hessian", str(byo / "small1.safetensors"), "--top-k", "3",
                         *model_file_flags(byo), *data_flags(byo), "--dtype", "float64",
                         "--tol", "1e-8", "--device", "cpu", "--json"])
    assert all(out["converged"]) and out["num_parameters"] == 3 * 4 * 9 + 4 + 4 + 4 + 4 * 10 + 10
    # the same tensors loaded into another definition of the model (another file) are another
    # subject: never the same store entry
    other = tmp_path / "other.py"
    other.write_text((byo / "model.py").read_text().replace("width=4", "width=4, extra=None"))
    again = _json(capsys, ["hessian", str(byo / "small1.safetensors"), "--top-k", "3",
                           "--model-file", f"{other}:make", *data_flags(byo), "--dtype",
                           "float64", "--tol", "1e-8", "--device", "cpu", "--json",
                           "--store", str(byo / "store")])
    assert again["cached"] is False and again["key"] != out["key"]
    np.testing.assert_allclose(again["eigenvalues"], out["eigenvalues"], rtol=1e-6)


def test_weights_that_do_not_fit_the_model_are_refused_with_key_and_shapes(byo, capsys):
    from byo import data_flags

    assert main(["hessian", str(byo / "resnet1.pt"), "--top-k", "1", "--model",
                 "torchvision:resnet18", "--model-args", "num_classes=5", *data_flags(byo)]) == 2
    err = capsys.readouterr().err
    assert "'fc.weight'" in err and "(10, 512)" in err and "(5, 512)" in err
