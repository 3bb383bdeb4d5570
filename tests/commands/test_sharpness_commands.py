"""``landscape sharpness``, ``landscape flatness`` and ``landscape curve hessian`` end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from landscape.checkpoint import load_checkpoint
from landscape.cli import main
from landscape.experiment.curves import CurveFitConfig, fit_curve_run
from landscape.rundir import RunDir
from landscape.train import TrainConfig, train

SYNTH = {"num_train": 40, "num_test": 10, "input_shape": [1, 3, 3], "num_classes": 3}


def _json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return json.loads(out[0])


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """An SGD and a gRDA run (float64, 2 epochs) and a curve between their final models."""
    root = tmp_path_factory.mktemp("sharp_cli")
    base = TrainConfig(model="mlp", model_args={"widths": [6]}, dataset="synthetic",
                       dataset_args=SYNTH, optimizer="sgd", lr=0.2, epochs=2, batch_size=8,
                       seed=0, dtype="float64", eval_batch_size=16)
    train(base, root / "runs" / "sgd", progress=False)
    train(replace(base, optimizer="grda", optimizer_args={"c": 0.01, "mu": 0.6}),
          root / "runs" / "grda", progress=False)
    fit_curve_run(RunDir(root / "runs" / "sgd").checkpoint_path(2),
                  RunDir(root / "runs" / "grda").checkpoint_path(2), root / "runs" / "curve",
                  config=CurveFitConfig(epochs=1, batch_size=16))
    return root


def test_sharpness_json_table_figure_and_the_shared_cache(experiment, tmp_path, capsys):
    runs = experiment / "runs"
    store = ["--store", str(tmp_path / "store")]
    figures = tmp_path / "fig"
    argv = ["sharpness", str(runs), "--top-k", "2", "--trace-probes", "4", "--dtype", "float64",
            "--batch-size", "16", *store]
    assert main([*argv, "--json", "--figures", str(figures)]) == 0
    out = _json(capsys)
    assert set(out["runs"]) == {"sgd", "grda"}  # the curve beside the runs is not a run
    sgd = out["runs"]["sgd"]
    assert sgd["epochs"] == [0, 1, 2] and len(sgd["eigenvalues"][0]) == 2
    # exact: 2 / 0.2 rounds to 10.0
    assert sgd["stability_limit"] == [10.0, 10.0, 10.0] and out["runs"]["grda"][
        "stability_limit"] == [None, None, None]
    assert sgd["overlap_previous"][0] is None and 0 <= sgd["overlap_previous"][1] <= 1
    assert out["figures"] == [str(figures / "sharpness_over_training.png")]
    assert (figures / "sharpness_over_training.png").stat().st_size > 0
    # `landscape hessian` asks the same question: answered from the sharpness entries
    assert main(["hessian", str(runs / "sgd"), "--epoch", "1", "--top-k", "2", "--dtype",
                 "float64", "--batch-size", "16", "--json", *store]) == 0
    top = _json(capsys)
    assert top["cached"] and top["eigenvalues"] == sgd["eigenvalues"][1]  # exact: one entry
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "lambda_1" in text and "0 epoch(s) computed, 3 from the store" in text
    assert main([*argv, "--at-epochs", "5"]) == 2
    assert "epochs [5] are not checkpointed in run" in capsys.readouterr().err


def test_flatness_of_checkpoints_and_of_a_plain_state_dict(experiment, tmp_path, capsys):
    runs = experiment / "runs"
    store = ["--store", str(tmp_path / "store")]
    opts = ["--top-k", "2", "--trace-probes", "4", "--directions", "3", "--steps", "4",
            "--dtype", "float64", *store]
    figures = tmp_path / "fig"
    assert main(["flatness", str(runs / "sgd"), str(runs / "grda"), *opts, "--json",
                 "--figures", str(figures)]) == 0
    out = _json(capsys)
    rows = out["rows"]
    assert [r["label"] for r in rows] == [f"{runs / 'sgd'} epoch 2", f"{runs / 'grda'} epoch 2"]
    for r in rows:
        assert r["lambda_max"] == r["eigenvalues"][0] and r["epsilon_sharpness"] >= 0
        assert r["max_loss"] >= r["loss"] and (r["epsilon"], r["steps"]) == (1e-3, 4)
        assert r["topk_trace_share"] == pytest.approx(sum(r["eigenvalues"]) / r["trace"])
        assert r["distance"] == 0.1 and r["directions"] == 3 and r["computed"]
    assert (figures / "flatness.png").stat().st_size > 0
    # the same weights as a plain state_dict of a registry model, on the same data
    weights = tmp_path / "mine.pt"
    torch.save(load_checkpoint(RunDir(runs / "sgd").checkpoint_path(2)).state_dict, weights)
    assert main(["flatness", str(weights), "--model", "mlp", "--model-args", "widths=6",
                 "--dataset", "synthetic", "--dataset-args", "num_train=40", "num_test=10",
                 "input_shape=1,3,3", "num_classes=3", *opts, "--batch-size", "16",
                 "--json"]) == 0
    mine = _json(capsys)["rows"][0]
    assert mine["loss"] == pytest.approx(rows[0]["loss"], rel=1e-12)
    assert mine["lambda_max"] == pytest.approx(rows[0]["lambda_max"], rel=1e-6)
    assert main(["flatness", str(runs / "sgd"), *opts]) == 0
    assert "0 network(s) computed, 1 from the store" in capsys.readouterr().out


def test_curve_hessian_command(experiment, tmp_path, capsys):
    curve = experiment / "runs" / "curve"
    argv = ["curve", "hessian", str(curve), "--points", "3", "--top-k", "2",
            "--trace-probes", "2", "--batch-size", "16", "--store", str(tmp_path / "store")]
    figures = tmp_path / "fig"
    assert main([*argv, "--json", "--figures", str(figures)]) == 0
    out = _json(capsys)
    assert out["complete"] and out["computed"] == 3 + 1 and len(out["t"]) == 3
    assert np.array(out["curve"]["eigenvalues"]).shape == (3, 2)
    # exact: the line's t = 0 is the curve's t = 0 point, computed once
    assert out["line"]["eigenvalues"][0] == out["curve"]["eigenvalues"][0]
    assert out["curve"]["lambda_max_max"] == max(out["curve"]["lambda_max"])
    assert "epoch 2" in out["start"] and "grda" in out["end"]
    assert (figures / "curve_hessian.png").stat().st_size > 0
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "(0 computed now)" in text and "max lambda_1" in text
