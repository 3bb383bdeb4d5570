"""A dataset's identity is recorded, served while its sources are unchanged, never wrong."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import landscape.data.identity as identity
from landscape.data import (
    Dataset,
    DeferredEvalSet,
    EvalSet,
    Split,
    dataset_identity,
    get_dataset,
    list_datasets,
    register_dataset,
)
from landscape.data.registry import dataset_entry

NAME = "test-identity-npy"
BUILDS: list[str] = []


def _sources(*, root: str) -> list:
    return [os.path.join(root, "x.npy")]


if NAME not in list_datasets():
    @register_dataset(NAME, "a small array read from ROOT/x.npy (tests)", sources=_sources)
    def _npy(*, root: str) -> Dataset:
        BUILDS.append(root)
        x = torch.from_numpy(np.load(os.path.join(root, "x.npy")))
        y = torch.arange(x.shape[0]) % 2
        return Dataset(NAME, Split(x[:6], y[:6]), Split(x[6:], y[6:]), num_classes=2,
                       input_shape=tuple(x.shape[1:]), options={})


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(identity, "_MEMO", {})  # a fresh process
    BUILDS.clear()
    root = tmp_path / "data"
    root.mkdir()
    np.save(root / "x.npy", np.arange(16, dtype=np.float32).reshape(8, 2))
    return root


def _rewrite(root, values):
    """Rewrite the source with the same size and modification time (only ctime changes)."""
    path = root / "x.npy"
    st = os.stat(path)
    np.save(path, values)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size


def test_recorded_then_served_without_building(data, monkeypatch):
    first = dataset_identity(NAME, root=str(data))
    assert len(BUILDS) == 1 and first.dataset is not None
    assert first.spec == get_dataset(NAME, root=str(data)).spec()
    monkeypatch.setattr(identity, "_MEMO", {})  # another process: the record answers
    BUILDS.clear()
    again = dataset_identity(NAME, root=str(data))
    assert BUILDS == [] and again.dataset is None
    assert (again.spec, again.num_classes, again.input_shape) == (first.spec, 2, (2,))


def test_a_changed_source_is_built_again(data, monkeypatch):
    before = dataset_identity(NAME, root=str(data))
    _rewrite(data, np.arange(16, dtype=np.float32).reshape(8, 2) + 1)
    monkeypatch.setattr(identity, "_MEMO", {})
    after = dataset_identity(NAME, root=str(data))
    assert after.dataset is not None and after.spec["digest"] != before.spec["digest"]


def test_no_sources_no_record(data):
    assert dataset_entry("synthetic").sources is None
    a, b = dataset_identity("synthetic", num_train=4), dataset_identity("synthetic", num_train=4)
    assert a.dataset is not None and b.dataset is not None and a.spec == b.spec
    assert not (data.parent / "cache" / "identity").exists()


def test_a_wrong_record_never_lands_under_a_key(data, monkeypatch):
    ident = dataset_identity(NAME, root=str(data))
    [record] = (data.parent / "cache" / "identity").iterdir()
    wrong = json.loads(record.read_text())
    wrong["spec"]["digest"] = "0" * 64  # a record that lies (its fingerprint still matches)
    record.write_text(json.dumps(wrong))
    monkeypatch.setattr(identity, "_MEMO", {})
    lying = dataset_identity(NAME, root=str(data))
    assert lying.spec["digest"] == "0" * 64
    ev = DeferredEvalSet(lambda: get_dataset(NAME, root=str(data)), "train",
                         dataset_spec=lying.spec, batch_size=4)
    with pytest.raises(RuntimeError, match="not the ones whose identity was announced"):
        list(ev)  # the data are made for a computation: checked against the announced spec
    assert ident.spec == EvalSet(ident.dataset, "train").dataset_spec


def test_a_damaged_record_is_ignored(data, monkeypatch):
    dataset_identity(NAME, root=str(data))
    [record] = (data.parent / "cache" / "identity").iterdir()
    record.write_text("{not json")
    monkeypatch.setattr(identity, "_MEMO", {})
    BUILDS.clear()
    assert dataset_identity(NAME, root=str(data)).dataset is not None and BUILDS
    assert json.loads(record.read_text())["version"] == identity.RECORD_VERSION  # rewritten


def test_deferred_evalset_is_the_evalset(data):
    ds = get_dataset(NAME, root=str(data))
    made = EvalSet(ds, "test", batch_size=1, subset=1, dtype=torch.float64)
    ev = DeferredEvalSet(lambda: ds, "test", dataset_spec=ds.spec(), batch_size=1, subset=1,
                         dtype=torch.float64)
    assert ev.spec() == made.spec() and ev.num_samples == 1 and not ev.built
    assert torch.equal(ev.x, made.x) and ev.built  # exact: the same EvalSet construction
    with pytest.raises(ValueError, match="subset must be between 1 and the test split's 2"):
        DeferredEvalSet(lambda: ds, "test", dataset_spec=ds.spec(), subset=3)
