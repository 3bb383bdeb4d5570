"""The sparsifiers inside the real trainer: masks in checkpoints, bit-identical resume."""

import pytest
import torch
from pruning_helpers import tiny_config

from landscape.checkpoint import load_checkpoint
from landscape.rundir import RunDir
from landscape.seeding import derive_seed
from landscape.train import train

CASES = {
    # 4 steps per epoch, 3 epochs: the schedule runs from step 2 to 10, cut at step 6
    "magnitude": {"target_sparsity": 0.7, "begin_step": 2, "end_step": 10, "frequency": 2},
    "random": {"target_sparsity": 0.7, "begin_step": 2, "end_step": 10, "frequency": 2,
               "scope": "global", "seed": 3},
    "sparse-momentum": {"density": 0.3},
}
# random pruning with the seed derived from the run seed (no explicit seed)
DERIVED = {k: v for k, v in CASES["random"].items() if k != "seed"}
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


@pytest.mark.parametrize("case", [*CASES, "own-momentum", "random-derived"])
def test_resume_mid_schedule_is_bit_identical(tmp_path, case):
    if case == "own-momentum":
        cfg = tiny_config(**OWN)
    elif case == "random-derived":
        cfg = tiny_config(prune="random", prune_args=DERIVED)
    else:
        cfg = tiny_config(prune=case, prune_args=CASES[case])
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


def _initial_masks(tmp_path, name, prune, args, seed):
    """Masks in ``epoch_0000.pt`` of a 0-epoch run (one-shot pruning happens at bind)."""
    cfg = tiny_config(prune=prune, prune_args=args, seed=seed, epochs=0)
    run = train(cfg, tmp_path / name, progress=False)
    return run, load_checkpoint(run.checkpoint_path(0)).extra["sparsifier"]["masks"]


@pytest.mark.parametrize(("prune", "args"), [
    ("random", {"target_sparsity": 0.5, "end_step": 0}),
    ("sparse-momentum", {"density": 0.5}),
])
def test_prune_seed_derives_from_the_run_seed(tmp_path, prune, args):
    runs = {s: _initial_masks(tmp_path, f"s{s}", prune, args, s) for s in (5, 6)}
    again = _initial_masks(tmp_path, "again", prune, args, 5)[1]
    for s, (run, _) in runs.items():
        assert run.read_config()["prune_seed"] == derive_seed(s, "prune")
        assert run.read_config()["prune_args"] == args      # the config itself is unchanged
    assert _same(runs[5][1], again)                          # determined by the config
    assert not _same(runs[5][1], runs[6][1])                 # another seed prunes differently
    # an explicit seed wins over the run seed
    fixed = [_initial_masks(tmp_path, f"fixed{s}", prune, {**args, "seed": 3}, s)
             for s in (5, 6)]
    assert [run.read_config()["prune_seed"] for run, _ in fixed] == [3, 3]
    assert _same(fixed[0][1], fixed[1][1])


def test_resume_refuses_another_prune_seed(tmp_path):
    run, _ = _initial_masks(tmp_path, "r", "random", {"target_sparsity": 0.5, "end_step": 0}, 5)
    config = run.read_config()
    run.write_config({**config, "prune_seed": config["prune_seed"] + 1})
    cfg = tiny_config(prune="random", prune_args={"target_sparsity": 0.5, "end_step": 0}, seed=5,
                      epochs=0)
    with pytest.raises(ValueError, match=r"its sparsifier drew from seed \d+, this library"):
        train(cfg, run.path, resume=True, progress=False)


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

    flags = ["train", "--model", "mlp", "--model-args", "widths=12", "--dataset", "synthetic",
             "--dataset-args", "num_train=48", "num_test=16", "input_shape=1,4,4",
             "--epochs", "2", "--batch-size", "16", "--device", "cpu", "--no-progress",
             "--out", str(tmp_path), "--optimizer", "sgd", "--momentum", "0.9",
             "--prune", "magnitude", "--prune-args", "end_epoch=1", "frequency=1",
             "scope=global"]
    assert main([*flags, "--target-sparsity", "0.5"]) == 0
    # another target under the same --out is a sibling run, not a clash with the first
    assert main([*flags, "--target-sparsity", "0.8"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sgd_m0.9_magnitude_s0.5",
                                                          "sgd_m0.9_magnitude_s0.8"]
    config = RunDir(tmp_path / "sgd_m0.9_magnitude_s0.5").read_config()
    assert config["prune"] == "magnitude"
    assert config["prune_args"] == {"target_sparsity": 0.5, "end_epoch": 1, "frequency": 1,
                                    "scope": "global"}
    assert "sgd_m0.9_magnitude_s0.5" in capsys.readouterr().out
    rc = main(["train", "--model", "mlp", "--dataset", "synthetic", "--epochs", "1",
               "--device", "cpu", "--out", str(tmp_path / "x"), "--optimizer", "sgd",
               "--prune", "sparse-momentum", "--density", "0.2", "--target-sparsity", "0.5"])
    assert rc == 2
    assert "disagree" in capsys.readouterr().err
