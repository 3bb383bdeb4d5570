"""A real SIGKILL of a child training process mid-epoch, then resume: bit-identical weights."""

import os
import signal
import subprocess
import sys
import textwrap

import torch
from train_helpers import tiny_config

from landscape.checkpoint import load_checkpoint
from landscape.rundir import RunDir
from landscape.train import train

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    torch.set_num_threads({threads})
    from landscape.train import TrainConfig, train

    cfg = TrainConfig.from_dict({cfg!r})

    def kill(epoch, step):
        if step == {kill_step}:
            os.kill(os.getpid(), signal.SIGKILL)

    train(cfg, sys.argv[1], progress=False, on_step=kill)
    """
)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    cfg = tiny_config(optimizer="grda", optimizer_args={"c": 0.02, "mu": 0.6}, epochs=4)
    # the child computes with this process's thread count: a matmul split over another number
    # of threads rounds differently, and the resumed run must equal the uninterrupted one
    threads = torch.get_num_threads()
    code = CHILD.format(cfg=cfg.to_dict(), kill_step=10, threads=threads)  # epoch 3, 2nd step
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "cut")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    cut = RunDir(tmp_path / "cut")
    assert cut.epochs() == [0, 1, 2]
    assert [r["epoch"] for r in cut.read_metrics()] == [0, 1, 2]
    resumed = train(cfg, cut.path, resume=True, progress=False)
    full = train(cfg, tmp_path / "full", progress=False)
    for epoch in (3, 4):
        a = load_checkpoint(full.checkpoint_path(epoch))
        b = load_checkpoint(resumed.checkpoint_path(epoch))
        assert a.step == b.step
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
        sa, sb = a.optimizer_state["state"], b.optimizer_state["state"]
        assert all(torch.equal(sa[i]["accumulator"], sb[i]["accumulator"]) for i in sa)
    assert [r["epoch"] for r in resumed.read_metrics()] == [0, 1, 2, 3, 4]
