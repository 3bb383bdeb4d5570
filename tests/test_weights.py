import os

import pytest
import torch
from safetensors.torch import save_file

from landscape.checkpoint import CheckpointError, save_checkpoint, state_digest
from landscape.models import build_model
from landscape.weights import foreign_digest, load_weights, read_weights

KW = {"input_shape": (1, 4, 4), "num_classes": 3, "widths": [8], "batchnorm": True}


def _model(seed=0, **kw):
    return build_model("mlp", seed=seed, **{**KW, **kw})[0]


def _equal(a, b):
    assert list(a) == list(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name  # exact: a copy of the same tensors


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
def test_state_dict_round_trip(tmp_path, suffix):
    src = _model(seed=1)
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(src.state_dict(), path)
    else:
        torch.save(src.state_dict(), path)
    w = read_weights(path)
    assert (w.format, w.key) == ("safetensors" if suffix == ".safetensors" else "torch", None)
    dst = _model(seed=2)
    load_weights(dst, w.state, what=str(path))
    _equal(dst.state_dict(), src.state_dict())
    assert dst.hidden[0][1].num_batches_tracked.dtype == torch.int64


def test_safetensors_recognised_without_its_suffix_and_torchvision_models_load(tmp_path):
    src, _ = build_model("torchvision:mobilenet_v3_small", num_classes=10, seed=0)
    save_file(src.state_dict(), tmp_path / "mobilenet.bin")
    w = read_weights(tmp_path / "mobilenet.bin")
    assert w.format == "safetensors" and "classifier.3.weight" in w.state
    dst, _ = build_model("torchvision:mobilenet_v3_small", num_classes=10, seed=1)
    load_weights(dst, w.state, what="mobilenet.bin")
    _equal(dst.state_dict(), src.state_dict())


def test_unambiguous_wrappers_are_read_and_named(tmp_path):
    sd = _model().state_dict()
    torch.save({"state_dict": sd, "epoch": 3, "lr": 0.1}, tmp_path / "a.pt")
    torch.save({"model": sd, "optimizer": {"state": {}, "param_groups": []}}, tmp_path / "b.pt")
    a, b = read_weights(tmp_path / "a.pt"), read_weights(tmp_path / "b.pt")
    assert (a.key, b.key) == ("state_dict", "model")
    _equal(a.state, sd)
    assert "the 'model' entry of" in b.describe()
    torch.save({"model": sd, "state_dict": sd}, tmp_path / "both.pt")
    with pytest.raises(CheckpointError, match=r"two dicts of tensors, 'state_dict' and 'model'.*"
                                              r"ambiguous"):
        read_weights(tmp_path / "both.pt")


def test_non_tensor_content_is_refused_with_the_fix(tmp_path):
    cases = {
        "meta.pt": ({"fc.weight": torch.zeros(2), "epoch": 3},
                    r"its entry 'epoch' is a int, not a tensor.*torch\.save\(model\.state_dict"),
        "list.pt": ([torch.zeros(2)], r"holds a list, not a state_dict"),
        "empty.pt": ({}, r"holds an empty dict"),
    }
    for name, (payload, message) in cases.items():
        torch.save(payload, tmp_path / name)
        with pytest.raises(CheckpointError, match=rf"{name}.*{message}"):
            read_weights(tmp_path / name)


def test_pickled_objects_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"w": torch.zeros(1), "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"refusing to load .*evil\.pt.*Nothing was "
                                              r"executed.*torch\.save\(model\.state_dict"):
        read_weights(tmp_path / "evil.pt")
    assert not marker.exists()
    torch.save(_model(), tmp_path / "whole.pt")  # a whole pickled module
    with pytest.raises(CheckpointError, match=r"refusing to load .*whole\.pt.*pickled model"):
        read_weights(tmp_path / "whole.pt")


