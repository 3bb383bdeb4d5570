"""Option plumbing shared by the sparsifiers: target sparsity vs density, steps vs epochs."""

from __future__ import annotations

import math

__all__ = ["resolve_sparsity", "steps_option"]


def resolve_sparsity(target_sparsity: float | None, density: float | None, *, what: str) -> float:
    """The target sparsity from ``target_sparsity`` or ``density = 1 - sparsity``.

    >>> resolve_sparsity(None, 0.1, what="x")
    0.9

    Raises:
        ValueError: neither or inconsistent values given, or a value outside ``[0, 1)``.

    """
    if target_sparsity is None and density is None:
        raise ValueError(f"{what}: pass target_sparsity (--target-sparsity) or density "
                         "(--density)")
    for name, value in (("target_sparsity", target_sparsity), ("density", density)):
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise ValueError(f"{what}: {name} must be a number, got {value!r}")
    if target_sparsity is not None and density is not None \
            and abs(target_sparsity + density - 1.0) > 1e-12:
        raise ValueError(f"{what}: target_sparsity={target_sparsity} and density={density} "
                         "disagree (density = 1 - target_sparsity): pass only one")
    sparsity = float(target_sparsity) if target_sparsity is not None else 1.0 - float(density)
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"{what}: the target sparsity must be in [0, 1) (density in (0, 1]), "
                         f"got sparsity {sparsity:g}")
    return round(sparsity, 12)


def steps_option(name: str, step: int | None, epoch: float | None, steps_per_epoch: int, *,
                 default: int) -> int:
    """A schedule point given in steps (``NAME_step``) or epochs (``NAME_epoch``).

    >>> steps_option("end", None, 2.5, 10, default=0)
    25

    Raises:
        ValueError: both given, or a negative / non-integer step.

    """
    if step is not None and epoch is not None:
        raise ValueError(f"pass {name}_step or {name}_epoch, not both")
    if epoch is not None:
        if not (isinstance(epoch, int | float) and math.isfinite(epoch) and epoch >= 0):
            raise ValueError(f"{name}_epoch must be a number >= 0, got {epoch!r}")
        return round(epoch * steps_per_epoch)
    if step is None:
        return default
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise ValueError(f"{name}_step must be an integer >= 0, got {step!r}")
    return step
