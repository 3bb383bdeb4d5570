"""``landscape flatness CKPT [CKPT ...]``: a flatness table for any set of networks (thin).

Resolve each subject (landscape checkpoints or runs, or your own weights with
``--model``/``--model-file``), ask :func:`landscape.experiment.flatness.flatness_table` (every
measure a cached store entry), print the table or one JSON object, draw the figure.
"""

from __future__ import annotations

import argparse
from typing import Any

from landscape.commands._args import (
    add_data_flags,
    add_model_flags,
    add_output_flags,
    open_store,
    subject_from_args,
)
from landscape.commands._cliutil import (
    emit_json,
    int_at_least,
    positive_float,
    short_label,
    show_progress,
    write_figure,
)

__all__ = ["register"]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    first = rows[0]
    k = len(first["eigenvalues"])
    lines = [f"{'network':<34}{'lambda_max':>11}{'trace':>11}{'+-':>8}{f'top-{k}/tr':>11}"
             f"{'eps-sharp':>11}{'dir. incr.':>11}{'+-':>8}{'loss':>9}"]
    for r in rows:
        label = short_label(r["label"])
        label = label if len(label) <= 33 else "..." + label[-30:]
        lines.append(f"{label:<34}{r['lambda_max']:>11.4g}{r['trace']:>11.4g}"
                     f"{r['trace_stderr']:>8.2g}{r['topk_trace_share']:>11.3f}"
                     f"{r['epsilon_sharpness']:>11.4g}{r['direction_increase']:>11.4g}"
                     f"{r['direction_stderr']:>8.2g}{r['loss']:>9.4f}")
    lines.append(f"eps-sharp: Keskar et al. 2017, 100 (max L(w+z) - L(w)) / (1 + L(w)) over "
                 f"|z_i| <= {first['epsilon']:g} (|w_i| + 1), {first['steps']} ascent steps; "
                 f"dir. incr.: mean loss increase at d = {first['distance']:g} along "
                 f"{first['directions']} filter-normalised random directions (Li et al. 2018)")
    return lines


def _run(args: argparse.Namespace) -> int:
    from landscape.experiment.flatness import flatness_table

    subjects = [subject_from_args(args, target=target) for target in args.checkpoints]
    store = open_store(args.store, subjects[0].path)
    rows = flatness_table(
        store, subjects, top_k=args.top_k, tol=args.tol, trace_probes=args.trace_probes,
        epsilon=args.epsilon, steps=args.steps, distance=args.distance,
        directions=args.directions, seed=args.seed, progress=show_progress(args))
    figures: list[str] = []
    if args.figures:
        from landscape.plotting.sharpness import plot_flatness

        figures.append(write_figure(args.figures, "flatness.png", plot_flatness, rows))
    if args.json:
        emit_json({"rows": rows, "store": str(store.root), "figures": figures})
        return 0
    print("\n".join(_table(rows)))
    computed = sum(bool(r["computed"]) for r in rows)
    print(f"{computed} network(s) computed, {len(rows) - computed} from the store "
          f"({store.root})")
    for path in figures:
        print(f"figure: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape flatness``."""
    p = sub.add_parser(
        "flatness", help="lambda_max, trace, epsilon-sharpness and more for any networks",
        description="A flatness table: for each network, on its training data in eval mode, "
                    "the largest Hessian eigenvalue and the top-k, the trace (Hutchinson "
                    "1989) and the share of the top-k in it, epsilon-sharpness (Keskar et al. "
                    "2017, by projected-gradient ascent in the box |z_i| <= eps (|w_i| + 1)) "
                    "and the mean loss increase along filter-normalised random directions (Li "
                    "et al. 2018). Every measure is cached in the store.",
    )
    p.add_argument("checkpoints", metavar="CHECKPOINT", nargs="+",
                   help="landscape checkpoints or run directories (their last epoch), or plain "
                        "state_dict/.safetensors files of your own network (with --model or "
                        "--model-file)")
    g = p.add_argument_group("measures")
    g.add_argument("--top-k", type=int_at_least(1), default=10,
                   help="Hessian eigenpairs (default %(default)s)")
    g.add_argument("--tol", type=positive_float, default=1e-3,
                   help="relative Ritz residual tolerance (default 1e-3)")
    g.add_argument("--trace-probes", type=int_at_least(2), default=100,
                   help="Hutchinson probes (default %(default)s)")
    g.add_argument("--epsilon", type=positive_float, default=1e-3,
                   help="relative box size of epsilon-sharpness (default 1e-3, as Keskar et al.)")
    g.add_argument("--steps", type=int_at_least(1), default=10,
                   help="projected-gradient ascent steps (default %(default)s)")
    g.add_argument("--distance", type=positive_float, default=0.1,
                   help="distance along each filter-normalised direction (default 0.1)")
    g.add_argument("--directions", type=int_at_least(1), default=10,
                   help="random directions (default %(default)s)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the Lanczos start, probes, ascent start and directions")
    add_model_flags(p)
    add_data_flags(p)
    add_output_flags(p)
    p.set_defaults(func=_run)
