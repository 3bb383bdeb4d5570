"""Figures are drawn once: the same numbers and drawing code give the cached PNG."""

from __future__ import annotations

import numpy as np
import pytest

from landscape.plotting import _cache
from landscape.plotting._cache import cached_png, figure_key, save_plot
from landscape.plotting._style import new_figure


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "figures"


def _counted():
    calls = []

    def plot(values, *, title="t", **extra):
        calls.append(1)
        fig, axes = new_figure()
        axes[0, 0].plot(values)
        axes[0, 0].set_title(title)
        return fig

    return plot, calls


def test_the_same_figure_is_drawn_once_and_a_change_draws_again(cache, tmp_path):
    plot, calls = _counted()
    out = tmp_path / "fig.png"
    save_plot(out, plot, np.arange(5.0), title="a")
    first = out.read_bytes()
    save_plot(out, plot, np.arange(5.0), title="a")
    assert len(calls) == 1 and out.read_bytes() == first
    out.unlink()  # a deleted figure is written again from the cache, still not drawn
    save_plot(out, plot, np.arange(5.0), title="a")
    assert len(calls) == 1 and out.read_bytes() == first
    save_plot(out, plot, np.arange(5.0) + 1e-12, title="a")  # other numbers: drawn again
    save_plot(out, plot, np.arange(5.0), title="b")  # another title: drawn again
    assert len(calls) == 3 and len(list(cache.glob("*.png"))) == 3


def test_a_damaged_or_unwritable_cache_is_skipped(cache, tmp_path, monkeypatch):
    plot, calls = _counted()
    png = cached_png(plot, (np.arange(3.0),))
    (path,) = cache.glob("*.png")
    path.write_bytes(png[: len(png) // 2])  # a truncated file is never served
    assert cached_png(plot, (np.arange(3.0),)) == png and len(calls) == 2
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a directory")
    assert cached_png(plot, (np.arange(3.0),)) == png and len(calls) == 3


def test_arguments_without_canonical_bytes_are_drawn_every_time(cache):
    plot, calls = _counted()

    class Opaque:
        pass

    assert figure_key(plot, (Opaque(),), {}, 100) is None
    assert figure_key(plot, (np.arange(3.0),), {"x": Opaque()}, 100) is None
    for _ in range(2):
        cached_png(plot, (np.arange(3.0),), {"x": Opaque()})
    assert len(calls) == 2 and not cache.exists()
    assert figure_key(plot, (np.arange(3.0),), {}, 100) != figure_key(plot, (np.arange(3.0),),
                                                                       {}, 150)


def test_the_cache_keeps_at_most_its_limit(cache, monkeypatch):
    monkeypatch.setattr(_cache, "MAX_FIGURES", 2)
    plot, _ = _counted()
    cache.mkdir(parents=True)
    (cache / "keep-me.txt").write_text("not ours")
    for k in range(4):
        cached_png(plot, (np.arange(3.0) + k,))
    assert len(list(cache.glob("*.png"))) == 2 and (cache / "keep-me.txt").exists()
