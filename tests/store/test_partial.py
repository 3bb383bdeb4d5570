from __future__ import annotations

import numpy as np
import pytest

from landscape.store import Store, StoreError, StoreWarning

FIELDS = {"loss": ((2, 3), "float64"), "err": ((2, 3), "float32"), "vec": ((2, 3, 4), "int64")}


def _values(i, j):
    return {"loss": i + j / 10, "err": np.float32(i * j), "vec": np.arange(4) + 10 * i + j}


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path)


def test_grid_is_the_common_leading_shape(store):
    part = store.partial("t.g", {}, None, fields=FIELDS)
    assert part.grid == (2, 3) and part.fields["vec"][0] == (2, 3, 4)
    explicit = store.partial("t.h", {}, None, fields={"a": ((4, 5), "f8")}, grid=(4,))
    assert explicit.grid == (4,)


def test_points_resume_across_handles_and_finalize_like_get_or_compute(store):
    part = store.partial("t.g", {"n": 1}, {"checkpoint": "c"}, fields=FIELDS)
    assert not part.done.any() and part.pending()[0] == (0, 0)
    part.write((0, 1), **_values(0, 1))
    part.write((1, -1), **_values(1, 2))  # negative indices count from the end
    resumed = store.partial("t.g", {"n": 1}, {"checkpoint": "c"}, fields=FIELDS)
    assert resumed.done.tolist() == [[False, True, False], [False, False, True]]
    assert resumed["vec"][1, 2].tolist() == [12, 13, 14, 15]
    assert np.isnan(resumed["loss"][0, 0]) and resumed["err"].dtype == np.float32
    computed = []
    for idx in resumed.pending():
        computed.append(idx)
        resumed.write(idx, **_values(*idx))
    assert len(computed) == 4 and part.complete  # the first handle sees the others' points
    entry = resumed.finalize()
    assert entry.key == store.key("t.g", {"n": 1}, {"checkpoint": "c"}) and not entry.cached
    assert entry["loss"].tolist() == [[0.0, 0.1, 0.2], [1.0, 1.1, 1.2]]
    assert entry["err"].dtype == np.float32 and entry["vec"].dtype == np.int64
    assert store.get_or_compute("t.g", {"n": 1}, {"checkpoint": "c"}, lambda: 1 / 0).cached
    assert part.finalize().cached and part.finalize().key == entry.key
    again = store.partial("t.g", {"n": 1}, {"checkpoint": "c"}, fields=FIELDS)
    assert again.complete and again["loss"][1, 1] == 1.1
    again.write((0, 0), **_values(1, 1))  # ignored: the entry is final
    assert store.get(entry.key)["loss"][0, 0] == 0.0
    assert [s.status for s in store.entries()] == ["ok"]


def test_done_is_a_mask_not_a_sentinel(store):
    part = store.partial("t.nan", {}, None, fields={"x": ((2,), "float64")})
    part.write((0,), x=float("nan"))  # a real result may be NaN: it is still done
    assert part.done.tolist() == [True, False]
    part.write(1, x=-1.0)
    assert part.complete and np.isnan(part.finalize()["x"][0])


def test_finalize_before_complete_says_what_is_missing(store):
    part = store.partial("t.g", {}, None, fields=FIELDS)
    part.write((0, 0), **_values(0, 0))
    with pytest.raises(StoreError, match=r"5 of 6 points .* not written yet \(first: \(0, 1\)\)"):
        part.finalize()
    listed = store.entries()
    assert [(s.status, s.done, s.name) for s in listed] == [("partial", "1/6", "t.g")]


def test_other_fields_for_the_same_question_are_refused(store):
    store.partial("t.g", {}, None, fields=FIELDS).write((0, 0), **_values(0, 0))
    with pytest.raises(StoreError, match="was started with grid.*cache rm"):
        store.partial("t.g", {}, None, fields={"loss": ((2, 3), "float64")})


@pytest.mark.parametrize("index, values, error, match", [
    ((2, 0), _values(0, 0), IndexError, "outside the grid"),
    ((0,), _values(0, 0), TypeError, "tuple of 2 ints"),
    ((0, 0), {"loss": 1.0}, TypeError, "needs exactly the fields"),
    ((0, 0), {**_values(0, 0), "vec": np.arange(3)}, ValueError, "takes shape"),
    ((0, 0), {**_values(0, 0), "vec": np.ones(4) / 3}, TypeError, "would be cut"),
])
def test_bad_writes_are_refused(store, index, values, error, match):
    part = store.partial("t.g", {}, None, fields=FIELDS)
    with pytest.raises(error, match=match):
        part.write(index, **values)
    assert part.count == 0


@pytest.mark.parametrize("fields, match", [
    ({}, "non-empty dict"),
    ({"a": (3, "f8")}, r"\(shape, dtype\)"),
    ({"a": ((3,), "U4")}, "numeric/bool"),
    ({"a": ((3,), "f8"), "b": ((4,), "f8")}, "share no leading grid"),
])
def test_bad_fields_are_refused(store, fields, match):
    with pytest.raises(TypeError, match=match):
        store.partial("t.g", {}, None, fields=fields)


def test_a_log_with_a_damaged_header_is_moved_aside_and_started_again(store):
    part = store.partial("t.g", {}, None, fields=FIELDS)
    part.write((0, 0), **_values(0, 0))
    data = bytearray(part.path.read_bytes())
    data[20] ^= 0x10  # inside the header's JSON: its CRC fails
    part.path.write_bytes(bytes(data))
    with pytest.warns(StoreWarning, match="partial result .* is corrupt .*moved to"):
        again = store.partial("t.g", {}, None, fields=FIELDS)
    assert again.count == 0 and again.path.exists()
    assert len(list((store.root / ".corrupt").glob("*.plog"))) == 1
