"""``landscape demo``: the main job of the suite, end to end, on the embedded MNIST digits.

From nothing, on the CPU: train SGD, a second SGD from another seed (a baseline) and gRDA at
several ``mu`` from one seed on ``mnist5k``; compute top-k Hessian eigenpairs, fit a quadratic
Bezier curve from SGD's minimum to each gRDA minimum and evaluate it and the straight line,
fit and evaluate the same between the two SGD runs as a control (the straight line between
two SGD seeds rises: the instrument sees barriers), evaluate a plane, project
``w_gRDA - w_SGD`` on the top-k eigenspace epoch by epoch, compute the spectrum, two loss
surfaces at the SGD minimum (a filter-normalised random plane and the plane of
``w_gRDA - w_SGD`` and the top eigenvector) and the feature statistics; write everything
to the result store and the figures to a folder, and print the directional-pruning verdict for
every ``mu``.

Every step reuses what exists: finished runs are not retrained, fitted curves are not refitted
and every analysis answers from the store, so a second demo computes nothing. The analyses use
the command line's defaults (and the spectrum the flags :func:`spectrum_command` prints), so
the README's commands on the demo's runs answer from the demo's store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from landscape._demo_text import format_demo
from landscape.experiment.curvature import hessian_spectrum
from landscape.experiment.curves import CurveFitConfig, along_cached, load_curve, plane_cached
from landscape.experiment.features import feature_statistics_cached
from landscape.experiment.subject import DataOptions, resolve_subject
from landscape.experiment.surface import pruning_surfaces
from landscape.rundir import RunDir
from landscape.stats import format_sparsity_table
from landscape.store import Store
from landscape.train import TrainConfig, run_name, train
from landscape.verify import Thresholds, default_curve_dir, verify

__all__ = ["PRESETS", "DemoPreset", "format_demo", "run_demo", "spectrum_command"]


@dataclass(frozen=True)
class DemoPreset:
    """Everything the demo does, in one place (rerun any step with the CLI and these values).

    The curve fit, the curve points, the plane and the top-k are the defaults of ``landscape
    curve fit``, ``curve eval``, ``curve plane``, ``hessian``/``project`` and ``verify``; the
    spectrum is cheaper than ``landscape spectrum``'s defaults (see :func:`spectrum_command`).
    """

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
    curve: CurveFitConfig = field(default_factory=CurveFitConfig)
    points: int = 61
    grid: int = 21
    margin: float = 0.2
    slq_probes: int = 4
    slq_steps: int = 40
    trace_probes: int = 80
    surface_grid: int = 21
    sharpness_probes: int = 10
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
        top_k=3, curve=CurveFitConfig(epochs=2, batch_size=32), points=5, grid=3,
        slq_probes=2, slq_steps=8, trace_probes=16, surface_grid=5, sharpness_probes=4,
    ),
}


def spectrum_command(run: str | Path, preset: str | DemoPreset = "mnist5k") -> str:
    """The ``landscape spectrum`` command that answers from the demo's spectrum entry."""
    p = PRESETS[preset] if isinstance(preset, str) else preset
    return (f"landscape spectrum {run} --probes {p.slq_probes} --steps {p.slq_steps} "
            f"--trace-probes {p.trace_probes}")


def _configs(p: DemoPreset, device: str) -> dict[str, TrainConfig]:
    base = TrainConfig(model=p.model, model_args=p.model_args, dataset=p.dataset,
                       dataset_args=p.dataset_args, optimizer="sgd", lr=p.lr, epochs=p.epochs,
                       batch_size=p.batch_size, seed=p.seed, device=device)
    runs = {"sgd": base, "sgd_baseline": replace(base, seed=p.baseline_seed)}
    for mu in p.mus:
        runs[f"grda_mu{mu:g}"] = replace(base, optimizer="grda",
                                         optimizer_args={"c": p.c, "mu": mu})
    return runs


