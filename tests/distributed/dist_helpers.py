"""Problems shared by the torchrun job (``_dist_job.py``) and the single-process references."""

from __future__ import annotations

from pathlib import Path

import torch

from landscape.checkpoint import save_checkpoint
from landscape.data import EvalSet, get_dataset
from landscape.experiment.curves import CurveFitConfig
from landscape.models import create_model
from landscape.train import TrainConfig

MLP = {"widths": [5], "num_classes": 3, "input_shape": [4]}


def hvp_problem():
    """Float64 MLP, 23 samples in batches of 5 (shards of 12/11: unequal batches and shards)."""
    model = create_model("mlp", seed=11, **MLP).double()
    g = torch.Generator().manual_seed(4)
    x = torch.randn(23, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (23,), generator=g)
    data = EvalSet.from_tensors(x, y, batch_size=5, name="hvp23")
    p = sum(q.numel() for q in model.parameters())
    block = torch.randn(p, 3, generator=g, dtype=torch.float64)
    return model, data, block


def train_config(epochs: int) -> TrainConfig:
    """No BatchNorm (per-rank batch statistics differ), float64, 61 samples in batches of 16."""
    return TrainConfig(
        model="mlp", model_args={"widths": [6]}, dataset="synthetic",
        dataset_args={"num_train": 61, "num_test": 17, "input_shape": [1, 3, 3]},
        optimizer="sgd", optimizer_args={"momentum": 0.9}, lr=0.1, epochs=epochs,
        batch_size=16, seed=5, dtype="float64", eval_batch_size=10, device="cpu",
    )


def curve_dataset():
    """4 classes, 8 features, 50 training samples (last minibatch of 2 slices into 1 + 1)."""
    return get_dataset("synthetic", input_shape=(8,), num_classes=4, num_train=50, num_test=20,
                       noise=0.8, seed=3)


FIT = CurveFitConfig(epochs=2, batch_size=16, lr=0.05, seed=2)
GRID = 3
CURVE_HESSIAN = {"points": 5, "k": 2, "tol": 1e-10, "trace_probes": 3}


def make_endpoints(folder: Path) -> list[Path]:
    """Two float64 MLP checkpoints (no BatchNorm) from different initialisations."""
    kwargs = {"widths": [6], "num_classes": 4, "input_shape": [8]}
    paths = []
    for seed in (1, 2):
        model = create_model("mlp", seed=seed, **kwargs).double()
        paths.append(save_checkpoint(folder / f"end{seed}.pt", model, model_name="mlp",
                                     model_kwargs=kwargs, epoch=1))
    return paths


def eval_sets(dataset):
    """Float64 train/test EvalSets in batches of 15."""
    return (EvalSet(dataset, "train", batch_size=15, dtype=torch.float64),
            EvalSet(dataset, "test", batch_size=15, dtype=torch.float64))
