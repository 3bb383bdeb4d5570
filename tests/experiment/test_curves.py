"""Curve runs: subject endpoints, bit-identical resume, records that resolve again, store keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import landscape.experiment.curves as curves_mod
from landscape.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from landscape.data import EvalSet, get_dataset
from landscape.experiment.cached import Analysis
from landscape.experiment.curves import (
    CurveFitConfig,
    along_cached,
    fit_curve_run,
    load_curve,
    plane_cached,
    plane_partial,
)
from landscape.experiment.subject import DataOptions, ModelOptions, resolve_subject
from landscape.models import create_model
from landscape.rundir import RunDir
from landscape.store import Store

CFG = CurveFitConfig(epochs=3, lr=0.05, batch_size=16, seed=4)
DATA = {"input_shape": [8], "num_classes": 4, "num_train": 60, "num_test": 30, "noise": 0.8,
        "seed": 3}
KW = {"widths": [6, 5], "batchnorm": True, "num_classes": 4, "input_shape": [8]}


@pytest.fixture
def endpoints(tmp_path):
    """Two float64 landscape checkpoints of an MLP with BatchNorm."""
    paths = []
    for seed in (1, 2):
        model = create_model("mlp", seed=seed, **KW).double()
        paths.append(save_checkpoint(tmp_path / f"end{seed}.pt", model, model_name="mlp",
                                     model_kwargs=KW, epoch=1))
    return paths


def _subjects(paths, **kw):
    opts = DataOptions(dataset="synthetic", options=DATA, dtype=torch.float64, **kw)
    return [resolve_subject(p, data=opts) for p in paths]


def test_fit_records_sources_and_keeps_endpoints_bit_identical(tmp_path, endpoints):
    fitted = fit_curve_run(*_subjects(endpoints), tmp_path / "curve", config=CFG)
    a, b = (load_checkpoint(p) for p in endpoints)
    for t, ckpt in ((0.0, a), (1.0, b)):
        point = fitted.curve.point(t)
        assert all(torch.equal(point[n], v) for n, v in ckpt.parameters().items())
    run = RunDir(tmp_path / "curve")
    assert run.epochs() == [0, 1, 2, 3]
    rows = run.read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(0 <= r["train_error"] <= 1
                                                           for r in rows)
    config = json.loads(run.config_path.read_text())
    start = config["endpoints"]["start"]
    assert start["digest"] == a.digest() and start["path"] == str(endpoints[0].resolve())
    assert start["source"] == {"kind": "checkpoint", "path": str(endpoints[0].resolve())}
    assert config["data_source"]["kind"] == "registry" and config["dtype"] == "float64"
    chord = torch.lerp(fitted.curve.start, fitted.curve.end, 0.5)
    first = load_curve(tmp_path / "curve", epoch=0)  # the chord initialisation
    torch.testing.assert_close(first.curve.middle[0].detach(), chord, rtol=0, atol=1e-15)
    again = load_curve(tmp_path / "curve")
    assert again.epoch == 3 and torch.equal(again.curve.middle[0], fitted.curve.middle[0])
    assert again.curve.start.dtype == torch.float64 and set(again.data) == {"train", "test"}


def test_resume_is_bit_identical_and_restores_a_lost_metrics_row(tmp_path, endpoints):
    straight = fit_curve_run(*_subjects(endpoints), tmp_path / "a", config=CFG)
    fit_curve_run(*_subjects(endpoints), tmp_path / "b", config=CFG)
    cut = RunDir(tmp_path / "b")  # killed in epoch 3, after epoch 2's checkpoint, before its row
    cut.checkpoint_path(3).unlink()
    cut.truncate_metrics(1)
    with pytest.raises(FileExistsError, match="pass --resume"):
        fit_curve_run(*_subjects(endpoints), tmp_path / "b", config=CFG)
    resumed = fit_curve_run(*_subjects(endpoints), tmp_path / "b", config=CFG, resume=True)
    assert torch.equal(resumed.curve.middle[0], straight.curve.middle[0])  # exact: same draws
    rows = [[{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(p).read_metrics()]
            for p in (tmp_path / "a", tmp_path / "b")]
    assert rows[0] == rows[1] and [r["epoch"] for r in rows[0]] == [1, 2, 3]
    other = CurveFitConfig(epochs=3, lr=0.5, batch_size=16, seed=4)
    with pytest.raises(ValueError, match=r"its fit differs in \['lr'\]"):
        fit_curve_run(*_subjects(endpoints), tmp_path / "b", config=other, resume=True)


def test_changed_endpoint_and_bad_settings_are_refused(tmp_path, endpoints):
    fit_curve_run(*_subjects(endpoints), tmp_path / "c", config=CurveFitConfig(epochs=1))
    model = load_checkpoint(endpoints[0]).build_model()
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_checkpoint(endpoints[0], model, model_name="mlp", model_kwargs=KW, epoch=1)
    with pytest.raises(CheckpointError, match="has changed since the curve was fitted"):
        load_curve(tmp_path / "c")
    with pytest.raises(ValueError, match="degree must be >= 2"):
        CurveFitConfig(degree=1)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        CurveFitConfig(lr=0.0)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        load_curve(tmp_path / "nowhere")


def test_fits_of_a_model_with_dropout_are_determined_by_their_config(tmp_path):
    kw = {"depth": 10, "width": 1, "dropout": 0.3, "input_shape": (3, 8, 8), "num_classes": 3}
    ends = [save_checkpoint(tmp_path / f"e{seed}.pt", create_model("wrn", seed=seed, **kw),
                            model_name="wrn", model_kwargs=kw, epoch=0) for seed in (0, 1)]
    data = get_dataset("synthetic", input_shape=(3, 8, 8), num_classes=3, num_train=48)
    cfg = CurveFitConfig(epochs=2, batch_size=16, lr=0.05, seed=3)
    torch.manual_seed(123)
    a = fit_curve_run(*ends, tmp_path / "a", config=cfg, dataset=data)  # paths: their run's dtype
    torch.manual_seed(456)  # whatever the caller did before must not matter
    b = fit_curve_run(*ends, tmp_path / "b", config=cfg, dataset=data)
    assert torch.equal(a.curve.middle[0], b.curve.middle[0])
    RunDir(tmp_path / "b").checkpoint_path(2).unlink()
    torch.manual_seed(789)
    resumed = fit_curve_run(*ends, tmp_path / "b", config=cfg, dataset=data, resume=True)
    assert torch.equal(a.curve.middle[0], resumed.curve.middle[0])


def test_weights_files_and_a_data_file_resolve_again_from_the_records(tmp_path, monkeypatch):
    (tmp_path / "data.py").write_text(
        "import torch\n"
        "def make():\n"
        "    g = torch.Generator().manual_seed(0)\n"
        "    x, y = torch.randn(24, 8, generator=g), torch.randint(0, 4, (24,), generator=g)\n"
        "    return [(x[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)]\n")
    kw = {"widths": [6], "num_classes": 4, "input_shape": [8]}
    for seed in (1, 2):
        torch.save(create_model("mlp", seed=seed, **kw).state_dict(), tmp_path / f"w{seed}.pt")
    monkeypatch.chdir(tmp_path)  # relative names, as typed
    model = ModelOptions(spec="mlp", options=kw)
    data = DataOptions(data_file="data.py:make")
    ends = [resolve_subject(f"w{s}.pt", model=model, data=data) for s in (1, 2)]
    fitted = fit_curve_run(*ends, "curve", config=CurveFitConfig(epochs=2))
    assert RunDir("curve").read_metrics()[-1]["step"] == 6  # the file's 3 batches per epoch
    monkeypatch.chdir(tmp_path.parent)  # elsewhere: the records hold resolved paths
    loaded = load_curve(tmp_path / "curve")
    assert torch.equal(loaded.curve.middle[0], fitted.curve.middle[0])
    config = json.loads((tmp_path / "curve" / "config.json").read_text())
    assert config["data_source"]["spec"] == f"{(tmp_path / 'data.py').resolve()}:make"
    store = Store(tmp_path / "store")
    first = along_cached(store, loaded, points=3)
    again = along_cached(store, load_curve(tmp_path / "curve"), points=3)
    assert again.cached and again.key == first.key
    assert (np.asarray(first["curve"]["test_error"]) <= 1).all()
    weights = torch.load(tmp_path / "w2.pt")
    weights["out.bias"] += 1.0
    torch.save(weights, tmp_path / "w2.pt")
    with pytest.raises(CheckpointError, match=r"endpoint end .*w2.pt has changed"):
        load_curve(tmp_path / "curve")


# Keys the code before the experiment layer computed (schema version 1) for this question.
OLD_ALONG_KEY = "e30ebabcb695b22a31c36c284df898b773b4fe3698d0c37fa5204cd72269a42e"
OLD_PLANE_KEY = "15189fe00d7e2eb4a9ffab95277c3737e3d4636075f6b879780d74c901086926"


def _ramp_endpoints(folder: Path) -> list[Path]:
    kw = {"widths": [3], "num_classes": 2, "input_shape": [2]}
    paths = []
    for k in (1, 2):
        m = create_model("mlp", seed=0, **kw).double()
        with torch.no_grad():
            for i, p in enumerate(m.parameters()):
                p.copy_(torch.arange(p.numel(), dtype=torch.float64).reshape(p.shape) * 0.25 * k
                        + i)
        paths.append(save_checkpoint(folder / f"e{k}.pt", m, model_name="mlp", model_kwargs=kw,
                                     epoch=1))
    return paths


def _old_style(run: Path) -> None:
    """Rewrite a curve run's config.json as the code before subjects wrote it."""
    config = json.loads((run / "config.json").read_text())
    for role in ("start", "end"):
        e = config["endpoints"][role]
        config["endpoints"][role] = {k: e[k] for k in ("path", "digest", "model", "epoch")}
    for key in ("data_source", "dtype"):
        del config[key]
    (run / "config.json").write_text(json.dumps(config))


