"""Commands import what they use: help without torch, cached answers without weights or data."""

from __future__ import annotations

import json
import subprocess
import sys

import landscape.checkpoint as ck
import landscape.data.identity as identity
from landscape.checkpoint import Checkpoint, save_checkpoint
from landscape.cli import main
from landscape.data import EvalSet
from landscape.models import create_model

HEAVY = ["torch", "numpy", "matplotlib", "scipy", "torchvision", "h5py", "safetensors", "PIL",
         "jinja2", "plotly"]


def _imported_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_of_landscape_and_of_every_command_imports_nothing_heavy():
    code = """
import contextlib, io
from landscape.cli import build_parser
parser = build_parser()
names = list(parser._subparsers._group_actions[0].choices)
for argv in [["--help"], *[[n, "--help"] for n in names]]:
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        parser.parse_args(argv)
sub = parser._subparsers._group_actions[0].choices
nested = [[n, s, "--help"] for n, p in sub.items() if p._subparsers is not None
          for s in p._subparsers._group_actions[0].choices]
for argv in nested:
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        parser.parse_args(argv)
assert len(names) >= 10 and nested, (names, nested)
"""
    assert _imported_after(code) == []


def test_the_parsers_static_lists_are_the_registries():
    from landscape.commands import demo, train
    from landscape.demo import PRESETS
    from landscape.optim import list_optimizers, list_schedules

    assert list(train.OPTIMIZERS) == list_optimizers()
    assert list(train.SCHEDULES) == list_schedules()
    assert sorted(demo.PRESETS) == sorted(PRESETS)


def _run(tmp_path):
    kw = {"num_classes": 3, "input_shape": [1, 3, 3], "widths": [4]}
    path = tmp_path / "run" / "epoch_0001.pt"
    save_checkpoint(path, create_model("mlp", seed=0, **kw), model_name="mlp", model_kwargs=kw,
                    epoch=1, config={"dataset": "synthetic", "dataset_args": {
                        "input_shape": [1, 3, 3], "num_classes": 3, "num_train": 40}})
    return path


def test_a_cached_hessian_builds_no_model_and_no_evaluation_set(tmp_path, capsys, monkeypatch):
    path = _run(tmp_path)
    argv = ["hessian", str(path), "--top-k", "2", "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)

    def fail(*args, **kwargs):
        raise AssertionError("a cache hit read the weights or built the data")

    ck._format.clear_memos()  # as in a fresh process
    monkeypatch.setattr(identity, "_MEMO", {})
    monkeypatch.setattr(ck, "state_digest", fail)
    monkeypatch.setattr(Checkpoint, "build_model", fail)
    monkeypatch.setattr(EvalSet, "__init__", fail)
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["cached"] and again["key"] == first["key"]
    assert again["eigenvalues"] == first["eigenvalues"]  # exact: read back from the store


def test_top_k_is_still_checked_before_computing(tmp_path, capsys):
    path = _run(tmp_path)
    # 9 * 4 + 4 + 4 * 3 + 3 = 55 parameters: at most 54 eigenpairs
    assert main(["hessian", str(path), "--top-k", "55", "--store", str(tmp_path / "s")]) == 2
    assert "--top-k must be between 1 and 54" in capsys.readouterr().err
    assert not any((tmp_path / "s").rglob("*.h5"))
