import json
import re

import pytest

from landscape.checkpoint import save_checkpoint
from landscape.cli import main
from landscape.models import create_model
from landscape.rundir import RunDir

KW = {"widths": [4], "input_shape": (1, 2, 2), "num_classes": 2}


@pytest.fixture
def run(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_config({"model": "mlp", "dataset": "synthetic", "epochs": 2, "seed": 0})
    model = create_model("mlp", **KW)
    for e in range(3):
        save_checkpoint(run.checkpoint_path(e), model, model_name="mlp", model_kwargs=KW, epoch=e,
                        metrics={"epoch": e, "test_acc": 0.1 * e})
        if e:
            run.append_metrics({"epoch": e, "test_acc": 0.1 * e})
    (run.path / ".epoch_0003.pt.abc.tmp").write_bytes(b"half")  # a killed write
    return run


def test_rundir_lists_complete_checkpoints_and_truncates_metrics(run):
    assert run.epochs() == [0, 1, 2] and run.last_epoch() == 2
    run.truncate_metrics(1)
    assert [r["epoch"] for r in run.read_metrics()] == [1]


def test_info_of_a_run_as_json(run, capsys):
    assert main(["info", str(run.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "run" and out["epochs"] == [0, 1, 2]
    assert out["last_metrics"]["test_acc"] == pytest.approx(0.2)


def test_info_of_a_checkpoint_human(run, capsys):
    assert main(["info", str(run.checkpoint_path(1))]) == 0
    out = capsys.readouterr().out
    assert "mlp" in out
    assert re.search(r"parameters\s+30\n", out)  # (4*4 + 4) + (4*2 + 2)


def test_info_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["info", str(tmp_path / "empty")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "info" in capsys.readouterr().out


def test_broken_config_and_metrics_name_the_file_and_the_fix(run):
    run.config_path.write_text('{"model": "mlp", ')  # cut short
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON \(line 1.*restore"):
        run.read_config()
    assert main(["info", str(run.path)]) == 2
    run.write_config({"model": "mlp"})
    run.metrics_path.write_text('{"epoch": 1}\n{"epoch": 2, \n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl line 2 is not valid JSON.*--resume"):
        run.read_metrics()


def test_a_closed_pipe_ends_quietly(run):
    import os
    import subprocess
    import sys

    # `landscape info RUN --json | head -c 0`: the reader has left before anything is written
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "landscape", "info", str(run.path), "--json"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr
