"""A tiny training run on disk for the surface tests (and the SIGKILL child that shares it).

Epoch checkpoints of a small MLP with BatchNorm on synthetic data, written directly (no
training: each epoch is another seeded initialisation, a trajectory with a known answer is
not needed here), with the run's ``config.json`` as ``landscape train`` writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from landscape.checkpoint import save_checkpoint
from landscape.experiment.subject import DataOptions, resolve_subject
from landscape.models import create_model

DATA = {"input_shape": [1, 3, 3], "num_classes": 3, "num_train": 40, "num_test": 12}
MODEL = {"num_classes": 3, "input_shape": [1, 3, 3], "widths": [6], "batchnorm": True}


def make_run(folder: Path, *, epochs: int = 3, optimizer: str = "sgd", seed: int = 0) -> Path:
    """``folder`` as a run: ``config.json`` and ``epoch_0000.pt`` .. ``epoch_{epochs}.pt``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model": "mlp", "model_kwargs": MODEL, "dataset": "synthetic",
              "dataset_args": DATA, "optimizer": optimizer, "epochs": epochs, "seed": seed}
    (folder / "config.json").write_text(json.dumps(config))
    for epoch in range(epochs + 1):
        model = create_model("mlp", seed=100 * seed + epoch, **MODEL)
        with torch.no_grad():  # stored BatchNorm statistics that differ from the data's
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm1d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
        save_checkpoint(folder / f"epoch_{epoch:04d}.pt", model, model_name="mlp",
                        model_kwargs=MODEL, epoch=epoch, config=config)
    return folder


def subject(target, *, batch_size: int = 16, dtype=torch.float64, splits=("train", "test"),
            epoch: int | None = None):
    """The run's (or checkpoint's) subject on its own data, float64 by default."""
    return resolve_subject(target, epoch=epoch, data=DataOptions(batch_size=batch_size,
                                                                 dtype=dtype), splits=splits)
