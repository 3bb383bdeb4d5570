"""The registry of report sections, in page order.

A section is a small module with one ``build(context) -> Content | None`` function
registered here (:func:`register`); a new cached analysis gets its section by adding one
such module and one line to :data:`ORDER`. Sections never compute: they read the store
entries the experiment holds (:class:`landscape.report.gather.Experiment`) and draw them.
"""

from __future__ import annotations

import importlib

from landscape.report.blocks import (
    Content,
    Figure,
    Missing,
    Section,
    Table,
    Text,
    Value,
)

__all__ = ["ORDER", "SECTIONS", "Content", "Figure", "Missing", "Section", "Table", "Text",
           "Value", "register", "sections"]

SECTIONS: dict[str, Section] = {}
"""Section id -> section, filled by :func:`register` as the section modules are imported."""

ORDER: tuple[str, ...] = (
    "overview", "runs", "training", "curvature", "sharpness", "connectivity", "surfaces",
    "projection", "features", "tradeoff", "verdict",
)
"""The section modules (``landscape.report.sections.<name>``), in page order."""


def register(section: Section) -> Section:
    """Add ``section`` to the registry (its id must be new); returns it."""
    if section.id in SECTIONS and SECTIONS[section.id] is not section:
        raise ValueError(f"a report section with id {section.id!r} is registered already")
    SECTIONS[section.id] = section
    return section


def sections() -> list[Section]:
    """Every registered section in page order (importing the modules of :data:`ORDER`)."""
    for name in ORDER:
        importlib.import_module(f"landscape.report.sections.{name}")
    order = {name: i for i, name in enumerate(ORDER)}
    return sorted(SECTIONS.values(), key=lambda s: order.get(s.id, len(order)))
