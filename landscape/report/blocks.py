"""What a section of the report is made of (plain data; the templates draw it).

A section is a :class:`Section` in the registry (:mod:`landscape.report.sections`): an id, a
title and ``build(context) -> Content | None`` (``None``: nothing to show and nothing
missing). The content is a list of blocks (:class:`Figure`, :class:`Table`, :class:`Text`)
and the analyses that are :class:`Missing`, each with the command that computes it. Numbers
go into tables as :class:`Value`: the text shown and the provenance it links to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from landscape.report.context import Context

__all__ = ["Content", "Figure", "Missing", "Section", "Table", "Text", "Value"]


@dataclass(frozen=True)
class Value:
    """A number (or word) in a table and where it comes from.

    Attributes:
        text: what is shown.
        anchor: the id of its provenance row (a store entry or a run), or ``None``.
        source: a tooltip: the store key or file, and the command that produced it.
        status: ``"pass"``/``"fail"`` for verdict cells (styled), else ``None``.
        code: shown as code (a command line).
    """

    text: str
    anchor: str | None = None
    source: str = ""
    status: str | None = None
    code: bool = False


@dataclass
class Table:
    """A table: header, rows of cells (a :class:`Value` or plain text), an optional caption."""

    header: list[str]
    rows: list[list[Value | str]]
    caption: str = ""
    anchors: list[str | None] = field(default_factory=list)  # an id per row, optional


@dataclass
class Figure:
    """A figure with its caption, as a static PNG and/or an interactive Plotly figure.

    Attributes:
        caption: what is plotted and the paper it follows (author, year).
        png: base64 PNG, or the pending drawing of it (:meth:`Context.static`), shown as the
            figure, or behind the interactive one with JavaScript off.
        plotly: a Plotly figure ``{"data": [...], "layout": {...}}`` (plain JSON), drawn by
            the embedded plotly.js; ``None`` for a static figure.
        alt: alternative text of the image.
        data: the numbers behind the figure (a table under a disclosure), or ``None``.
        sources: the anchors of the store entries it was drawn from.
    """

    caption: str
    png: Any = None
    plotly: dict[str, Any] | None = None
    alt: str = ""
    data: Table | None = None
    sources: list[tuple[str, str]] = field(default_factory=list)  # (anchor, label)
    html_id: str = ""  # set when the page is built


@dataclass(frozen=True)
class Text:
    """A paragraph (plain text, escaped like everything else)."""

    text: str


@dataclass(frozen=True)
class Missing:
    """An analysis the store does not hold, and the exact command that computes it."""

    what: str
    command: str


@dataclass
class Content:
    """A built section: an introduction, blocks, and what is missing."""

    intro: str = ""
    blocks: list[Figure | Table | Text] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """One section of the report: ``build(context)`` gathers its content (never computes)."""

    id: str
    title: str
    build: Callable[[Context], Content | None]
