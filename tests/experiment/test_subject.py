"""Lazy subjects: a question the store answers reads neither the weights nor the data.

The keys pinned here were computed by the eager resolver (before subjects were lazy: the
whole checkpoint loaded and verified, the model built, the dataset loaded and normalised into
an EvalSet); the lazy one must ask the same questions.
"""

from __future__ import annotations

import zipfile

import pytest
import torch

import landscape._digest as digest_module
import landscape.checkpoint as ck
import landscape.data.identity as identity
import landscape.data.sources as sources
import landscape.experiment.subject as subject_module
from landscape.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from landscape.data import Dataset, EvalSet
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.subject import DataOptions, at_checkpoint, resolve_subject
from landscape.models import create_model
from landscape.store import Store
from landscape.store.keys import entry_key

KW = {"widths": [2], "input_shape": [1, 28, 28], "num_classes": 10}
SYNTHETIC = {"input_shape": [1, 28, 28], "num_classes": 10, "num_train": 64, "num_test": 8}
DIGEST = "07eef20b6c3c58896edbd3f86ea50945812c24bda3f52fce3411bccd5d3b5b4b"
# hessian.topk, k=2, tol=1e-2: (data options, split) -> key of the eager resolver
PINNED = [
    (DataOptions(subset=500), "train",
     "4c39e0b43c692dea146750efe645d18b843ce5ed4ecefe4a8d30a5b8a3bb262f"),
    (DataOptions(subset=300, batch_size=100, dtype=torch.float64), "test",
     "f174cc43cfa6aaa024e487f4ab1580d1270717e1913b0ff79353602173586938"),
    (DataOptions(dataset="synthetic", options=SYNTHETIC), "train",
     "76eccb63fcc5bcc888441d2487707b7de0abb3434d28a3f2e5f62ab053772134"),
]


def _checkpoint(folder, *, widths=(2,), name="epoch_0001.pt"):
    """An MLP on the embedded digits with fixed tensors (a ramp per parameter)."""
    kw = {**KW, "widths": list(widths)}
    model = create_model("mlp", seed=0, **kw)
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.linspace(-0.05, 0.05, p.numel()).reshape(p.shape) * (1 + i))
    return save_checkpoint(folder / "run" / name, model, model_name="mlp", model_kwargs=kw,
                           epoch=1, config={"dataset": "mnist5k"})


def _fresh_process(monkeypatch):
    """Forget what this process has read (checkpoint headers, digests, dataset identities)."""
    ck._format.clear_memos()  # as in a fresh process
    monkeypatch.setattr(identity, "_MEMO", {})


def _forbid(monkeypatch):
    """Make every way of reading the weights or the data fail."""
    def fail(*args, **kwargs):
        raise AssertionError("a cache hit read the weights or the data")

    monkeypatch.setattr(ck, "state_digest", fail)
    monkeypatch.setattr(digest_module, "_feed_tensor", fail)  # any tensor hashed
    monkeypatch.setattr(ck, "load_checkpoint", fail)
    monkeypatch.setattr(subject_module, "load_checkpoint", fail)
    monkeypatch.setattr(Checkpoint, "build_model", fail)
    monkeypatch.setattr(EvalSet, "__init__", fail)
    monkeypatch.setattr(Dataset, "digest", fail)
    monkeypatch.setattr(sources, "cached_arrays", fail)  # the digits' arrays


