from __future__ import annotations

import argparse
import contextlib
import io
import json

import h5py
import numpy as np
import pytest

from landscape.commands.cache import register
from landscape.store import Store

from ._tamper import flip_in


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


def _user_files(root):
    """Files a user might keep in the store directory; none of them is ours."""
    with h5py.File(root / "deadbeef_results.h5", "w") as f:
        f["x"] = np.arange(3)
    with h5py.File(root / ("ab" * 32 + ".h5"), "w") as f:  # named like an entry, but plain
        f["x"] = np.arange(3)
    (root / "notes.txt").write_text("mine")
    return [root / "deadbeef_results.h5", root / ("ab" * 32 + ".h5"), root / "notes.txt"]


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
    code, out = run(["cache", "ls", "--store", str(store.root)], capsys)
    assert code == 0 and "hessian.topk" in out and "checkpoint=dddddddd" in out
    assert "efefefefefef" in out and "corrupt" in out and "4 entries" in out


def test_ls_verifies_checksums(store, capsys):
    key = store.key("hessian.topk", {"k": 1}, {"checkpoint": "d" * 64})
    flip_in(store.path_of(key), "v", byte=2)
    code, out = run(["cache", "ls", "--store", str(store.root)], capsys)
    (line,) = [x for x in out.splitlines() if x.startswith(key[:12])]
    assert code == 0 and "corrupt" in line and "checksum" in line


def test_rm_by_key_prefix_analysis_and_age(store, capsys):
    key = store.key("hessian.topk", {"k": 1}, {"checkpoint": "d" * 64})
    code, out = run(["cache", "rm", key[:10], "--yes", "--store", str(store.root)], capsys)
    assert code == 0 and "removed 1 entries" in out and store.get(key) is None
    run(["cache", "rm", "--analysis", "curve.grid", "--yes", "--store", str(store.root)], capsys)
    assert [s.name for s in store.entries()] == ["curve.plane"]
    code, out = run(["cache", "rm", "--older-than", "1", "--store", str(store.root)], capsys)
    assert "removed 0 entries" in out and len(store.entries()) == 1
    _, out = run(["cache", "rm", "--older-than", "0", "--dry-run", "--json",
                  "--store", str(store.root)], capsys)
    assert json.loads(out)["dry_run"] and len(store.entries()) == 1
    run(["cache", "rm", "--older-than", "0", "--yes", "--store", str(store.root)], capsys)
    assert store.entries() == []


def test_user_files_survive_rm_by_age_and_by_every_prefix(store, capsys):
    mine = _user_files(store.root)
    renamed = store.root / ("de" * 32 + ".h5")  # an entry copied under another name
    key = store.key("hessian.topk", {"k": 1}, {"checkpoint": "d" * 64})
    renamed.write_bytes(store.path_of(key).read_bytes())
    for name in ("deadbeef_results", "ab" * 32, "de" * 32):
        for n in range(1, len(name) + 1):
            # "no entry matches" or "not a key prefix" is fine, as long as nothing goes
            with contextlib.suppress(ValueError):
                run(["cache", "rm", name[:n], "--yes", "--store", str(store.root)], capsys)
    assert all(p.exists() for p in mine) and renamed.exists()
    code, out = run(["cache", "rm", "--older-than", "0", "--yes", "--store", str(store.root)],
                    capsys)
    assert code == 0 and "removed 3 entries" in out
    assert sorted(s.path for s in store.entries()) == sorted([str(mine[1]), str(renamed)])
    assert not any(s.identified for s in store.entries())
    assert all(p.exists() for p in mine) and renamed.exists()
    _, out = run(["cache", "ls", "--store", str(store.root)], capsys)
    assert "not store entries" in out


@pytest.mark.parametrize("command", [["ls"], ["rm", "--older-than", "0", "--yes"], ["verify"]])
def test_a_directory_that_is_not_a_store_is_refused(tmp_path, capsys, command):
    plain = tmp_path / "data"
    plain.mkdir()
    mine = _user_files(plain)
    with pytest.raises(ValueError, match=r"data is not a landscape store: .*\.landscape-store"):
        run(["cache", *command, "--store", str(plain)], capsys)
    assert all(p.exists() for p in mine)


@pytest.mark.parametrize("command", [["ls"], ["rm", "--older-than", "0", "--yes"], ["verify"]])
def test_a_missing_store_is_refused(tmp_path, capsys, command):
    with pytest.raises(FileNotFoundError, match=r"there is no store at .*nonexistent"):
        run(["cache", *command, "--store", str(tmp_path / "nonexistent")], capsys)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_rm_asks_on_a_terminal_and_refuses_without_yes_otherwise(store, capsys, monkeypatch):
    root = str(store.root)
    with pytest.raises(ValueError, match="stdin is not a terminal.*--yes"):
        run(["cache", "rm", "--older-than", "0", "--store", root], capsys)
    assert len(store.entries()) == 3
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    code, out = run(["cache", "rm", "--analysis", "curve.plane", "--store", root], capsys)
    assert code == 1 and "curve.plane" in out and len(store.entries()) == 3
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    code, out = run(["cache", "rm", "--analysis", "curve.plane", "--store", root], capsys)
    assert code == 0 and "removed 1 entries" in out and len(store.entries()) == 2


def test_dry_run_lists_what_would_go(store, capsys):
    code, out = run(["cache", "rm", "--older-than", "0", "--dry-run", "--store", str(store.root)],
                    capsys)
    assert code == 0 and out.count("would remove ") == 4 and len(store.entries()) == 3


def test_verify_finds_a_corrupt_entry_and_moves_it_aside(store, capsys):
    key = store.key("curve.plane", {"grid": 3}, None)
    code, out = run(["cache", "verify", "--store", str(store.root)], capsys)
    assert code == 0 and "0 corrupt" in out
    flip_in(store.path_of(key), "loss", byte=5)
    code, out = run(["cache", "verify", "--json", "--store", str(store.root)], capsys)
    report = json.loads(out)
    assert code == 1 and [c["key"] for c in report["corrupt"]] == [key]
    assert "checksum" in report["corrupt"][0]["error"] and store.path_of(key).exists()
    code, out = run(["cache", "verify", "--move-aside", "--store", str(store.root)], capsys)
    assert code == 1 and "moved" in out and not store.path_of(key).exists()
    assert len(list((store.root / ".corrupt").glob(f"{key}.*.h5"))) == 1
    code, out = run(["cache", "verify", "--store", str(store.root)], capsys)
    assert code == 0


@pytest.mark.parametrize("argv, match", [
    ([], "say what to remove"),
    (["0000"], "no entry"),
    (["abc", "--analysis", "x"], "not both"),
    (["--older-than", "-1"], "days >= 0"),
])
def test_rm_refuses_unclear_requests(store, capsys, argv, match):
    with pytest.raises(ValueError, match=match):
        run(["cache", "rm", *argv, "--yes", "--store", str(store.root)], capsys)
