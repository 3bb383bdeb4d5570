"""Result store: write/read 10 eigenvectors of a 15M-parameter model, and cache hits.

Baseline (same process, same disk): ``np.save`` + fsync and ``np.load`` of the same array.
A cache hit verifies the entry: provenance, manifest, the SHA-256 of every unchunked dataset,
and every chunked dataset up to ``verify_bytes`` (256 MB) read once (fletcher32); the
"hit s" column is that lookup, "hit / read" its cost against reading the array.
Run: ``.venv/bin/python benchmarks/bench_store.py [--params N] [--k K] [--levels 1 4]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from landscape.store import Store


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=int, default=15_000_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--levels", type=int, nargs="*", default=[1], help="gzip levels to try")
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_store.", dir=args.dir))
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.k, args.params), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)  # unit eigenvectors, dense like real ones
    mb = vecs.nbytes / 1e6
    print(f"eigenvectors: {args.k} x {args.params:,} float32 = {mb:.0f} MB; dir {root}")
    try:
        npy = root / "baseline.npy"

        def save():
            with open(npy, "wb") as f:
                np.save(f, vecs)
                f.flush()
                os.fsync(f.fileno())

        t_save, _ = _timed(save)
        t_load, back = _timed(lambda: np.load(npy))
        assert np.array_equal(back, vecs)
        del back
        print(f"{'variant':<16}{'write s':>9}{'read s':>9}{'1 row ms':>10}{'size MB':>9}"
              f"{'size/raw':>9}{'write/np.save':>15}{'read/np.load':>14}{'hit s':>8}"
              f"{'hit/read':>9}")
        print(f"{'np.save (base)':<16}{t_save:>9.2f}{t_load:>9.2f}{'':>10}"
              f"{npy.stat().st_size / 1e6:>9.0f}{1.0:>9.3f}{1.0:>15.2f}{1.0:>14.2f}")
        npy.unlink()
        variants = [("uncompressed", None, 0)] + [(f"gzip-{lv}", "gzip", lv) for lv in args.levels]
        for label, comp, level in variants:
            store = Store(root / label, compression=comp, compression_level=level)
            t_w, entry = _timed(lambda store=store: store.get_or_compute(
                "bench.topk", {"k": args.k}, {"checkpoint": "0" * 64},
                lambda: {"eigenvalues": np.arange(args.k, 0, -1.0), "eigenvectors": vecs}))
            t_r, back = _timed(lambda entry=entry: entry["eigenvectors"])
            assert np.array_equal(back, vecs) and back.dtype == np.float32
            del back
            t_row, row = _timed(lambda entry=entry: entry.read("eigenvectors", 3))
            assert np.array_equal(row, vecs[3])
            size = entry.size
            t_hit, hit = _timed(lambda store=store: store.get_or_compute(
                "bench.topk", {"k": args.k}, {"checkpoint": "0" * 64}, lambda: {}))
            assert hit.cached
            print(f"{label:<16}{t_w:>9.2f}{t_r:>9.2f}{t_row * 1e3:>10.1f}{size / 1e6:>9.0f}"
                  f"{size / vecs.nbytes:>9.3f}{t_w / t_save:>15.2f}{t_r / t_load:>14.2f}"
                  f"{t_hit:>8.2f}{t_hit / t_r:>9.2f}")
            shutil.rmtree(root / label)

        # a cache hit for a small entry: key hashing + open + provenance, manifest and checksums
        store = Store(root / "small")
        small = {"eigenvalues": np.arange(10.0), "residuals": np.ones(10) * 1e-6, "hvps": 60}
        store.get_or_compute("bench.small", {"k": 10}, {"checkpoint": "0" * 64}, lambda: small)
        hits, reads = [], []
        for _ in range(200):
            t = time.perf_counter()
            e = store.get_or_compute("bench.small", {"k": 10}, {"checkpoint": "0" * 64},
                                     lambda: small)
            hits.append(time.perf_counter() - t)
            t = time.perf_counter()
            e["eigenvalues"]
            reads.append(time.perf_counter() - t)
        assert e.cached
        np.save(root / "small.npy", small["eigenvalues"])
        base = statistics.median(_timed(lambda: np.load(root / "small.npy"))[0] for _ in range(200))
        hit, read = statistics.median(hits), statistics.median(reads)
        print(f"small cache hit: {hit * 1e3:.2f} ms median (+ {read * 1e3:.2f} ms to read one "
              f"array); np.load of the same 10 floats: {base * 1e3:.3f} ms "
              f"(hit/np.load = {hit / base:.1f}x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
