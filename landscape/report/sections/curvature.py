"""Hessian spectra and the top-k eigenvalues over epochs (Ghorbani et al. 2019).

Reads ``hessian.topk`` entries (per run and epoch) and ``hessian.spectrum`` entries; the
eigenvalue plots are interactive (hover values), each with a static image and the numbers
behind it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from landscape.report.blocks import Content, Figure, Missing, Section, Table
from landscape.report.context import Context, fmt
from landscape.report.figures import line_figure
from landscape.report.gather import Run, StoredEntry
from landscape.report.provenance import join, store_flag
from landscape.report.sections import register

_CITE = "Ghorbani et al. 2019"


def _by_run(ctx: Context) -> dict[Run, dict[int, StoredEntry]]:
    """Run -> epoch -> its ``hessian.topk`` entry (the most common k, train split)."""
    entries = [e for e in ctx.exp.find("hessian.topk") if e.roles.get("checkpoint")]
    if not entries:
        return {}
    k = Counter(int(e.params["k"]) for e in entries).most_common(1)[0][0]
    out: dict[Run, dict[int, StoredEntry]] = {}
    for e in sorted(entries, key=lambda e: e.summary.created_unix):
        point = e.roles["checkpoint"]
        if int(e.params["k"]) == k and point is not None:
            out.setdefault(point.run, {})[point.epoch] = e
    return out


def _over_epochs(ctx: Context, run: Run, by_epoch: dict[int, StoredEntry]) -> Figure:
    epochs = sorted(by_epoch)
    values = [np.asarray(by_epoch[e].read("eigenvalues"), dtype=float) for e in epochs]
    ev = np.vstack(values)
    k = ev.shape[1]
    series = [{"x": epochs, "y": ev[:, i], "name": f"λ{i + 1}",
               "line": {"width": 3 if i == 0 else 1}} for i in range(k)]
    title = f"Top-{k} Hessian eigenvalues of {run.name} per epoch ({_CITE})"
    rows = [[str(e), *[ctx.cite(by_epoch[e], fmt(v)) for v in vals]]
            for e, vals in zip(epochs, values)]
    return Figure(
        caption=f"The {k} largest eigenvalues of the training-loss Hessian at each checkpoint "
                f"of {run.name} (Lanczos on exact Hessian-vector products; {_CITE}); λ1 is "
                "the sharpness. Hover for values; the numbers are below.",
        plotly=line_figure(series, title=title, x_title="epoch", y_title="eigenvalue"),
        alt=title, data=Table(["epoch", *[f"λ{i + 1}" for i in range(k)]], rows))


def _finals(ctx: Context, groups: dict[Run, dict[int, StoredEntry]]) -> Figure | None:
    finals = {run: by[run.final_epoch] for run, by in groups.items()
              if run.final_epoch in by}
    if not finals:
        return None
    values = {run.name: np.asarray(e.read("eigenvalues"), dtype=float)
              for run, e in finals.items()}
    series = [{"x": list(range(1, len(v) + 1)), "y": v, "name": name}
              for name, v in values.items()]
    rows = [[run.name, str(run.final_epoch), *[ctx.cite(e, fmt(v)) for v in values[run.name]],
             ctx.cite(e, fmt(int(np.sum(e.read("converged"))), "d"))]
            for run, e in finals.items()]
    k = max(len(v) for v in values.values())
    title = f"Top-{k} Hessian eigenvalues at the final checkpoints ({_CITE})"
    return Figure(
        caption="The largest Hessian eigenvalues at each run's final checkpoint (Lanczos; "
                f"{_CITE}): a sharper minimum has larger ones. Hover for values; the "
                "numbers are below.",
        plotly=line_figure(series, title=title, x_title="index i", y_title="eigenvalue"),
        alt=title, data=Table(["run", "epoch", *[f"λ{i + 1}" for i in range(k)],
                               "converged"], rows))


def _spectrum(ctx: Context, e: StoredEntry) -> Figure:
    from landscape.plotting import plot_density

    point = e.roles["checkpoint"]
    grid = np.asarray(e.read("grid"), dtype=float)
    density = np.asarray(e.read("density"), dtype=float)
    sigma = float(e.read("sigma"))
    fields = set(e.entry.keys())
    title = f"Hessian spectral density at {point} (SLQ; {_CITE})"
    shown = np.where(density >= 1e-10, density, np.nan)
    rows = [["trace (Hutchinson)", ctx.cite(e, fmt(float(e.read("trace"))) + " ± " + fmt(
        float(e.read("trace_stderr")), ".2g")) if "trace" in fields else "-"],
            ["trace (SLQ)", ctx.cite(e, fmt(float(e.read("slq_trace"))))],
            ["Ritz values", ctx.cite(e, f"[{fmt(float(np.min(e.read('nodes'))))}, "
                                        f"{fmt(float(np.max(e.read('nodes'))))}]")],
            ["broadening sigma", ctx.cite(e, fmt(sigma, ".3g"))]]
    return Figure(
        caption=f"Spectral density of the training-loss Hessian at {point} by stochastic "
                f"Lanczos quadrature ({_CITE}; Papyan 2020), Gaussian-broadened with sigma "
                f"= {sigma:.2g}; log scale, densities below 1e-10 not drawn. Hover for values.",
        png=ctx.static(plot_density, {"grid": grid, "density": density, "sigma": sigma},
                       title=f"Hessian spectral density, {point}"),
        plotly=line_figure([{"x": grid, "y": shown, "name": "density", "mode": "lines"}],
                           title=title, x_title="eigenvalue", y_title="density", log_y=True),
        alt=title, data=Table(["quantity", "value"], rows))


def _missing(ctx: Context, groups: dict[Run, dict[int, StoredEntry]]) -> list[Missing]:
    exp, out = ctx.exp, []
    ks = [int(e.params["k"]) for by in groups.values() for e in by.values()]
    k = ks[0] if ks else 10
    cached = [e for e in exp.find("hessian.spectrum") if e.roles.get("checkpoint")]
    spectra = {e.roles["checkpoint"].run for e in cached}
    like = []  # a missing spectrum is asked like the cached ones
    if cached:
        p = cached[0].params
        like = ["--probes", p["num_probes"], "--steps", p["num_steps"], "--trace-probes",
                p["trace_probes"]]
    for run in exp.runs:
        final = run.final_epoch
        if final is None:
            continue
        have = groups.get(run, {})
        if final not in have:
            out.append(Missing(f"top-{k} Hessian eigenvalues at {run.name} epoch {final}",
                               join("landscape", "hessian", run.path, "--top-k", k,
                                    *store_flag(exp))))
        todo = [e for e in range(1, final + 1) if e not in have]
        if len([e for e in have if e > 0]) < 2 and todo and final > 1:
            out.append(Missing(f"top-{k} eigenvalues of {run.name} over epochs (missing "
                               f"{', '.join(map(str, todo))}), with the trace",
                               join("landscape", "sharpness", run.path, "--top-k", k,
                                    *store_flag(exp))))
        if run.optimizer == "sgd" and run not in spectra:
            out.append(Missing(f"Hessian spectral density at {run.name} epoch {final}",
                               join("landscape", "spectrum", run.path, *like,
                                    *store_flag(exp))))
    return out


def build(ctx: Context) -> Content:
    """Top-k over epochs per run, at the final checkpoints, and the spectra."""
    groups = _by_run(ctx)
    blocks: list[Any] = [_over_epochs(ctx, run, by) for run, by in groups.items()
                         if len([e for e in by if e > 0]) >= 2]
    finals = _finals(ctx, groups)
    if finals is not None:
        blocks.append(finals)
    blocks += [_spectrum(ctx, e) for e in ctx.exp.find("hessian.spectrum")
               if e.roles.get("checkpoint")]
    return Content(blocks=blocks, missing=_missing(ctx, groups))


SECTION = register(Section("curvature", "Hessian spectra and top-k eigenvalues", build))
