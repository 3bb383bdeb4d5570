"""The sparsifiers inside the real trainer: masks in checkpoints, bit-identical resume."""

import pytest
import torch
from pruning_helpers import tiny_config

from landscape.checkpoint import load_checkpoint
from landscape.rundir import RunDir
from landscape.train import train

CASES = {
    # 4 steps per epoch, 3 epochs: the schedule runs from step 2 to 10, cut at step 6
    "magnitude": {"target_sparsity": 0.7, "begin_step": 2, "end_step": 10, "frequency": 2},
    "random": {"target_sparsity": 0.7, "begin_step": 2, "end_step": 10, "frequency": 2,
               "scope": "global", "seed": 3},
    "sparse-momentum": {"density": 0.3},
}
# sparse momentum with gRDA, which keeps no momentum: the smoothed gradient is the sparsifier's
OWN = dict(prune="sparse-momentum", prune_args={"density": 0.3}, optimizer="grda",
           optimizer_args={"c": 0.01, "mu": 0.6})


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


@pytest.mark.parametrize("case", [*CASES, "own-momentum"])
def test_resume_mid_schedule_is_bit_identical(tmp_path, case):
    cfg = tiny_config(**OWN) if case == "own-momentum" else tiny_config(
        prune=case, prune_args=CASES[case])
    full = train(cfg, tmp_path / "full", progress=False)

    def crash(epoch, step):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=False, on_step=crash)
    assert RunDir(tmp_path / "cut").epochs() == [0, 1]
    cut = train(cfg, tmp_path / "cut", resume=True, progress=False)
    for epoch in (2, 3):
        a = load_checkpoint(full.checkpoint_path(epoch))
        b = load_checkpoint(cut.checkpoint_path(epoch))
        assert _same(a.state_dict, b.state_dict)
        assert _same(a.optimizer_state, b.optimizer_state)
        assert _same(a.extra["sparsifier"], b.extra["sparsifier"])
    rows_a, rows_b = full.read_metrics(), cut.read_metrics()
    assert [r["test_acc"] for r in rows_a] == [r["test_acc"] for r in rows_b]
    assert [r["sparsity"] for r in rows_a] == [r["sparsity"] for r in rows_b]


@pytest.mark.parametrize("prune", list(CASES))
def test_masks_live_in_checkpoints(tmp_path, prune):
    run = train(tiny_config(prune=prune, prune_args=CASES[prune]), tmp_path / "r",
                progress=False)
    for epoch in run.epochs():
        ckpt = load_checkpoint(run.checkpoint_path(epoch))
        masks = ckpt.extra["sparsifier"]["masks"]
        assert set(masks) == {"hidden.0.0.weight", "out.weight"}
        for name, mask in masks.items():
            assert mask.dtype == torch.bool
            assert (ckpt.state_dict[name][~mask] == 0).all()
    init = load_checkpoint(run.checkpoint_path(0)).extra["sparsifier"]["masks"]
    masks = load_checkpoint(run.checkpoint_path(3)).extra["sparsifier"]["masks"]
    zeros = sum(int((~m).sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    if prune == "sparse-momentum":     # sparse from the start, same density throughout
        expected = sum(round(0.3 * m.numel()) for m in init.values())
        assert sum(int(m.sum()) for m in init.values()) == expected == total - zeros
    elif prune == "magnitude":         # layer-wise: every layer at the target
        assert all(m.all() for m in init.values())
        assert [int((~m).sum()) for m in masks.values()] \
            == [round(0.7 * m.numel()) for m in masks.values()]
    else:                              # global scope
        assert zeros == round(0.7 * total)
    # the metrics row counts at least the masked zeros
    assert run.read_metrics()[-1]["sparsity"]["zeros"] >= zeros


def test_cli_prune_flags(tmp_path, capsys):
    from landscape.cli import main

    rc = main(["train", "--model", "mlp", "--model-args", "widths=12", "--dataset", "synthetic",
               "--dataset-args", "num_train=48", "num_test=16", "input_shape=1,4,4",
               "--epochs", "2", "--batch-size", "16", "--device", "cpu", "--no-progress",
               "--out", str(tmp_path), "--optimizer", "sgd", "--momentum", "0.9",
               "--prune", "magnitude", "--target-sparsity", "0.5",
               "--prune-args", "end_epoch=1", "frequency=1", "scope=global"])
    assert rc == 0
    config = RunDir(tmp_path / "sgd_m0.9_magnitude").read_config()
    assert config["prune"] == "magnitude"
    assert config["prune_args"] == {"target_sparsity": 0.5, "end_epoch": 1, "frequency": 1,
                                    "scope": "global"}
    assert "sgd_m0.9_magnitude" in capsys.readouterr().out
    rc = main(["train", "--model", "mlp", "--dataset", "synthetic", "--epochs", "1",
               "--device", "cpu", "--out", str(tmp_path / "x"), "--optimizer", "sgd",
               "--prune", "sparse-momentum", "--density", "0.2", "--target-sparsity", "0.5"])
    assert rc == 2
    assert "disagree" in capsys.readouterr().err