def test_corrupt_and_truncated_files(tmp_path):
    model = _model()
    model.hidden[0][0].weight.data.fill_(1.0)
    torch.save(model.state_dict(), tmp_path / "good.pt")
    save_file(model.state_dict(), tmp_path / "good.safetensors")
    for name in ("good.pt", "good.safetensors"):
        data = (tmp_path / name).read_bytes()
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(data[: len(data) - 100])
        with pytest.raises(CheckpointError, match=rf"cut_{name} is corrupt or truncated"):
            read_weights(cut)
    for i, blob in enumerate([b"", b"hello world", os.urandom(2048)]):
        (tmp_path / f"junk{i}.pt").write_bytes(blob)
        with pytest.raises(CheckpointError, match=rf"junk{i}\.pt is corrupt or truncated"):
            read_weights(tmp_path / f"junk{i}.pt")
    # one flipped byte in the tensor data: torch.load alone would load it as a changed weight
    data = bytearray((tmp_path / "good.pt").read_bytes())
    ones = bytes(torch.ones(16).numpy().tobytes())
    at = data.find(ones)
    assert at > 0
    data[at + 2] ^= 0x01
    (tmp_path / "flipped.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped\.pt is corrupt.*fails its CRC check"):
        read_weights(tmp_path / "flipped.pt")


def test_missing_files_directories_and_landscape_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match=r"weights file .*nope\.pt does not exist"):
        read_weights(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        read_weights(tmp_path)
    model = _model()
    save_checkpoint(tmp_path / "epoch_0001.pt", model, model_name="mlp", model_kwargs=KW,
                    epoch=1)
    with pytest.raises(CheckpointError, match=r"is a landscape checkpoint.*load_checkpoint"):
        read_weights(tmp_path / "epoch_0001.pt")


def test_a_state_that_does_not_fit_names_the_first_key_and_both_shapes():
    model = _model()
    other = _model(widths=[9]).state_dict()
    with pytest.raises(CheckpointError, match=r"^w\.pt does not fit the model: entry "
                                              r"'hidden\.0\.0\.weight' has shape \(9, 16\) in "
                                              r"w\.pt and \(8, 16\) in the model \(and 6 more "
                                              r"mismatches\); it was saved from another model"):
        load_weights(model, other, what="w.pt")
    sd = model.state_dict()
    missing = {k: v for k, v in sd.items() if k != "out.bias"}
    with pytest.raises(CheckpointError, match=r"w\.pt has no entry 'out\.bias' \(shape \(3,\) in "
                                              r"the model\);"):
        load_weights(model, missing, what="w.pt")
    extra = {**sd, "head.weight": torch.zeros(2, 2)}
    with pytest.raises(CheckpointError, match=r"w\.pt has an entry 'head\.weight' \(shape "
                                              r"\(2, 2\)\) that the model does not;"):
        load_weights(model, extra, what="w.pt")
    wrapped = {f"module.{k}": v for k, v in sd.items()}
    with pytest.raises(CheckpointError, match=r"'module\.' prefix of a DataParallel"):
        load_weights(model, wrapped, what="w.pt")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _equal(model.state_dict(), before)  # a refused state changed nothing


def test_different_models_with_equal_tensors_never_share_a_digest(tmp_path):
    relu, d_relu = build_model("mlp", seed=0, **KW)
    tanh, d_tanh = build_model("mlp", seed=1, activation="tanh", **KW)
    load_weights(tanh, relu.state_dict(), what="relu")
    state = tanh.state_dict()
    assert state_digest(state) == state_digest(relu.state_dict())
    (tmp_path / "m.py").write_text(
        "from landscape.models import create_model\n"
        "def make(**kw):\n    return create_model('mlp', **kw)\n")
    mine, d_file = build_model(f"{tmp_path}/m.py:make", **KW)
    load_weights(mine, state, what="relu")
    digests = {foreign_digest(d, state) for d in (d_relu, d_tanh, d_file)}
    assert len(digests) == 3
    _, again = build_model("mlp", **KW)
    assert foreign_digest(again, relu.state_dict()) == foreign_digest(d_relu, state)
    changed = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
    assert foreign_digest(d_relu, changed) != foreign_digest(d_relu, state)
    with pytest.raises(TypeError, match="plain JSON"):
        foreign_digest({"kind": object()}, state)
