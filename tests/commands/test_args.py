"""The flags every command shares: one ``--store`` default everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from landscape.checkpoint import save_checkpoint
from landscape.commands._args import STORE_ENV, add_store_flag, open_store, store_path
from landscape.models import create_model
from landscape.store import Store


def test_store_flag_and_open_store(tmp_path, monkeypatch):
    monkeypatch.delenv(STORE_ENV, raising=False)
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


def test_one_default_rule(tmp_path, monkeypatch):
    monkeypatch.delenv(STORE_ENV, raising=False)
    kw = {"widths": [3], "input_shape": [2], "num_classes": 2}
    model = create_model("mlp", **kw)
    # a run's checkpoint, and the same checkpoint copied out of its run: beside the run
    ckpt = save_checkpoint(tmp_path / "runs" / "sgd" / "epoch_0001.pt", model,
                           model_name="mlp", model_kwargs=kw, epoch=1)
    assert store_path(None, ckpt) == tmp_path / "runs" / "store"
    copied = save_checkpoint(tmp_path / "loose" / "epoch_0001.pt", model, model_name="mlp",
                             model_kwargs=kw, epoch=1)
    assert store_path(None, copied) == tmp_path / "store"
    # the user's own weights file: a store beside it
    (tmp_path / "mine").mkdir()
    torch.save(model.state_dict(), tmp_path / "mine" / "w.pt")
    assert store_path(None, tmp_path / "mine" / "w.pt") == tmp_path / "mine" / "store"
    # nothing near (the cache commands): ./store; the environment overrides every default
    assert store_path(None) == Path("store")
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "shared"))
    assert store_path(None, ckpt) == store_path(None) == tmp_path / "shared"
    assert store_path(str(tmp_path / "given"), ckpt) == tmp_path / "given"
