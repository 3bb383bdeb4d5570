"""Surface figures: every axis says what it is, titles and colorbars are set, marks are named."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from landscape.plotting import plot_surface_3d, plot_surface_contours, plot_surface_line


def plane(method: str = "minima", **extra):
    x, y = np.linspace(-0.5, 1.5, 9), np.linspace(-1.0, 1.0, 7)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    loss = 0.1 + (xx - 1.0) ** 2 * xx**2 + 3 * yy**2  # minima at x = 0 and x = 1
    return {"x": x, "y": y, "method": method, "train_loss": loss, "test_loss": loss + 0.05,
            "train_error": np.clip(loss / 10, 0, 1), "test_error": np.clip(loss / 9, 0, 1),
            "axis_labels": ["w_gRDA − w_SGD (units of ‖δ‖ = 2.5)",
                            "top Hessian eigenvector at w_SGD, ⊥ δ (units of ‖δ‖)"],
            "marks": {"SGD": [0.0, 0.0], "gRDA": [1.0, 0.0]}, **extra}


def legend_texts(fig):
    """The entries of the figure's legend (drawn below the axes, outside the data)."""
    assert all(ax.get_legend() is None for ax in fig.axes)  # no legend on the data
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_contours_title_labels_colorbar_and_named_marks(tmp_path):
    fig = plot_surface_contours(plane(), "train_loss", subject="lenet300_100, mu = 0.51",
                                equal_aspect=True, path=tmp_path / "plane.png")
    ax, bar = fig.axes[0], fig.axes[1]
    assert "train loss" in ax.get_title() and "lenet300_100, mu = 0.51" in ax.get_title()
    assert ax.get_xlabel().startswith("w_gRDA − w_SGD (units of ‖δ‖")
    assert ax.get_ylabel().startswith("top Hessian eigenvector")
    assert legend_texts(fig) == ["SGD", "gRDA"]
    assert "(Chao et al. 2020)" in ax.get_title().replace("\n", " ")
    assert bar.get_ylabel() == "train loss"
    assert (tmp_path / "plane.png").stat().st_size > 0


def test_contours_draw_the_trajectory_of_a_pca_plane():
    surface = plane("pca", path=np.array([[1.2, 0.5], [0.6, 0.2], [0.0, 0.0]]),
                    path_labels=["epoch 0", "epoch 5", "epoch 10"], marks={"final": [0, 0]},
                    axis_labels=["PC 1 (91.0% of variance)", "PC 2 (6.5% of variance)"])
    fig = plot_surface_contours(surface, "test_error")
    ax = fig.axes[0]
    assert legend_texts(fig) == ["trajectory (epoch 0 → epoch 10)", "final"]
    assert ax.get_xlabel() == "PC 1 (91.0% of variance)"
    assert "trajectory PCA plane" in ax.get_title()
    assert fig.axes[1].get_ylabel() == "test error (fraction)"
    plt.close(fig)


def test_contours_without_marks_have_no_legend():
    surface = plane("random", marks={}, axis_labels=["filter-normalised random direction 1",
                                                     "filter-normalised random direction 2"])
    fig = plot_surface_contours(surface)
    assert legend_texts(fig) == []
    assert fig.axes[0].get_ylabel() == "filter-normalised random direction 2"
    plt.close(fig)


def test_line_has_loss_and_error_panels_with_marks():
    x = np.linspace(-0.25, 1.25, 7)
    surface = {"x": x, "method": "points", "train_loss": x**2, "test_loss": x**2 + 0.1,
               "train_error": x / 10, "test_error": x / 8,
               "axis_labels": ["SGD − init (0 at init, 1 at SGD; ‖SGD − init‖ = 9.1)"],
               "marks": {"init": [0.0], "SGD": [1.0]}}
    fig = plot_surface_line(surface, subject="basicnet")
    loss_ax, err_ax = fig.axes
    assert "basicnet" in fig.get_suptitle() and "Goodfellow et al. 2015" in fig.get_suptitle()
    for ax in (loss_ax, err_ax):
        assert ax.get_xlabel().startswith("SGD − init")
    assert legend_texts(fig) == ["train", "test", "init", "SGD"]  # each entry once
    assert loss_ax.get_ylabel() == "loss" and err_ax.get_ylabel() == "error (fraction)"
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), x**2)
    plt.close(fig)


def test_3d_surface_labels_and_marks():
    fig = plot_surface_3d(plane(), "train_loss", subject="SGD epoch 20")
    ax = fig.axes[0]
    assert ax.get_zlabel() == "train loss" and ax.get_xlabel().startswith("w_gRDA")
    assert "SGD epoch 20" in fig.get_suptitle()
    assert legend_texts(fig) == ["SGD (nearest grid point)", "gRDA (nearest grid point)"]
    assert fig.axes[1].get_ylabel() == "train loss"
    plt.close(fig)


def test_missing_field_is_a_key_error():
    with pytest.raises(KeyError):
        plot_surface_contours(plane(), "train_accuracy")


def test_every_surface_figure_explains_itself():
    """Titles citing the paper, labelled axes and colour bar, the legend off the data."""
    from figure_checks import problems

    x = np.linspace(-0.25, 1.25, 7)
    line = {"x": x, "method": "points", "train_loss": x**2, "test_error": x / 8,
            "axis_labels": ["B − A (0 at A, 1 at B)"], "marks": {"A": [0.0], "B": [1.0]}}
    pca = plane("pca", path=np.array([[1.2, 0.5], [0.6, 0.2], [0.0, 0.0]]),
                path_labels=["0", "5", "10"], marks={"final": [0, 0]})
    figures = {"line": plot_surface_line(line, subject="a very long name of a checkpoint"),
               "contours": plot_surface_contours(plane(), subject="SGD", equal_aspect=True),
               "pca": plot_surface_contours(pca, "test_error"),
               "3d": plot_surface_3d(plane(), subject="SGD")}
    assert {k: problems(f) for k, f in figures.items()} == {k: [] for k in figures}
    plt.close("all")
