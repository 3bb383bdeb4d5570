"""Does gRDA perform directional pruning here? The evidence and a verdict (seed 004 Sec. 4).

Directional pruning (seed 004, Definition 1.1) means the sparse minimum found by gRDA lies in
the same valley as SGD's and differs from it mainly along flat directions. The evidence:

1. **Accuracy and sparsity** of both final minima: gRDA sparse at comparable test accuracy.
2. **Connectivity**: the train-loss barrier on the fitted quadratic Bezier curve between the
   two minima (same valley when low), next to the straight line's barrier for contrast.
3. **Direction**: the share of ``w_gRDA - w_SGD`` in the top-k Hessian eigenspace at ``w_SGD``
   (low: the difference avoids sharp directions), against a random direction (``k/P``) and,
   when given, the difference between two SGD runs from different seeds.
4. **Curvature** at both minima: their top-k eigenvalues.

Every number comes from the result store (computed when missing); the curve is fitted when no
fitted curve is found. The thresholds of the verdict are stated in the report and configurable.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from landscape._cliutil import add_device_flag, add_json_flag, emit_json, resolve_device
from landscape.checkpoint import checkpoint_digest, load_checkpoint
from landscape.curvature.analysis import hessian_topk
from landscape.curves import CurveFitConfig, fit_curve, load_curve
from landscape.curves.results import along_cached
from landscape.data import EvalSet, dataset_from_config
from landscape.rundir import RunDir
from landscape.stats.trajectory import check_same_experiment, projection_over_epochs
from landscape.store import Store, add_store_flag, open_store

__all__ = ["Thresholds", "default_curve_dir", "format_report", "judge", "register", "verify"]


@dataclass(frozen=True)
class Thresholds:
    """What counts as evidence of directional pruning.

    ``max_share`` is absolute, as seed 004 states its hypothesis ("the proportion of
    w_gRDA - w_SGD in the top eigenspace is low"): the paper's shares on VGG16/WRN are far
    above ``k/P`` yet called low. The report prints the share relative to a random direction
    and to two SGD runs from different seeds, so a stricter reader can set ``max_share`` from
    those (e.g. the SGD-vs-SGD share).

    Attributes:
        max_barrier: largest train-loss barrier (nats) on the fitted curve for "same valley".
        max_share: largest share of ``w_gRDA - w_SGD`` in the top-k eigenspace (last epoch).
        min_sparsity: smallest fraction of exact zeros in gRDA's weights.
        max_accuracy_drop: largest test-accuracy deficit of gRDA against SGD.
    """

    max_barrier: float = 0.1
    max_share: float = 0.1
    min_sparsity: float = 0.5
    max_accuracy_drop: float = 0.02

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"threshold {f.name} must be a finite number >= 0, got {value!r}")


def default_curve_dir(sgd_run: str | Path, grda_run: str | Path) -> Path:
    """Where verify keeps the fitted curve: ``<parent>/curves/<sgd>__<grda>``."""
    sgd_run, grda_run = Path(sgd_run), Path(grda_run)
    return sgd_run.parent / "curves" / f"{sgd_run.name}__{grda_run.name}"


def _final(run: Path, *, allow_unfinished: bool) -> tuple[int, Path, dict[str, Any]]:
    """``(epoch, checkpoint, metrics)`` of a run's final epoch.

    Raises:
        ValueError: the run has no trained epoch, lacks the metrics of its last checkpoint,
            or stopped before its configured epochs (a diverged or interrupted run) and
            ``allow_unfinished`` is false.
    """
    rd = RunDir(run)
    config = rd.read_config()
    last = rd.last_epoch()
    if last is None or last == 0:
        raise ValueError(f"run {run} has no trained epoch yet: train it first")
    planned = config.get("epochs")
    if not allow_unfinished and isinstance(planned, int) and last != planned:
        raise ValueError(
            f"run {run} stopped at epoch {last} of {planned} (interrupted or diverged): finish "
            "it with `landscape train ... --resume`, or pass --allow-unfinished to judge its "
            "last checkpoint"
        )
    metrics = {int(r["epoch"]): r for r in rd.read_metrics()}
    if last not in metrics:
        raise ValueError(f"run {run} has no metrics for its last epoch {last}")
    return last, rd.checkpoint_path(last), metrics[last]


def _curve(
    sgd_ckpt: Path, grda_ckpt: Path, curve_dir: Path, *, given: bool, dataset: Any,
    fit: CurveFitConfig, device: torch.device, progress: bool,
):
    """The curve between the two final checkpoints: a given one as it is, else fitted.

    A curve passed with ``--curve`` is used with whatever settings it was fitted with; the
    default location is reused once its fit is complete, and fitted (or resumed) otherwise.
    Either way its endpoints must be these two checkpoints.
    """
    run = RunDir(curve_dir)
    if given and not run.exists():
        raise FileNotFoundError(
            f"{curve_dir} is not a fitted curve (no config.json): fit one with `landscape curve "
            "fit A B --out DIR`, or omit --curve to let verify fit it"
        )
    complete = run.exists() and run.last_epoch() == run.read_config().get("epochs")
    if given and not complete:
        raise ValueError(
            f"the curve in {curve_dir} is unfinished (epoch {run.last_epoch()} of "
            f"{run.read_config().get('epochs')}): finish it with `landscape curve fit ... "
            "--resume`"
        )
    if complete:
        ends = run.read_config()["endpoints"]
        if (ends["start"]["digest"], ends["end"]["digest"]) != (
            checkpoint_digest(sgd_ckpt), checkpoint_digest(grda_ckpt)
        ):
            fix = ("pass a curve between them" if given else
                   f"remove {curve_dir} and verify fits a new one")
            raise ValueError(
                f"the curve in {curve_dir} joins {ends['start']['path']} and "
                f"{ends['end']['path']} as they were when it was fitted, not the final "
                f"checkpoints {sgd_ckpt} and {grda_ckpt} as they are now: {fix}"
            )
        return load_curve(curve_dir, device=device)
    return fit_curve(sgd_ckpt, grda_ckpt, curve_dir, dataset=dataset, config=fit,
                     device=device, resume=run.exists(), progress=progress)


def verify(
    store: Store,
    sgd_run: str | Path,
    grda_run: str | Path,
    *,
    curve_dir: str | Path | None = None,
    baseline_run: str | Path | None = None,
    top_k: int = 10,
    fit: CurveFitConfig | None = None,
    points: int = 61,
    subset: int | None = None,
    projection_epochs: list[int] | None = None,
    thresholds: Thresholds | None = None,
    allow_unfinished: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Gather the evidence for directional pruning and judge it.

    Args:
        store: the result store (everything expensive is cached there).
        sgd_run: the SGD run directory.
        grda_run: the gRDA run directory (same seed).
        curve_dir: a fitted curve between the two final checkpoints (default:
            :func:`default_curve_dir`; fitted there when absent).
        baseline_run: a second SGD run from another seed (SGD-vs-SGD projection baseline).
        top_k: eigenpairs for the projections and the curvature comparison.
        fit: curve-fitting settings when a curve must be fitted.
        points: points along the curve.
        subset: use this many training samples for the Hessian (default: all).
        projection_epochs: epochs of the projection (default: all shared epochs but 0).
        thresholds: verdict thresholds.
        allow_unfinished: judge runs that stopped before their configured epochs.
        device: where to compute.
        progress: progress bars on stderr.

    Returns:
        The report: ``runs``, ``connectivity``, ``projection``, ``curvature``,
        ``final_epoch``, ``verdict``.

    Raises:
        ValueError: runs of different experiments, unfinished runs, final epochs that
            differ, or a curve that does not join the final checkpoints. All of these are
            checked before anything is computed.
    """
    # Everything that can be refused is refused before any computation.
    sgd_run, grda_run = Path(sgd_run), Path(grda_run)
    check_same_experiment(sgd_run, grda_run, same_seed=True)
    if baseline_run is not None:
        check_same_experiment(sgd_run, Path(baseline_run), same_seed=False)
    device = torch.device(device)
    thresholds = thresholds or Thresholds()
    fit = fit or CurveFitConfig()
    final, sgd_ckpt, sgd_m = _final(sgd_run, allow_unfinished=allow_unfinished)
    grda_final, grda_ckpt, grda_m = _final(grda_run, allow_unfinished=allow_unfinished)
    finals = {"gRDA": grda_final}
    if baseline_run is not None:
        finals["baseline"] = _final(Path(baseline_run), allow_unfinished=allow_unfinished)[0]
    for role, epoch in finals.items():
        if epoch != final:
            raise ValueError(
                f"the {role} run ends at epoch {epoch} and the SGD run at epoch {final}: "
                "compare runs trained for the same number of epochs"
            )
    if projection_epochs is not None and final not in projection_epochs:
        projection_epochs = [*projection_epochs, final]  # the verdict is taken at the end
    config = RunDir(sgd_run).read_config()
    dataset = dataset_from_config(config)
    batch = int(config.get("eval_batch_size", 1000))
    train = EvalSet(dataset, "train", batch_size=batch, device=device)
    hess_data = EvalSet(dataset, "train", batch_size=batch, device=device, subset=subset)
    test = EvalSet(dataset, "test", batch_size=batch, device=device)

    given = curve_dir is not None
    curve_dir = Path(curve_dir) if given else default_curve_dir(sgd_run, grda_run)
    loaded = _curve(sgd_ckpt, grda_ckpt, curve_dir, given=given, dataset=dataset, fit=fit,
                    device=device, progress=progress)
    along = along_cached(store, loaded, train, test, points=points, progress=progress)
    curve, line = along["curve"], along["line"]

    proj = projection_over_epochs(store, sgd_run, grda_run, hess_data, top_k=top_k,
                                  epochs=projection_epochs, baseline_run=baseline_run,
                                  device=device, progress=progress)
    eig, converged = {}, {}
    for role, ckpt in (("sgd", sgd_ckpt), ("grda", grda_ckpt)):
        model = load_checkpoint(ckpt).build_model(device)
        top = hessian_topk(store, model, hess_data, inputs={"checkpoint": checkpoint_digest(ckpt)},
                           k=top_k, progress=progress)
        eig[role] = [float(v) for v in top["eigenvalues"]]
        converged[role] = int(sum(bool(c) for c in top["converged"]))

    def run_summary(path: Path, ckpt: Path, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "path": str(path), "checkpoint": str(ckpt), "epoch": int(m["epoch"]),
            "test_acc": float(m["test_acc"]), "train_loss": float(m["train_loss"]),
            "train_acc": float(m["train_acc"]), "sparsity": float(m["sparsity"]["global"]),
            "group_sparsity": float(m["group_sparsity"]["global"]),
        }

    evidence = {
        "runs": {"sgd": run_summary(sgd_run, sgd_ckpt, sgd_m),
                 "grda": run_summary(grda_run, grda_ckpt, grda_m)},
        "connectivity": {
            "curve_dir": str(curve_dir),
            "curve_barrier": float(curve["barrier"]),
            "line_barrier": float(line["barrier"]),
            "t": [float(t) for t in along["t"]],
            "curve_train_loss": [float(v) for v in curve["train_loss"]],
            "line_train_loss": [float(v) for v in line["train_loss"]],
            "curve_test_error": [float(v) for v in curve["test_error"]],
        },
        "projection": proj,
        "curvature": {"top_k": top_k, "sgd_eigenvalues": eig["sgd"],
                      "grda_eigenvalues": eig["grda"], "sgd_converged": converged["sgd"],
                      "grda_converged": converged["grda"]},
        "final_epoch": final,
    }
    evidence["verdict"] = judge(evidence, thresholds)
    return evidence


def judge(evidence: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Apply ``thresholds`` to the evidence; every criterion is reported with its numbers.

    >>> ev = {"runs": {"sgd": {"test_acc": 0.95}, "grda": {"test_acc": 0.94, "sparsity": 0.9}},
    ...       "connectivity": {"curve_barrier": 0.01}, "projection": {"share": [0.3, 0.02]}}
    >>> judge(ev, Thresholds())["directional_pruning"]
    True
    """
    runs = evidence["runs"]
    drop = runs["sgd"]["test_acc"] - runs["grda"]["test_acc"]
    proj = evidence["projection"]
    final = evidence.get("final_epoch")
    at = proj["epochs"].index(final) if final is not None else -1
    share = proj["share"][at]
    t = thresholds
    criteria = [
        ("same_valley", evidence["connectivity"]["curve_barrier"], "<=", t.max_barrier,
         "train-loss barrier on the fitted Bezier curve"),
        ("flat_directions", share, "<=", t.max_share,
         "share of w_gRDA - w_SGD in the top-k Hessian eigenspace (final epoch)"),
        ("sparse", runs["grda"]["sparsity"], ">=", t.min_sparsity,
         "fraction of exact zeros in gRDA's weights"),
        ("comparable_accuracy", drop, "<=", t.max_accuracy_drop,
         "test accuracy of SGD minus that of gRDA"),
    ]
    rows = []
    for name, value, op, limit, what in criteria:
        passed = value <= limit if op == "<=" else value >= limit
        rows.append({"name": name, "value": float(value), "op": op, "threshold": float(limit),
                     "passed": bool(passed), "description": what})
    ok = all(r["passed"] for r in rows)
    failed = [r["name"] for r in rows if not r["passed"]]
    text = ("gRDA performed directional pruning: " + "same valley, flat directions, sparse, "
            "comparable accuracy" if ok else
            "no evidence of directional pruning at these thresholds: fails "
            + ", ".join(failed))
    return {"directional_pruning": ok, "criteria": rows, "summary": text,
            "thresholds": asdict(thresholds)}


def format_report(report: dict[str, Any]) -> str:
    """A terminal report of :func:`verify`'s result."""
    r, c, p, k = (report["runs"], report["connectivity"], report["projection"],
                  report["curvature"])
    lines = [f"Directional pruning report (final epoch {report.get('final_epoch', '?')})", "",
             f"{'':<8}{'test acc':>10}{'train loss':>12}{'sparsity':>10}{'unit sparsity':>15}"]
    for role in ("sgd", "grda"):
        m = r[role]
        lines.append(f"{role:<8}{m['test_acc']:>10.4f}{m['train_loss']:>12.4f}"
                     f"{m['sparsity']:>10.3f}{m['group_sparsity']:>15.3f}")
    lines += ["", f"barrier (train loss): Bezier curve {c['curve_barrier']:.4f}, "
                  f"straight line {c['line_barrier']:.4f}", "",
              f"share of w_gRDA - w_SGD in the top-{p['top_k']} eigenspace at w_SGD "
              f"(random direction ~ {p['random_expected']:.2e}):",
              f"{'epoch':>7}{'share':>12}{'random':>12}" + (
                  f"{'SGD seeds':>12}" if p["baseline_share"] else "")]
    for i, e in enumerate(p["epochs"]):
        row = f"{e:>7}{p['share'][i]:>12.4e}{p['random_share'][i]:>12.4e}"
        if p["baseline_share"]:
            row += f"{p['baseline_share'][i]:>12.4e}"
        lines.append(row)
    at = p["epochs"].index(report["final_epoch"]) if "final_epoch" in report else -1
    final = p["share"][at]
    rel = f"{final / p['random_expected']:.3g}x a random direction"
    if p["baseline_share"]:
        rel += f", {final / p['baseline_share'][at]:.3g}x the SGD-vs-SGD share"
    lines.append(f"final-epoch share {final:.3e} = {rel}")
    fmt = ", ".join
    lines += ["", f"top-{k['top_k']} eigenvalues at SGD:  "
              + fmt(f"{v:.3g}" for v in k["sgd_eigenvalues"]),
              f"top-{k['top_k']} eigenvalues at gRDA: "
              + fmt(f"{v:.3g}" for v in k["grda_eigenvalues"])]
    unconverged = [f"{role} ({k[role + '_converged']}/{k['top_k']})" for role in ("sgd", "grda")
                   if k.get(role + "_converged", k["top_k"]) < k["top_k"]]
    unconverged += [f"projection epoch {e} ({c}/{p['top_k']})"
                    for e, c in zip(p["epochs"], p.get("converged", [])) if c < p["top_k"]]
    if unconverged:
        lines.append("warning: not every eigenpair reached the residual tolerance: "
                     + ", ".join(unconverged))
    lines += ["", "criteria:"]
    for row in report["verdict"]["criteria"]:
        mark = "pass" if row["passed"] else "FAIL"
        lines.append(f"  [{mark}] {row['name']:<20} {row['value']:.4g} {row['op']} "
                     f"{row['threshold']:g}  ({row['description']})")
    lines += ["", "verdict: " + report["verdict"]["summary"]]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    thresholds = Thresholds(max_barrier=args.max_barrier, max_share=args.max_share,
                            min_sparsity=args.min_sparsity,
                            max_accuracy_drop=args.max_accuracy_drop)
    store = open_store(args.store, Path(args.sgd_run))
    fit = CurveFitConfig(epochs=args.curve_epochs, batch_size=args.curve_batch_size,
                         lr=args.curve_lr)
    report = verify(store, args.sgd_run, args.grda_run, curve_dir=args.curve,
                    baseline_run=args.baseline_run, top_k=args.top_k, fit=fit,
                    points=args.points, subset=args.subset, thresholds=thresholds,
                    projection_epochs=args.epochs, allow_unfinished=args.allow_unfinished,
                    device=device, progress=not args.json and sys.stderr.isatty())
    if args.figures:
        from landscape.plotting.directional import plot_report

        report["figures"] = [str(p) for p in plot_report(report, Path(args.figures))]
    if args.json:
        emit_json(report)
    else:
        print(format_report(report))
        for f in report.get("figures", []):
            print(f"figure: {f}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape verify``."""
    p = sub.add_parser("verify", help="evidence and verdict: did gRDA perform directional pruning?",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("sgd_run", metavar="SGD_RUN")
    p.add_argument("grda_run", metavar="GRDA_RUN")
    g = p.add_argument_group("analyses")
    g.add_argument("--curve", help="fitted curve directory (default: fitted under RUN/../curves)")
    g.add_argument("--baseline-run", help="second SGD run from another seed (baseline)")
    g.add_argument("--top-k", type=int, default=10)
    g.add_argument("--points", type=int, default=61, help="points along the curve")
    g.add_argument("--subset", type=int, help="training samples in the Hessian (default all)")
    g.add_argument("--epochs", type=int, nargs="+",
                   help="epochs of the projection (default all; the final one is always added)")
    g.add_argument("--allow-unfinished", action="store_true",
                   help="judge runs that stopped before their configured epochs")
    g.add_argument("--curve-epochs", type=int, default=10)
    g.add_argument("--curve-batch-size", type=int, default=128)
    g.add_argument("--curve-lr", type=float, default=0.1)
    t = p.add_argument_group("thresholds of the verdict")
    defaults = Thresholds()
    for f in fields(Thresholds):
        t.add_argument(f"--{f.name.replace('_', '-')}", type=float,
                       default=getattr(defaults, f.name))
    p.add_argument("--figures", help="write the report's figures into this folder")
    add_store_flag(p)
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_run)

