import numpy as np
import pytest
from surface_helpers import params_of, tiny_mlp

from landscape.evaluation import MemoryGrid
from landscape.surface import (
    SurfaceEvaluator,
    points_directions,
    random_directions,
    run_surface,
    surface_axes,
    surface_layout,
)


class Interrupted(RuntimeError):
    pass


class FailingGrid(MemoryGrid):
    """A sink that dies (like a killed process) on its ``fail_after + 1``-th write."""

    def __init__(self, shape, fields, fail_after: int):
        super().__init__(shape, fields)
        self.left = fail_after

    def write(self, index, **values):
        if self.left == 0:
            raise Interrupted("killed")
        self.left -= 1
        super().write(index, **values)


def test_surface_axes():
    x, y = surface_axes((5, 3), (-1.0, 1.0, 0.0, 2.0))
    assert x.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0] and y.tolist() == [0.0, 1.0, 2.0]
    (line,) = surface_axes(3, (0, 1))
    assert line.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="integers >= 2"):
        surface_axes((1, 3), (0, 1, 0, 1))
    with pytest.raises(ValueError, match="needs 4 range values"):
        surface_axes((3, 3), (0, 1))
    with pytest.raises(ValueError, match="MIN < MAX"):
        surface_axes(3, (1, 0))


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_an_interrupted_grid_resumes_and_ends_identical(tiny_sets, strategy):
    train, test = tiny_sets
    model = tiny_mlp(batchnorm=True)
    dirs = random_directions(params_of(model), seed=0, model=model)
    axes = surface_axes((4, 3), (-1.0, 1.0, -0.5, 0.5))
    ev = SurfaceEvaluator(model, dirs, train, test, bn="recalibrate", points_per_pass=5,
                          share_input_layer=True)
    full = MemoryGrid((4, 3), ev.fields)
    assert run_surface(ev, axes, full) == 12 and full.complete
    broken = FailingGrid((4, 3), ev.fields, fail_after=7)
    with pytest.raises(Interrupted):
        run_surface(ev, axes, broken)
    assert broken.done.sum() == 7
    broken.left = -1  # the rerun: same grid, same sink
    other = SurfaceEvaluator(model, dirs, train, test, bn="recalibrate", points_per_pass=5,
                             share_input_layer=True, strategy=strategy)
    assert run_surface(other, axes, broken) == 5
    assert broken.complete
    for field in ev.fields:
        if strategy == "loop":
            # exact: each point's value does not depend on which points share its pass
            assert np.array_equal(broken[field], full[field])
        else:
            # vmap runs the 5 resumed points through other kernels than the loop: rounding
            # (bounded in test_evaluate.py at ~1e-12 for this model in float64)
            np.testing.assert_allclose(broken[field], full[field], rtol=0, atol=1e-11)
    assert run_surface(other, axes, broken) == 0  # nothing left


def test_line_indices_and_layout(tiny_sets):
    train, test = tiny_sets
    model = tiny_mlp()
    a = params_of(model)
    b = {k: v + 0.1 for k, v in a.items()}
    dirs = points_directions(a, b, labels=("init", "end"))
    axes = surface_axes(5, (-0.5, 1.5))
    ev = SurfaceEvaluator(model, dirs, train, test)
    grid = MemoryGrid((5,), ev.fields)
    assert run_surface(ev, axes, grid, indices=[1, 3]) == 2
    assert grid.done.tolist() == [False, True, False, True, False]
    run_surface(ev, axes, grid, indices=[(4,), 3])
    assert grid.done.sum() == 3
    layout = surface_layout(dirs, axes)
    assert layout["x"].tolist() == axes[0].tolist() and "y" not in layout
    assert layout["marks"] == {"init": [0.0], "end": [1.0]}
    assert layout["method"] == "points" and len(layout["axis_labels"]) == 1
    with pytest.raises(ValueError, match="outside the grid of shape"):
        run_surface(ev, axes, grid, indices=[7])
    with pytest.raises(ValueError, match="the sink holds a grid of shape"):
        run_surface(ev, axes, MemoryGrid((4,), ev.fields))
    with pytest.raises(ValueError, match="1 direction.s. but 2 grid axis"):
        run_surface(ev, surface_axes((3, 3), (0, 1, 0, 1)), MemoryGrid((3, 3), ev.fields))
