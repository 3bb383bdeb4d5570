import os
import struct
import zipfile

import pytest
import torch

from landscape import _digest
from landscape import checkpoint as ck
from landscape.checkpoint import (
    CheckpointError,
    check_comparable,
    checkpoint_digest,
    load_checkpoint,
    params_to_vector,
    save_checkpoint,
    vector_to_params,
)
from landscape.models import create_model

KW = {"widths": [8], "batchnorm": True, "input_shape": (1, 4, 4), "num_classes": 3}


def _save(path, model=None, **kw):
    model = model or create_model("mlp", seed=0, **KW)
    return save_checkpoint(path, model, model_name="mlp", model_kwargs=KW, epoch=2, step=7,
                           config={"lr": 0.1, "widths": (8,)}, metrics={"test_acc": 0.5}, **kw)


def test_round_trip_rebuilds_the_model(tmp_path):
    model = create_model("mlp", seed=0, **KW)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 1, 4, 4)).sum().backward()
    opt.step()
    _save(tmp_path / "e.pt", model, optimizer=opt, extra={"rng": torch.get_rng_state()})
    c = load_checkpoint(tmp_path / "e.pt")
    assert (c.epoch, c.step, c.model_name) == (2, 7, "mlp")
    assert c.config["widths"] == [8]  # tuples come back as lists: JSON-stable
    assert c.param_names == [n for n, _ in model.named_parameters()]
    rebuilt = c.build_model()
    for (n, a), b in zip(model.state_dict().items(), rebuilt.state_dict().values()):
        assert torch.equal(a, b), n
    assert set(c.buffers()) == {"hidden.0.1.running_mean", "hidden.0.1.running_var",
                                "hidden.0.1.num_batches_tracked"}
    assert c.optimizer_state["state"][0]["momentum_buffer"].shape == (8, 16)
    assert c.digest() == checkpoint_digest(tmp_path / "e.pt")


def test_unsafe_file_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": ck.FORMAT, "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refusing to load.*Nothing was executed"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_corrupt_and_foreign_files(tmp_path):
    _save(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load_checkpoint(tmp_path / "trunc.pt")
    # junk of every kind is "corrupt", never a traceback and never "unsafe"
    junk = [b"hello world", b"not a checkpoint at all", os.urandom(1024), data[:100]]
    for i, blob in enumerate(junk):
        (tmp_path / f"junk{i}.pt").write_bytes(blob)
        with pytest.raises(CheckpointError, match="corrupt") as info:
            load_checkpoint(tmp_path / f"junk{i}.pt")
        assert "refusing" not in str(info.value)
    # a zip archive whose pickle is damaged: corrupt, not unsafe
    damaged = bytearray(data)
    start = damaged.find(b"data.pkl") + 40
    damaged[start : start + 64] = os.urandom(64)
    (tmp_path / "damaged.pt").write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "damaged.pt")
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not a landscape checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_newer_format_version_is_refused(tmp_path, monkeypatch):
    real = ck.file.FORMAT_VERSION
    monkeypatch.setattr(ck.file, "FORMAT_VERSION", 99)  # the version the writer stamps
    _save(tmp_path / "new.pt")
    monkeypatch.setattr(ck.file, "FORMAT_VERSION", real)
    with pytest.raises(CheckpointError, match="format version 99.*upgrade landscape"):
        load_checkpoint(tmp_path / "new.pt")


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = _save(tmp_path / "e.pt")
    before = path.read_bytes()

    def dying_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(ck.file.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        _save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.pt"]


def test_comparability_names_the_first_mismatch(tmp_path):
    a = _save(tmp_path / "a.pt")
    other = dict(KW, widths=[9])
    b = save_checkpoint(tmp_path / "b.pt", create_model("mlp", **other), model_name="mlp",
                        model_kwargs=other, epoch=0)
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    check_comparable(ca, ca)
    with pytest.raises(CheckpointError, match=r"b has parameter 'hidden.0.0.weight' of shape "
                                              r"\(9, 16\), a has \(8, 16\)"):
        check_comparable(ca, cb, names=("a", "b"))
    with pytest.raises(CheckpointError, match="has parameter 'extra'"):
        check_comparable({"w": torch.zeros(1)}, {"w": torch.zeros(1), "extra": torch.zeros(1)})
    wrong = create_model("mlp", **other)
    with pytest.raises(CheckpointError, match="different models"):
        ck.load_into(wrong, ca.state_dict, what=str(a))


def test_flat_vector_round_trip():
    params = dict(create_model("mlp", seed=1, **KW).named_parameters())
    vec = params_to_vector(params)
    assert vec.numel() == sum(p.numel() for p in params.values())
    back = vector_to_params(vec, params)
    assert list(back) == list(params)
    assert all(torch.equal(back[n], params[n]) for n in params)
    with pytest.raises(ValueError, match="flat vector of"):
        vector_to_params(vec[:-1], params)


def test_digest_ignores_everything_but_the_model_state(tmp_path):
    model = create_model("mlp", seed=0, **KW)
    a = _save(tmp_path / "a.pt", model)
    b = save_checkpoint(tmp_path / "b.pt", model, model_name="mlp", model_kwargs=KW, epoch=9)
    assert checkpoint_digest(a) == checkpoint_digest(b)
    with torch.no_grad():
        model.out.bias[0] += 1
    c = _save(tmp_path / "c.pt", model)
    assert checkpoint_digest(c) != checkpoint_digest(a)


def test_digest_separates_architectures_with_equal_tensors(tmp_path):
    """Same tensors, different function (ReLU vs tanh): analyses must not share a cache key."""
    relu = create_model("mlp", seed=0, **KW)
    tanh = create_model("mlp", seed=0, activation="tanh", **KW)
    assert all(torch.equal(a, b) for a, b in zip(relu.state_dict().values(),
                                                 tanh.state_dict().values()))
    a = save_checkpoint(tmp_path / "a.pt", relu, model_name="mlp", model_kwargs=KW, epoch=0)
    b = save_checkpoint(tmp_path / "b.pt", tanh, model_name="mlp",
                        model_kwargs=dict(KW, activation="tanh"), epoch=0)
    assert checkpoint_digest(a) != checkpoint_digest(b)


def _records(path):
    """``name -> (offset, size)`` of the tensor data records in a torch.save zip archive."""
    out = {}
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        for info in z.infolist():
            if "/data/" in info.filename and info.file_size:
                f.seek(info.header_offset + 26)
                n, m = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
                out[info.filename] = (info.header_offset + 30 + n + m, info.file_size)
    return out


def _flip(src, dst, offset):
    data = bytearray(src.read_bytes())
    data[offset] ^= 0x40
    dst.write_bytes(bytes(data))


def _trained(tmp_path, name="epoch_0003.pt"):
    model = create_model("mlp", seed=0, **KW)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 1, 4, 4)).sum().backward()
    opt.step()
    return _save(tmp_path / name, model, optimizer=opt, extra={"rng": torch.get_rng_state()})


