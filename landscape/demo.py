"""``landscape demo``: the main job of the suite, end to end, on the embedded MNIST digits.

From nothing, on the CPU: train SGD, a second SGD from another seed (a baseline) and gRDA at
several ``mu`` from one seed on ``mnist5k``; compute top-k Hessian eigenpairs, fit a quadratic
Bezier curve from SGD's minimum to each gRDA minimum and evaluate it and the straight line,
evaluate a coarse plane, project ``w_gRDA - w_SGD`` on the top-k eigenspace epoch by epoch,
compute the spectrum and the feature statistics; write everything to the result store and the
figures to a folder, and print the directional-pruning verdict for every ``mu``.

Every step reuses what exists: finished runs are not retrained, fitted curves are not refitted
and every analysis answers from the store, so a second demo computes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from landscape._cliutil import add_device_flag, add_json_flag, emit_json, resolve_device
from landscape.checkpoint import checkpoint_digest, load_checkpoint
from landscape.curvature.analysis import hessian_spectrum
from landscape.curves import CurveFitConfig, load_curve
from landscape.curves.results import along_cached, plane_cached
from landscape.data import EvalSet, dataset_from_config
from landscape.rundir import RunDir
from landscape.stats._featurestore import stored_feature_statistics
from landscape.stats.features import format_sparsity_table
from landscape.store import Store
from landscape.train import TrainConfig, run_name, train
from landscape.verify import Thresholds, default_curve_dir, format_report, verify

__all__ = ["PRESETS", "DemoPreset", "register", "run_demo"]


@dataclass(frozen=True)
class DemoPreset:
    """Everything the demo does, in one place (rerun any step with the CLI and these values)."""

    dataset: str = "mnist5k"
    dataset_args: dict[str, Any] = field(default_factory=dict)
    model: str = "mlp"
    model_args: dict[str, Any] = field(default_factory=lambda: {"widths": [300, 100]})
    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.1
    c: float = 0.01
    mus: tuple[float, ...] = (0.51, 0.55, 0.6)
    seed: int = 0
    baseline_seed: int = 1
    top_k: int = 10
    curve_epochs: int = 8
    points: int = 61
    grid: int = 21
    margin: float = 0.2
    slq_probes: int = 4
    slq_steps: int = 40
    thresholds: Thresholds = field(default_factory=Thresholds)


PRESETS: dict[str, DemoPreset] = {
    # The main job: MLP 784-300-100-10 (266,610 parameters) on the 4,000 training digits.
    "mnist5k": DemoPreset(),
    # Seconds, for the test suite: the same pipeline on tiny synthetic data.
    "tiny": DemoPreset(
        dataset="synthetic",
        dataset_args={"input_shape": [1, 4, 4], "num_classes": 3, "num_train": 96,
                      "num_test": 48},
        model_args={"widths": [12]}, epochs=2, batch_size=32, c=0.05, mus=(0.51, 0.6),
        top_k=3, curve_epochs=2, points=5, grid=3, slq_probes=2, slq_steps=8,
    ),
}


def _configs(p: DemoPreset, device: str) -> dict[str, TrainConfig]:
    base = TrainConfig(model=p.model, model_args=p.model_args, dataset=p.dataset,
                       dataset_args=p.dataset_args, optimizer="sgd", lr=p.lr, epochs=p.epochs,
                       batch_size=p.batch_size, seed=p.seed, device=device)
    runs = {"sgd": base, "sgd_baseline": replace(base, seed=p.baseline_seed)}
    for mu in p.mus:
        runs[f"grda_mu{mu:g}"] = replace(base, optimizer="grda",
                                         optimizer_args={"c": p.c, "mu": mu})
    return runs


def run_demo(
    out: str | Path,
    figures: str | Path,
    *,
    preset: str | DemoPreset = "mnist5k",
    device: str | torch.device = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or answer from the cache) the whole pipeline; return its results.

    Args:
        out: folder of the runs, the curves and the result store (``out/store``).
        figures: folder of the figures.
        preset: a name of :data:`PRESETS` or a :class:`DemoPreset`.
        device: where to train and analyse.
        progress: show progress bars on stderr.
        log: where the step-by-step narration goes.

    Returns:
        ``{"runs", "reports" (mu -> verify report), "spectrum", "features", "plane",
        "figures", "seconds"}``.
    """
    start = time.perf_counter()
    p = PRESETS[preset] if isinstance(preset, str) else preset
    out, figures = Path(out), Path(figures)
    dev = torch.device(device)
    store = Store(out / "store")

    runs: dict[str, Path] = {}
    for label, cfg in _configs(p, str(dev)).items():
        path = out / (run_name(cfg) + (f"_seed{cfg.seed}" if label == "sgd_baseline" else ""))
        done = RunDir(path).last_epoch() == cfg.epochs
        log(f"[train] {label}: {'found' if done else 'training'} {path}")
        if not done:
            train(cfg, path, resume=RunDir(path).exists(), progress=progress)
        runs[label] = path

    fit = CurveFitConfig(epochs=p.curve_epochs, batch_size=p.batch_size, lr=p.lr, seed=p.seed)
    reports: dict[str, Any] = {}
    for mu in p.mus:
        label = f"grda_mu{mu:g}"
        log(f"[verify] SGD vs gRDA mu={mu:g}: Hessian top-{p.top_k}, curve, projections")
        reports[f"{mu:g}"] = verify(store, runs["sgd"], runs[label],
                                    baseline_run=runs["sgd_baseline"], top_k=p.top_k, fit=fit,
                                    points=p.points, thresholds=p.thresholds, device=dev,
                                    progress=progress)

    config = RunDir(runs["sgd"]).read_config()
    dataset = dataset_from_config(config)
    train_set = EvalSet(dataset, "train", batch_size=1000, device=dev)
    test_set = EvalSet(dataset, "test", batch_size=1000, device=dev)
    plane_mu = f"{p.mus[-1]:g}"
    log(f"[plane] {p.grid}x{p.grid} grid through SGD, the bend and gRDA mu={plane_mu}")
    loaded = load_curve(default_curve_dir(runs["sgd"], runs[f"grda_mu{plane_mu}"]), device=dev)
    plane = plane_cached(store, loaded, train_set, test_set, grid=p.grid, margin=p.margin,
                         progress=progress)
    along = along_cached(store, loaded, train_set, test_set, points=p.points)

    sgd_final = RunDir(runs["sgd"]).checkpoint_path(p.epochs)
    log("[spectrum] SLQ spectral density and Hutchinson trace at the SGD minimum")
    spectrum = hessian_spectrum(store, load_checkpoint(sgd_final).build_model(dev), train_set,
                                inputs={"checkpoint": checkpoint_digest(sgd_final)},
                                num_probes=p.slq_probes, num_steps=p.slq_steps,
                                trace_probes=2 * p.slq_steps, progress=progress)

    log("[features] dead units, universality, specialisation, unit norms")
    features = {}
    for label in ("sgd", f"grda_mu{plane_mu}"):
        ckpt = RunDir(runs[label]).checkpoint_path(p.epochs)
        features[label] = stored_feature_statistics(
            store, load_checkpoint(ckpt).build_model(dev), train_set,
            inputs={"checkpoint": checkpoint_digest(ckpt)}, num_classes=dataset.num_classes,
        ).read_all()

    paths = _figures(figures, runs, reports, plane, along, spectrum, features)
    return {
        "dataset": p.dataset,
        "runs": {k: str(v) for k, v in runs.items()},
        "reports": reports,
        "spectrum": {"trace": float(spectrum["trace"]), "key": spectrum.key},
        "features": {k: format_sparsity_table(v) for k, v in features.items()},
        "plane": {"key": plane["key"], "complete": bool(plane["complete"]),
                  "computed": int(plane["computed"])},
        "figures": [str(f) for f in paths],
        "seconds": time.perf_counter() - start,
    }


