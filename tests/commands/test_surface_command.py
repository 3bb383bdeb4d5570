"""``landscape surface``: runs, your own networks and data, the store, figures, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from byo import RESNET, data_flags, model_file_flags, write_byo

import landscape.experiment.curvature as curvature_mod
import landscape.experiment.surface as surface_mod
from landscape.cli import main

sys.path.insert(0, str(Path(__file__).parents[1] / "experiment"))
sys.path.insert(0, str(Path(__file__).parents[1] / "plotting"))

from figure_checks import record_figures
from surface_problem import make_run

F64 = ["--dtype", "float64", "--batch-size", "16", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface_cli")
    return make_run(root / "sgd"), make_run(root / "grda", optimizer="grda", seed=1)


@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    return write_byo(tmp_path_factory.mktemp("byo"), seeds=(1, 2))


def _json(capsys, argv):
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _forbid(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("this must answer from the store / be refused before any work")

    monkeypatch.setattr(surface_mod, "SurfaceEvaluator", forbidden)
    monkeypatch.setattr(curvature_mod, "lanczos", forbidden)


@pytest.fixture
def checked_figures(monkeypatch, tmp_path):
    """Every figure saved while the fixture is active: ``{file name: problems}``."""
    return record_figures(monkeypatch, tmp_path / "figure_cache")


def test_minima_plane_json_figures_and_the_second_call_from_the_store(
        runs, tmp_path, capsys, monkeypatch, checked_figures):
    sgd, grda = runs
    figures = tmp_path / "fig"
    argv = ["surface", str(sgd), "--directions", "minima", "--grda", str(grda), "--top-k", "2",
            "--grid", "5", "5", *F64, "--json"]
    first = _json(capsys, [*argv, "--figures", str(figures), "--export", "vtk"])
    assert not first["cached"] and first["computed"] == 25
    assert first["store"] == str(sgd.parent / "store")  # the default store beside the runs
    assert first["x"] == [-0.5, 0.0, 0.5, 1.0, 1.5] and first["y"] == [-1.0, -0.5, 0, 0.5, 1]
    assert np.asarray(first["train_loss"]).shape == (5, 5)
    for field in ("train_error", "test_error"):  # fractions
        assert np.min(first[field]) >= 0 and np.max(first[field]) <= 1
    m = first["minima"]  # exact below: the summary reads the same grid values
    assert m["grda"] == [1.0, 0.0] and m["grda_loss"] == first["train_loss"][3][2]
    assert m["sgd_loss"] == first["train_loss"][1][2]
    assert isinstance(m["sharper_eigenvector"], bool)
    assert [Path(f).name for f in first["figures"]] == [
        "sgd_epoch_0003_surface_minima_train_loss_contours.png",
        "sgd_epoch_0003_surface_minima_test_error_contours.png",
        "sgd_epoch_0003_surface_minima_train_loss_3d.png",
        "sgd_epoch_0003_surface_minima.vtk"]
    assert all(Path(f).is_file() for f in first["figures"])
    # the figures explain themselves: titles citing the paper, labelled axes, legends off
    # the data
    assert checked_figures and {n: p for n, p in checked_figures.items() if p} == {}
    vtk = Path(first["figures"][-1]).read_text().splitlines()
    assert vtk[3:6] == ["DATASET STRUCTURED_GRID", "DIMENSIONS 5 5 1", "POINTS 25 double"]
    # exact: the VTK writer prints repr(float), which round-trips
    assert float(vtk[6].split()[2]) == first["train_loss"][0][0]  # (x0, y0, loss there)
    _forbid(monkeypatch)
    second = _json(capsys, argv)
    assert second["cached"] and second["computed"] == 0 and second["key"] == first["key"]
    assert second["train_loss"] == first["train_loss"]  # exact: read back from the store
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert "from the store" in text and "gRDA at (1, 0)" in text and "%" in text


def test_each_method_from_the_command_line(runs, tmp_path, capsys):
    sgd, grda = runs
    store = ["--store", str(tmp_path / "store")]
    base = ["surface", str(sgd), *F64, *store, "--json", "--no-test"]
    random = _json(capsys, [*base, "--directions", "random", "--grid", "3", "3", "--seed", "2",
                            "--norm", "layer", "--include-bn-bias"])
    assert random["definition"]["seed"] == 2 and random["definition"]["norm"] == "layer"
    assert random["fields"] == ["train_loss", "train_error"]
    eigen = _json(capsys, [*base, "--directions", "eigen", "--top-k", "3", "--eigenvectors",
                           "3", "--grid", "4", "--bn", "recalibrate"])
    assert eigen["definition"]["indices"] == [2] and "y" not in eigen
    assert eigen["axis_labels"][0].startswith("Hessian eigenvector 3")
    pca = _json(capsys, [*base, "--directions", "pca", "--at-epochs", "1", "2", "--grid", "3",
                         "3"])
    assert pca["definition"]["epochs"] == [1, 2, 3] and len(pca["path"]) == 3
    assert sum(pca["info"]["explained_variance_ratio"]) == pytest.approx(1.0)  # 3 points
    line = _json(capsys, [*base, "--directions", "points", "--points", str(grda)])
    assert len(line["x"]) == 51 and line["x"][0] == -0.25 and len(line["marks"]) == 2
    plane = _json(capsys, [*base, "--directions", "points", "--points", str(grda),
                           str(sgd / "epoch_0000.pt"), "--grid", "3", "3", "--range", "0", "1",
                           "0", "1"])
    assert set(plane["inputs"]) == {"A", "B", "C"} and plane["x"] == [0.0, 0.5, 1.0]
    # both at the origin (BatchNorm kept): the same weights, the same data
    assert plane["train_loss"][0][0] == pytest.approx(random["train_loss"][1][1], rel=1e-12)


def test_your_own_resnet18_as_state_dict_and_safetensors(byo, tmp_path, capsys, monkeypatch):
    argv = ["--directions", "random", "--grid", "3", "3", *RESNET, *data_flags(byo),
            "--store", str(tmp_path / "store"), "--json", "--no-progress"]
    first = _json(capsys, ["surface", str(byo / "resnet1.pt"), *argv])
    assert not first["cached"] and np.isfinite(first["train_loss"]).all()
    assert first["inputs"]["checkpoint"]  # the digest of the model's definition and tensors
    _forbid(monkeypatch)
    # the same tensors as safetensors: the same subject, answered from the store
    second = _json(capsys, ["surface", str(byo / "resnet1.safetensors"), *argv])
    assert second["cached"] and second["key"] == first["key"]
    assert second["train_loss"] == first["train_loss"]  # exact: read back from the store


def test_a_model_from_your_own_file(byo, tmp_path, capsys):
    out = _json(capsys, ["surface", str(byo / "small1.pt"), "--directions", "points",
                         "--points", str(byo / "small2.safetensors"), "--grid", "5",
                         *model_file_flags(byo), *data_flags(byo), "--store",
                         str(tmp_path / "store"), "--json"])
    assert out["computed"] == 5 and set(out["inputs"]) == {"A", "B"}
    assert out["figures"] == [] and out["store"] == str(tmp_path / "store")


@pytest.mark.parametrize(("argv", "flag"), [
    (["--directions", "random", "--range", "-1", "1", "0"], "--range takes XMIN XMAX"),
    (["--directions", "random", "--grid", "5", "--range", "-1", "1", "-1", "1"], "--range"),
    (["--directions", "random", "--grid", "3", "3", "3"], "--grid takes NX"),
    (["--directions", "points"], "--directions points needs --points B"),
    (["--directions", "points", "--points", "X", "--grid", "3", "3"], "--grid NX"),
    (["--directions", "minima"], "--grda GRDA"),
    (["--directions", "random", "--grda", "X"], "--grda belongs to --directions minima"),
    (["--directions", "eigen", "--seed", "1"], "--seed belongs to --directions random"),
    (["--directions", "eigen", "--top-k", "1"], "--top-k 1 is below"),
    (["--directions", "eigen", "--eigenvectors", "1"], "--eigenvectors takes 2 number"),
    (["--directions", "random", "--export", "vtk"], "--export vtk writes into the --figures"),
    (["--directions", "pca", "--at-epochs", "7"], "--at-epochs: run .* has no checkpoint"),
])
def test_bad_input_is_refused_naming_the_flag(runs, tmp_path, capsys, monkeypatch, argv, flag):
    sgd, _ = runs
    _forbid(monkeypatch)
    assert main(["surface", str(sgd), *argv, "--store", str(tmp_path / "s")]) == 2
    assert flag.split(" .*")[0] in capsys.readouterr().err


def test_argparse_refusals_name_the_flag(runs, capsys):
    sgd, _ = runs
    for argv, flag in ((["--directions", "hessian"], "--directions"),
                       (["--directions", "random", "--grid", "1"], "--grid")):
        with pytest.raises(SystemExit) as exc:
            main(["surface", str(sgd), *argv])
        assert exc.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


def test_pca_of_a_one_epoch_run_and_minima_in_the_wrong_roles(runs, tmp_path, capsys,
                                                              monkeypatch):
    sgd, grda = runs
    short = make_run(tmp_path / "short", epochs=1)
    _forbid(monkeypatch)
    assert main(["surface", str(short), "--directions", "pca"]) == 2
    err = capsys.readouterr().err
    assert "--directions pca with 2 direction(s) needs the checkpoints of at least 3" in err
    assert "--at-epochs" in err
    assert main(["surface", str(grda), "--directions", "minima", "--grda", str(sgd)]) == 2
    err = capsys.readouterr().err
    assert "CHECKPOINT must be a plain SGD run" in err and "--grda" in err


def test_the_demo_surfaces_answer_from_its_store(tiny_demo, monkeypatch, capsys):
    """The demo's two surfaces are the command's defaults: the command finds them."""
    from landscape.demo import PRESETS, format_demo

    _, result = tiny_demo
    runs, g = result["runs"], str(PRESETS["tiny"].surface_grid)
    _forbid(monkeypatch)
    keys = []
    for extra in (["--directions", "random"],
                  ["--directions", "minima", "--grda", runs["grda_mu0.6"], "--top-k",
                   str(PRESETS["tiny"].top_k)]):
        out = _json(capsys, ["surface", runs["sgd"], *extra, "--grid", g, g, "--json"])
        assert out["cached"] and out["computed"] == 0
        keys.append(out["key"])
    s = result["surfaces"]
    assert s["keys"] == keys and s["mu"] == "0.6"
    assert s["grda_loss"] == out["train_loss"][3][2] and s["sgd_loss"] == out["train_loss"][1][2]
    line = next(x for x in format_demo(result).splitlines() if x.startswith("Minima plane"))
    assert "gRDA at (1, 0)" in line and f"{s['sgd_loss']:.4g} at SGD" in line
    assert ("is sharper" in line) == s["sharper_eigenvector"]
