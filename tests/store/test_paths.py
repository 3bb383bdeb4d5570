from __future__ import annotations

from landscape.store import default_store_path


def test_default_store_is_beside_the_run(tmp_path):
    run = tmp_path / "runs" / "sgd"
    run.mkdir(parents=True)
    (run / "epoch_0001.pt").write_bytes(b"")
    assert default_store_path(run) == tmp_path / "runs" / "store"
    assert default_store_path(run / "epoch_0001.pt") == tmp_path / "runs" / "store"
