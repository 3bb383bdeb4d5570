"""Overhead of the sparsifiers against a plain training step, measured in the same process.

For a model and batch size, times (median, ``torch.utils.benchmark``):

* baseline: one SGD-with-momentum training step (forward, backward, ``optimizer.step()``);
* the same step followed by ``after_step`` of each sparsifier on a step that does not prune
  (mask application + zeroing the momentum of masked weights);
* one pruning event of gradual magnitude pruning (layer-wise and global: the stable sort),
  of random pruning, and one sparse-momentum redistribution (``on_epoch_end``).

Ratios are against the baseline step. Run:
``.venv/bin/python benchmarks/bench_pruning.py [--model lenet300_100] [--threads N]``.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from landscape.models import create_model
from landscape.pruning import MagnitudePruning, RandomPruning, SparseMomentum


def _median(fn, min_run_time: float) -> float:
    return benchmark.Timer("fn()", globals={"fn": fn}).blocked_autorange(
        min_run_time=min_run_time).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet300_100")
    parser.add_argument("--model-args", default="", help="e.g. widths=1000,1000")
    parser.add_argument("--input-shape", default="1,28,28")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--min-run-time", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = [int(s) for s in args.input_shape.split(",")]
    kw = {}
    if args.model_args:
        key, _, value = args.model_args.partition("=")
        kw[key] = [int(v) for v in value.split(",")]
    model = create_model(args.model, seed=0, num_classes=10, input_shape=shape, **kw)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, *shape, generator=g)
    y = torch.randint(0, 10, (args.batch_size,), generator=g)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    n_params = sum(p.numel() for p in model.parameters())
    base = _median(step, args.min_run_time)
    print(f"{args.model} {kw or ''} ({n_params:,} parameters), batch {args.batch_size}, "
          f"{args.threads} thread(s)")
    print(f"{'what':<44} {'ms':>9} {'/ step':>8}")
    print(f"{'training step (baseline)':<44} {1e3 * base:>9.3f} {1.0:>8.3f}")

    sparsifiers = {
        "magnitude (layer)": MagnitudePruning(target_sparsity=0.9, begin_step=0, end_step=100,
                                              frequency=10),
        "magnitude (global)": MagnitudePruning(target_sparsity=0.9, begin_step=0, end_step=100,
                                               frequency=10, scope="global"),
        "random (layer)": RandomPruning(target_sparsity=0.9, begin_step=0, end_step=100,
                                        frequency=10),
        "sparse momentum": SparseMomentum(density=0.1),
    }
    for name, sp in sparsifiers.items():
        sp.bind(model, opt, 100, 10)
        if not isinstance(sp, SparseMomentum):
            t = _median(lambda sp=sp: (step(), sp.after_step(1)), args.min_run_time)
            print(f"{'step + after_step, ' + name:<44} {1e3 * t:>9.3f} {t / base:>8.3f}")
            dense = {n: torch.ones_like(m) for n, m in sp.masks.items()}

            def event(sp=sp, dense=dense) -> None:   # from dense masks, so every call prunes
                sp.masks = dict(dense)
                sp._prune(50)

            t = _median(event, args.min_run_time)
            print(f"{'one pruning event, ' + name:<44} {1e3 * t:>9.3f} {t / base:>8.3f}")
        else:
            t = _median(lambda sp=sp: (step(), sp.after_step(1)), args.min_run_time)
            print(f"{'step + after_step, ' + name:<44} {1e3 * t:>9.3f} {t / base:>8.3f}")
            t = _median(lambda sp=sp: sp.on_epoch_end(0), args.min_run_time)
            print(f"{'one redistribution, ' + name:<44} {1e3 * t:>9.3f} {t / base:>8.3f}")


if __name__ == "__main__":
    main()
