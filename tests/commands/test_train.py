import json
import re
import shlex

import pytest

from landscape.cli import main
from landscape.rundir import RunDir

BASE = ["train", "--model", "mlp", "--model-args", "widths=8", "--dataset", "synthetic",
        "--dataset-args", "num_train=48", "num_test=16", "input_shape=1,4,4",
        "--epochs", "1", "--batch-size", "16", "--device", "cpu"]


def test_several_optimizers_and_values_into_named_siblings(tmp_path, capsys):
    rc = main([*BASE, "--out", str(tmp_path), "--optimizer", "sgd", "grda", "--momentum", "0.9",
               "--c", "0.01", "--mu", "0.51", "0.6", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in out["runs"]]
    assert names == ["sgd_m0.9", "grda_c0.01_mu0.51", "grda_c0.01_mu0.6"]
    assert out["failed"] == [] and out["runs"][0]["final"]["epoch"] == 1
    cfgs = [RunDir(tmp_path / n).read_config() for n in names]
    assert {c["seed"] for c in cfgs} == {0}
    assert cfgs[0]["optimizer_args"] == {"momentum": 0.9}
    assert cfgs[2]["optimizer_args"] == {"c": 0.01, "mu": 0.6}
    # --resume on finished runs does nothing and succeeds
    assert main([*BASE, "--out", str(tmp_path), "--optimizer", "sgd", "--momentum", "0.9",
                 "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["epochs"] == [0, 1]


def test_lr_sweep_names_and_l2(tmp_path, capsys):
    assert main([*BASE, "--out", str(tmp_path), "--optimizer", "adam", "--lr", "0.01", "0.001",
                 "--l2", "1e-4", "--schedule", "drop", "--schedule-args", "at=1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adam_l20.0001_lr0.001",
                                                          "adam_l20.0001_lr0.01"]
    assert "adam_l20.0001_lr0.01" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--optimizer", "adam", "--c", "0.1"], "--c applies to none of the optimizers"),
        (["--optimizer", "sgd", "--optimizer-args", "mu=0.5"], r"\['mu'\] are not options"),
        (["--optimizer", "sgd", "--schedule", "drop"], "needs the epoch of the drop"),
    ],
)
def test_user_errors(tmp_path, capsys, flags, match):
    assert main([*BASE, "--out", str(tmp_path), *flags]) == 2
    assert re.search(match, capsys.readouterr().err)


def test_l2_and_weight_decay_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        main([*BASE, "--out", str(tmp_path), "--optimizer", "sgd", "--l2", "0.1",
              "--weight-decay", "0.1"])


def test_interrupted_train_prints_the_exact_resume_command(tmp_path, capsys, monkeypatch):
    import landscape.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(landscape.train, "train", interrupted)
    out = tmp_path / "my runs"
    assert main([*BASE, "--out", str(out), "--optimizer", "sgd"]) == 130
    err = capsys.readouterr().err
    want = shlex.join(["landscape", *BASE, "--out", str(out), "--optimizer", "sgd", "--resume"])
    assert f"Continue with:\n  {want}\n" in err


def test_resume_rebuilds_a_deleted_metrics_file_from_the_checkpoints(tmp_path):
    out = tmp_path / "runs"
    args = [*BASE, "--epochs", "2", "--out", str(out), "--optimizer", "sgd"]
    assert main(args) == 0
    run = RunDir(out / "sgd")
    before = run.read_metrics()
    run.metrics_path.unlink()
    assert main([*args, "--resume"]) == 0
    assert run.read_metrics() == before
