"""An entry is verified once per process, and again as soon as its file changes."""

from __future__ import annotations

import pytest

import landscape.store._backend as backend
from landscape.store import Store
from landscape.store.errors import StoreWarning

from ._tamper import Compute, flip_in, top, topk_schema

Q = ("hessian.topk", {"k": 3}, {"checkpoint": "ab12"})


def test_a_second_lookup_reads_nothing_to_check_and_a_damaged_file_is_checked_again(
        tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    first = store.get_or_compute(*Q, Compute(top(3)), schema=topk_schema(3))
    assert store.get_or_compute(*Q, Compute(top(3)), schema=topk_schema(3)).cached
    checks = []
    inspect = backend.inspect
    monkeypatch.setattr(backend, "inspect", lambda *a, **k: checks.append(a) or inspect(*a, **k))
    again = store.get_or_compute(*Q, Compute(top(3)), schema=topk_schema(3))
    assert again.cached and checks == []  # verified already in this process
    fewer = {"eigenvalues": ((3,), "f")}
    assert store.get_or_compute(*Q, Compute(top(3)), schema=fewer).cached
    assert len(checks) == 1  # another schema: checked against it
    flip_in(first.path, "eigenvalues", byte=7, bit=6)  # damaged in place: a new file version
    compute = Compute(top(3))
    with pytest.warns(StoreWarning, match="corrupt"):
        redone = store.get_or_compute(*Q, compute, schema=topk_schema(3))
    assert compute.calls == 1 and not redone.cached