class _Tally:
    """The store, counting the entries it answers and computes (for the stage lines)."""

    def __init__(self, store: Store) -> None:
        self.store, self.found, self.computed = store, 0, 0

    def get_or_compute(self, *args: Any, **kwargs: Any) -> Any:
        entry = self.store.get_or_compute(*args, **kwargs)
        if getattr(entry, "cached", False):
            self.found += 1
        else:
            self.computed += 1
        return entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@contextmanager
def _stage(log: Callable[[str], None], tally: _Tally, tag: str, start: str
           ) -> Iterator[dict[str, str]]:
    """Log ``[tag] start``, run the body, then ``[tag]`` what it computed and found."""
    log(f"[{tag}] {start}")
    before, began = (tally.computed, tally.found), time.perf_counter()
    out: dict[str, str] = {}
    yield out
    computed, found = tally.computed - before[0], tally.found - before[1]
    done = out.get("done") or (
        f"computed {computed} result(s), {found} from the store" if computed
        else f"{found} result(s) from the store" if found else "done")
    result = out.get("result")
    log(f"[{tag}] {done} in {time.perf_counter() - began:.1f} s"
        + (f": {result}" if result else ""))


def _fitted(folder: Path) -> bool:
    run = RunDir(folder)
    return run.exists() and run.last_epoch() == run.read_config().get("epochs")


