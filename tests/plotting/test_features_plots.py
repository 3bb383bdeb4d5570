"""Feature-statistics figures draw from cached arrays, alone or comparing runs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from landscape.data import EvalSet
from landscape.plotting import (
    plot_sparsity_table,
    plot_specialisation,
    plot_universality,
    plot_weight_norms,
    save_figure,
)
from landscape.stats import feature_statistics, sparsity_rows


@pytest.fixture(scope="module")
def stats():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU(),
                        nn.Linear(4, 2))
    with torch.no_grad():
        net[1].weight[0] = 0.0
        net[3].weight[1] = 0.0
    data = EvalSet.from_tensors(torch.randn(20, 3), torch.arange(20) % 2, batch_size=8)
    return feature_statistics(net, data, num_classes=2)


def test_histograms_show_the_cached_fractions(stats):
    fig = plot_universality(stats)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    counts = stats["layers"]["2"]["universality_hist"]
    np.testing.assert_allclose(heights, counts / counts.sum())
    assert ax.get_title() == "layer 2" and len(fig.axes) == 2
    plt.close(fig)
    fig = plot_weight_norms(stats)
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)


def test_comparison_of_runs_and_saving(stats, tmp_path):
    runs = {"adam": stats, "sgd": stats}
    fig = plot_specialisation(runs, layers=["4"])
    assert len(fig.axes[0].patches) == 2 * 20
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["adam", "sgd"]  # below the panels
    path = save_figure(fig, tmp_path / "spec.png")
    assert path.stat().st_size > 0
    fig = plot_sparsity_table({label: sparsity_rows(st) for label, st in runs.items()})
    table = fig.axes[0].tables[0]
    assert table[0, 1].get_text().get_text() == "adam: % by act"
    assert table[1, 2].get_text().get_text() == "17"  # 1 of 6 gammas is zero
    assert table[2, 2].get_text().get_text() == "-"   # no BatchNorm feeds the second ReLU
    plt.close(fig)


def test_one_table_in_percent_from_fractions(stats):
    fig = plot_sparsity_table(sparsity_rows(stats))
    table = fig.axes[0].tables[0]
    assert table[0, 1].get_text().get_text() == "% by act"
    assert table[1, 2].get_text().get_text() == "17"  # the fraction 1/6, shown in percent
    plt.close(fig)


def test_bad_input_is_refused(stats):
    with pytest.raises(ValueError, match="expected feature statistics"):
        plot_universality({"a": 1})
    with pytest.raises(ValueError, match="expected the rows of landscape.stats.sparsity_rows"):
        plot_sparsity_table(stats)  # the statistics themselves, not their rows