def _figures(folder: Path, runs, reports, plane, along, spectrum, features) -> list[Path]:
    from landscape.curvature.figures import plot_density
    from landscape.plotting import (
        plot_along,
        plot_plane,
        plot_projection,
        plot_report,
        plot_training,
        plot_universality,
        plot_weight_norms,
        save_figure,
    )

    paths = [
        save_figure(plot_training({k: RunDir(v).read_metrics() for k, v in runs.items()}),
                    folder / "fig3_accuracy_sparsity.png"),
        save_figure(plot_projection({f"gRDA mu={mu}": r["projection"]
                                     for mu, r in reports.items()}),
                    folder / "fig6_projection.png"),
        save_figure(plot_plane(plane), folder / "fig5_plane.png"),
        save_figure(plot_along(along.read_all()), folder / "fig5_along.png"),
        save_figure(plot_density(spectrum.read_all(), title="Hessian at SGD"),
                    folder / "spectrum_density.png"),
        save_figure(plot_universality(features), folder / "features_universality.png"),
        save_figure(plot_weight_norms(features), folder / "features_unit_norms.png"),
    ]
    last = list(reports)[-1]
    paths += plot_report(reports[last], folder / f"report_mu{last}")
    return paths


def format_demo(result: dict[str, Any]) -> str:
    """Terminal summary: one verdict table for all ``mu`` and the last report in full."""
    lines = ["", "=" * 78, f"Directional pruning on {result['dataset']}: SGD vs gRDA, one seed, "
             "one minibatch sequence", "=" * 78,
             f"{'mu':>6}{'acc SGD':>9}{'acc gRDA':>10}{'sparsity':>10}{'barrier':>9}"
             f"{'line':>8}{'share':>10}{'random':>10}  verdict"]
    for mu, r in result["reports"].items():
        runs, c, pr = r["runs"], r["connectivity"], r["projection"]
        lines.append(
            f"{mu:>6}{runs['sgd']['test_acc']:>9.4f}{runs['grda']['test_acc']:>10.4f}"
            f"{runs['grda']['sparsity']:>10.3f}{c['curve_barrier']:>9.4f}"
            f"{c['line_barrier']:>8.3f}{pr['share'][-1]:>10.2e}{pr['random_expected']:>10.2e}"
            f"  {'YES' if r['verdict']['directional_pruning'] else 'no'}"
        )
    last = list(result["reports"])[-1]
    lines += ["", f"Full report for mu={last}:", "", format_report(result["reports"][last]), ""]
    for label, table in result["features"].items():
        lines += [f"Feature sparsity ({label}):", table, ""]
    lines += [f"Hessian trace at the SGD minimum (Hutchinson): {result['spectrum']['trace']:.4g}",
              "", "Figures:"] + [f"  {f}" for f in result["figures"]]
    lines.append(f"\ndone in {result['seconds']:.1f} s")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    quiet = args.json
    result = run_demo(args.out, args.figures, preset=args.preset, device=device,
                      progress=not quiet and sys.stderr.isatty(),
                      log=(lambda s: None) if quiet else (lambda s: print(s, flush=True)))
    if args.json:
        emit_json(result)
    else:
        print(format_demo(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape demo``."""
    p = sub.add_parser("demo", help="the main job end to end on the embedded MNIST digits",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="checkpoints/demo", help="runs, curves and the store")
    p.add_argument("--figures", default="figures/demo", help="where figures are written")
    p.add_argument("--preset", choices=sorted(PRESETS), default="mnist5k")
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_run)