def _metrics_line(path: Path) -> str:
    last = RunDir(path).read_metrics()[-1]
    return (f"test acc {100 * last['test_acc']:.2f}%, "
            f"{100 * last['sparsity']['global']:.1f}% zeros")


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
        progress: show progress bars on stderr (inside every stage).
        log: where the step-by-step narration goes (a line when each stage starts and one
            with what it computed or found).

    Returns:
        ``{"dataset", "runs", "reports" (mu -> verify report, with the SGD-vs-SGD
        ``control``), "control", "spectrum", "features", "plane", "figures", "seconds"}``.
    """
    start = time.perf_counter()
    p = PRESETS[preset] if isinstance(preset, str) else preset
    out, figures = Path(out), Path(figures)
    dev = torch.device(device)
    store = _Tally(Store(out / "store"))

    runs: dict[str, Path] = {}
    for label, cfg in _configs(p, str(dev)).items():
        path = out / (run_name(cfg) + (f"_seed{cfg.seed}" if label == "sgd_baseline" else ""))
        done = RunDir(path).last_epoch() == cfg.epochs
        with _stage(log, store, f"train {label}", f"seed {cfg.seed}, {cfg.epochs} epochs "
                    f"-> {path}") as st:
            if not done:
                train(cfg, path, resume=RunDir(path).exists(), progress=progress)
            st["done"] = "found finished" if done else "trained"
            st["result"] = _metrics_line(path)
        runs[label] = path

    reports: dict[str, Any] = {}
    for mu in p.mus:
        label = f"grda_mu{mu:g}"
        curves = [default_curve_dir(runs["sgd"], runs[label]),
                  default_curve_dir(runs["sgd"], runs["sgd_baseline"])]
        to_fit = [c.name for c in curves if not _fitted(c)]
        with _stage(log, store, f"verify mu={mu:g}",
                    f"SGD vs gRDA: Hessian top-{p.top_k}, projections per epoch, curve and "
                    "line (and the SGD-vs-SGD control)"
                    + (f"; fitting {', '.join(to_fit)}" if to_fit else "")) as st:
            r = verify(store, runs["sgd"], runs[label], baseline_run=runs["sgd_baseline"],
                       top_k=p.top_k, fit=p.curve, points=p.points, thresholds=p.thresholds,
                       device=dev, progress=progress)
            c, v = r["connectivity"], r["verdict"]
            st["result"] = (f"barrier curve {c['curve_barrier']:.3f}, line "
                            f"{c['line_barrier']:.3f}; "
                            + next(row["finding"] for row in v["criteria"]
                                   if row["name"] == "flat_directions")
                            + f"; verdict {'YES' if v['directional_pruning'] else 'no'}")
        reports[f"{mu:g}"] = r

    sgd_final = RunDir(runs["sgd"]).checkpoint_path(p.epochs)
    # one subject for the plane's data, the spectrum and SGD's features: its data (the run's,
    # batches of 1000) are identified at once and made only if something is computed
    sgd_subject = resolve_subject(sgd_final, data=DataOptions(device=dev),
                                  splits=("train", "test"))
    train_set, test_set = sgd_subject.split("train"), sgd_subject.split("test")
    plane_mu = f"{p.mus[-1]:g}"
    with _stage(log, store, "plane", f"{p.grid}x{p.grid} grid through SGD, the bend and gRDA "
                f"mu={plane_mu}") as st:
        loaded = load_curve(default_curve_dir(runs["sgd"], runs[f"grda_mu{plane_mu}"]),
                            device=dev)
        plane = plane_cached(store, loaded, train_set, test_set, grid=p.grid, margin=p.margin,
                             progress=progress)
        along = along_cached(store, loaded, train_set, test_set, points=p.points)
        st["done"] = (f"computed {plane['computed']} of {p.grid ** 2} points"
                      if plane["computed"] else "found in the store")
        st["result"] = f"min train loss {float(plane['train_loss'].min()):.4g}"

    with _stage(log, store, "spectrum", "SLQ spectral density and Hutchinson trace at the "
                "SGD minimum") as st:
        spectrum = hessian_spectrum(store, sgd_subject, num_probes=p.slq_probes,
                                    num_steps=p.slq_steps, trace_probes=p.trace_probes,
                                    progress=progress)
        st["result"] = f"trace {float(spectrum['trace']):.4g}"

    g = p.surface_grid
    with _stage(log, store, "surfaces", f"filter-normalised random {g}x{g} surface at SGD and "
                f"the minima plane of gRDA mu={plane_mu}") as st:
        surfaces = pruning_surfaces(
            store, sgd_final, RunDir(runs[f"grda_mu{plane_mu}"]).checkpoint_path(p.epochs),
            grid=g, top_k=p.top_k, device=dev, progress=progress)
        n = surfaces["computed"]
        st["done"] = f"computed {n} of {2 * g * g} points" if n else "found in the store"
        st["result"] = (f"train loss {surfaces['summary']['grda_loss']:.4g} at gRDA vs "
                        f"{surfaces['summary']['sgd_loss']:.4g} at SGD")

    features = {}
    for label in ("sgd", f"grda_mu{plane_mu}"):
        with _stage(log, store, f"features {label}", "dead units, universality, "
                    "specialisation, unit norms"):
            ckpt = RunDir(runs[label]).checkpoint_path(p.epochs)
            subject = (sgd_subject if label == "sgd"
                       else resolve_subject(ckpt, data=DataOptions(device=dev)))
            features[label] = feature_statistics_cached(store, subject,
                                                        progress=progress).stats

    with _stage(log, store, "curvature", f"top-{p.top_k} eigenvalues, trace and gradient "
                f"share at every epoch of SGD and gRDA mu={plane_mu}; along their curve") as st:
        curvature = _curvature(store, runs, plane_mu, loaded, train_set, p, dev, progress)
        st["result"] = ", ".join(f"{k} lambda_max {v['lambda_max'][0]:.3g} -> "
                                 f"{v['lambda_max'][-1]:.3g}" for k, v in
                                 curvature["summary"].items() if k != "along")

    with _stage(log, store, "figures", f"into {figures}") as st:
        paths = _figures(figures, runs, reports, plane, along, spectrum, features, surfaces,
                         curvature)
        st["done"] = f"wrote {len(paths)} figures"
    with _stage(log, store, "report", "one HTML page of the experiment, from the store") as st:
        page = write_demo_report(out, figures / "report.html")
        st["done"] = f"wrote {page}"
    control = reports[f"{p.mus[0]:g}"]["control"]
    return {
        "dataset": p.dataset,
        "runs": {k: str(v) for k, v in runs.items()},
        "reports": reports,
        "control": {k: control[k] for k in ("curve_dir", "curve_barrier", "line_barrier")},
        "spectrum": {"trace": float(spectrum["trace"]), "key": spectrum.key},
        "features": {k: format_sparsity_table(v) for k, v in features.items()},
        "plane": {"key": plane["key"], "complete": bool(plane["complete"]),
                  "computed": int(plane["computed"])},
        "surfaces": {"mu": plane_mu, **surfaces["summary"], "computed": surfaces["computed"],
                     "keys": [surfaces[k]["key"] for k in ("random", "minima")]},
        "curvature": curvature["summary"],
        "figures": [str(f) for f in paths],
        "report": str(page),
        "seconds": time.perf_counter() - start,
    }


def write_demo_report(out: Path, path: Path) -> Path:
    """``landscape report out --out path``: the demo's page, built from its store alone."""
    from landscape.report import build_report, write_report

    return write_report(build_report(out), path)


