"""landscape: loss-landscape and Hessian analysis of trained networks.

Sub-packages follow the data flow of DESIGN.md section 2: ``data`` and ``models`` feed
``train``/``optim``, whose checkpoints (``checkpoint``) feed the analyses (``curvature``,
``curves``, ``stats``), which cache into ``store`` and are drawn by ``plotting``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
