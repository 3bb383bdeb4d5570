"""Every figure the demo and the commands write explains itself (title citing its paper,
labelled axes and colour bars, legends off the data), checked with matplotlib's own layout."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from landscape.demo import run_demo
from landscape.experiment.runs import find_runs
from landscape.plotting import (
    plot_density,
    plot_sparsity_table,
    plot_specialisation,
    plot_topk,
    plot_tradeoff,
    plot_training,
    plot_weight_norms,
)
from landscape.plotting.curvature import plot_topk_epochs
from landscape.pruning import tradeoff_points
from landscape.rundir import RunDir
from landscape.stats import sparsity_rows
from landscape.store import Store
from tests.plotting.figure_checks import problems, record_figures


@pytest.fixture(scope="module")
def demo_figures(tiny_demo, tmp_path_factory):
    """Every figure the (cached) tiny demo saves, checked as it is saved: ``{name: problems}``."""
    root, _ = tiny_demo
    with pytest.MonkeyPatch.context() as mp:
        found = record_figures(mp, tmp_path_factory.mktemp("figure_cache"))
        mp.setenv("LANDSCAPE_REPORT_WORKERS", "1")  # the page's figures drawn (and checked) here
        result = run_demo(root / "out", tmp_path_factory.mktemp("figures"), preset="tiny",
                          progress=False, log=lambda s: None)
    return found, result


def test_every_demo_figure_explains_itself(demo_figures):
    found, result = demo_figures
    assert len(found) >= len(result["figures"]) >= 9
    assert sum(name.startswith("embedded") for name in found) >= 6  # the report's figures
    assert {n: p for n, p in found.items() if p} == {}


def test_demo_figures_are_named_after_what_they_show(demo_figures):
    _, result = demo_figures
    names = [Path(f).name for f in result["figures"]]
    assert not [n for n in names if re.match(r"fig\d", n)], names
    assert {"training_accuracy_sparsity.png", "projection_share_topk.png",
            "plane_sgd_grda_mu0.6.png", "along_sgd_grda_mu0.6.png",
            "hessian_density_sgd.png"} <= set(names)


def test_figures_the_commands_write_explain_themselves(tiny_demo):
    root, _ = tiny_demo
    runs = find_runs([root / "out"])
    store = Store(root / "out" / "store", readonly=True)
    entries = {s.name: Store.get(store, s.key) for s in store.entries()}
    stats = entries["features"].read_all()
    figures = {
        "tradeoff": plot_tradeoff(tradeoff_points(runs)),
        "topk": plot_topk(entries["hessian.topk"].read_all(), title="top-3 at SGD"),
        "topk over epochs": plot_topk_epochs([1, 2], [[3.0, 2.0, 1.0], [2.5, 1.5, 0.5]]),
        "density": plot_density(entries["hessian.spectrum"].read_all()),
        "specialisation": plot_specialisation(stats),
        "sparsity table": plot_sparsity_table(sparsity_rows(stats)),
        "unit norms, two runs": plot_weight_norms({"a": stats, "b": stats}),
    }
    assert {name: problems(fig) for name, fig in figures.items()} == {n: [] for n in figures}
    plt.close("all")


def test_accuracy_axis_shows_a_one_point_gap_and_equal_runs_stay_apart(tiny_demo):
    _, result = tiny_demo
    metrics = {k: RunDir(v).read_metrics() for k, v in result["runs"].items()}
    fig = plot_training(metrics)
    acc, zeros = fig.axes[0], fig.axes[1]
    trained = [100 * r["test_acc"] for rows in metrics.values() for r in rows if r["epoch"] > 0]
    lo, hi = acc.get_ylim()
    # the axis spans the trained accuracies (not chance at epoch 0) with a small margin
    assert hi - lo <= 1.4 * max(max(trained) - min(trained), 0.5)
    styles = {(line.get_marker(), line.get_linestyle(), line.get_markerfacecolor() == "none")
              for line in zeros.get_lines()}
    assert len(styles) == len(metrics)  # the two SGD runs (both at 0 zeros) differ in style
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert all("% acc" in label for label in labels)  # final values named in the legend
    plt.close(fig)


def test_density_floor_is_not_drawn_as_data():
    grid = np.linspace(-1, 5, 200)
    density = np.exp(-((grid - 4) ** 2) / 0.01)  # ~0 over most of the grid
    fig = plot_density({"grid": grid, "density": density, "sigma": 0.1}, floor=1e-10)
    y = fig.axes[0].get_lines()[0].get_ydata()
    drawn = np.asarray(y, dtype=float)[np.isfinite(y)]
    assert drawn.min() >= 1e-10 and np.isnan(y).sum() == int((density < 1e-10).sum()) > 0
    plt.close(fig)


def test_unit_norms_fill_their_x_range():
    edges = np.logspace(-12, 2, 57)
    counts = np.zeros(56)
    counts[44:47] = [3, 10, 2]  # norms between ~0.1 and ~1
    stats = {"order": ["fc"], "layers": {"fc": {"norm_hist": counts}}, "edges": {"norm": edges}}
    fig = plot_weight_norms(stats)
    lo, hi = fig.axes[0].get_xlim()
    occupied = np.log10(edges[47] / edges[44])
    assert occupied / np.log10(hi / lo) >= 0.3  # not 80% of the axis empty
    plt.close(fig)
