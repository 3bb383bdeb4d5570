"""``landscape features RUN_OR_CHECKPOINT``: dead units, universality, specialisation, reduction.

Thin: resolve the checkpoint and its dataset, ask the store for the cached statistics
(computing them in one hooked pass when missing), print the seed 001 Table 1/2 style table,
optionally draw the figures and reduce the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from landscape._cliutil import (
    add_device_flag,
    add_json_flag,
    add_progress_flag,
    emit_json,
    int_at_least,
    parse_kv,
    resolve_device,
    show_progress,
)
from landscape.checkpoint import checkpoint_digest, load_checkpoint
from landscape.data import EvalSet, dataset_from_config
from landscape.rundir import resolve_checkpoint
from landscape.stats._featurestore import stored_feature_statistics
from landscape.stats.features import format_sparsity_table, sparsity_rows
from landscape.stats.reduction import compare_outputs, plan_reduction, reduce_model
from landscape.store import add_store_flag, open_store

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    ckpt_path = resolve_checkpoint(args.path, args.epoch)
    ckpt = load_checkpoint(ckpt_path)
    device = resolve_device(args.device)
    dataset = dataset_from_config(ckpt.config, name=args.dataset,
                                  options=parse_kv(args.dataset_args), root=args.data_root)
    model = ckpt.build_model(device)
    dtype = next(model.parameters()).dtype
    data = EvalSet(dataset, args.split, batch_size=args.batch_size, device=device, dtype=dtype,
                   subset=args.subset)
    store = open_store(args.store, ckpt_path)
    inputs = {"checkpoint": checkpoint_digest(ckpt_path)}
    progress = show_progress(args)
    entry = stored_feature_statistics(store, model, data, inputs=inputs,
                                      num_classes=dataset.num_classes, xi=args.xi,
                                      progress=progress)
    stats = entry.read_all()
    out: dict[str, Any] = {
        "checkpoint": str(ckpt_path),
        "key": entry.key,
        "cached": entry.cached,
        "split": args.split,
        "summary": stats["summary"],
        "table": sparsity_rows(stats),
    }
    if args.reduce:
        out["reduction"] = _reduce(model, stats, dataset, args, device, dtype)
    if args.figures:
        out["figures"] = _figures(stats, Path(args.figures), ckpt_path)
    if args.json:
        emit_json(out)
        return 0
    state = "cached" if entry.cached else "computed"
    print(f"features of {ckpt_path} on {dataset.name}/{args.split} ({state}, key {entry.key[:12]})")
    print(format_sparsity_table(stats))
    s = stats["summary"]
    print(f"weight sparsity {100 * s['weight_sparsity']:.2f}%   "
          f"group sparsity (xi={args.xi:g}) {100 * s['group_sparsity']:.2f}%")
    if "reduction" in out:
        r = out["reduction"]
        print(f"reduction ({', '.join(args.by)}): parameters {r['params_before']:,} -> "
              f"{r['params_after']:,}, FLOPs {r['flops_before']:,} -> {r['flops_after']:,}")
        print(f"  test set: max |logit diff| {r['max_abs_diff']:.3g}, argmax agreement "
              f"{100 * r['agreement']:.2f}%, accuracy {100 * r['accuracy_original']:.2f}% -> "
              f"{100 * r['accuracy_reduced']:.2f}%")
    for path in out.get("figures", []):
        print(f"wrote {path}")
    return 0


def _reduce(model, stats, dataset, args, device, dtype) -> dict[str, Any]:
    plan = plan_reduction(model, stats, by=tuple(args.by))
    test = EvalSet(dataset, "test", batch_size=args.batch_size, device=device, dtype=dtype)
    red = reduce_model(model, plan, example=test.x[:1])
    return {**red.summary(), **compare_outputs(model, red.model, test), "notes": red.notes}


def _figures(stats: dict[str, Any], folder: Path, ckpt_path: Path) -> list[str]:
    from landscape.plotting import (
        plot_sparsity_table,
        plot_specialisation,
        plot_universality,
        plot_weight_norms,
        save_figure,
    )

    stem = f"{ckpt_path.parent.name}_{ckpt_path.stem}"
    paths = [save_figure(plot_sparsity_table(stats), folder / f"{stem}_sparsity_table.png"),
             save_figure(plot_universality(stats), folder / f"{stem}_universality.png"),
             save_figure(plot_specialisation(stats), folder / f"{stem}_specialisation.png")]
    if any("norm_hist" in e for e in stats["layers"].values()):
        paths.append(save_figure(plot_weight_norms(stats), folder / f"{stem}_weight_norms.png"))
    return [str(p) for p in paths]


def _by(text: str) -> list[str]:
    items = [t for t in text.split(",") if t]
    bad = sorted(set(items) - {"activation", "scale", "weights"})
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of activation, scale, weights; got {text!r}"
        )
    return items


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape features``."""
    p = sub.add_parser(
        "features",
        help="dead units (by activation / BatchNorm scale), universality, class "
             "specialisation, group sparsity; optional model reduction",
    )
    p.add_argument("path", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--epoch", type=int, default=None,
                   help="checkpoint epoch of a run directory (default: the last)")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default=None,
                      help="dataset name (default: the one recorded in the checkpoint)")
    data.add_argument("--dataset-args", nargs="*", metavar="KEY=VALUE", default=None)
    data.add_argument("--data-root", default=None)
    data.add_argument("--split", choices=("train", "test"), default="train",
                      help="split of the pass (default %(default)s, as in the papers)")
    data.add_argument("--subset", type=int_at_least(1), default=None,
                      help="use N samples of the split")
    data.add_argument("--batch-size", type=int_at_least(1), default=1000)
    stats = p.add_argument_group("statistics")
    stats.add_argument("--xi", type=float, default=1e-6,
                       help="a unit's weights are zero below this L2 norm (default %(default)g)")
    stats.add_argument("--reduce", action="store_true",
                       help="remove dead units, compare outputs on the test set, report "
                            "parameters and FLOPs")
    stats.add_argument("--by", type=_by, default=["activation", "scale", "weights"],
                       help="removal criteria, comma list (default activation,scale,weights)")
    stats.add_argument("--figures", metavar="DIR", default=None,
                       help="write the table and histograms as PNG files to DIR")
    add_store_flag(p)
    add_device_flag(p)
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_run)
