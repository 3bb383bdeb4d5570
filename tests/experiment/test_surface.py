"""Surfaces of subjects through the store: the key, answers from the store, SIGKILL, PCA runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from surface_problem import make_run, subject

import landscape.experiment.curvature as curvature_mod
import landscape.experiment.surface as surface_mod
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.surface import (
    eigen_basis,
    minima_basis,
    minima_summary,
    pca_basis,
    points_basis,
    random_basis,
    surface_basis,
    surface_cached,
    surface_partial,
)
from landscape.store import Store

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface_runs")
    return make_run(root / "sgd"), make_run(root / "grda", optimizer="grda", seed=1)


def _forbid(monkeypatch, *targets):
    def forbidden(*args, **kwargs):
        raise AssertionError("this must answer from the store")

    for module, name in targets:
        monkeypatch.setattr(module, name, forbidden)


class _NoPass:
    """The same data (identity, batch size), refusing to be read: a pass fails the test."""

    def __init__(self, data):
        self.data = data

    def __getattr__(self, name):
        return getattr(self.data, name)

    def __iter__(self):
        raise AssertionError("the data were read")


def test_each_part_of_the_definition_changes_the_key(runs, tmp_path):
    sgd, grda = runs
    store = Store(tmp_path / "store")
    s = subject(sgd)

    def key(basis=None, of=s, **settings):
        settings = {"grid": (3, 3), **settings}
        return surface_partial(store, of, basis or random_basis(of), **settings).key

    base = key()
    assert key() == base  # the same question, the same key
    at_epoch1 = subject(sgd, epoch=1)
    variants = {
        "seed": key(random_basis(s, seed=1)),
        "norm": key(random_basis(s, norm="layer")),
        "include_bn_bias": key(random_basis(s, include_bn_bias=True)),
        "another point": key(random_basis(at_epoch1), of=at_epoch1),
        "eigen": key(eigen_basis(store, s, top_k=2)),
        "eigen k": key(eigen_basis(store, s, top_k=3)),
        "eigen indices": key(eigen_basis(store, s, top_k=3, indices=(2, 0))),
        "pca": key(pca_basis(s)),
        "pca epochs": key(pca_basis(s, epochs=[1, 2])),
        "points": key(points_basis(s, subject(sgd, epoch=1, splits=()),
                                   subject(sgd, epoch=2, splits=()))),
        "points C": key(points_basis(s, subject(sgd, epoch=1, splits=()),
                                     subject(sgd, epoch=0, splits=()))),
        "minima": key(minima_basis(store, s, subject(grda, splits=()), top_k=2)),
        "minima other gRDA": key(minima_basis(store, s, subject(grda, epoch=2, splits=()),
                                              top_k=2)),
        "grid": key(grid=(3, 4)),
        "ranges": key(ranges=(-1, 1, -1, 2)),
        "bn": key(bn="recalibrate"),
        "no test": key(test=False),
        "no errors": key(errors=False),
        "strategy": key(strategy="vmap"),
        "shared layer": key(share_input_layer=False),
        "max_batch": key(max_batch=7),
        "layout": key(channels_last=False),
        "batch size": key(of=subject(sgd, batch_size=8)),
        "dtype": key(of=subject(sgd, dtype=torch.float32)),
    }
    assert base not in variants.values()
    assert len(set(variants.values())) == len(variants), variants
    line = random_basis(s, num=1)
    assert key(line, grid=5) != key(line, grid=6)


def test_the_directions_and_their_identity(runs, tmp_path):
    sgd, grda = runs
    store = Store(tmp_path / "store")
    s = subject(sgd)
    eig = eigen_basis(store, s, top_k=3, indices=(1,), num=1)
    top = hessian_topk(store, s, k=3)
    assert eig.definition["hessian"] == top.key and eig.definition["indices"] == [1]
    row = torch.as_tensor(top["eigenvectors"][1])
    got = torch.cat([eig.directions.vectors[0][n].reshape(-1) for n in s.point])
    # unit norm, the cached row itself (its norm is 1 to the solver's rounding)
    torch.testing.assert_close(got, row / row.norm(), rtol=0, atol=1e-12)
    assert eig.inputs == {"checkpoint": s.digest}
    pca = pca_basis(s)
    assert pca.definition["epochs"] == [0, 1, 2, 3] and pca.definition["final_epoch"] == 3
    assert set(pca.inputs) == {"checkpoint", "epoch_0", "epoch_1", "epoch_2", "epoch_3"}
    assert pca.inputs["epoch_3"] == pca.inputs["checkpoint"] == s.digest
    path = np.asarray(pca.directions.path)
    np.testing.assert_allclose(path[-1], 0.0, atol=1e-12)  # the final point is the origin
    lo, hi = pca.ranges[:2]
    assert lo < path[:, 0].min() and hi > path[:, 0].max()  # the trajectory is in the plane
    g = subject(grda, splits=())
    mins = minima_basis(store, s, g, top_k=3)
    assert mins.inputs == {"sgd": s.digest, "grda": g.digest}
    assert mins.directions.coordinates(g.point)[0] == pytest.approx((1.0, 0.0), abs=1e-12)
    with pytest.raises(ValueError, match="--directions must be one of"):
        surface_basis("hessian", s)
    with pytest.raises(ValueError, match="minima takes 1 more checkpoint"):
        surface_basis("minima", s, store=store)
    with pytest.raises(ValueError, match="eigenvector numbers from 1 to --top-k 2"):
        eigen_basis(store, s, top_k=2, indices=(0, 2))


def test_a_second_call_answers_from_the_store_without_a_pass(runs, tmp_path, monkeypatch):
    sgd, grda = runs
    store = Store(tmp_path / "store")
    s = subject(sgd)
    basis = minima_basis(store, s, subject(grda, splits=()), top_k=2)
    first = surface_cached(store, s, basis, grid=(5, 3), bn="recalibrate", points_per_pass=4)
    assert first["complete"] and not first["cached"] and first["computed"] == 15
    assert np.isfinite(first["train_loss"]).all()
    assert ((first["test_error"] >= 0) & (first["test_error"] <= 1)).all()  # fractions
    _forbid(monkeypatch, (surface_mod, "SurfaceEvaluator"), (curvature_mod, "lanczos"))
    monkeypatch.setattr(s, "data", {k: _NoPass(v) for k, v in s.data.items()})
    again = minima_basis(store, s, subject(grda, splits=()), top_k=2)  # top-k from the store
    second = surface_cached(store, s, again, grid=(5, 3), bn="recalibrate")
    assert second["cached"] and second["computed"] == 0 and second["key"] == first["key"]
    for field in first["fields"]:
        np.testing.assert_array_equal(second[field], first[field])  # exact: read back
    assert not any((tmp_path / "store" / ".partial").glob("*.plog"))  # finalised


CHILD = """
import sys
import torch
torch.set_num_threads({threads})  # the parent's: the same kernels, bit for bit
sys.path.insert(0, {here!r})
from surface_problem import subject
from landscape.experiment.surface import random_basis, surface_cached
from landscape.store import Store
from landscape.store.partial import Partial

