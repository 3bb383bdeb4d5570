from __future__ import annotations

import argparse

import pytest

from landscape.store import Store, add_store_flag, default_store_path, open_store


def test_default_store_is_beside_the_run(tmp_path):
    run = tmp_path / "runs" / "sgd"
    run.mkdir(parents=True)
    (run / "epoch_0001.pt").write_bytes(b"")
    assert default_store_path(run) == tmp_path / "runs" / "store"
    assert default_store_path(run / "epoch_0001.pt") == tmp_path / "runs" / "store"


def test_store_flag_and_open_store(tmp_path):
    parser = argparse.ArgumentParser()
    add_store_flag(parser)
    assert parser.parse_args([]).store is None
    args = parser.parse_args(["--store", str(tmp_path / "elsewhere")])
    assert open_store(args.store, tmp_path / "runs" / "a").root == tmp_path / "elsewhere"
    store = open_store(None, tmp_path / "runs" / "a")
    assert isinstance(store, Store) and store.root == tmp_path / "runs" / "store"
    (tmp_path / "blocker").write_text("")
    blocked = open_store(str(tmp_path / "blocker" / "s"), tmp_path)  # nothing checked yet
    with pytest.raises(PermissionError, match="not a directory"):
        blocked.get_or_compute("t.x", {}, None, lambda: {"x": 1})
