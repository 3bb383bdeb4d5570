"""The README's library example runs as printed (on a smaller network and data, for speed)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torchvision
from torch import nn

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- example: library.*?-->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its library example"
    return match.group(1)


def _small_resnet(num_classes: int = 10) -> nn.Module:
    """A torchvision-style network small enough for the test suite (same interface)."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))


def test_the_library_example_runs(monkeypatch, capsys):
    code = _example()
    # the same code on 32 images of 8 x 8 and a small network: the calls are what is tested
    code = code.replace("torch.randn(256, 3, 32, 32)", "torch.randn(32, 3, 8, 8)")
    code = code.replace("torch.randint(0, 10, (256,))", "torch.randint(0, 10, (32,))")
    code = code.replace("batch_size=64", "batch_size=16")
    assert "torch.randn(32, 3, 8, 8)" in code  # the replacements matched the README
    monkeypatch.setattr(torchvision.models, "resnet18", _small_resnet)
    torch.manual_seed(0)
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("tensor([") and "True" in out  # eigenvalues, then converged flags
    lines = out.splitlines()
    barrier, dead = float(lines[-2]), float(lines[-1])
    assert barrier >= 0 and 0 <= dead <= 1
