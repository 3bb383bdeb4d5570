"""The evaluator's options and the fields it computes, checked in one place.

Shared by :class:`landscape.surface.SurfaceEvaluator` and the experiment layer, which checks
a surface question before anything is evaluated (naming the command-line flags there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BN_MODES", "STRATEGIES", "check_options", "surface_fields"]

BN_MODES = ("keep", "recalibrate")
STRATEGIES = ("loop", "vmap")


def surface_fields(*, test: bool = True, errors: bool = True) -> tuple[str, ...]:
    """The values computed at every point, in the evaluator's order.

    >>> surface_fields(test=False)
    ('train_loss', 'train_error')
    """
    splits = ("train", "test") if test else ("train",)
    kinds = ("loss", "error") if errors else ("loss",)
    return tuple(f"{s}_{k}" for s in splits for k in kinds)


def check_options(*, bn: str, strategy: str, share_input_layer: Any, max_batch: Any,
                  channels_last: Any, flags: bool = False) -> None:
    """Refuse an option outside its values, naming it as an argument or (``flags``) a flag.

    >>> check_options(bn="keep", strategy="loop", share_input_layer="auto", max_batch=None,
    ...               channels_last=False)
    """
    def name(arg: str) -> str:
        return "--" + arg.replace("_", "-") if flags else arg

    if bn not in BN_MODES:
        raise ValueError(f"{name('bn')} must be 'keep' (Li et al. 2018) or 'recalibrate' "
                         f"(exact statistics at every point), got {bn!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"{name('strategy')} must be one of {STRATEGIES}, got {strategy!r}")
    if share_input_layer not in (True, False, "auto"):
        raise ValueError(f"share_input_layer must be True, False or 'auto', got "
                         f"{share_input_layer!r}")
    if max_batch is not None and max_batch != "auto" and (
            not isinstance(max_batch, int | np.integer) or max_batch < 1):
        raise ValueError(f"{name('max_batch')} must be a positive integer, 'auto' or None, "
                         f"got {max_batch!r}")
    if channels_last not in (True, False, "auto"):
        raise ValueError(f"channels_last must be True, False or 'auto', got "
                         f"{channels_last!r}")
