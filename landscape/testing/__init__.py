"""Slow, obviously-right reference implementations that the fast paths are tested against.

Every fast path (HVP, Lanczos, multi-tensor optimizer step, curve evaluation) has a
reference here, and the tests compare the two at explicit tolerances.
"""

from landscape.testing.hessian import dense_hessian
from landscape.testing.optim import ReferenceGRDA

__all__: list[str] = ["ReferenceGRDA", "dense_hessian"]
