"""Does a figure explain itself? Title, labelled axes and colour bars, legends off the data.

Uses matplotlib's own layout: the figure is drawn, then each legend's window extent is
compared with the display coordinates of the data (line points and the segments between
them, scatter offsets, bar rectangles).
"""

from __future__ import annotations

import re

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

CITATION = re.compile(r"(19|20)\d\d")


def _is_colorbar(ax) -> bool:
    return getattr(ax, "_colorbar", None) is not None


def _data_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison and not _is_colorbar(ax)]


def _line_points(line: Line2D, per_segment: int = 16) -> np.ndarray:
    xy = np.asarray(line.get_xydata(), dtype=float)
    xy = xy[np.all(np.isfinite(xy), axis=1)]
    if len(xy) == 0:
        return np.empty((0, 2))
    pts = line.get_transform().transform(xy)
    if len(pts) > 1 and line.get_linestyle() not in ("None", "none", ""):
        s = np.linspace(0, 1, per_segment)[:, None, None]
        pts = (pts[:-1][None] * (1 - s) + pts[1:][None] * s).reshape(-1, 2)
    return pts


def _data_points(ax) -> tuple[np.ndarray, list]:
    """Display coordinates of the data points, and the bars' extents, inside the axes."""
    box = ax.get_window_extent()
    pts = [_line_points(line) for line in ax.get_lines() if line.get_visible()]
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):
            pts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets())))
    pts = np.concatenate(pts) if pts else np.empty((0, 2))
    inside = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0)
              & (pts[:, 1] <= box.y1))
    bars = [p.get_window_extent() for p in ax.patches
            if isinstance(p, Rectangle) and p.get_visible() and p.get_height() != 0]
    return pts[inside], bars


def problems(fig: Figure) -> list[str]:
    """What keeps ``fig`` from explaining itself (empty when nothing)."""
    fig.canvas.draw()
    out = []
    axes = _data_axes(fig)
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    titles = [suptitle] + [ax.get_title() for ax in fig.axes if ax.get_visible()]
    if not suptitle and not (len(axes) <= 1 and all(ax.get_title() for ax in axes)) and not (
            not axes and any(titles)):
        out.append("no title (a suptitle, or the title of its one panel)")
    if not any(CITATION.search(t) for t in titles):
        out.append(f"its title cites no paper (author, year): {titles}")
    for ax in axes:
        if not ax.get_xlabel():
            out.append(f"panel {ax.get_title()!r} has no x label")
        if not ax.get_ylabel():
            out.append(f"panel {ax.get_title()!r} has no y label")
    page = fig.bbox
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for ax in axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
    for text in texts:
        box = text.get_window_extent()
        if text.get_text() and (box.x0 < page.x0 - 1 or box.x1 > page.x1 + 1
                                or box.y0 < page.y0 - 1 or box.y1 > page.y1 + 1):
            out.append(f"{text.get_text()!r} is cut off at the edge of the figure")
    for ax in fig.axes:
        if _is_colorbar(ax) and not (ax.get_ylabel() or ax.get_xlabel()):
            out.append("a colour bar has no label")
    legends = [lg for lg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if lg]
    for legend in legends:
        box = legend.get_window_extent()
        for ax in axes:
            pts, bars = _data_points(ax)
            hit = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0)
                   & (pts[:, 1] < box.y1))
            if hit.any():
                out.append(f"a legend covers {int(hit.sum())} data point(s) of panel "
                           f"{ax.get_title()!r}")
            if any(b.overlaps(box) for b in bars):
                out.append(f"a legend covers bars of panel {ax.get_title()!r}")
    return out


def record_figures(monkeypatch, cache_dir) -> dict[str, list[str]]:
    """Check every figure saved from now on: ``{file name: problems}``.

    The figure cache is pointed at the empty folder ``cache_dir`` so that every figure is
    really drawn (a cached PNG would skip the drawing and the check). Figures saved to a
    buffer (PNGs embedded in a page or kept in the figure cache) are named ``embedded N``.
    """
    from pathlib import Path

    import landscape.plotting._cache as figure_cache

    found: dict[str, list[str]] = {}
    original = Figure.savefig

    def savefig(fig, fname, *args, **kwargs):
        if isinstance(fname, str | Path):
            name = re.sub(r"^\.(.*)\.[0-9a-f]+\.tmp$", r"\1", Path(fname).name)
        else:
            name = f"embedded {len(found)}"
        found[name] = problems(fig)
        return original(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    monkeypatch.setattr(figure_cache, "_cache_dir", lambda: Path(cache_dir))
    return found
