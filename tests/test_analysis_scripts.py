"""Every analysis script runs on the tiny demo's runs and writes its figures or table."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from landscape.verify import default_curve_dir

SCRIPTS = Path(__file__).resolve().parents[1] / "analysis_scripts"


def _run(script, args, monkeypatch):
    monkeypatch.setattr(sys, "argv", [script, *map(str, args)])
    monkeypatch.syspath_prepend(str(SCRIPTS))
    runpy.run_path(str(SCRIPTS / script), run_name="__main__")


@pytest.fixture
def runs(tiny_demo):
    root, result = tiny_demo
    return root, {k: Path(v) for k, v in result["runs"].items()}


def test_every_script_is_covered():
    scripts = {p.name for p in SCRIPTS.glob("*.py") if not p.name.startswith("_")}
    assert scripts == {
        "seed004_fig3_accuracy_sparsity.py", "seed004_fig5_connectivity.py",
        "seed004_fig6_projection.py", "seed001_feature_sparsity.py",
        "seed000_table2_accuracy_sparsity.py", "hessian_spectrum.py",
    }


def test_figure_scripts(runs, tmp_path, monkeypatch, capsys):
    root, r = runs
    store = ["--store", root / "out" / "store", "--out", tmp_path]
    _run("seed004_fig3_accuracy_sparsity.py", [r["sgd"], r["grda_mu0.6"], *store], monkeypatch)
    _run("seed004_fig6_projection.py",
         [r["sgd"], r["grda_mu0.51"], "--top-k", "3", *store], monkeypatch)
    curve = default_curve_dir(r["sgd"], r["grda_mu0.6"])
    _run("seed004_fig5_connectivity.py", [curve, "--grid", "3", "--points", "5", *store],
         monkeypatch)
    _run("seed001_feature_sparsity.py", [r["sgd"], r["grda_mu0.6"], *store], monkeypatch)
    _run("hessian_spectrum.py", [r["sgd"], "--top-k", "3", "--probes", "2", "--steps", "8",
                                 *store], monkeypatch)
    written = {p.name for p in tmp_path.iterdir()}
    assert {"seed004_fig3_accuracy_sparsity.png", "seed004_fig6_projection.png",
            "seed001_fig3_universality.png", "seed000_fig5_unit_norms.png",
            f"seed004_fig5_plane_{curve.name}.png"} <= written
    assert "barrier: curve" in capsys.readouterr().out


def test_table_script(runs, monkeypatch, capsys):
    _, r = runs
    _run("seed000_table2_accuracy_sparsity.py", [r["sgd"], r["grda_mu0.6"], "--json"],
         monkeypatch)
    rows = json.loads(capsys.readouterr().out)
    assert [row["run"] for row in rows] == [r["sgd"].name, r["grda_mu0.6"].name]
    assert rows[0]["sparsity"] == 0.0 and rows[1]["sparsity"] > 0.0


@pytest.mark.parametrize("script", ["seed004_fig3_accuracy_sparsity.py",
                                    "seed000_table2_accuracy_sparsity.py",
                                    "seed001_feature_sparsity.py", "hessian_spectrum.py"])
def test_bad_paths_exit_with_a_clear_message(script, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(SystemExit) as exit_info:
            _run(script, [bad], monkeypatch)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "not a run directory" in err or "does not exist" in err or "no checkpoint" in err
