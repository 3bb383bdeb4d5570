"""Every dataset is checksummed: a flipped bit, a missing field or a wrong shape is caught,
the entry moved aside (never deleted), reported in one line, and recomputed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest

from landscape.store import CorruptEntryError, Store, StoreError, StoreWarning

from ._tamper import Compute, flip_in, top, topk_schema

Q = ("hessian.topk", {"k": 3}, {"checkpoint": "c" * 64})


def _moved(store: Store) -> list:
    return sorted((store.root / ".corrupt").glob("*.h5"))


def _store_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, StoreWarning)]


def test_a_flipped_bit_in_a_small_entry_is_caught_moved_aside_and_recomputed(tmp_path):
    store = Store(tmp_path / "store")
    first = store.get_or_compute(*Q, Compute(top(3)))
    assert first.size < 1 << 20  # small: no dataset is chunked, so no fletcher32 filter
    flip_in(first.path, "eigenvalues", byte=7, bit=6)  # top exponent bit: 15.4 -> ~1e-307
    with h5py.File(first.path) as f:
        assert f["eigenvalues"][0] != 15.4  # the damage is real and silent to plain h5py
    compute = Compute(top(3))
    with pytest.warns(StoreWarning) as record:
        again = store.get_or_compute(*Q, compute)
    assert compute.calls == 1 and not again.cached
    # exact: the recomputed entry holds the very array compute() returned
    np.testing.assert_array_equal(again["eigenvalues"], top(3)["eigenvalues"])
    (report,) = _store_warnings(record)
    assert "\n" not in report and first.key[:12] in report and "checksum" in report
    (moved,) = _moved(store)
    assert moved.name.startswith(first.key) and moved.stat().st_size > 0
    assert store.get_or_compute(*Q, compute).cached and compute.calls == 1


def test_a_flipped_bit_in_a_large_chunked_entry_is_caught_and_recomputed(tmp_path):
    store = Store(tmp_path / "store")
    big = {"vectors": np.random.default_rng(0).standard_normal((2, 300_000)).astype("f4")}
    first = store.get_or_compute("t.big", {}, None, Compute(big))
    with h5py.File(first.path) as f:
        assert f["vectors"].chunks and f["vectors"].fletcher32 and f["vectors"].nbytes > 1 << 20
    flip_in(first.path, "vectors", chunk=1, bit=3)
    compute = Compute(big)
    with pytest.warns(StoreWarning, match="corrupt") as record:
        again = store.get_or_compute("t.big", {}, None, compute)
    assert compute.calls == 1 and len(_store_warnings(record)) == 1
    np.testing.assert_array_equal(again["vectors"], big["vectors"])  # exact: recomputed
    assert len(_moved(store)) == 1


def test_a_dataset_above_the_lookup_threshold_is_checked_when_read(tmp_path):
    store = Store(tmp_path / "store", verify_bytes=1 << 20)  # the 2.4 MB array is not read
    big = {"vectors": np.random.default_rng(0).standard_normal((2, 300_000)).astype("f4"),
           "small": np.arange(3.0)}
    first = store.get_or_compute("t.big", {}, None, Compute(big))
    flip_in(first.path, "vectors", chunk=2, bit=1)
    hit = store.get_or_compute("t.big", {}, None, Compute(big))
    assert hit.cached and hit["small"].tolist() == [0.0, 1.0, 2.0]
    with pytest.warns(StoreWarning), pytest.raises(CorruptEntryError, match="moved.*rerun"):
        hit["vectors"]
    assert len(_moved(store)) == 1 and not hit.path.exists()
    compute = Compute(big)
    assert not store.get_or_compute("t.big", {}, None, compute).cached and compute.calls == 1


def _drop(path, field):
    with h5py.File(path, "r+") as f:
        del f[field]


def _reshape(path, field):
    with h5py.File(path, "r+") as f:
        del f[field]
        f[field] = np.arange(4.0)


def _retype(path, field):
    with h5py.File(path, "r+") as f:
        data = f[field][()]
        del f[field]
        f[field] = data.astype("f4")


@pytest.mark.parametrize("tamper, why", [
    (_drop, "'eigenvalues' is missing"), (_reshape, "shape"), (_retype, "dtype"),
])
def test_an_entry_that_contradicts_its_manifest_is_recomputed(tmp_path, tamper, why):
    store = Store(tmp_path / "store")
    first = store.get_or_compute(*Q, Compute(top(3)))
    tamper(first.path, "eigenvalues")
    compute = Compute(top(3))
    with pytest.warns(StoreWarning, match=why):
        again = store.get_or_compute(*Q, compute)
    assert compute.calls == 1 and again["eigenvalues"].shape == (3,)


def test_an_entry_for_k3_planted_under_the_k5_key_is_recomputed(tmp_path):
    store = Store(tmp_path / "store")
    three = store.get_or_compute(*Q, Compute(top(3)))
    q5 = ("hessian.topk", {"k": 5}, Q[2])
    k5 = store.key(*q5)
    shutil.copy(three.path, store.path_of(k5))
    with h5py.File(store.path_of(k5), "r+") as f:
        f.attrs["key"] = k5  # its name and key now say k=5; its parameters still say k=3
    compute = Compute(top(5))
    with pytest.warns(StoreWarning, match="corrupt"):
        five = store.get_or_compute(*q5, compute, schema=topk_schema(5))
    assert compute.calls == 1 and five["eigenvalues"].shape == (5,)


def test_the_callers_schema_catches_an_entry_that_is_consistent_but_wrong(tmp_path):
    store = Store(tmp_path / "store")
    q5 = ("hessian.topk", {"k": 5}, Q[2])
    # an older writer stored 3 eigenpairs under the k=5 question: self-consistent, but wrong
    store.get_or_compute(*q5, Compute(top(3)))
    assert store.get_or_compute(*q5, Compute(top(3))).cached  # nothing to see without a schema
    compute = Compute(top(5))
    with pytest.warns(StoreWarning, match=r"'eigenvalues' has shape \(3,\), expected \(5,\)"):
        five = store.get_or_compute(*q5, compute, schema=topk_schema(5))
    assert compute.calls == 1 and five["eigenvectors"].shape == (5, 6)
    assert store.find(*q5, schema=topk_schema(5)).key == five.key


def test_a_result_that_contradicts_the_schema_is_not_stored(tmp_path):
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match=r"hessian.topk.*'eigenvalues' has shape \(3,\)"):
        store.get_or_compute("hessian.topk", {"k": 5}, None, Compute(top(3)),
                             schema=topk_schema(5))
    assert store.entries() == []


@pytest.mark.parametrize("schema, match", [
    ({"x": (5, "f")}, "shape"), ({"x": ((5,), "q")}, "kind"), (["x"], "dict"),
])
def test_bad_schemas_are_refused(tmp_path, schema, match):
    with pytest.raises(TypeError, match=match):
        Store(tmp_path).get_or_compute("t.s", {}, None, Compute({"x": np.ones(5)}),
                                       schema=schema)


def test_the_report_is_one_clean_line_on_stderr(tmp_path):
    store = Store(tmp_path / "store")
    flip_in(store.get_or_compute(*Q, Compute(top(3))).path, "eigenvalues", byte=3)
    child = (
        "import sys, numpy as np\n"
        "from landscape.store import Store\n"
        "e = Store(sys.argv[1]).get_or_compute('hessian.topk', {'k': 3}, {'checkpoint': 'c' * 64},"
        " lambda: {'eigenvalues': np.ones(3)})\n"
        "print(e.cached)\n"
    )
    out = subprocess.run([sys.executable, "-W", "default", "-c", child, str(store.root)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
    (line,) = out.stderr.splitlines()
    assert line.startswith("landscape store: ") and "corrupt" in line and ".corrupt" in line


def test_store_warnings_format_as_one_line_and_others_are_untouched():
    one = warnings.formatwarning("entry x is corrupt", StoreWarning, "/a/b.py", 7, "src()")
    other = warnings.formatwarning("careful", UserWarning, "/a/b.py", 7, "src()")
    assert one == "landscape store: entry x is corrupt\n"
    assert "b.py:7" in other and "src()" in other
