"""Where the curve's control points lie in its plane (geometry of a cached curve, no data).

A ``curves.plane`` entry holds the grid's values; the plane's scale (``dx``, ``dy``) and the
control points' coordinates follow in closed form from the fitted curve's stored parameters
(:func:`landscape.curves.plane_layout`: one projection per control point, no forward pass and
no data). The report reads the curve's last checkpoint and its endpoints' checkpoints and
checks that they are the ones the entry's key names (content digests), so the drawing is
the plane the values were computed on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landscape.report.gather import StoredEntry

__all__ = ["plane_geometry"]


def plane_geometry(entry: StoredEntry, *, curve_points: int = 61) -> dict[str, Any] | None:
    """The layout of a cached plane (``alpha``, ``beta``, ``dx``, ``dy``, ``bends``, ``curve``).

    Returns ``None`` when the curve's stored parameters are not the ones the entry was
    computed for (a curve fitted further since), or its endpoints are not landscape
    checkpoints of the experiment.
    """
    import torch

    from landscape._digest import state_digest
    from landscape.checkpoint import load_checkpoint
    from landscape.curves import Curve, plane_layout
    from landscape.rundir import RunDir

    curve, start, end = entry.curve, entry.roles.get("start"), entry.roles.get("end")
    if curve is None or start is None or end is None:
        return None
    rd = RunDir(curve.path)
    last = rd.last_epoch()
    if last is None:
        return None
    middle = load_checkpoint(rd.checkpoint_path(last)).extra["middle"]
    if state_digest({"middle": middle.detach().cpu()}) != entry.summary.inputs.get("middle"):
        return None
    a = load_checkpoint(start.run.path / f"epoch_{start.epoch:04d}.pt")
    b = load_checkpoint(end.run.path / f"epoch_{end.epoch:04d}.pt")
    fitted = Curve(a.parameters(), b.parameters(), degree=int(curve.config["degree"]),
                   kind=str(curve.config["kind"]), middle=[m.to(torch.float64) for m in middle])
    p = entry.params
    layout = plane_layout(fitted, grid=int(p["grid"]), margin=float(p.get("margin", 0.2)),
                          curve_points=curve_points)
    return {k: np.asarray(v) if isinstance(v, np.ndarray) else v for k, v in layout.items()}
