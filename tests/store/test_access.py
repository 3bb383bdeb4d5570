"""Read-only stores serve hits; files the store creates honour the umask."""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from landscape.commands._args import open_store
from landscape.store import Store, StoreWarning

from ._tamper import Compute, flip_in

_CHILD = """
import os, sys
from landscape.commands._args import open_store
from landscape.store import Store, StoreWarning
root = sys.argv[1]
try:
    open(os.path.join(root, "probe"), "w").close()
except OSError:
    pass
else:
    print("WRITABLE")
    raise SystemExit(0)

def boom():
    raise SystemExit("compute ran")

store = open_store(root, "unused")
hit = store.get_or_compute("t.ro", {"k": 1}, None, boom)
print("HIT", hit.cached, hit["x"].tolist())
for k in (2, 3):
    try:
        store.get_or_compute("t.ro", {"k": k}, None, boom)
    except PermissionError as exc:
        print("REFUSED", k, exc)
"""


def _without_dac_override() -> None:  # pragma: no cover (runs in the child before exec)
    """As root, drop the capabilities that let root write into a read-only directory.

    ``chmod`` does not stop root; dropping ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH``
    from the child's bounding set (``prctl(PR_CAPBSET_DROP)``, no namespaces) makes the
    permission bits apply to it. Where that is refused the child finds it can write, and
    the test is skipped.
    """
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP


def _chmod_tree(root, dirs: int, files: int) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(dirs if path.is_dir() else files)


def test_a_read_only_store_serves_hits_and_refuses_misses_before_computing(tmp_path):
    root = tmp_path / "store"
    store = Store(root)
    store.get_or_compute("t.ro", {"k": 1}, None, Compute({"x": np.arange(3.0)}))
    flip_in(store.get_or_compute("t.ro", {"k": 3}, None, Compute({"x": np.ones(3)})).path, "x")
    _chmod_tree(root, 0o555, 0o444)
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(root)], capture_output=True,
                             text=True, timeout=120, preexec_fn=_without_dac_override)
    finally:
        _chmod_tree(root, 0o755, 0o644)
    if out.stdout.strip() == "WRITABLE":
        pytest.skip("cannot make a directory read-only for this user (root without CAP_SETPCAP)")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "HIT True [0.0, 1.0, 2.0]"
    assert lines[1].startswith("REFUSED 2 ") and "not writable" in lines[1]
    assert str(root) in lines[1] and "--store" in lines[1] and "no answer" in lines[1]
    assert lines[2].startswith("REFUSED 3 ") and "corrupt" in lines[2] and "--store" in lines[2]
    assert len(out.stderr.splitlines()) == 1 and "corrupt" in out.stderr  # reported once
    assert len(lines) == 3


def test_opening_a_store_does_not_check_writability(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    store.get_or_compute("t.w", {}, None, Compute({"x": 1.0}))
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # as if the mount went read-only
    opened = open_store(str(tmp_path / "s"), tmp_path)
    assert opened.get_or_compute("t.w", {}, None, Compute({"x": 2.0}))["x"] == 1.0
    compute = Compute({"x": 2.0})
    with pytest.raises(PermissionError, match="not writable.*no answer for t.w.*--store"):
        opened.get_or_compute("t.w", {"n": 2}, None, compute)
    assert compute.calls == 0


@pytest.mark.parametrize("umask", [0o002, 0o022])
def test_files_and_directories_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        store = Store(tmp_path / "s")
        entry = store.get_or_compute("t.m", {}, None, Compute({"x": np.ones((2, 300_000))}))
        part = store.partial("t.p", {}, None, fields={"x": ((2,), "f8")})
        part.write(0, x=1.0)
        made = [entry.path, part.path]
        assert [stat.S_IMODE(p.stat().st_mode) for p in made] == [0o666 & ~umask] * 2
        made += [store.root / ".landscape-store", *(store.root / ".locks").iterdir()]
        flip_in(entry.path, "x", chunk=1)  # recomputed: the damaged file is moved aside
        with pytest.warns(StoreWarning):
            store.get_or_compute("t.m", {}, None, Compute({"x": np.ones((2, 300_000))}))
        made += list((store.root / ".corrupt").iterdir())
    finally:
        os.umask(old)
    assert len(made) == 5
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    for path in (store.root, store.root / ".partial", store.root / ".corrupt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask, path
