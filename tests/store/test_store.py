from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch

from landscape.checkpoint import checkpoint_digest, save_checkpoint
from landscape.models import create_model
from landscape.store import Store, StoreVersionError, StoreWarning


class Counter:
    def __init__(self, value=None):
        self.calls = 0
        self.value = value if value is not None else {"x": np.arange(5.0)}

    def __call__(self):
        self.calls += 1
        return self.value


def _checkpoint(path, seed):
    torch.manual_seed(seed)
    kw = {"widths": [3], "num_classes": 2, "input_shape": (1, 2, 2)}
    save_checkpoint(path, create_model("mlp", **kw), model_name="mlp", model_kwargs=kw, epoch=0)
    return checkpoint_digest(path)


def test_same_question_is_answered_from_the_cache(tmp_path):
    store, compute = Store(tmp_path / "s"), Counter()
    a = store.get_or_compute("t.a", {"k": 1}, {}, compute)
    b = store.get_or_compute("t.a", {"k": 1}, None, compute)
    assert (a.cached, b.cached, compute.calls, a.key) == (False, True, 1, b.key)
    assert a.key == store.key("t.a", {"k": 1}) and store.find("t.a", {"k": 1}).key == a.key
    assert store.get(a.key)["x"].tolist() == [0, 1, 2, 3, 4]
    store.get_or_compute("t.a", {"k": 2}, {}, compute)
    assert compute.calls == 2 and store.find("t.a", {"k": 3}) is None


def test_a_changed_checkpoint_gives_a_new_key(tmp_path):
    d1 = _checkpoint(tmp_path / "a.pt", 0)
    assert _checkpoint(tmp_path / "b.pt", 0) == d1  # same weights, other file: same digest
    d2 = _checkpoint(tmp_path / "a.pt", 1)
    store, compute = Store(tmp_path / "s"), Counter()
    k1 = store.get_or_compute("t.h", {}, {"checkpoint": d1}, compute).key
    assert store.get_or_compute("t.h", {}, {"checkpoint": d1}, compute).cached
    e2 = store.get_or_compute("t.h", {}, {"checkpoint": d2}, compute)
    assert e2.key != k1 and not e2.cached and compute.calls == 2
    assert e2.attrs["inputs"] == {"checkpoint": d2}


def test_entry_of_a_newer_schema_version_is_refused_naming_it(tmp_path):
    store = Store(tmp_path)
    newer = store.get_or_compute("t.v", {"k": 1}, None, Counter(), version=3)
    compute = Counter()
    with pytest.raises(StoreVersionError, match=r"schema version 3 .*reads version 2.*cache rm"):
        store.get_or_compute("t.v", {"k": 1}, None, compute, version=2)
    with pytest.raises(StoreVersionError, match="schema version 3"):
        store.find("t.v", {"k": 1}, version=1)
    assert compute.calls == 0
    # a newer reader does not take an older entry: it computes its own
    newest = store.get_or_compute("t.v", {"k": 1}, None, compute, version=4)
    assert not newest.cached
    store.remove(newer.key)
    with pytest.raises(StoreVersionError, match="schema version 4"):
        store.find("t.v", {"k": 1}, version=2)
    store.remove(newest.key)  # all newer ones gone: the older version may compute again
    assert not store.get_or_compute("t.v", {"k": 1}, None, compute, version=2).cached


def test_entry_of_a_newer_store_format_is_refused(tmp_path):
    store = Store(tmp_path)
    e = store.get_or_compute("t.f", {}, None, Counter())
    with h5py.File(e.path, "r+") as f:
        f.attrs["landscape_store_format"] = 3
        f.attrs["library_version"] = "9.0"
    with pytest.raises(StoreVersionError, match="landscape 9.0 in store format 3.*upgrade"):
        store.get(e.key)
    assert [s.status for s in store.entries()] == ["newer-format"]
    assert e.path.exists()  # not ours to judge: never moved aside


def test_unwritable_location_is_reported_before_computing(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    compute = Counter()
    with pytest.raises(PermissionError, match="is a file, not a directory"):
        Store(tmp_path / "file" / "store").get_or_compute("t.w", {}, None, compute)
    store = Store(tmp_path / "ro", readonly=True)
    with pytest.raises(PermissionError, match="read-only and holds no answer for t.w"):
        store.get_or_compute("t.w", {}, None, compute)
    writable = Store(tmp_path / "s")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # as if the mount went read-only
    with pytest.raises(PermissionError, match="not writable.*--store"):
        writable.get_or_compute("t.w", {}, None, compute)
    with pytest.raises(PermissionError, match="not writable"):
        writable.partial("t.p", {}, None, fields={"x": ((2,), "f8")})
    assert compute.calls == 0


def test_corrupt_planted_files_are_listed_moved_aside_and_recomputed(tmp_path):
    store = Store(tmp_path)
    good = store.get_or_compute("t.good", {}, None, Counter())
    victim = store.get_or_compute("t.victim", {}, None, Counter({"v": np.ones(100_000)}))
    garbage = tmp_path / ("ab" * 32 + ".h5")
    garbage.write_bytes(b"this is not hdf5" * 100)
    victim.path.write_bytes(victim.path.read_bytes()[:3000])  # truncated on disk
    listed = {s.key: s for s in store.entries()}
    assert listed[good.key].status == "ok"
    planted = listed["ab" * 32]
    assert planted.status == "corrupt" and "not a readable HDF5" in planted.error
    assert not planted.identified and listed[victim.key].status == "corrupt"
    assert store.get(good.key)["x"].tolist() == [0, 1, 2, 3, 4]
    with pytest.warns(StoreWarning, match="is corrupt .*moved to"):
        assert store.get("ab" * 32) is None
    compute = Counter({"v": np.ones(100_000)})
    with pytest.warns(StoreWarning, match="is corrupt"):
        again = store.get_or_compute("t.victim", {}, None, compute)
    assert compute.calls == 1 and again["v"].sum() == 100_000
    assert len(list((tmp_path / ".corrupt").iterdir())) == 2  # both kept, neither deleted


def test_failed_compute_leaves_nothing_and_frees_the_key(tmp_path):
    store = Store(tmp_path)

    def boom():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        store.get_or_compute("t.x", {}, None, boom)
    with pytest.raises(TypeError, match="must return a dict"):
        store.get_or_compute("t.x", {}, None, lambda: [1, 2])
    assert store.entries() == [] and not list(tmp_path.glob("*.tmp"))
    assert not store.get_or_compute("t.x", {}, None, Counter()).cached


def test_remove_resolve_and_bad_keys(tmp_path):
    store = Store(tmp_path)
    e = store.get_or_compute("t.r", {}, None, Counter())
    assert store.resolve(e.key[:8]) == e.key
    with pytest.raises(KeyError, match="no entry"):
        store.resolve("0000")
    assert store.remove(e.key) and not store.remove(e.key)
    assert store.get(e.key) is None
    with pytest.raises(ValueError, match="64 hex digits"):
        store.get("nope")
