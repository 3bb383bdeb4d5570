import os
import stat

import pytest
import torch

from landscape._io import atomic_path, atomic_write_bytes, atomic_write_json
from landscape.checkpoint import save_checkpoint


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    old = os.umask(request.param)   # process-wide: set for this test only, always restored
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_honour_the_umask(tmp_path, umask):
    """A group sharing a run directory or store can read what is written (mkstemp gave 0600)."""
    expected = 0o666 & ~umask
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic_write_json(tmp_path / "b.json", {"x": 1})
    save_checkpoint(tmp_path / "epoch_0000.pt", torch.nn.Linear(2, 1), model_name="mlp",
                    model_kwargs={}, epoch=0)
    with atomic_path(tmp_path / "c.h5") as tmp:
        tmp.write_bytes(b"y")
    for name in ("a.bin", "b.json", "epoch_0000.pt", "c.h5"):
        assert _mode(tmp_path / name) == expected, (name, oct(_mode(tmp_path / name)))


def test_replacing_a_file_leaves_no_temporary(tmp_path, umask):
    atomic_write_bytes(tmp_path / "a.bin", b"old")
    (tmp_path / "a.bin").chmod(0o600)
    atomic_write_bytes(tmp_path / "a.bin", b"new")
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert _mode(tmp_path / "a.bin") == 0o666 & ~umask   # a new file, created like any other
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
    with pytest.raises(RuntimeError, match="boom"), atomic_path(tmp_path / "a.bin") as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
