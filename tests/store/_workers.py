"""Child processes for the kill and race tests (run as a script, never imported by them)."""

from __future__ import annotations

import os
import sys

import numpy as np


def payload(j: int) -> dict:
    """Deterministic entry content for entry ``j``: a big float32 array and small values."""
    rng = np.random.default_rng(j)
    return {
        "vectors": rng.standard_normal((2, 300_000)).astype(np.float32),
        "values": rng.standard_normal(7),
        "meta": {"j": j, "label": f"entry {j}"},
    }


def point(index: tuple[int, int]) -> dict:
    """Deterministic values of one grid point of the partial-result tests."""
    rng = np.random.default_rng(1000 * index[0] + index[1])
    return {"loss": float(rng.standard_normal()), "vec": rng.standard_normal(500)}


GRID = (8, 8)
FIELDS = {"loss": (GRID, "float64"), "vec": ((*GRID, 500), "float64")}


def _say(*words: object) -> None:
    sys.stdout.write(" ".join(map(str, words)) + "\n")
    sys.stdout.flush()


def write_entries(root: str, start: int) -> None:
    from landscape.store import Store

    store = Store(root)
    for j in range(start, start + 10_000):
        _say("B", j)
        store.get_or_compute(
            "stress.big", {"j": j}, {"checkpoint": f"c{j}"}, lambda j=j: payload(j)
        )
        _say("D", j)


def write_points(root: str, seed: int) -> None:
    from landscape.store import Store

    part = Store(root).partial("stress.grid", {"n": 8}, None, fields=FIELDS)
    todo = part.pending()
    np.random.default_rng(seed).shuffle(todo)
    _say("R")
    for idx in todo:
        part.write(idx, **point(idx))
        _say("D", *idx)


def race(root: str, ident: int, log: str) -> None:
    from landscape.store import Store

    store = Store(root)

    def same() -> dict:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return payload(777)

    _say("ready")
    sys.stdin.readline()  # the parent releases every child at once
    keys = [store.get_or_compute("race.own", {"id": ident, "n": n}, {}, lambda n=n:
                                 payload(100 * ident + n)).key for n in range(2)]
    shared = store.get_or_compute("race.same", {}, {"checkpoint": "x"}, same)
    part = store.partial("race.grid", {}, None, fields=FIELDS)
    todo = part.pending()
    np.random.default_rng(ident).shuffle(todo)
    for idx in todo:
        part.write(idx, **point(idx))
    final = part.finalize()
    _say("done", shared.key, shared.cached, final.key, *keys)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "entries":
        write_entries(rest[0], int(rest[1]))
    elif mode == "points":
        write_points(rest[0], int(rest[1]))
    elif mode == "race":
        race(rest[0], int(rest[1]), rest[2])
