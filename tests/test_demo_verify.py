"""The directional-pruning pipeline end to end on the tiny preset (seconds)."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import landscape.demo as demo
import landscape.experiment.curvature as curvature_analysis
import landscape.experiment.curvehessian as curvehessian_mod
import landscape.experiment.curves as curve_results
import landscape.experiment.features as features_mod
import landscape.experiment.sharpness as sharpness_mod
import landscape.verify.evidence as evidence_mod
from landscape.checkpoint import load_checkpoint, save_checkpoint
from landscape.cli import main
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.subject import DataOptions, resolve_subject
from landscape.rundir import RunDir
from landscape.train import TrainConfig, train
from landscape.verify import Thresholds, default_curve_dir, format_report, judge


@pytest.fixture
def tiny(tiny_demo):
    return tiny_demo


def _forbid(monkeypatch, *targets):
    def forbidden(*args, **kwargs):
        raise AssertionError("this must answer from the store / be refused before any work")

    for module, name in targets:
        monkeypatch.setattr(module, name, forbidden)


COMPUTATIONS = [(demo, "train"), (evidence_mod, "fit_curve_run"), (curvature_analysis, "lanczos"),
                (curvature_analysis, "slq_density"), (curve_results, "evaluate_along"),
                (curve_results, "run_grid"), (features_mod, "iter_feature_batches"),
                (curvehessian_mod, "point_curvature"), (sharpness_mod, "hutchinson"),
                (sharpness_mod, "hessian_operator")]


def _fractions(obj, path=""):
    """Every accuracy, error and sparsity in a JSON-like tree: ``[(path, value), ...]``."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _fractions(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _fractions(v, f"{path}[{i}]")
    elif isinstance(obj, int | float) and any(w in path.rsplit(".", 1)[-1] for w in
                                              ("acc", "error", "sparsity")):
        out.append((path, obj))
    return out


def test_demo_produces_every_report_field_and_figure(tiny):
    root, result = tiny
    assert set(result["reports"]) == {"0.51", "0.6"}
    for report in result["reports"].values():
        assert set(report) == {"runs", "connectivity", "control", "projection", "curvature",
                               "verdict", "final_epoch"}
        assert report["final_epoch"] == 2 and report["projection"]["converged"] == [3, 3]
        assert set(report["runs"]) == {"sgd", "grda", "baseline"}
        for run in report["runs"].values():
            assert {"test_acc", "sparsity", "group_sparsity", "train_loss"} <= set(run)
        for c in (report["connectivity"], report["control"]):
            assert c["curve_barrier"] >= 0 and c["line_barrier"] >= 0 and len(c["t"]) == 5
        # the control joins the two SGD runs, fitted with the same settings
        assert report["control"]["curve_dir"] == str(
            default_curve_dir(result["runs"]["sgd"], result["runs"]["sgd_baseline"]))
        assert RunDir(report["control"]["curve_dir"]).read_config()["epochs"] == 2
        p = report["projection"]
        assert p["epochs"] == [1, 2] and len(p["share"]) == 2 and len(p["per_vector"][0]) == 3
        assert all(0 <= s <= 1 for s in p["share"]) and p["baseline_share"] is not None
        assert p["random_expected"] == pytest.approx(3 / p["num_parameters"])
        assert len(report["curvature"]["sgd_eigenvalues"]) == 3
        names = [c["name"] for c in report["verdict"]["criteria"]]
        assert names == ["same_valley", "flat_directions", "sparse", "comparable_accuracy"]
        assert "verdict:" in format_report(report) and "(control)" in format_report(report)
        values = _fractions(report)
        assert len(values) > 20 and all(0 <= v <= 1 for _, v in values), values
    assert result["control"]["curve_barrier"] == result["reports"]["0.6"]["control"][
        "curve_barrier"]
    assert result["plane"]["complete"]
    assert all((root / "fig").joinpath(f).exists() for f in
               ("training_accuracy_sparsity.png", "plane_sgd_grda_mu0.6.png",
                "projection_share_topk.png"))
    text = demo.format_demo(result)
    assert "Directional pruning on synthetic" in text and "SGD seeds (control)" in text
    assert "directional pruning" in text.split("criterion")[1]  # the verdict table


