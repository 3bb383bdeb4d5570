from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from landscape.store import Store
from landscape.store.cli import register


def run(argv, capsys):
    parser = argparse.ArgumentParser(prog="landscape")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "store")
    store.get_or_compute("hessian.topk", {"k": 1}, {"checkpoint": "d" * 64},
                         lambda: {"v": np.ones(10)})
    store.get_or_compute("curve.plane", {"grid": 3}, None, lambda: {"loss": np.zeros((3, 3))})
    store.partial("curve.grid", {}, None, fields={"x": ((2,), "f8")}).write(0, x=1.0)
    return store


def test_ls_json_lists_key_analysis_inputs_size_age(store, capsys):
    code, out = run(["cache", "ls", "--json", "--store", str(store.root)], capsys)
    listing = json.loads(out)
    assert code == 0 and len(listing["entries"]) == 3
    by_name = {e["name"]: e for e in listing["entries"]}
    top = by_name["hessian.topk"]
    assert top["inputs"] == {"checkpoint": "d" * 64} and top["size"] > 0
    assert 0 <= top["age_days"] < 1 and len(top["key"]) == 64 and top["status"] == "ok"
    assert by_name["curve.grid"]["status"] == "partial" and by_name["curve.grid"]["done"] == "1/2"


def test_ls_human_shows_corrupt_entries(store, capsys):
    (store.root / ("ef" * 32 + ".h5")).write_bytes(b"junk")
    with pytest.warns(UserWarning):
        code, out = run(["cache", "ls", "--store", str(store.root)], capsys)
    assert code == 0 and "hessian.topk" in out and "checkpoint=dddddddd" in out
    assert "efefefefefef" in out and "corrupt" in out and "4 entries" in out


def test_rm_by_key_prefix_analysis_and_age(store, capsys):
    key = store.key("hessian.topk", {"k": 1}, {"checkpoint": "d" * 64})
    code, out = run(["cache", "rm", key[:10], "--store", str(store.root)], capsys)
    assert code == 0 and "removed 1 entries" in out and store.get(key) is None
    run(["cache", "rm", "--analysis", "curve.grid", "--store", str(store.root)], capsys)
    assert [s.name for s in store.entries()] == ["curve.plane"]
    code, out = run(["cache", "rm", "--older-than", "1", "--store", str(store.root)], capsys)
    assert "removed 0 entries" in out and len(store.entries()) == 1
    _, out = run(["cache", "rm", "--older-than", "0", "--dry-run", "--json",
                  "--store", str(store.root)], capsys)
    assert json.loads(out)["dry_run"] and len(store.entries()) == 1
    run(["cache", "rm", "--older-than", "0", "--store", str(store.root)], capsys)
    assert store.entries() == []


@pytest.mark.parametrize("argv, match", [
    ([], "say what to remove"),
    (["0000"], "no entry"),
    (["abc", "--analysis", "x"], "not both"),
    (["--older-than", "-1"], "days >= 0"),
])
def test_rm_refuses_unclear_requests(store, capsys, argv, match):
    with pytest.raises(ValueError, match=match):
        run(["cache", "rm", *argv, "--store", str(store.root)], capsys)
