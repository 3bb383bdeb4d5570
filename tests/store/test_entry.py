from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from landscape.store import CorruptEntryError, Store, StoreWarning


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def test_values_round_trip_with_their_types(store):
    rng = np.random.default_rng(0)
    big = rng.standard_normal((3, 200_000)).astype(np.float32)
    values = {
        "big": big, "tensor": torch.arange(4, dtype=torch.float64), "f32": torch.ones(2),
        "i": 7, "f": 0.5, "b": False, "s": "héllo", "none": None, "lst": [1, 2, 3],
        "strs": np.array(["a", "bc"]), "zero_d": np.array(2.0), "npscalar": np.int64(4),
        "group": {"x": 1.25, "inner": {"y": np.arange(3)}},
    }
    e = store.get_or_compute("t.types", {}, None, lambda: values)
    got = e.read_all()
    np.testing.assert_array_equal(got["big"], big)
    assert got["big"].dtype == np.float32 and got["f32"].dtype == np.float32
    assert got["tensor"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert (got["i"], got["f"], got["b"], got["s"], got["none"]) == (7, 0.5, False, "héllo", None)
    assert type(got["i"]) is int and type(got["b"]) is bool and type(got["npscalar"]) is int
    assert got["lst"] == [1, 2, 3] and got["strs"].tolist() == ["a", "bc"]
    assert isinstance(got["zero_d"], np.ndarray) and got["zero_d"].shape == ()
    assert got["group"]["x"] == 1.25 and got["group"]["inner"]["y"].tolist() == [0, 1, 2]
    assert e["group/inner/y"].tolist() == [0, 1, 2]


def test_plain_h5py_sees_named_arrays_and_readable_attributes(store):
    big = np.arange(600_000, dtype=np.float32).reshape(2, -1)
    e = store.get_or_compute("hessian.topk", {"k": 2}, {"checkpoint": "abc"},
                             lambda: {"eigenvalues": np.array([2.0, 1.0]), "eigenvectors": big})
    with h5py.File(e.path, "r") as f:
        assert sorted(f) == ["eigenvalues", "eigenvectors"]
        assert f["eigenvalues"][:].tolist() == [2.0, 1.0]
        assert f.attrs["analysis"] == "hessian.topk"
        assert f.attrs["params"] == '{"k":2}' and f.attrs["inputs"] == '{"checkpoint":"abc"}'
        ds = f["eigenvectors"]
        assert ds.compression == "gzip" and ds.chunks[0] == 1 and ds.fletcher32
    assert f"{e.key}.h5" == e.path.name
    assert e.attrs["version"] == 1 and e.attrs["compute_seconds"] >= 0
    assert e.attrs["created"].endswith("+00:00") and e.attrs["library_version"]


def test_one_array_or_one_row_is_read_lazily(store, monkeypatch):
    big = np.arange(1_000_000, dtype=np.float64).reshape(4, -1)
    e = store.get_or_compute("t.lazy", {}, None, lambda: {"v": big, "w": np.ones(3)})
    np.testing.assert_array_equal(e.read("v", 2), big[2])
    with e.open() as f:
        assert f["v"][1, :5].tolist() == big[1, :5].tolist()
    assert "v" in e and "nope" not in e and sorted(e.keys()) == ["v", "w"] and len(e) == 2
    with pytest.raises(KeyError, match="has no result 'nope'; it has"):
        e["nope"]


def test_uncompressed_store_stays_plain_but_checksummed(tmp_path):
    store = Store(tmp_path, compression=None)
    e = store.get_or_compute("t.raw", {}, None, lambda: {"v": np.zeros((2, 300_000), "f4")})
    with h5py.File(e.path) as f:
        assert f["v"].compression is None and f["v"].fletcher32
    with pytest.raises(ValueError, match="compression must be 'gzip' or None"):
        Store(tmp_path, compression="lzf")


@pytest.mark.parametrize("value, match", [
    (torch.ones(2, dtype=torch.bfloat16), "bfloat16"),
    ([1, [2, 3]], "ragged or mixed"),
    (object(), "Python objects"),
    ({"a/b": 1}, "without '/'"),
    (2**70, "64 bits"),
])
def test_values_the_store_cannot_hold_are_refused(store, value, match):
    with pytest.raises(TypeError, match=match):
        store.get_or_compute("t.bad", {}, None, lambda: {"x": value})
    assert store.entries() == []


def test_bit_rot_in_a_chunk_is_reported_and_the_entry_moved_aside(store):
    big = np.random.default_rng(1).standard_normal((2, 300_000)).astype(np.float32)
    e = store.get_or_compute("t.rot", {}, None, lambda: {"v": big, "ok": np.ones(3)})
    data = bytearray(e.path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(64)
    e.path.write_bytes(bytes(data))
    with pytest.warns(StoreWarning), \
            pytest.raises(CorruptEntryError, match=r"corrupt \(field 'v'.*moved to .*rerun"):
        e["v"]
    assert len(list((store.root / ".corrupt").glob(f"{e.key}.*.h5"))) == 1
    with pytest.raises(FileNotFoundError, match="removed from the store"):
        e["ok"]
