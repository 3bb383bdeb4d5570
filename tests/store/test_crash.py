"""Crash safety, for real: child processes SIGKILLed at random moments while writing."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from landscape.store import Store

from ._workers import FIELDS, payload, point

WORKER = Path(__file__).with_name("_workers.py")


def _spawn(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def _kill_after(proc: subprocess.Popen, delay: float) -> list[str]:
    """SIGKILL ``proc`` ``delay`` seconds from now (or when it exits); return its output."""
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    out = proc.stdout.read().split("\n")
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, "the child must die by SIGKILL, not finish"
    return [line for line in out if line]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_entry(store: Store, key: str) -> int:
    """The entry under ``key`` is complete and equals the payload it was made from."""
    entry = store.get(key)
    assert entry is not None, f"visible entry {key} does not read back"
    j = entry.attrs["params"]["j"]
    want = payload(j)
    got = entry.read_all()
    assert got["vectors"].dtype == np.float32
    np.testing.assert_array_equal(got["vectors"], want["vectors"])
    np.testing.assert_array_equal(got["values"], want["values"])
    assert got["meta"] == want["meta"]
    return j


def test_sigkill_while_writing_large_entries(tmp_path):
    root = tmp_path / "store"
    store = Store(root)
    earlier = {}
    for j in range(2):  # entries that exist before any child is killed
        earlier[store.get_or_compute("stress.big", {"j": j}, {"checkpoint": f"c{j}"},
                                     lambda j=j: payload(j)).key] = None
    rng = np.random.default_rng(20240601)
    start, mid_write, finished = 100, 0, set()
    for _ in range(6):
        proc = _spawn("entries", root, start)
        first = proc.stdout.readline()  # the child is running and has begun its first entry
        assert first.startswith("B")
        lines = [first.strip(), *_kill_after(proc, float(rng.uniform(0.05, 0.6)))]
        begun = [int(x.split()[1]) for x in lines if x.startswith("B")]
        done = {int(x.split()[1]) for x in lines if x.startswith("D")}
        mid_write += begun[-1] not in done
        finished |= done
        # every earlier entry is byte-for-byte what it was
        for key in earlier:
            earlier[key] = earlier[key] or _sha(store.path_of(key))
            assert _sha(store.path_of(key)) == earlier[key]
        # every visible entry is complete and correct; no half entry is visible
        visible = {p.stem for p in root.glob("*.h5")}
        seen = {_check_entry(store, key) for key in visible}
        assert finished <= seen
        assert seen - finished - {0, 1} <= {begun[-1]}  # at most the one being renamed
        assert all(s.status == "ok" for s in store.entries())
        for key in visible - set(earlier):
            earlier[key] = None
        start = begun[-1]  # the next child starts with the entry that was interrupted
    assert mid_write >= 3, f"only {mid_write} of 6 kills landed inside a write; test is too weak"
    # the interrupted writes left only hidden temporaries, which clean() reclaims
    stale = store.stale_temporaries()
    assert all(p.name.startswith(".") and p.suffix == ".tmp" for p in stale)
    store.clean()
    assert not store.stale_temporaries()
    # and the next write succeeds
    entry = store.get_or_compute("stress.big", {"j": start}, {"checkpoint": f"c{start}"},
                                 lambda: payload(start))
    assert _check_entry(store, entry.key) == start


def test_sigkill_while_filling_a_partial_grid_loses_no_point(tmp_path):
    root = tmp_path / "store"
    rng = np.random.default_rng(7)
    reported: set[tuple[int, int]] = set()
    for round_ in range(3):
        proc = _spawn("points", root, round_)
        assert proc.stdout.readline().strip() == "R"
        lines = [proc.stdout.readline().strip() for _ in range(int(rng.integers(3, 16)))]
        lines += _kill_after(proc, 0.0)  # at once: the child is in the middle of its next point
        reported |= {(int(x.split()[1]), int(x.split()[2])) for x in lines if x.startswith("D")}
        part = Store(root).partial("stress.grid", {"n": 8}, None, fields=FIELDS)
        done = part.done
        assert all(done[i] for i in reported), "a point reported durable was lost"
        loss, vec = part["loss"], part["vec"]
        for idx in map(tuple, np.argwhere(done)):  # every point present is exact
            want = point(idx)
            assert loss[idx] == want["loss"]
            np.testing.assert_array_equal(vec[idx], want["vec"])
        assert not np.isfinite(loss[~done]).any()
    # resume: compute only the missing points, then finalize
    part = Store(root).partial("stress.grid", {"n": 8}, None, fields=FIELDS)
    pending = part.pending()
    assert part.count > 0 and len(pending) == 64 - part.count
    for idx in pending:
        part.write(idx, **point(idx))
    entry = part.finalize()
    want = np.array([[point((i, j))["loss"] for j in range(8)] for i in range(8)])
    np.testing.assert_array_equal(entry["loss"], want)
    np.testing.assert_array_equal(entry["vec"][3, 5], point((3, 5))["vec"])
    assert not (root / ".partial" / f"{entry.key}.plog").exists()


@pytest.mark.parametrize(
    "tail",
    [b"LPT1", b"LPT1\x10\x00\x00\x00\x00\x00\x00\x00abc", b"\x00" * 40],
    ids=["short-header", "short-body", "zeros"],
)
def test_torn_record_is_ignored_then_cut_off(tmp_path, tail):
    store = Store(tmp_path)
    part = store.partial("t.grid", {}, None, fields={"x": ((2, 2), "float64")})
    part.write((0, 0), x=1.5)
    with open(part.path, "ab") as f:  # what a writer killed mid-append leaves behind
        f.write(tail)
    again = store.partial("t.grid", {}, None, fields={"x": ((2, 2), "float64")})
    assert again.done.tolist() == [[True, False], [False, False]]
    again.write((1, 1), x=2.5)
    third = store.partial("t.grid", {}, None, fields={"x": ((2, 2), "float64")})
    assert third.done.tolist() == [[True, False], [False, True]]
    assert third["x"][1, 1] == 2.5