def test_second_demo_computes_nothing_and_says_so(tiny, monkeypatch):
    root, first = tiny
    _forbid(monkeypatch, *COMPUTATIONS)
    store = root / "out" / "store"
    before = {p.name: p.stat().st_mtime_ns for p in store.glob("*.h5")}
    lines = []
    second = demo.run_demo(root / "out", root / "fig", preset="tiny", progress=False,
                           log=lines.append)
    assert {p.name: p.stat().st_mtime_ns for p in store.glob("*.h5")} == before
    assert second["plane"]["computed"] == 0
    for mu in first["reports"]:
        assert second["reports"][mu]["projection"] == first["reports"][mu]["projection"]
        assert second["reports"][mu]["control"] == first["reports"][mu]["control"]
    # each stage: one line when it starts, one with what it found
    tags = [line.split("]")[0] for line in lines]
    stages = 4 + 2 + 1 + 1 + 1 + 2 + 1 + 1 + 1  # train, verify, plane, spectrum, surfaces,
    # features, curvature, figures, report
    assert all(tags.count(t) == 2 for t in tags) and len(tags) == 2 * stages
    ends = lines[1::2]
    assert not any("computed" in line or "trained" in line or "fitting" in line
                   for line in lines), lines
    assert all("found finished" in line for line in ends if line.startswith("[train"))
    assert all("from the store" in line for line in ends
               if line.startswith(("[verify", "[spectrum", "[features"))), ends


