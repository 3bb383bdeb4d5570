"""``landscape features CHECKPOINT``: dead units, universality, specialisation, reduction.

Thin: resolve the subject (a landscape checkpoint or run, or a plain ``state_dict`` /
``.safetensors`` file with its model), ask the store for its cached feature statistics
(:func:`landscape.experiment.features.feature_statistics_cached`, one hooked pass when
missing), print the per-layer table (Mehta et al. 2019, Tables 1-2), optionally draw the
figures and reduce the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from landscape.commands._args import (
    add_output_flags,
    add_subject_flags,
    open_store,
    subject_from_args,
)
from landscape.commands._cliutil import emit_json, int_at_least, show_progress, write_figure

__all__ = ["register"]


def _data_name(subject: Any) -> str:
    source = subject.data_source
    return str(source.get("name") or source.get("spec") or "data")


def _run(args: argparse.Namespace) -> int:
    from landscape.experiment.features import feature_statistics_cached
    from landscape.stats import format_sparsity_table, sparsity_rows

    splits = (args.split, "test") if args.reduce and args.split != "test" else (args.split,)
    subject = subject_from_args(args, splits=splits)
    store = open_store(args.store, args.checkpoint)
    result = feature_statistics_cached(store, subject, split=args.split,
                                       num_classes=args.num_classes, xi=args.xi,
                                       progress=show_progress(args))
    stats = result.stats
    out: dict[str, Any] = {
        "checkpoint": str(subject.path),
        "key": result.key,
        "cached": result.cached,
        "store": str(store.root),
        "split": args.split,
        "summary": stats["summary"],
        "table": sparsity_rows(stats),
        "figures": [],
    }
    if args.reduce:
        out["reduction"] = _reduce(subject, stats, args.by)
    if args.figures:
        out["figures"] = _figures(stats, Path(args.figures), subject.path)
    if args.json:
        emit_json(out)
        return 0
    state = "cached" if result.cached else "computed"
    print(f"features of {subject.label} on {_data_name(subject)}/{args.split} ({state}, key "
          f"{result.key[:12]})")
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
    for path in out["figures"]:
        print(f"wrote {path}")
    return 0


def _reduce(subject: Any, stats: dict[str, Any], by: list[str]) -> dict[str, Any]:
    from landscape.stats import compare_outputs, plan_reduction, reduce_model
    from landscape.stats.activations import first_inputs

    plan = plan_reduction(subject.model, stats, by=tuple(by))
    test = subject.split("test")
    red = reduce_model(subject.model, plan, example=first_inputs(test)[:1])
    return {**red.summary(), **compare_outputs(subject.model, red.model, test),
            "notes": red.notes}


def _figures(stats: dict[str, Any], folder: Path, path: Path | None) -> list[str]:
    from landscape.plotting import (
        plot_sparsity_table,
        plot_specialisation,
        plot_universality,
        plot_weight_norms,
    )
    from landscape.stats import sparsity_rows

    stem = f"{path.parent.name}_{path.stem}" if path is not None else "features"
    paths = [write_figure(folder, f"{stem}_sparsity_table.png", plot_sparsity_table,
                          sparsity_rows(stats)),
             write_figure(folder, f"{stem}_universality.png", plot_universality, stats),
             write_figure(folder, f"{stem}_specialisation.png", plot_specialisation, stats)]
    if any("norm_hist" in e for e in stats["layers"].values()):
        paths.append(write_figure(folder, f"{stem}_weight_norms.png", plot_weight_norms, stats))
    return paths


def _by(text: str) -> list[str]:
    items = [t for t in text.split(",") if t]
    bad = sorted(set(items) - {"activation", "scale", "weights"})
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of activation, scale, weights; got {text!r}"
        )
    return items


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape features``."""
    p = sub.add_parser(
        "features",
        help="dead units (by activation / BatchNorm scale), universality, class "
             "specialisation, group sparsity; optional model reduction",
        description="Feature statistics after every nn.ReLU, from one pass over the data "
                    "(eval mode, unaugmented): units inactive by activation and by BatchNorm "
                    "scale, universality (Mehta et al. 2019), class specialisation (Dettmers "
                    "& Zettlemoyer 2019), zero incoming weight vectors (Yaguchi et al. "
                    "2018). Cached in the result store.",
    )
    add_subject_flags(p)
    g = p.add_argument_group("statistics")
    g.add_argument("--split", choices=("train", "test"), default="train",
                   help="split of the pass (default %(default)s, as in the papers)")
    g.add_argument("--num-classes", type=int_at_least(1),
                   help="class count of the data (default: the dataset's, or the largest "
                        "label + 1 of a --data-file)")
    g.add_argument("--xi", type=_positive, default=1e-6,
                   help="a unit's weights are zero below this L2 norm (default %(default)g)")
    g.add_argument("--reduce", action="store_true",
                   help="remove dead units, compare outputs on the test split, report "
                        "parameters and FLOPs (MLP, ConvNet and nn.Sequential chains)")
    g.add_argument("--by", type=_by, default=["activation", "scale", "weights"],
                   help="removal criteria, comma list (default activation,scale,weights)")
    add_output_flags(p)
    p.set_defaults(func=_run)
