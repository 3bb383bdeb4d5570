"""The layering of the suite holds (import-linter contracts in pyproject.toml), and would fail.

The contracts say that the core (curvature, curves, surface, stats) never imports the
experiment layer, persistence or the commands, that plotting never imports the core, that
``distributed`` imports nothing it distributes, and that no package has import cycles.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the copy's `landscape` comes first
    return subprocess.run([str(LINT), str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env=env, capture_output=True, text=True, check=False)


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "landscape", tree / "landscape",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_contracts_hold(tmp_path):
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "forbidden", "contract", "named"), [
    ("curvature/lanczos.py", "landscape.store", "layers", "landscape.store"),  # core reads a store
    ("plotting/curves.py", "landscape.curves", "layers", "landscape.curves"),  # plotting computes
    ("distributed/grid.py", "landscape.curves", "layers", "landscape.curves"),  # knows curves
    ("store/_layout.py", "landscape.store.store", "cycles", "._layout -> .store"),  # a cycle
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, forbidden, contract, named):
    tree = _copy(tmp_path)
    path = tree / "landscape" / module
    path.write_text(path.read_text() + f"\nimport {forbidden}  # noqa: E402, F401\n")
    result = _lint(tree)
    assert result.returncode != 0 and "broken" in result.stdout
    name = {"layers": "layers:", "cycles": "no import cycles"}[contract]
    assert name in result.stdout.split("Broken contracts")[-1]
    assert named in result.stdout
