"""Evaluating a network at given parameters: forward pass, loss and error, BatchNorm.

Shared by the core analyses (curves, surfaces, statistics): the network is never modified;
a parameter point is a dict ``name -> tensor`` evaluated with ``functional_call``
(:func:`forward_at`); losses are means per sample and errors are fractions, summed in float64
(:func:`evaluate_loss_error`); every point gets its own exact BatchNorm statistics
(:func:`recalibrate_bn`, Garipov et al. 2018; the moments combined as Chan et al. 1979).
"""

from landscape.evaluation.bn import batchnorm_layers, recalibrate_bn
from landscape.evaluation.forward import forward_at
from landscape.evaluation.grid import GridSink, MemoryGrid
from landscape.evaluation.metrics import LossFn, evaluate_loss_error, evaluate_weights

__all__ = [
    "GridSink",
    "LossFn",
    "MemoryGrid",
    "batchnorm_layers",
    "evaluate_loss_error",
    "evaluate_weights",
    "forward_at",
    "recalibrate_bn",
]