def _curvature(store, runs, mu, loaded, train_set, p: DemoPreset, dev, progress) -> dict:
    """Sharpness over training (SGD and gRDA at ``mu``) and along their curve (verify's entry)."""
    from landscape.experiment.curvehessian import pruning_curvature
    from landscape.verify.evidence import CURVE_HESSIAN

    return pruning_curvature(store, runs["sgd"], runs[f"grda_mu{mu}"], loaded, train_set,
                             top_k=p.top_k, trace_probes=p.sharpness_probes,
                             along=CURVE_HESSIAN, device=dev, progress=progress)


def _figures(folder: Path, runs, reports, plane, along, spectrum, features,
             surfaces=None, curvature=None) -> list[Path]:
    from landscape.plotting import (
        plot_along,
        plot_density,
        plot_plane,
        plot_projection,
        plot_report,
        plot_training,
        plot_universality,
        plot_weight_norms,
    )
    from landscape.plotting._cache import save_plot

    mu = list(reports)[-1]  # the plane and the report are drawn for the last mu
    ends = ("SGD", f"gRDA mu={mu}")
    # save_plot draws a figure only when its numbers (or the drawing code) changed
    paths = [
        save_plot(folder / "training_accuracy_sparsity.png", plot_training,
                  {k: RunDir(v).read_metrics() for k, v in runs.items()}),
        save_plot(folder / "projection_share_topk.png", plot_projection,
                  {f"gRDA mu={m}": r["projection"] for m, r in reports.items()}),
        save_plot(folder / f"plane_sgd_grda_mu{mu}.png", plot_plane, plane, names=ends),
        save_plot(folder / f"along_sgd_grda_mu{mu}.png", plot_along, along.read_all(),
                  names=ends),
        save_plot(folder / "hessian_density_sgd.png", plot_density, spectrum.read_all(),
                  title="Hessian spectral density at SGD"),
        save_plot(folder / "features_universality.png", plot_universality, features),
        save_plot(folder / "features_unit_norms.png", plot_weight_norms, features),
    ]
    paths += plot_report(reports[mu], folder / f"verify_mu{mu}")
    if surfaces is not None:
        from landscape.plotting.surface import write_surface_figures

        paths += write_surface_figures(surfaces["random"], folder, "surface_random_sgd",
                                       subject="SGD", fields=("train_loss",))
        paths += write_surface_figures(surfaces["minima"], folder,
                                       f"surface_minima_sgd_grda_mu{mu}",
                                       subject=f"SGD and gRDA mu={mu}", fields=("train_loss",),
                                       three_d=False)
    if curvature is not None:
        from landscape.plotting.sharpness import plot_curve_hessian, plot_sharpness

        paths += [save_plot(folder / f"sharpness_sgd_grda_mu{mu}.png", plot_sharpness,
                            curvature["sharpness"]),
                  save_plot(folder / f"curve_hessian_sgd_grda_mu{mu}.png", plot_curve_hessian,
                            curvature["along"], ends=ends)]
    return paths
