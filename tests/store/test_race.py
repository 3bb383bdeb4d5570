"""Race safety, for real: several processes (and threads) writing at the same moment."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from landscape.store import Store

from ._workers import FIELDS, payload, point

WORKER = Path(__file__).with_name("_workers.py")


def test_processes_racing_on_different_and_same_entries(tmp_path):
    root, log = tmp_path / "store", tmp_path / "computed.log"
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), "race", str(root), str(i), str(log)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    for p in procs:  # all imported and waiting
        assert p.stdout.readline().strip() == "ready"
    for p in procs:  # release them together
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        results.append(out.split())
    # the shared entry was computed exactly once; everyone got the same key
    assert len(log.read_text().splitlines()) == 1
    assert len({r[1] for r in results}) == 1
    assert sorted(r[2] for r in results).count("False") == 1  # one computed, three cached
    store = Store(root)
    same = store.get(results[0][1])
    np.testing.assert_array_equal(same["vectors"], payload(777)["vectors"])
    # every process's own entries are there and intact
    for ident, r in enumerate(results):
        for n, key in enumerate(r[4:]):
            got = store.get(key)
            np.testing.assert_array_equal(got["vectors"], payload(100 * ident + n)["vectors"])
            assert got.attrs["params"] == {"id": ident, "n": n}
    # the grid they all filled at once is complete and exact, finalized once
    assert len({r[3] for r in results}) == 1
    grid = store.get(results[0][3])
    want = np.array([[point((i, j))["loss"] for j in range(8)] for i in range(8)])
    np.testing.assert_array_equal(grid["loss"], want)
    entries = store.entries()
    assert len(entries) == 4 * 2 + 2 and all(s.status == "ok" for s in entries)
    assert not list(root.glob(".*.tmp"))


def test_threads_racing_on_one_key_compute_once(tmp_path):
    store = Store(tmp_path)
    calls, start = [], threading.Barrier(4)
    keys, errors = [], []

    def compute():
        calls.append(1)
        return {"x": np.arange(1000.0)}

    def run():
        try:
            start.wait()
            keys.append(store.get_or_compute("t.threads", {}, None, compute).key)
        except Exception as exc:  # reported below; a thread must not swallow failures
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(calls) == 1 and len(set(keys)) == 1


def test_several_partial_handles_share_one_log(tmp_path):
    store = Store(tmp_path)
    parts = [store.partial("t.grid", {}, None, fields=FIELDS) for _ in range(3)]
    parts[0].write((0, 0), **point((0, 0)))
    parts[1].write((1, 1), **point((1, 1)))
    assert parts[2].done[0, 0] and parts[2].done[1, 1] and parts[2].count == 2
