"""Start-up and cache hits: commands that answer from the store, against ``import torch``.

Each command runs in a fresh process, pinned to one core with one thread (``taskset -c 0``,
``OMP_NUM_THREADS=1``), once to warm the page cache and the bytecode caches, then ``--runs``
times; the table gives the median wall time, the spread (min-max), the median CPU time (user
+ system of the child, less disturbed by a loaded machine) and the ratio of the medians to the
baseline's, ``python -c "import torch"``:

* ``landscape --help`` (builds the parser of every command: imports no torch);
* cached ``landscape hessian``, ``spectrum``, ``features``, ``curve eval`` on the demo's runs
  (answers from the demo's store; goal: at most 1.5x ``import torch``);
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
import time
from pathlib import Path

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
    ap.add_argument("--no-demo", action="store_true", help="skip the second make demo")
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
    for name, cmd in rows:
        print(f"  {name}: {shlex.join(one + cmd)}", flush=True)
        results.append((name, _measure(one + cmd, env, args.runs)))
    base = results[0][1]
    print(f"\none core, one thread; median of {args.runs} runs after a warm-up")
    print(f"{'what':<22}{'wall s':>8}{'spread s':>14}{'/ torch':>9}{'cpu s':>8}{'/ torch':>9}")
    for name, r in results:
        print(f"{name:<22}{r['wall']:8.2f}{r['low']:7.2f}-{r['high']:<6.2f}"
              f"{r['wall'] / base['wall']:8.2f}x{r['cpu']:8.2f}{r['cpu'] / base['cpu']:8.2f}x")
    if not args.no_demo:
        cmd = ["taskset", "-c", "0,1", *demo_cmd]
        print(f"\nsecond make demo on two cores: {shlex.join(cmd)}", flush=True)
        r = _measure(cmd, _env(2), args.runs)
        print(f"{'make demo (cached)':<22}{r['wall']:8.2f}{r['low']:7.2f}-{r['high']:<6.2f}"
              f"{'':9}{r['cpu']:8.2f}   goal: wall <= 15 s")


if __name__ == "__main__":
    main()