write, written = Partial.write, []

def acknowledged(self, index, **values):
    write(self, index, **values)  # durable when it returns
    written.append(index)
    print("D", *index, flush=True)
    if len(written) == {stop}:
        print("W", flush=True)
        sys.stdin.readline()  # wait here, mid-grid, until the parent kills us

Partial.write = acknowledged
s = subject({run!r})
surface_cached(Store({store!r}), s, random_basis(s, seed=3), grid=(6, 5), bn="recalibrate",
               points_per_pass=4)
print("finished", flush=True)
"""


def test_a_sigkilled_grid_resumes_and_ends_identical(runs, tmp_path):
    sgd, _ = runs
    store = tmp_path / "store"
    code = CHILD.format(here=str(HERE), run=str(sgd), store=str(store), stop=6,
                        threads=torch.get_num_threads())
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    while (line := proc.stdout.readline().strip()) not in ("W", ""):
        lines.append(line)
    proc.send_signal(signal.SIGKILL)  # with the second pass of 4 points half written
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and line == "W", lines
    acknowledged = {tuple(int(v) for v in x.split()[1:]) for x in lines}
    assert len(acknowledged) == 6
    s = subject(sgd)
    basis = random_basis(s, seed=3)
    part = surface_partial(Store(store), s, basis, grid=(6, 5), bn="recalibrate")
    assert {tuple(i) for i in np.argwhere(part.done)} == acknowledged  # nothing lost
    resumed = surface_cached(Store(store), s, basis, grid=(6, 5), bn="recalibrate",
                             points_per_pass=3)
    assert resumed["computed"] == 30 - 6 and resumed["complete"]
    whole = surface_cached(Store(tmp_path / "other"), s, basis, grid=(6, 5), bn="recalibrate",
                           points_per_pass=7)
    assert whole["key"] == resumed["key"]
    for field in whole["fields"]:
        # exact: under strategy="loop" a point's values do not depend on which points share
        # its pass (nor on K), so a resumed grid is bitwise the uninterrupted one
        np.testing.assert_array_equal(resumed[field], whole[field])


def test_pca_needs_a_run_with_enough_epochs(tmp_path):
    short = make_run(tmp_path / "short", epochs=1)  # epochs 0 and 1: two points
    s = subject(short)
    with pytest.raises(ValueError, match=r"--directions pca with 2 direction\(s\) needs the "
                                         r"checkpoints of at least 3 epochs"):
        pca_basis(s)
    assert pca_basis(s, num=1).ndim == 1  # a line needs two
    with pytest.raises(ValueError, match=r"--at-epochs: run .* has no checkpoint of epoch"):
        pca_basis(s, epochs=[0, 5])
    torch.save(s.model.state_dict(), tmp_path / "weights.pt")
    from landscape.experiment.subject import DataOptions, ModelOptions, resolve_subject

    plain = resolve_subject(tmp_path / "weights.pt", model=ModelOptions("mlp", {
        "num_classes": 3, "input_shape": [1, 3, 3], "widths": [6], "batchnorm": True}),
        data=DataOptions(dataset="synthetic", options={"input_shape": [1, 3, 3],
                                                       "num_classes": 3}))
    with pytest.raises(ValueError, match="needs a run directory"):
        pca_basis(plain)


def test_minima_summary_reads_the_curvatures_off_the_grid():
    x, y = np.linspace(-0.5, 1.5, 9), np.linspace(-1.0, 1.0, 9)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    z = 1.0 + 0.5 * xx**2 + 3.0 * yy**2  # second differences of a quadratic are exact
    result = {"method": "minima", "complete": True, "x": x, "y": y, "train_loss": z,
              "info": {"delta_norm": 2.0, "cos_eigenvector_delta": 0.1}}
    s = minima_summary(result)
    assert s["curvature_delta"] == pytest.approx(1.0, rel=1e-12)
    assert s["curvature_eigenvector"] == pytest.approx(6.0, rel=1e-12)
    assert s["sharper_eigenvector"] and s["sgd_loss"] == 1.0 and s["grda_loss"] == 1.5
    with pytest.raises(ValueError, match="0 is an inner grid value"):
        minima_summary({**result, "x": x + 0.1})
    with pytest.raises(ValueError, match="finished minima plane"):
        minima_summary({**result, "method": "random"})
