"""Checkpoint identity and verification cost on a large checkpoint, in one process.

Three ways to get a checkpoint's cache identity, on the same file (a 5000 x 5000 linear layer,
100 MB of float32 weights, in the page cache):

* ``stored``: :func:`landscape.checkpoint.checkpoint_digest` in a fresh process (memo
  cleared): reads the pickle with ``torch.load(..., mmap=True)`` and the digest stored in it;
* ``full hash``: what the identity cost before checkpoints stored digests: ``torch.load`` the
  whole file, then SHA-256 over every tensor (:func:`landscape.checkpoint.model_digest`);
* ``verified load``: :func:`landscape.checkpoint.load_checkpoint`, which reads the file and
  checks both stored digests (the price of refusing damaged files).

Each is repeated (median of ``--repeat``); run it 3 times and report the spread:

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_checkpoint.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from landscape import checkpoint as ck


def _median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5000, help="the layer is SIZE x SIZE")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("command: taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python "
          + " ".join(sys.argv))
    torch.manual_seed(0)
    model = torch.nn.Linear(args.size, args.size, bias=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "epoch_0001.pt"
        kwargs = {"widths": [args.size]}
        ck.save_checkpoint(path, model, model_name="mlp", model_kwargs=kwargs, epoch=1)
        mb = path.stat().st_size / 1e6

        def stored() -> str:
            ck._format.clear_memos()  # as in a new process
            return ck.checkpoint_digest(path)

        def full_hash() -> str:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            return ck.model_digest("mlp", payload["model"]["kwargs"], payload["state_dict"])

        def verified_load() -> None:
            ck.load_checkpoint(path)

        assert stored() == full_hash()
        rows = [(name, _median_s(fn, args.repeat))
                for name, fn in (("stored", stored), ("full hash", full_hash),
                                 ("verified load", verified_load))]
    print(f"checkpoint {mb:.0f} MB, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, median of {args.repeat}")
    base = rows[0][1]
    for name, seconds in rows:
        print(f"{name:<15}{seconds * 1e3:10.2f} ms{seconds / base:10.0f}x stored")


if __name__ == "__main__":
    main()
