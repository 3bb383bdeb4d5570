"""Your own network against the registry's: ``landscape hessian`` on a ResNet-18, three ways.

The same torchvision ResNet-18 (random init, 10 classes), the same weights, the same data
(``--data-file``: 32 seeded 3 x 32 x 32 images in one batch) and the same Lanczos run
(top-1, seed 0), given to ``landscape hessian`` as

* ``registry``: a landscape checkpoint of the registry model ``resnet18``;
* ``state_dict``: a plain ``torch.save(model.state_dict())`` file with
  ``--model torchvision:resnet18 --model-args num_classes=10``;
* ``safetensors``: the same tensors as a ``.safetensors`` file, same flags.

Each command runs in a fresh process with a fresh store (everything is computed), the three
interleaved (after importing torch and torchvision once to warm the page cache), ``--runs``
rounds; the table gives the median wall
time, its spread and the ratio to the registry path, and checks that the three found the
same eigenvalue with the same number of products (else the comparison is void).

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_byo.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = """\
import torch

def make(n=32, size=32, batch=32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]
    return {"train": batches, "test": batches[:1]}
"""


def _write(folder: Path) -> dict[str, list[str]]:
    import torch
    import torchvision
    from safetensors.torch import save_file

    from landscape.checkpoint import save_checkpoint

    (folder / "data.py").write_text(DATA)
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    kw = {"num_classes": 10, "input_shape": [3, 32, 32]}
    ck = save_checkpoint(folder / "run" / "epoch_0000.pt", net, model_name="resnet18",
                         model_kwargs=kw, epoch=0)
    torch.save(net.state_dict(), folder / "resnet18.pt")
    save_file(net.state_dict(), folder / "resnet18.safetensors")
    tv = ["--model", "torchvision:resnet18", "--model-args", "num_classes=10"]
    return {"registry": [str(ck)], "state_dict": [str(folder / "resnet18.pt"), *tv],
            "safetensors": [str(folder / "resnet18.safetensors"), *tv]}


def _once(argv: list[str], folder: Path, data: str) -> tuple[float, dict]:
    store = folder / "store"
    shutil.rmtree(store, ignore_errors=True)
    cmd = [sys.executable, "-m", "landscape", "hessian", *argv, "--data-file", data,
           "--top-k", "1", "--seed", "0", "--store", str(store), "--no-progress", "--json"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return wall, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (spread reported)")
    args = parser.parse_args()
    print("command: taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_byo.py"
          + (f" --runs {args.runs}" if args.runs != 3 else ""))
    print(f"threads {os.environ.get('OMP_NUM_THREADS', 'unset')}, cores allowed "
          f"{len(os.sched_getaffinity(0))}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ways = _write(folder)
        data = f"{folder / 'data.py'}:make"
        times: dict[str, list[float]] = {name: [] for name in ways}
        answers: dict[str, dict] = {}
        subprocess.run([sys.executable, "-c", "import torch, torchvision, landscape.cli"],
                       check=True)
        for _ in range(args.runs):
            for name, argv in ways.items():
                wall, answers[name] = _once(argv, folder, data)
                times[name].append(wall)
    base = statistics.median(times["registry"])
    print("\n| checkpoint given as | wall s, median (min-max) | / registry | HVPs | lambda_1 |")
    print("|---|---|---|---|---|")
    for name, walls in times.items():
        a = answers[name]
        print(f"| {name} | {statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) "
              f"| {statistics.median(walls) / base:.3f} | {a['num_products']} "
              f"| {a['eigenvalues'][0]:.6g} |")
    values = {round(a["eigenvalues"][0], 4) for a in answers.values()}
    if len(values) != 1:
        print(f"WARNING: the three paths disagree on lambda_1: {sorted(values)}")


if __name__ == "__main__":
    main()