def test_project_and_verify_commands(tiny, capsys):
    root, result = tiny
    runs = result["runs"]
    sgd, grda = runs["sgd"], runs["grda_mu0.6"]
    store = ["--store", str(root / "out" / "store")]
    assert main(["project", sgd, grda, "--top-k", "3", "--json", "--baseline-run",
                 runs["sgd_baseline"], *store]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"]["grda_c0.05_mu0.6"]["share"] == result["reports"]["0.6"]["projection"][
        "share"]
    assert out["figures"] == [] and out["store"] == str(root / "out" / "store")
    figures = root / "project_figures"
    assert main(["project", sgd, grda, "--top-k", "3", "--json", "--at-epochs", "2",
                 "--figures", str(figures), *store]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"]["grda_c0.05_mu0.6"]["epochs"] == [2]
    assert out["figures"] == [str(figures / "projection_share.png")]
    assert (figures / "projection_share.png").is_file()
    assert main(["verify", sgd, grda, "--top-k", "3", "--points", "5", "--curve-epochs", "2",
                 "--min-sparsity", "0", "--no-control", "--at-epochs", "1", "--json",
                 *store]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"]["thresholds"]["min_sparsity"] == 0 and report["control"] is None
    assert report["projection"]["epochs"] == [1, 2]  # the final epoch is always judged
    sparse = next(c for c in report["verdict"]["criteria"] if c["name"] == "sparse")
    assert sparse["passed"]
    # fractions in the JSON: the curve's test error agrees with the runs' test accuracy (the
    # curve at t = 0 and 1 is exactly the endpoints' weights; a count ratio, up to rounding)
    c = report["connectivity"]
    assert c["curve_test_error"][0] == pytest.approx(1 - report["runs"]["sgd"]["test_acc"])
    assert c["curve_test_error"][-1] == pytest.approx(1 - report["runs"]["grda"]["test_acc"])
    assert all(0 <= v <= 1 for _, v in _fractions(report))


def test_the_readme_commands_answer_from_the_demo_store(tiny, monkeypatch, capsys):
    """The CLI builds the same store keys as the demo, and finds its store by default."""
    _, result = tiny
    _forbid(monkeypatch, *COMPUTATIONS)
    r, p = result["runs"], demo.PRESETS["tiny"]
    curve = str(default_curve_dir(r["sgd"], r["grda_mu0.6"]))
    spectrum = demo.spectrum_command(r["sgd"], "tiny").split()[1:]
    commands = [
        ["hessian", r["sgd"], "--top-k", str(p.top_k)],
        spectrum,
        ["curve", "eval", curve, "--points", str(p.points)],
        ["curve", "plane", curve, "--grid", str(p.grid)],
        ["project", r["sgd"], r["grda_mu0.51"], r["grda_mu0.6"], "--top-k", str(p.top_k),
         "--baseline-run", r["sgd_baseline"]],
        ["features", r["grda_mu0.6"]],
        ["sharpness", r["sgd"], r["grda_mu0.6"], "--top-k", str(p.top_k), "--trace-probes",
         str(p.sharpness_probes)],
        ["curve", "hessian", curve, "--points", "11", "--top-k", "2", "--trace-probes", "0"],
        ["verify", r["sgd"], r["grda_mu0.6"], "--top-k", str(p.top_k), "--points",
         str(p.points), "--baseline-run", r["sgd_baseline"]],
    ]
    for command in commands:  # no --store: the default store beside the runs and curves
        assert main([*command, "--json"]) == 0, command
        capsys.readouterr()


# ----------------------------------------------------------------- the verdict can fail
PASSING = {
    "runs": {"sgd": {"test_acc": 0.95}, "grda": {"test_acc": 0.94, "sparsity": 0.9}},
    "connectivity": {"curve_barrier": 0.01, "line_barrier": 0.3},
    "projection": {"epochs": [1, 2], "share": [3e-4, 2e-5], "random_expected": 4e-5,
                   "baseline_share": [5e-4, 1e-4], "top_k": 10},
    "final_epoch": 2,
}


def _evidence(**changes):
    ev = json.loads(json.dumps(PASSING))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = ev
        for key in parents:
            node = node[key]
        node[leaf] = value
    return ev


def _failed(ev, thresholds=None):
    verdict = judge(ev, thresholds or Thresholds())
    failed = [c["name"] for c in verdict["criteria"] if not c["passed"]]
    assert verdict["directional_pruning"] == (not failed)
    return failed, {c["name"]: c for c in verdict["criteria"]}


def test_the_passing_case_passes_and_says_how():
    failed, rows = _failed(_evidence())
    assert failed == []
    assert rows["same_valley"]["finding"].startswith("connected by the curve only")
    assert rows["flat_directions"]["threshold"] == pytest.approx(4e-5)  # k/P binds here
    assert rows["flat_directions"]["finding"] == (
        "share 0.5x k/P, 0.2x the SGD-vs-SGD share")


@pytest.mark.parametrize(("changes", "criterion", "finding"), [
    ({"connectivity__curve_barrier": 0.5}, "same_valley", "not connected"),
    # more in the sharp directions than a random direction (below the SGD-vs-SGD share)
    ({"projection__share": [3e-4, 6e-5]}, "flat_directions", "1.5x k/P"),
    # below k/P, but above two SGD runs from different seeds
    ({"projection__baseline_share": [5e-4, 1e-5]}, "flat_directions", "2x the SGD-vs-SGD"),
    # what the former absolute threshold (0.1) let pass: 1,250 times a random direction
    ({"projection__share": [3e-4, 0.05]}, "flat_directions", "1.25e+03x k/P"),
    ({"runs__grda__sparsity": 0.3}, "sparse", "30.0% of gRDA's weights"),
    ({"runs__grda__test_acc": 0.90}, "comparable_accuracy", "5.00 points below"),
])
def test_each_criterion_fails_on_a_case_built_to_fail_it(changes, criterion, finding):
    failed, rows = _failed(_evidence(**changes))
    assert failed == [criterion]
    assert finding in rows[criterion]["finding"]
    assert "fails " + criterion in judge(_evidence(**changes), Thresholds())["summary"]


def test_same_valley_says_whether_the_line_is_flat_too():
    _, rows = _failed(_evidence(connectivity__line_barrier=0.05))
    assert rows["same_valley"]["linear"] and rows["same_valley"]["line_barrier"] == 0.05
    assert rows["same_valley"]["finding"].startswith("linearly connected")
    _, rows = _failed(_evidence())
    assert not rows["same_valley"]["linear"]


def test_without_a_baseline_the_share_is_judged_against_k_over_p_only():
    failed, rows = _failed(_evidence(projection__baseline_share=None))
    assert failed == [] and [lim["yardstick"] for lim in rows["flat_directions"]["limits"]] == [
        "random"]
    assert "pass --baseline-run" in rows["flat_directions"]["finding"]
    strict = Thresholds(max_share_random=0.25)
    assert _failed(_evidence(projection__baseline_share=None), strict)[0] == ["flat_directions"]


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match="max_share_random .--max-share-random. must be a finite"):
        Thresholds(max_share_random=float("nan"))
    with pytest.raises(ValueError, match="min_sparsity .* is a fraction in .0, 1."):
        Thresholds(min_sparsity=50)


# ------------------------------------------------------ refused before any computation
def test_runs_in_the_wrong_role_are_refused_naming_both(tiny, monkeypatch, capsys):
    root, result = tiny
    runs = result["runs"]
    _forbid(monkeypatch, *COMPUTATIONS)
    store = ["--store", str(root / "out" / "store"), "--top-k", "3"]
    sgd, grda = runs["sgd"], runs["grda_mu0.6"]
    for command in ("verify", "project"):
        assert main([command, grda, sgd, *store]) == 2  # swapped
        err = capsys.readouterr().err
        assert f"{grda} was trained with 'grda' and {sgd} with 'sgd'" in err, err
        assert "swap them" in err
        assert main([command, sgd, grda, "--baseline-run", runs["grda_mu0.51"], *store]) == 2
        err = capsys.readouterr().err
        assert "--baseline-run must be a plain SGD run" in err and "'grda'" in err
    assert main(["project", sgd, grda, runs["sgd_baseline"], *store]) == 2
    err = capsys.readouterr().err
    assert (f"GRDA_RUN must be a plain gRDA run: {runs['sgd_baseline']} was trained with "
            "'sgd'") in err


def test_verify_refuses_untrained_runs(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_runs_of_different_experiments_are_refused_before_any_work(tiny, monkeypatch, capsys):
    root, result = tiny
    runs = result["runs"]
    _forbid(monkeypatch, *COMPUTATIONS)
    store = ["--store", str(root / "out" / "store")]
    assert main(["project", runs["sgd"], runs["grda_mu0.6"], "--baseline-run", runs["sgd"],
                 "--top-k", "3", *store]) == 2
    assert "needs a run from another seed" in capsys.readouterr().err
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
    _forbid(monkeypatch, (evidence_mod, "fit_curve_run"))
    curve = default_curve_dir(runs["sgd"], runs["grda_mu0.6"])
    store = ["--store", str(root / "out" / "store"), "--top-k", "3", "--points", "5", "--json"]
    # fitted with 2 epochs; --curve-epochs 10 (the default) only matters when fitting
    assert main(["verify", runs["sgd"], runs["grda_mu0.6"], "--curve", str(curve), *store]) == 0
    assert json.loads(capsys.readouterr().out)["connectivity"]["curve_dir"] == str(curve)
    other = default_curve_dir(runs["sgd"], runs["grda_mu0.51"])
    assert main(["verify", runs["sgd"], runs["grda_mu0.6"], "--curve", str(other), *store]) == 2
    assert "not the final checkpoints" in capsys.readouterr().err


# ------------------------------------------------- end to end: runs built to fail
def _copy_runs(result, tmp_path, *labels):
    out = {}
    for label in labels:
        out[label] = tmp_path / Path(result["runs"][label]).name
        shutil.copytree(result["runs"][label], out[label])
    return out


def _verify_json(capsys, sgd, grda, tmp_path, *extra):
    args = ["verify", str(sgd), str(grda), "--top-k", "3", "--points", "5", "--curve-epochs",
            "2", "--curve-batch-size", "32", "--store", str(tmp_path / "store"), "--json",
            *extra]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    return report, {c["name"]: c for c in report["verdict"]["criteria"]}


@pytest.mark.parametrize(("c", "fails"), [(1e-4, "sparse"), (1.0, "comparable_accuracy")])
def test_grda_with_too_small_or_too_large_c_fails_its_criterion(tiny, tmp_path, capsys, c,
                                                                fails):
    """c = 1e-4 prunes nothing in two epochs; c = 1 prunes 92% and loses 6 points."""
    _, result = tiny
    runs = _copy_runs(result, tmp_path, "sgd")
    cfg = TrainConfig(**{k: v for k, v in RunDir(runs["sgd"]).read_config().items()
                         if k in TrainConfig.__dataclass_fields__})
    grda = tmp_path / "grda"
    train(TrainConfig(**{**cfg.__dict__, "optimizer": "grda",
                         "optimizer_args": {"c": c, "mu": 0.6}}), grda, progress=False)
    report, rows = _verify_json(capsys, runs["sgd"], grda, tmp_path)
    assert not rows[fails]["passed"] and not report["verdict"]["directional_pruning"]
    other = "sparse" if fails == "comparable_accuracy" else "comparable_accuracy"
    assert rows[other]["passed"]  # each case fails what it was built to fail


def test_a_difference_along_the_sharpest_direction_fails_flat_directions(tiny, tmp_path,
                                                                         capsys):
    """A 'gRDA' run whose every checkpoint is SGD's plus a step along SGD's top eigenvector."""
    _, result = tiny
    runs = _copy_runs(result, tmp_path, "sgd", "grda_mu0.6")
    sgd, grda = RunDir(runs["sgd"]), RunDir(runs["grda_mu0.6"])
    from landscape.store import Store

    store = Store(tmp_path / "store")
    for epoch in (1, 2):
        subject = resolve_subject(sgd.checkpoint_path(epoch), data=DataOptions())
        model = subject.model
        top = hessian_topk(store, subject, k=3)
        step = 0.05 * torch.as_tensor(top["eigenvectors"])[0]
        vector = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
        torch.nn.utils.vector_to_parameters(vector + step, model.parameters())
        old = load_checkpoint(grda.checkpoint_path(epoch))
        save_checkpoint(grda.checkpoint_path(epoch), model, model_name=old.model_name,
                        model_kwargs=old.model_kwargs, epoch=epoch, config=old.config,
                        metrics=old.metrics)
    _, rows = _verify_json(capsys, runs["sgd"], runs["grda_mu0.6"], tmp_path)
    flat = rows["flat_directions"]
    # float32 weights round the step by ~1e-7 relative: the share is 1 to about 1e-6
    assert not flat["passed"] and flat["value"] == pytest.approx(1.0, abs=1e-4)
    assert flat["value"] > 50 * flat["threshold"]
