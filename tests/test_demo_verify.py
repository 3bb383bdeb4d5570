"""The directional-pruning pipeline end to end on the tiny preset (seconds)."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import landscape.curvature.analysis as curvature_analysis
import landscape.curves.results as curve_results
import landscape.demo as demo
import landscape.verify as verify_mod
from landscape.checkpoint import load_checkpoint, save_checkpoint
from landscape.cli import main
from landscape.rundir import RunDir
from landscape.verify import Thresholds, format_report, judge


@pytest.fixture
def tiny(tiny_demo):
    return tiny_demo


def test_demo_produces_every_report_field_and_figure(tiny):
    root, result = tiny
    assert set(result["reports"]) == {"0.51", "0.6"}
    for report in result["reports"].values():
        assert set(report) == {"runs", "connectivity", "projection", "curvature", "verdict",
                               "final_epoch"}
        assert report["final_epoch"] == 2 and report["projection"]["converged"] == [3, 3]
        assert set(report["runs"]) == {"sgd", "grda"}
        for run in report["runs"].values():
            assert {"test_acc", "sparsity", "group_sparsity", "train_loss"} <= set(run)
        c = report["connectivity"]
        assert c["curve_barrier"] >= 0 and c["line_barrier"] >= 0 and len(c["t"]) == 5
        p = report["projection"]
        assert p["epochs"] == [1, 2] and len(p["share"]) == 2 and len(p["per_vector"][0]) == 3
        assert all(0 <= s <= 1 for s in p["share"]) and p["baseline_share"] is not None
        assert p["random_expected"] == pytest.approx(3 / p["num_parameters"])
        assert len(report["curvature"]["sgd_eigenvalues"]) == 3
        names = [c["name"] for c in report["verdict"]["criteria"]]
        assert names == ["same_valley", "flat_directions", "sparse", "comparable_accuracy"]
        assert "verdict:" in format_report(report)
    assert result["plane"]["complete"]
    assert all((root / "fig").joinpath(f).exists() for f in
               ("fig3_accuracy_sparsity.png", "fig5_plane.png", "fig6_projection.png"))
    assert "Directional pruning on synthetic" in demo.format_demo(result)


def test_second_demo_computes_nothing(tiny, monkeypatch):
    root, first = tiny

    def forbidden(*args, **kwargs):
        raise AssertionError("the second demo must answer from the cache")

    monkeypatch.setattr(demo, "train", forbidden)
    monkeypatch.setattr(verify_mod, "fit_curve", forbidden)
    monkeypatch.setattr(curvature_analysis, "lanczos", forbidden)
    monkeypatch.setattr(curvature_analysis, "slq_density", forbidden)
    monkeypatch.setattr(curve_results, "evaluate_along", forbidden)
    monkeypatch.setattr(curve_results, "run_grid", forbidden)
    store = root / "out" / "store"
    before = {p.name: p.stat().st_mtime_ns for p in store.glob("*.h5")}
    second = demo.run_demo(root / "out", root / "fig", preset="tiny", progress=False,
                           log=lambda s: None)
    assert {p.name: p.stat().st_mtime_ns for p in store.glob("*.h5")} == before
    assert second["plane"]["computed"] == 0
    for mu in first["reports"]:
        assert second["reports"][mu]["projection"] == first["reports"][mu]["projection"]


def test_project_and_verify_commands(tiny, capsys):
    root, result = tiny
    sgd, grda = result["runs"]["sgd"], result["runs"]["grda_mu0.6"]
    assert main(["project", sgd, grda, "--top-k", "3", "--json",
                 "--store", str(root / "out" / "store")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"]["grda_c0.05_mu0.6"]["share"] == result["reports"]["0.6"]["projection"][
        "share"]
    assert main(["verify", sgd, grda, "--top-k", "3", "--points", "5", "--curve-epochs", "2",
                 "--store", str(root / "out" / "store"), "--min-sparsity", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"]["thresholds"]["min_sparsity"] == 0
    sparse = next(c for c in report["verdict"]["criteria"] if c["name"] == "sparse")
    assert sparse["passed"]


def test_judge_applies_each_threshold():
    ev = {"runs": {"sgd": {"test_acc": 0.95}, "grda": {"test_acc": 0.90, "sparsity": 0.2}},
          "connectivity": {"curve_barrier": 0.5}, "projection": {"share": [0.5]}}
    v = judge(ev, Thresholds())
    assert not v["directional_pruning"]
    assert [c["passed"] for c in v["criteria"]] == [False, False, False, False]
    loose = Thresholds(max_barrier=1, max_share=1, min_sparsity=0.1, max_accuracy_drop=0.1)
    assert judge(ev, loose)["directional_pruning"]
    with pytest.raises(ValueError, match="max_share must be a finite number"):
        Thresholds(max_share=float("nan"))


def test_verify_refuses_untrained_runs(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_runs_of_different_experiments_are_refused_before_any_work(tiny, monkeypatch, capsys):
    root, result = tiny
    runs = result["runs"]

    def forbidden(*args, **kwargs):
        raise AssertionError("no Hessian may be computed for incomparable runs")

    monkeypatch.setattr(curvature_analysis, "lanczos", forbidden)
    store = ["--store", str(root / "out" / "store")]
    # the second SGD run has another seed: it is a baseline, not a partner
    assert main(["project", runs["sgd"], runs["sgd_baseline"], "--top-k", "3", *store]) == 2
    assert "differ in 'seed'" in capsys.readouterr().err
    assert main(["project", runs["sgd"], runs["grda_mu0.6"], "--baseline-run", runs["sgd"],
                 "--top-k", "3", *store]) == 2
    assert "needs a run from another seed" in capsys.readouterr().err
    # a good run before a bad one: nothing is computed for the good one either
    assert main(["project", runs["sgd"], runs["grda_mu0.6"], runs["sgd_baseline"],
                 "--top-k", "3", *store]) == 2
    monkeypatch.setattr(verify_mod, "fit_curve", forbidden)
    assert main(["verify", runs["sgd"], runs["grda_mu0.6"], "--baseline-run", runs["sgd"],
                 *store]) == 2
    assert "needs a run from another seed" in capsys.readouterr().err


def test_unfinished_runs_and_stale_curves_are_refused_with_the_fix(tiny, tmp_path, capsys):
    _, result = tiny
    runs = {k: tmp_path / Path(v).name for k, v in result["runs"].items()}
    for k, v in result["runs"].items():
        shutil.copytree(v, runs[k])
    store = ["--store", str(tmp_path / "store"), "--top-k", "3", "--points", "5",
             "--curve-epochs", "1"]
    last = RunDir(runs["grda_mu0.6"]).checkpoint_path(2)
    saved = last.read_bytes()
    last.unlink()  # as if interrupted (or stopped by the NaN guard) during epoch 2
    assert main(["verify", str(runs["sgd"]), str(runs["grda_mu0.6"]), *store]) == 2
    assert "stopped at epoch 1 of 2" in capsys.readouterr().err
    assert main(["verify", str(runs["sgd"]), str(runs["grda_mu0.6"]), "--allow-unfinished",
                 *store]) == 2
    assert "ends at epoch 1 and the SGD run at epoch 2" in capsys.readouterr().err
    last.write_bytes(saved)
    assert main(["verify", str(runs["sgd"]), str(runs["grda_mu0.6"]), *store]) == 0
    capsys.readouterr()
    # retrain gRDA's last epoch into a different checkpoint: the fitted curve is stale
    ckpt = load_checkpoint(last)
    model = ckpt.build_model()
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    save_checkpoint(last, model, model_name=ckpt.model_name, model_kwargs=ckpt.model_kwargs,
                    epoch=2, config=ckpt.config, metrics=ckpt.metrics)
    assert main(["verify", str(runs["sgd"]), str(runs["grda_mu0.6"]), *store]) == 2
    assert "and verify fits a new one" in capsys.readouterr().err


def test_a_given_curve_is_used_as_fitted(tiny, monkeypatch, capsys):
    root, result = tiny
    runs = result["runs"]

    def forbidden(*args, **kwargs):
        raise AssertionError("a curve given with --curve must not be refitted")

    monkeypatch.setattr(verify_mod, "fit_curve", forbidden)
    curve = verify_mod.default_curve_dir(runs["sgd"], runs["grda_mu0.6"])
    store = ["--store", str(root / "out" / "store"), "--top-k", "3", "--points", "5", "--json"]
    # fitted with 2 epochs; --curve-epochs 10 (the default) only matters when fitting
    assert main(["verify", runs["sgd"], runs["grda_mu0.6"], "--curve", str(curve), *store]) == 0
    assert json.loads(capsys.readouterr().out)["connectivity"]["curve_dir"] == str(curve)
    other = verify_mod.default_curve_dir(runs["sgd"], runs["grda_mu0.51"])
    assert main(["verify", runs["sgd"], runs["grda_mu0.6"], "--curve", str(other), *store]) == 2
    assert "not the final checkpoints" in capsys.readouterr().err