def _flip_a_weight(path):
    """Flip one bit in the middle of the largest tensor record (the first layer's weights)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name, extra = (int.from_bytes(data[info.header_offset + k:info.header_offset + k + 2],
                                  "little") for k in (26, 28))
    data[info.header_offset + 30 + name + extra + info.file_size // 2] ^= 0x40
    path.write_bytes(bytes(data))


class _KeyOnly:
    """A store that answers every question with its key (nothing is computed)."""

    def get_or_compute(self, name, params, inputs, compute, *, dataset, version, schema):
        return entry_key(name, params, inputs, dataset, version)


def test_a_cache_hit_reads_no_tensor_and_builds_nothing(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path)
    store = Store(tmp_path / "store")
    first = hessian_topk(store, resolve_subject(path, data=DataOptions(subset=500)), k=2,
                         tol=1e-2)
    assert not first.cached
    _fresh_process(monkeypatch)
    _forbid(monkeypatch)
    subject = resolve_subject(path, data=DataOptions(subset=500))
    again = hessian_topk(store, subject, k=2, tol=1e-2)
    assert again.cached and again.key == first.key
    assert not subject.built and not subject.split("train").built
    assert subject.digest == DIGEST and subject.num_classes == 10
    assert subject.label == f"{path.parent} epoch 1"


@pytest.mark.parametrize("record", [True, False], ids=["recorded", "built"])
@pytest.mark.parametrize(("opts", "split", "key"), PINNED)
def test_keys_are_those_of_the_eager_resolver(tmp_path, monkeypatch, opts, split, key, record):
    path = _checkpoint(tmp_path)
    resolve_subject(path, data=opts, splits=(split,))  # leaves the identity record behind
    _fresh_process(monkeypatch)
    if not record:  # no record to read: the dataset is built and hashed
        monkeypatch.setattr(identity, "_read", lambda *a: None)
    subject = resolve_subject(path, data=opts, splits=(split,))
    assert subject.digest == DIGEST
    assert hessian_topk(_KeyOnly(), subject, k=2, tol=1e-2, split=split) == key
    # the announced identity is the data's own (exact: the same dict, through JSON)
    assert subject.split(split).spec() == EvalSet(
        subject.dataset, split, batch_size=opts.batch_size, dtype=opts.dtype,
        subset=opts.subset).spec()


def test_a_damaged_checkpoint_is_refused_before_any_computation(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path)
    good = Store(tmp_path / "good")
    first = hessian_topk(good, resolve_subject(path, data=DataOptions(subset=500)), k=2,
                         tol=1e-2)
    _flip_a_weight(path)
    subject = resolve_subject(path, data=DataOptions(subset=500))
    # the stored digest is the identity of the intended content: its answer stands
    assert subject.digest == DIGEST
    assert hessian_topk(good, subject, k=2, tol=1e-2).key == first.key
    # a computation needs the tensors: refused before a single product
    fresh = Store(tmp_path / "fresh")
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        hessian_topk(fresh, subject, k=2, tol=1e-2)
    assert not subject.built and not list(fresh.entries())


def test_at_checkpoint_shares_the_data_and_checks_the_model_when_made(tmp_path):
    base = resolve_subject(_checkpoint(tmp_path), data=DataOptions(subset=50))
    other = _checkpoint(tmp_path / "b", widths=(3,))
    moved = at_checkpoint(base, other)  # another model: nothing read yet, so no refusal
    assert moved.data["train"] is base.data["train"] and not moved.built
    assert moved.digest == ck.checkpoint_digest(other) != base.digest
    with pytest.raises(CheckpointError, match="'hidden.0.0.weight' of shape \\(3, 784\\)"):
        moved.model  # noqa: B018  (made here: checked against the base subject's model)


def test_bad_subsets_and_splits_are_refused_before_any_data(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path)
    resolve_subject(path)  # the identity record
    _forbid(monkeypatch)
    with pytest.raises(ValueError, match="subset must be between 1 and the train split's 4000"):
        resolve_subject(path, data=DataOptions(subset=4001))
    with pytest.raises(ValueError, match="splits=\\('test',\\)"):
        resolve_subject(path).split("test")


def test_checks_on_the_model_run_when_it_is_made(tmp_path):
    subject = resolve_subject(_checkpoint(tmp_path))
    seen = []
    subject.check_model(lambda m: seen.append(sum(p.numel() for p in m.parameters())))
    assert seen == []
    assert subject.point["out.weight"].shape == (10, 2) and seen == [784 * 2 + 2 + 2 * 10 + 10]
    subject.check_model(lambda m: seen.append(0))  # made already: runs at once
    assert seen[-1] == 0