def test_store_keys_are_those_of_the_code_before_but_for_the_schema_version(tmp_path,
                                                                            monkeypatch):
    ds = get_dataset("synthetic", input_shape=(2,), num_classes=2, num_train=8, num_test=4,
                     seed=0)
    fit_curve_run(*_ramp_endpoints(tmp_path), tmp_path / "c", dataset=ds,
                  config=CurveFitConfig(epochs=1, batch_size=8))
    _old_style(tmp_path / "c")  # a run written by the old code reads as well
    loaded = load_curve(tmp_path / "c", epoch=0)
    train = EvalSet(ds, "train", batch_size=5, dtype=torch.float64)
    test = EvalSet(ds, "test", batch_size=5, dtype=torch.float64)
    store = Store(tmp_path / "store")
    new_along = along_cached(store, loaded, train, test, points=3)
    new_plane = plane_partial(store, loaded, train, test, grid=3, margin=0.2)
    assert (curves_mod.ALONG.version, curves_mod.PLANE.version) == (2, 2)  # errors: fractions
    monkeypatch.setattr(curves_mod, "ALONG", Analysis("curves.along", version=1,
                                                      schema=curves_mod.ALONG.schema))
    monkeypatch.setattr(curves_mod, "PLANE", Analysis("curves.plane", version=1))
    old_store = Store(tmp_path / "old")
    assert along_cached(old_store, loaded, train, test, points=3).key == OLD_ALONG_KEY
    assert plane_partial(old_store, loaded, train, test, grid=3, margin=0.2).key == \
        OLD_PLANE_KEY
    assert new_along.key != OLD_ALONG_KEY and new_plane.key != OLD_PLANE_KEY


def test_plane_with_the_curves_own_data_resumes_from_the_store(tmp_path, endpoints):
    fit_curve_run(*_subjects(endpoints), tmp_path / "c", config=CurveFitConfig(epochs=1))
    loaded = load_curve(tmp_path / "c", batch_size=25)
    store = Store(tmp_path / "store")
    part = plane_cached(store, loaded, grid=3, indices=[(0, 0), (2, 1)])
    assert part["computed"] == 2 and not part["complete"]
    full = plane_cached(store, loaded, grid=3)
    assert full["computed"] == 7 and full["complete"] and full["key"] == part["key"]
    assert (full["test_error"] >= 0).all() and (full["test_error"] <= 1).all()
    np.testing.assert_array_equal(full["train_loss"][[0, 2], [0, 1]],
                                  part["train_loss"][[0, 2], [0, 1]])
    with pytest.raises(ValueError, match="pass both train and test as EvalSets"):
        plane_cached(store, loaded, [(torch.zeros(1, 8), torch.zeros(1))], grid=3)
    assert os.listdir(tmp_path / "store")
