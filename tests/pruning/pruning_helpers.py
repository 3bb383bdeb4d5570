"""Tiny models, data and a manual training loop for the sparsifier tests (imported by them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from landscape.models import create_model
from landscape.train import TrainConfig


def make_model(*, widths=(12, 10), batchnorm=True, seed=0, dtype=torch.float64):
    return create_model("mlp", seed=seed, num_classes=3, input_shape=[6], widths=list(widths),
                        batchnorm=batchnorm).to(dtype)


def make_data(n=40, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=dtype)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y


def run_loop(model, optimizer, sparsifier, *, epochs, steps_per_epoch=4, data=None,
             check=None, start_epoch=0, start_step=0):
    """Train with the trainer's call order; ``check(step)`` runs after every after_step."""
    x, y = make_data() if data is None else data
    bs = x.shape[0] // steps_per_epoch
    step = start_step
    for epoch in range(start_epoch, epochs):
        for i in range(steps_per_epoch):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[i * bs:(i + 1) * bs]), y[i * bs:(i + 1) * bs]).backward()
            optimizer.step()
            step += 1
            sparsifier.after_step(step)
            if check is not None:
                check(step)
        sparsifier.on_epoch_end(epoch)
    return step


def watch_dense(model, optimizer, sparsifier):
    """Snapshot the unmasked parameters right after every optimizer step; returns a getter."""
    snap = {}

    def hook(opt, args, kwargs):
        snap.clear()
        snap.update({n: p.detach().clone() for n, p in model.named_parameters()
                     if n not in sparsifier.masks})

    optimizer.register_step_post_hook(hook)
    return lambda: dict(snap)


def tiny_config(**kw):
    base = dict(
        model="mlp", model_args={"widths": [12], "batchnorm": True}, dataset="synthetic",
        dataset_args={"num_train": 64, "num_test": 32, "input_shape": [1, 4, 4]},
        optimizer="sgd", optimizer_args={"momentum": 0.9}, lr=0.05, epochs=3, batch_size=16,
        seed=5, device="cpu",
    )
    base.update(kw)
    return TrainConfig(**base)
