"""Start-up and cache hits: commands that answer from the store, against ``import torch``.

Each command runs in a fresh process, pinned to one core with one thread (``taskset -c 0``,
``OMP_NUM_THREADS=1``), once to warm the page cache and the bytecode caches, then ``--runs``
times; the table gives the median wall time, the spread (min-max), the median CPU time (user
+ system of the child, less disturbed by a loaded machine) and the ratio of the medians to the
baseline's, ``python -c "import torch"``:

* ``landscape --help`` (builds the parser of every command: imports no torch);
* cached ``landscape hessian``, ``spectrum``, ``features``, ``curve eval`` on the demo's runs
  (answers from the demo's store; goal: at most 1.5x ``import torch``);
* the same cached ``landscape hessian`` on a larger subject, where reading what a key does
  not need shows: an MLP 784-2000-2000-10 (5.6M parameters, a 22 MB checkpoint) on MNIST-sized
  data in IDX files (70,000 random 28x28 images, 55 MB) under ``--data-root`` (``--large``,
  made in a temporary folder, the entry computed first on ``--subset 64``);
* the second ``make demo`` (everything cached), the same command as ``make demo`` on two
  cores (``taskset -c 0,1``; goal: at most 15 s).

The demo's runs must exist (``make demo``); if they do not, this script runs the demo once
first (a few minutes). Every exact command is printed above the table::

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_startup.py
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), MPLBACKEND="Agg")
    return env


def _once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``cmd`` (its output discarded; failure raises)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _measure(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    _once(cmd, env)  # warm-up: page cache, __pycache__, the dataset identity record
    times = [_once(cmd, env) for _ in range(runs)]
    walls, cpus = [t[0] for t in times], [t[1] for t in times]
    return {"wall": statistics.median(walls), "low": min(walls), "high": max(walls),
            "cpu": statistics.median(cpus)}


def _idx(path: Path, array: Any) -> None:
    """Write ``array`` (uint8) as an IDX file, the format torchvision downloads MNIST in."""
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(head + array.tobytes())


def _large(folder: Path) -> list[str]:
    """A 5.6M-parameter landscape checkpoint on MNIST-sized IDX data; its hessian command."""
    import numpy as np
    import torch

    from landscape.checkpoint import save_checkpoint
    from landscape.models import create_model

    raw = folder / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 60000), ("t10k", 10000)):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8))
        _idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n, np.uint8))
    kw = {"widths": [2000, 2000], "input_shape": [1, 28, 28], "num_classes": 10}
    torch.manual_seed(0)
    path = save_checkpoint(folder / "run" / "epoch_0001.pt", create_model("mlp", **kw),
                           model_name="mlp", model_kwargs=kw, epoch=1,
                           config={"dataset": "mnist", "data_root": str(folder / "data")})
    return ["hessian", str(path), "--top-k", "2", "--tol", "0.5", "--subset", "64",
            "--store", str(folder / "store")]


def _demo_paths(demo: Path) -> dict[str, Path]:
    return {"sgd": demo / "sgd", "grda": demo / "grda_c0.01_mu0.6",
            "curve": demo / "curve_sgd__grda_c0.01_mu0.55"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("checkpoints/demo"),
                    help="the demo's output folder (default checkpoints/demo, as make demo)")
    ap.add_argument("--figures", type=Path, default=Path("figures/demo"),
                    help="the demo's figures folder (default figures/demo, as make demo)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each command")
    ap.add_argument("--no-large", action="store_true", help="skip the larger subject")
    ap.add_argument("--demo-runs", type=int, default=3,
                    help="timed runs of the second make demo (0: skip it)")
    args = ap.parse_args()
    print("command: taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python " + shlex.join(sys.argv))
    python = sys.executable
    landscape = [python, "-m", "landscape"]  # what the `landscape` script runs
    demo_cmd = [*landscape, "demo", "--out", str(args.demo), "--figures", str(args.figures)]
    paths = _demo_paths(args.demo)
    if not all((ROOT / p).exists() for p in paths.values()):
        print(f"running the demo once first (minutes): {shlex.join(demo_cmd)}", flush=True)
        subprocess.run(demo_cmd, env=_env(2), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    from landscape.demo import spectrum_command

    one = ["taskset", "-c", "0"]
    rows = [
        ("import torch", [python, "-c", "import torch"]),
        ("landscape --help", [*landscape, "--help"]),
        ("hessian (cached)", [*landscape, "hessian", str(paths["sgd"]), "--top-k", "10"]),
        ("spectrum (cached)", [*landscape, *shlex.split(spectrum_command(paths["sgd"]))[1:]]),
        ("features (cached)", [*landscape, "features", str(paths["grda"])]),
        ("curve eval (cached)", [*landscape, "curve", "eval", str(paths["curve"])]),
    ]
    env = _env(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        envs = {name: env for name, _ in rows}
        if not args.no_large:
            large = [*landscape, *_large(Path(tmp))]
            rows.append(("hessian, 5.6M on 70k", large))
            # its dataset identity recorded beside it, not in the user's cache directory
            envs[rows[-1][0]] = {**env, "LANDSCAPE_CACHE_DIR": str(Path(tmp) / "cache")}
            subprocess.run(large, env=envs[rows[-1][0]], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)  # computes the entry
        for name, cmd in rows:
            print(f"  {name}: {shlex.join(one + cmd)}", flush=True)
            results.append((name, _measure(one + cmd, envs[name], args.runs)))
    base = results[0][1]
    print(f"\none core, one thread; median of {args.runs} runs after a warm-up")
    print(f"{'what':<22}{'wall s':>8}{'spread s':>14}{'/ torch':>9}{'cpu s':>8}{'/ torch':>9}")
    for name, r in results:
        print(f"{name:<22}{r['wall']:8.2f}{r['low']:7.2f}-{r['high']:<6.2f}"
              f"{r['wall'] / base['wall']:8.2f}x{r['cpu']:8.2f}{r['cpu'] / base['cpu']:8.2f}x")
    if args.demo_runs > 0:
        cmd = ["taskset", "-c", "0,1", *demo_cmd]
        print(f"\nsecond make demo on two cores: {shlex.join(cmd)}", flush=True)
        r = _measure(cmd, _env(2), args.demo_runs)
        print(f"{'make demo (cached)':<22}{r['wall']:8.2f}{r['low']:7.2f}-{r['high']:<6.2f}"
              f"{'':9}{r['cpu']:8.2f}   goal: wall <= 15 s")


if __name__ == "__main__":
    main()
