"""Loss surfaces around the runs' minima (Li et al. 2018), when the store holds them.

Lists the cached ``surface.*`` entries of the experiment with their provenance; drawing them
belongs to the surface analysis' own figure code.
"""

from __future__ import annotations

from landscape.report.blocks import Content, Section, Table
from landscape.report.context import Context
from landscape.report.sections import register


def build(ctx: Context) -> Content | None:
    """A table of the cached surfaces (none: the section is left out)."""
    entries = [e for e in ctx.exp.entries if e.name.startswith("surface.") and e.complete]
    if not entries:
        return None
    rows = [[e.name, ", ".join(f"{r}: {p}" for r, p in e.roles.items() if p),
             ctx.cite(e, e.key[:12])] for e in entries]
    return Content(blocks=[Table(["analysis", "inputs", "entry"], rows,
                                 caption="Cached loss surfaces (Li et al. 2018).")])


SECTION = register(Section("surfaces", "Loss surfaces", build))
