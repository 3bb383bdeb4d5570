"""The store marks its directory, adopts stores of older versions, and never writes into
a directory that holds other things."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landscape.store import NotAStoreError, Store, StoreVersionError

from ._tamper import Compute

MARKER = ".landscape-store"


def test_the_first_write_marks_the_store_and_nothing_before_it(tmp_path):
    store = Store(tmp_path / "s")
    assert not (tmp_path / "s").exists()  # opening a store writes nothing
    store.find("t.a", {})
    assert not (tmp_path / "s").exists()
    store.get_or_compute("t.a", {}, None, Compute({"x": 1}))
    marker = json.loads((tmp_path / "s" / MARKER).read_text())
    assert marker["format"] == "landscape-store" and marker["format_version"] == 1


def test_an_unmarked_store_of_an_older_version_is_adopted_on_the_next_write(tmp_path):
    store = Store(tmp_path / "s")
    old = store.get_or_compute("t.a", {}, None, Compute({"x": np.arange(3)}))
    (tmp_path / "s" / MARKER).unlink()  # as an older landscape left it
    (tmp_path / "s" / "notes.txt").write_text("mine")
    assert Store(tmp_path / "s").get_or_compute("t.a", {}, None, Compute({})).key == old.key
    assert not (tmp_path / "s" / MARKER).exists()  # a hit writes nothing
    Store(tmp_path / "s").get_or_compute("t.b", {}, None, Compute({"y": 2}))
    assert (tmp_path / "s" / MARKER).exists() and (tmp_path / "s" / "notes.txt").exists()


def test_a_directory_that_holds_other_files_is_not_written_into(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    compute = Compute({"x": 1})
    with pytest.raises(NotAStoreError, match=r"is not a landscape store.*notes.txt.*--store"):
        Store(tmp_path).get_or_compute("t.a", {}, None, compute)
    assert compute.calls == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_store_of_a_newer_layout_is_not_written_into(tmp_path):
    store = Store(tmp_path / "s")
    store.get_or_compute("t.a", {}, None, Compute({"x": 1}))
    (tmp_path / "s" / MARKER).write_text(json.dumps(
        {"format": "landscape-store", "format_version": 99, "library_version": "9.0"}))
    assert store.get_or_compute("t.a", {}, None, Compute({"x": 2}))["x"] == 1
    with pytest.raises(StoreVersionError, match="format 99.*landscape 9.0.*upgrade"):
        Store(tmp_path / "s").get_or_compute("t.b", {}, None, Compute({"x": 2}))


def test_entries_of_store_format_1_are_served_and_listed_as_unchecksummed(tmp_path, capsys):
    import argparse

    import h5py

    from landscape.commands.cache import register

    store = Store(tmp_path / "s")
    old = store.get_or_compute("t.a", {}, None, Compute({"x": np.arange(3.0)}))
    with h5py.File(old.path, "r+") as f:  # as landscape 0.1 wrote it: no manifest
        del f.attrs["landscape_manifest"]
        f.attrs["landscape_store_format"] = 1
    hit = store.get_or_compute("t.a", {}, None, Compute({}))
    assert hit.cached and hit["x"].tolist() == [0.0, 1.0, 2.0]
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["cache", "verify", "--store", str(tmp_path / "s")])
    assert args.func(args) == 0
    assert "1 entries of store format 1" in capsys.readouterr().out
