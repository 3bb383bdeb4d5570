"""Two tiny run directories with fixed tensors, whose store keys the old code computed.

The keys pinned in the tests were computed by the code before the experiment layer existed
(``stats._featurestore`` and ``stats.trajectory``); the same question must keep the same key,
so an existing store keeps answering.
"""

from __future__ import annotations

from pathlib import Path

import torch

from landscape.checkpoint import save_checkpoint
from landscape.models import create_model
from landscape.rundir import RunDir

MODEL_KWARGS = {"widths": [4], "input_shape": [1, 2, 2], "num_classes": 3}
DATASET_ARGS = {"input_shape": [1, 2, 2], "num_classes": 3, "num_train": 12, "num_test": 6}


def make_run(folder: Path, optimizer: str, *, shift: float) -> Path:
    """A run with epochs 0 and 1 whose every tensor is a fixed ramp (``shift`` tells them apart)."""
    config = {"model": "mlp", "model_kwargs": MODEL_KWARGS, "dataset": "synthetic",
              "dataset_args": DATASET_ARGS, "optimizer": optimizer, "seed": 0, "epochs": 1,
              "batch_size": 4}
    run = RunDir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    model = create_model("mlp", seed=0, **MODEL_KWARGS)
    for epoch in (0, 1):
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                ramp = torch.linspace(-1.0, 1.0, p.numel()).reshape(p.shape)
                p.copy_(ramp * (1 + 0.1 * i) + shift * epoch)
        save_checkpoint(run.checkpoint_path(epoch), model, model_name="mlp",
                        model_kwargs=MODEL_KWARGS, epoch=epoch, config=config)
    return folder


def make_pair(root: Path) -> tuple[Path, Path]:
    """An SGD run and a gRDA run of the same experiment."""
    return make_run(root / "sgd", "sgd", shift=0.0), make_run(root / "grda", "grda", shift=0.05)