def test_a_flipped_byte_in_any_tensor_record_is_refused(tmp_path):
    good = _trained(tmp_path)
    records = _records(good)
    # the model state, the momentum buffers and the RNG state: at least 3 + 4 + 1 records
    assert len(records) >= 8
    for name, (offset, size) in records.items():
        bad = tmp_path / "run" / "epoch_0003.pt"
        bad.parent.mkdir(exist_ok=True)
        _flip(good, bad, offset + size // 2)
        torch.load(bad, weights_only=True)  # torch alone does not notice: it loads silently
        with pytest.raises(CheckpointError, match="checksum mismatch: the file was modified or "
                                                  "damaged") as info:
            load_checkpoint(bad)
        message = str(info.value)
        assert str(bad) in message and "previous epoch's checkpoint" in message, name
        assert str(bad.with_name("epoch_0002.pt")) in message
    load_checkpoint(good)


def test_a_changed_metric_in_the_pickle_is_refused(tmp_path):
    """Not only tensors: a float of the metrics changed in place (0.5 -> 0.75) is refused."""
    good = _trained(tmp_path)
    data = good.read_bytes()
    half, three_quarters = (b"G" + struct.pack(">d", x) for x in (0.5, 0.75))  # BINFLOAT
    assert data.count(half) == 1
    (tmp_path / "m.pt").write_bytes(data.replace(half, three_quarters))
    assert torch.load(tmp_path / "m.pt", weights_only=True)["metrics"]["test_acc"] == 0.75
    with pytest.raises(CheckpointError, match="checksum mismatch.*optimizer state, RNG states, "
                                              "config or metrics"):
        load_checkpoint(tmp_path / "m.pt")


def test_identity_is_read_from_the_stored_digest_without_hashing_tensors(tmp_path, monkeypatch):
    path = _trained(tmp_path)
    expected = load_checkpoint(path).digest()
    # existing store entries keep their keys: the identity formula is unchanged (value computed
    # by the version before checkpoints stored digests)
    fixed = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3),
             "b": torch.tensor([True, False]), "h": torch.tensor([1.5, -0.0], dtype=torch.bfloat16),
             "n": torch.tensor(7), "e": torch.zeros(0, 3)}
    assert ck.model_digest("mlp", {"widths": (8,), "activation": "relu"}, fixed) == (
        "44c14c635eb45a7e6b5c59cda4fbb1dd5b86decd5c0731bcef1bba2f09cac6dc")

    def no_hashing(*args, **kwargs):
        raise AssertionError("a tensor was hashed")

    ck._format.clear_memos()  # as in a fresh process
    monkeypatch.setattr(ck.file, "state_digest", no_hashing)
    monkeypatch.setattr(ck.header, "state_digest", no_hashing)
    monkeypatch.setattr(_digest, "_feed_tensor", no_hashing)
    assert checkpoint_digest(path) == expected
    # a damaged copy keeps the identity of its intended content; loading it is refused
    offset, size = next(iter(_records(path).values()))
    _flip(path, tmp_path / "bad.pt", offset + size // 2)
    assert checkpoint_digest(tmp_path / "bad.pt") == expected


def test_checkpoints_without_digests(tmp_path):
    """Version 1 (before digests) loads, its identity computed; version 2 without is refused."""
    model = create_model("mlp", seed=0, **KW)
    path = _save(tmp_path / "epoch_0001.pt", model)
    payload = torch.load(path, weights_only=True)
    del payload["digests"]
    torch.save(payload, tmp_path / "v2.pt")
    with pytest.raises(CheckpointError, match="v2.pt is damaged: .* has none; use the previous"):
        load_checkpoint(tmp_path / "v2.pt")
    payload["format_version"] = 1
    torch.save(payload, tmp_path / "v1.pt")
    assert load_checkpoint(tmp_path / "v1.pt").epoch == 2
    assert checkpoint_digest(tmp_path / "v1.pt") == checkpoint_digest(path) == ck.model_digest(
        "mlp", KW, model.state_dict())
