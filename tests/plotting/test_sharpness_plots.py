"""The curvature figures explain themselves (title citing a paper, labelled axes, legends off
the data) and draw what they are given."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from landscape.plotting import plot_projection
from landscape.plotting.sharpness import (
    plot_curve_hessian,
    plot_flatness,
    plot_sharpness,
    plot_subspaces,
)
from tests.plotting.figure_checks import problems


def _run(scale: float, sgd: bool) -> dict:
    epochs = [0, 1, 2, 3]
    return {"run": "r", "optimizer": "sgd" if sgd else "grda", "epochs": epochs,
            "lambda_max": [scale * (1 + e) for e in epochs],
            "lambda_k": [0.3 * scale * (1 + e) for e in epochs],
            "eigenvalues": [[scale * (1 + e), 0.3 * scale * (1 + e)] for e in epochs],
            "stability_limit": [20.0] * 4 if sgd else [None] * 4, "lr": [0.1] * 4,
            "loss": [2.0, 1.0, 0.5, 0.3], "trace": [5.0 * scale * (1 + e) for e in epochs],
            "trace_stderr": [0.5] * 4, "gradient_share": [0.2, 0.5, 0.6, 0.7],
            "overlap_previous": [None, 0.4, 0.6, 0.8]}


def test_sharpness_over_training_figure():
    result = {"top_k": 2, "random_expected": 1e-3,
              "runs": {"sgd": _run(1.0, True), "grda": _run(2.0, False)}}
    fig = plot_sharpness(result)
    assert problems(fig) == []
    sharp = fig.axes[0]
    limits = [line for line in sharp.get_lines() if line.get_linestyle() == ":"]
    assert len(limits) == 1 and list(limits[0].get_ydata()) == [20.0] * 4  # SGD only
    assert "Cohen et al. 2021" in fig._suptitle.get_text()
    plt.close(fig)


def test_curvature_along_the_curve_figure():
    t = np.linspace(0, 1, 5)
    part = {"eigenvalues": np.stack([3 + t, 2 + t, 1 + t], 1), "loss": 0.1 + t * (1 - t)}
    fig = plot_curve_hessian({"t": t, "k": 3, "curve": part, "line": part},
                             ends=("sgd epoch 8", "grda epoch 8"))
    assert problems(fig) == []
    assert "t = 0: sgd epoch 8, t = 1: grda epoch 8" in fig._suptitle.get_text()
    assert len(fig.axes[0].get_lines()) >= 6  # three eigenvalues on each path
    plt.close(fig)


def test_flatness_and_subspace_figures():
    rows = [{"label": f"net {i}", "lambda_max": 1.0 + i, "trace": 10.0 + i,
             "epsilon_sharpness": 0.5 * i, "direction_increase": 0.01 * (i + 1),
             "epsilon": 1e-3, "steps": 10, "distance": 0.1} for i in range(3)]
    fig = plot_flatness(rows)
    assert problems(fig) == []
    plt.close(fig)
    proj = {"epochs": [1, 2, 3], "share": [1e-3, 2e-3, 3e-3], "random_expected": 1e-4,
            "baseline_share": None, "top_k": 2, "gradient_share": [0.3, 0.5, 0.6],
            "overlap_previous": [None, 0.7, 0.9],
            "minima": {"epoch": 3, "overlap": 0.4, "angles": [0.1, 1.0],
                       "random_expected": 1e-4}}
    for fig in (plot_subspaces({"gRDA": proj}), plot_projection({"gRDA": proj})):
        assert problems(fig) == []
        assert not any(math.isnan(y) for line in fig.axes[-1].get_lines()[:1]
                       for y in line.get_ydata())
        plt.close(fig)
    fig = plot_projection({"gRDA": {k: v for k, v in proj.items() if k not in (
        "gradient_share", "overlap_previous", "minima")}})
    assert len(fig.axes) == 1  # older results: the share panel alone
    plt.close(fig)
