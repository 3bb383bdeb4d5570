"""Does gRDA perform directional pruning here? The evidence and a verdict (Chao et al. 2020).

Directional pruning (Chao et al. 2020, Sec. 1-2) means the sparse minimum found by gRDA lies
in the same valley as SGD's and differs from it mainly along flat directions. The evidence:

1. **Accuracy and sparsity** of both final minima: gRDA sparse at comparable test accuracy.
2. **Connectivity**: the train-loss barrier on the fitted quadratic Bezier curve between the
   two minima (Garipov et al. 2018; same valley when low), and the straight line's barrier,
   which says whether the line is flat too. With a baseline run, the same for two SGD runs
   from different seeds: a control showing that the instrument sees a barrier.
3. **Direction**: the share of ``w_gRDA - w_SGD`` in the top-k Hessian eigenspace at
   ``w_SGD`` (low: the difference avoids sharp directions), against a random direction
   (``k/P``) and, when given, the difference between two SGD runs from different seeds.
4. **Curvature** at both minima: their top-k eigenvalues.

The package is split by responsibility: :mod:`~landscape.verify.evidence` gathers the
numbers, :mod:`~landscape.verify.judgement` applies the :class:`Thresholds`,
:mod:`~landscape.verify.report` writes the text (``landscape verify`` is
:mod:`landscape.commands.verify`). The runs, their checks and the projections come from
:mod:`landscape.experiment`. Accuracies, errors and sparsities are fractions in every result.
"""

from typing import Any

from landscape.verify.judgement import THRESHOLD_HELP, Thresholds, judge
from landscape.verify.report import format_barriers, format_criteria, format_report

_EVIDENCE = ("connectivity", "default_curve_dir", "verify")


def __getattr__(name: str) -> Any:
    # evidence imports the experiment layer (torch): loaded when first asked for, so that
    # `landscape verify --help` reads the Thresholds without it
    if name in _EVIDENCE:
        from landscape.verify import evidence

        return getattr(evidence, name)
    raise AttributeError(f"module 'landscape.verify' has no attribute {name!r}")

__all__ = [
    "THRESHOLD_HELP",
    "Thresholds",
    "connectivity",
    "default_curve_dir",
    "format_barriers",
    "format_criteria",
    "format_report",
    "judge",
    "verify",
]
