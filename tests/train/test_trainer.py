import pytest
import torch
from train_helpers import Recorder, tiny_config

from landscape.checkpoint import load_checkpoint
from landscape.optim import create_schedule
from landscape.rundir import RunDir
from landscape.train import TrainingDiverged, train


def _state(path):
    return load_checkpoint(path).state_dict


def _equal_states(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_init_and_batches_whatever_the_optimizer(tmp_path):
    seen = {}
    for name, opt_args in [("sgd", {"momentum": 0.9}), ("grda", {"c": 0.01, "mu": 0.6}),
                           ("adam", {})]:
        cfg = tiny_config(optimizer=name, optimizer_args=opt_args, epochs=2,
                          prune="test-recorder", augment=None)
        train(cfg, tmp_path / name, progress=False)
        seen[name] = list(Recorder.batches)
    assert len(seen["sgd"]) == 2 * 4
    assert seen["sgd"] == seen["grda"] == seen["adam"]
    init = _state(tmp_path / "sgd" / "epoch_0000.pt")
    for name in ("grda", "adam"):
        assert _equal_states(init, _state(tmp_path / name / "epoch_0000.pt"))
    assert not _equal_states(init, _state(tmp_path / "sgd" / "epoch_0002.pt"))
    train(tiny_config(seed=4, epochs=1, prune="test-recorder"), tmp_path / "other",
          progress=False)
    assert Recorder.batches[:4] != seen["sgd"][:4]
    assert not _equal_states(init, _state(tmp_path / "other" / "epoch_0000.pt"))


def test_metrics_and_checkpoints(tmp_path):
    cfg = tiny_config(optimizer="grda", optimizer_args={"c": 0.05, "mu": 0.6}, epochs=4,
                      schedule="garipov", lr=0.1)
    run = train(cfg, tmp_path / "r", progress=False)
    assert run.epochs() == [0, 1, 2, 3, 4]
    rows = run.read_metrics()
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["step"] for r in rows] == [0, 4, 8, 12, 16]
    sched = create_schedule("garipov", base_lr=0.1, epochs=4)
    assert [r["lr"] for r in rows[1:]] == [sched(e) for e in range(4)]
    last = rows[-1]
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "wall_time", "elapsed",
                "batch_loss"):
        assert isinstance(last[key], float)
    model = load_checkpoint(run.checkpoint_path(4)).build_model()
    zeros = sum(int((p == 0).sum()) for p in model.parameters())
    assert last["sparsity"]["zeros"] == zeros > 0
    assert last["sparsity"]["total"] == sum(p.numel() for p in model.parameters())
    assert set(last["sparsity"]["per_layer"]) == {n for n, _ in model.named_parameters()}
    assert set(last["group_sparsity"]["per_layer"]) == {"hidden.0.0"}
    ckpt = load_checkpoint(run.checkpoint_path(4))
    assert ckpt.metrics == last and ckpt.step == 16 and ckpt.config["optimizer"] == "grda"
    assert ckpt.optimizer_state["state"]
    config = run.read_config()
    assert config["run_name"] == "grda_c0.05_mu0.6" and config["dataset_spec"]["num_train"] == 64


def test_nan_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_config(prune="test-poison", prune_args={"at": 6}, epochs=3)
    expected = r"became non-finite \(nan\) at epoch 2 \(by step 7.*Lower the"
    with pytest.raises(TrainingDiverged, match=expected):
        train(cfg, tmp_path / "r", progress=False)
    run = RunDir(tmp_path / "r")
    assert run.epochs() == [0, 1]
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1]
    assert torch.isfinite(next(iter(_state(run.checkpoint_path(1)).values()))).all()


def test_existing_run_needs_resume_and_same_config(tmp_path):
    cfg = tiny_config(epochs=1)
    train(cfg, tmp_path / "r", progress=False)
    with pytest.raises(FileExistsError, match=r"already holds a run.*resume=True \(--resume\)"):
        train(cfg, tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="trained with lr=0.05, this config has lr=0.1"):
        train(tiny_config(epochs=1, lr=0.1), tmp_path / "r", resume=True, progress=False)
    run = train(tiny_config(epochs=2), tmp_path / "r2", resume=True, progress=False)  # fresh
    assert run.epochs() == [0, 1, 2]
    # evaluation batches regroup the metric sums only: a resume may change them
    again = train(tiny_config(epochs=1, eval_batch_size=7), tmp_path / "r", resume=True,
                  progress=False)
    assert again.epochs() == [0, 1]


def test_resume_with_sparsifier_is_bit_identical(tmp_path):
    cfg = tiny_config(epochs=3, prune="test-mask", prune_args={"k": 2})
    full = train(cfg, tmp_path / "full", progress=False)

    def crash(epoch, step):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=False, on_step=crash)
    assert [r["epoch"] for r in RunDir(tmp_path / "cut").read_metrics()] \
        == [0, 1]
    cut = train(cfg, tmp_path / "cut", resume=True, progress=False)
    a, b = load_checkpoint(full.checkpoint_path(3)), load_checkpoint(cut.checkpoint_path(3))
    assert _equal_states(a.state_dict, b.state_dict)
    assert a.extra["sparsifier"] == b.extra["sparsifier"] == {"steps": 12,
                                                               "epochs_seen": [0, 1, 2]}
    assert (b.state_dict["hidden.0.0.weight"].view(-1)[:2] == 0).all()
    assert [r["epoch"] for r in cut.read_metrics()] == [0, 1, 2, 3]


def test_resume_restores_a_missing_metrics_row(tmp_path):
    run = train(tiny_config(epochs=2), tmp_path / "r", progress=False)
    run.truncate_metrics(1)
    run = train(tiny_config(epochs=2), tmp_path / "r", resume=True, progress=False)
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1, 2]


def test_float64_and_unknown_names(tmp_path):
    run = train(tiny_config(epochs=1, dtype="float64"), tmp_path / "r", progress=False)
    assert load_checkpoint(run.checkpoint_path(1)).state_dict["out.weight"].dtype == torch.float64
    with pytest.raises(ValueError, match="unknown sparsifier 'nope'.*test-mask"):
        train(tiny_config(prune="nope"), tmp_path / "x", progress=False)
