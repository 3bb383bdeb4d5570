"""Every analysis script runs on the tiny demo's runs and writes its figures or table."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from landscape.store import Store
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
        "chao2020_fig3_accuracy_sparsity.py", "chao2020_fig5_connectivity.py",
        "chao2020_fig6_projection.py", "mehta2019_feature_sparsity.py",
        "yaguchi2018_table2_accuracy_sparsity.py", "hessian_spectrum.py",
    }
    readme = (SCRIPTS / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in scripts)
    for path in [SCRIPTS / "README.md", *SCRIPTS.glob("*.py")]:  # cite papers, not files
        text = path.read_text().lower()
        assert "seed 00" not in text and "seed00" not in text and "design" not in text, path


def test_figure_scripts(runs, tmp_path, monkeypatch, capsys):
    root, r = runs
    store = ["--store", root / "out" / "store", "--out", tmp_path]
    before = {e.key for e in Store(root / "out" / "store").entries()}
    _run("chao2020_fig3_accuracy_sparsity.py", [r["sgd"], r["grda_mu0.6"], *store], monkeypatch)
    capsys.readouterr()
    _run("chao2020_fig6_projection.py",
         [r["sgd"], r["grda_mu0.51"], "--top-k", "3", "--at-epochs", "2", *store], monkeypatch)
    assert capsys.readouterr().out.startswith(f"{r['grda_mu0.51'].name} 2:")
    curve = default_curve_dir(r["sgd"], r["grda_mu0.6"])
    _run("chao2020_fig5_connectivity.py", [curve, "--grid", "3", "--points", "5", *store],
         monkeypatch)
    _run("mehta2019_feature_sparsity.py", [r["sgd"], r["grda_mu0.6"], *store], monkeypatch)
    _run("hessian_spectrum.py", [r["sgd"], "--top-k", "3", "--probes", "2", "--steps", "8",
                                 *store], monkeypatch)
    written = {p.name for p in tmp_path.iterdir()}
    assert {"chao2020_fig3_accuracy_sparsity.png", "chao2020_fig6_projection.png",
            "mehta2019_table_sparsity.png", "mehta2019_fig3_universality.png",
            "dettmers2019_fig3_specialisation.png", "yaguchi2018_fig5_unit_norms.png",
            f"chao2020_fig5_plane_{curve.name}.png"} <= written
    assert "barrier: curve" in capsys.readouterr().out
    # the demo computed the eigenpairs, the curve's values and the features with the same
    # settings: the scripts answer from its store. New: the spectrum (other probes) and the
    # projection without a baseline run (the demo's has one)
    added = [e.name for e in Store(root / "out" / "store").entries() if e.key not in before]
    assert sorted(added) == ["hessian.spectrum", "projection.epoch"], added


def test_table_script(runs, monkeypatch, capsys):
    _, r = runs
    _run("yaguchi2018_table2_accuracy_sparsity.py", [r["sgd"], r["grda_mu0.6"], "--json"],
         monkeypatch)
    rows = json.loads(capsys.readouterr().out)
    assert [row["run"] for row in rows] == [r["sgd"].name, r["grda_mu0.6"].name]
    assert rows[0]["sparsity"] == 0.0 and 0.0 < rows[1]["sparsity"] <= 1.0
    _run("yaguchi2018_table2_accuracy_sparsity.py", [r["sgd"], r["grda_mu0.6"]], monkeypatch)
    assert "test acc %" in capsys.readouterr().out


@pytest.mark.parametrize("script", ["chao2020_fig3_accuracy_sparsity.py",
                                    "yaguchi2018_table2_accuracy_sparsity.py",
                                    "mehta2019_feature_sparsity.py", "hessian_spectrum.py"])
def test_bad_paths_exit_with_a_clear_message(script, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(SystemExit) as exit_info:
            _run(script, [bad], monkeypatch)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "not a run directory" in err or "does not exist" in err or "no checkpoint" in err
