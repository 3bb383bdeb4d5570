"""Tiny configs and test sparsifiers for the trainer tests (imported by the test modules)."""

from __future__ import annotations

import hashlib
from typing import ClassVar

import torch

from landscape.train import TrainConfig, list_sparsifiers, register_sparsifier


def tiny_config(**kw):
    base = dict(
        model="mlp", model_args={"widths": [8], "batchnorm": True}, dataset="synthetic",
        dataset_args={"num_train": 64, "num_test": 32, "input_shape": [1, 4, 4]},
        optimizer="sgd", optimizer_args={"momentum": 0.9}, lr=0.05, epochs=3, batch_size=16,
        seed=3, device="cpu",
    )
    base.update(kw)
    return TrainConfig(**base)


class Recorder:
    """Records a digest of every training-mode input batch (through a forward pre-hook)."""

    batches: ClassVar[list[str]] = []

    def bind(self, model, optimizer, steps_per_epoch, epochs):
        Recorder.batches = []

        def hook(module, inputs):
            if module.training:
                x = inputs[0].detach().contiguous()
                Recorder.batches.append(hashlib.sha256(x.numpy().tobytes()).hexdigest())

        model.register_forward_pre_hook(hook)

    def after_step(self, step):
        pass

    def on_epoch_end(self, epoch):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class FixedMask:
    """Zeroes the first ``k`` entries of every weight matrix after each step; counts steps."""

    def __init__(self, k=3):
        self.k = k
        self.steps = 0
        self.epochs_seen = []

    def bind(self, model, optimizer, steps_per_epoch, epochs):
        self.weights = [p for n, p in model.named_parameters() if p.dim() == 2]
        self.steps_per_epoch = steps_per_epoch
        self._apply()

    def _apply(self):
        with torch.no_grad():
            for w in self.weights:
                w.view(-1)[: self.k] = 0

    def after_step(self, step):
        self.steps = step
        self._apply()

    def on_epoch_end(self, epoch):
        self.epochs_seen.append(epoch)

    def state_dict(self):
        return {"steps": self.steps, "epochs_seen": list(self.epochs_seen)}

    def load_state_dict(self, state):
        self.steps = state["steps"]
        self.epochs_seen = list(state["epochs_seen"])


class Poison:
    """Sets the first weight to NaN right after step ``at``."""

    def __init__(self, at=5):
        self.at = at

    def bind(self, model, optimizer, steps_per_epoch, epochs):
        self.w = next(model.parameters())

    def after_step(self, step):
        if step == self.at:
            with torch.no_grad():
                self.w.fill_(float("nan"))

    def on_epoch_end(self, epoch):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


if "test-recorder" not in list_sparsifiers():
    register_sparsifier("test-recorder", "records batches")(Recorder)
    register_sparsifier("test-mask", "fixed mask")(FixedMask)
    register_sparsifier("test-poison", "NaN at a step")(Poison)
