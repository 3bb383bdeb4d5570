"""landscape: loss-landscape and Hessian analysis of trained networks.

Two layers. The core (``curvature``, ``curves``, ``surface``, ``stats``) analyses any
``nn.Module`` on any re-iterable of ``(x, y)`` batches with any loss, and never sees a file.
The experiment layer (``experiment``, ``verify``, the ``landscape`` commands) resolves what a
user names (a landscape checkpoint or run, a plain ``state_dict``/``.safetensors`` file with
its model, registry or user data) into a subject and caches every core computation in the
result store (``store``). Foundations below both: ``data``, ``models``, ``optim``,
``evaluation``, ``distributed``; ``train`` writes runs of checkpoints (``checkpoint``,
``rundir``); ``plotting`` draws cached results. ``docs/architecture.md`` has the layers.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
