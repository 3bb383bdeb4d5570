"""Inference speedup of model reduction: the reduced dense model vs the original.

Dead units are planted the way Adam + L2 leaves them (Yaguchi et al. 2018: zero incoming
weights and a negative bias; Mehta et al. 2019: BatchNorm scale 0 and a negative shift), the
model is reduced with :func:`landscape.stats.reduce_model`, and the forward time of both
models on the same batch is measured in this process with ``torch.utils.benchmark`` (median
of repeated runs); the printed ratio original / reduced is the speedup. Outputs are checked
to agree first.

Run: ``.venv/bin/python benchmarks/bench_reduction.py [--threads N]``.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils import benchmark

from landscape.data import EvalSet
from landscape.models import create_model
from landscape.stats import compare_outputs, feature_statistics, plan_reduction, reduce_model


def _plant_mlp(model: nn.Module, fraction: float, gen: torch.Generator) -> None:
    with torch.no_grad():
        for block in model.hidden:
            lin = block[0]
            dead = torch.rand(lin.out_features, generator=gen) < fraction
            lin.weight[dead] = 0.0
            lin.bias[dead] = -0.1


def _plant_bn(model: nn.Module, fraction: float, gen: torch.Generator) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                dead = torch.rand(m.num_features, generator=gen) < fraction
                m.weight[dead] = 0.0
                m.bias[dead] = -0.1


def _time(model: nn.Module, x: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        timer = benchmark.Timer("m(x)", globals={"m": model, "x": x})
        t = timer.blocked_autorange(min_run_time=1.0)
    return t.median


def _case(name: str, model: nn.Module, shape: tuple[int, ...], batch: int) -> None:
    gen = torch.Generator().manual_seed(0)
    train = EvalSet.from_tensors(torch.randn(512, *shape, generator=gen),
                                 torch.arange(512) % 10, batch_size=256)
    stats = feature_statistics(model, train, num_classes=10)
    red = reduce_model(model, plan_reduction(model, stats), example=train.x[:1])
    test = EvalSet.from_tensors(torch.randn(256, *shape, generator=gen),
                                torch.arange(256) % 10, batch_size=256)
    cmp = compare_outputs(model, red.model, test)
    x = torch.randn(batch, *shape, generator=gen)
    t0, t1 = _time(model, x), _time(red.model, x)
    print(f"{name}: params {red.params_before:,} -> {red.params_after:,} "
          f"({red.params_after / red.params_before:.2f}x), FLOPs {red.flops_before:,} -> "
          f"{red.flops_after:,} ({red.flops_after / red.flops_before:.2f}x), "
          f"max |logit diff| {cmp['max_abs_diff']:.1e}")
    print(f"  forward of {batch} samples: original {1e3 * t0:.2f} ms, reduced {1e3 * t1:.2f} ms, "
          f"speedup {t0 / t1:.2f}x")


def main() -> None:
    """Run the benchmark cases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fraction", type=float, default=0.7, help="share of units planted dead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    mlp = create_model("mlp", widths=[1000, 1000], input_shape=(1, 28, 28))
    _plant_mlp(mlp, args.fraction, gen)
    _case(f"mlp 784-1000-1000-10, {args.fraction:.0%} units dead", mlp, (1, 28, 28), 1000)
    net = create_model("basicnet", width=0.5, input_shape=(3, 32, 32))
    _plant_bn(net, args.fraction, gen)
    _case(f"basicnet width 0.5, {args.fraction:.0%} channels |gamma|=0", net, (3, 32, 32), 64)


if __name__ == "__main__":
    main()
