"""Your own network and data, as a researcher brings them: shared by the command tests.

A torchvision ResNet-18 (random init, 10 classes) saved as a plain ``state_dict`` (``.pt``)
and as ``.safetensors``, a small network defined in a user's ``model.py``, and a ``data.py``
whose factory returns a few batches of 16 x 16 images.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file

DATA_FILE = """\
import torch

def make(n=12, size=16, classes=10):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    batches = [(x[i:i + 6], y[i:i + 6]) for i in range(0, n, 6)]
    return {"train": batches, "test": batches[:1]}
"""

MODEL_FILE = """\
from torch import nn

def make(width=4, num_classes=10):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
"""

RESNET = ["--model", "torchvision:resnet18", "--model-args", "num_classes=10"]


def write_byo(root: Path, seeds: tuple[int, ...] = (1,)) -> Path:
    """Write ``resnet{seed}.pt``/``.safetensors``, ``small{seed}.pt``/``.safetensors``,
    ``model.py`` and ``data.py`` into ``root``; return ``root``."""
    (root / "data.py").write_text(DATA_FILE)
    (root / "model.py").write_text(MODEL_FILE)
    scope: dict = {}
    exec(compile(MODEL_FILE, str(root / "model.py"), "exec"), scope)
    for seed in seeds:
        torch.manual_seed(seed)
        net = torchvision.models.resnet18(num_classes=10)
        torch.save(net.state_dict(), root / f"resnet{seed}.pt")
        save_file(net.state_dict(), root / f"resnet{seed}.safetensors")
        torch.manual_seed(seed)
        small = scope["make"]()
        torch.save(small.state_dict(), root / f"small{seed}.pt")
        save_file(small.state_dict(), root / f"small{seed}.safetensors")
    return root


def data_flags(root: Path) -> list[str]:
    """``--data-file ROOT/data.py:make``."""
    return ["--data-file", f"{root / 'data.py'}:make"]


def model_file_flags(root: Path) -> list[str]:
    """``--model-file ROOT/model.py:make``."""
    return ["--model-file", f"{root / 'model.py'}:make"]
