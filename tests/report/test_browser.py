"""The demo's report in a real browser: headless Chromium draws it, with and without JavaScript.

Runs whenever ``chromium`` is installed (CI installs it), skipped otherwise. The page is
loaded over the DevTools protocol (tests/report/browser.py): the first screen is captured and
checked to be a drawn page, not a blank one; the console shows no error, no exception is
thrown, and nothing is requested but the file itself and its embedded data.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.report.browser import CHROMIUM, load_page

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

DRAWN = ("[document.querySelectorAll('figure.interactive.drawn').length, "
         "document.querySelectorAll('div.plotly-figure').length, "
         "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length, "
         "document.images.length]")

# resolves once every Plotly figure has finished drawing (checked at every frame)
ALL_DRAWN = ("new Promise(r => (function poll() { "
             "document.querySelectorAll('figure.interactive.drawn').length >= "
             "document.querySelectorAll('div.plotly-figure').length "
             "? requestAnimationFrame(() => r(true)) : requestAnimationFrame(poll); })())")


def _pixels(png: bytes) -> np.ndarray:
    import matplotlib.image as mpimg

    return np.asarray(mpimg.imread(io.BytesIO(png), format="png"))[..., :3]


@pytest.fixture(scope="module")
def page(tiny_demo) -> Path:
    _, result = tiny_demo
    path = Path(result["report"])
    assert path.is_file() and path.name == "report.html"
    return path


def test_the_demo_report_draws_in_chromium_without_errors(page):
    seen = load_page(page, ready=ALL_DRAWN, expression=DRAWN)
    pixels = _pixels(seen.screenshot)
    assert pixels.shape[:2] == (900, 1280)
    # a drawn page: text and tables, not one colour (a blank page has zero variance)
    assert pixels.std() > 0.05 and (pixels < 0.5).mean() > 0.005
    assert seen.console_errors == []
    assert [u for u in seen.requests if not u.startswith(("data:", "file:"))] == []
    assert seen.title.startswith("landscape report")
    drawn, interactive, images, total = seen.evaluated
    assert interactive >= 3 and drawn == interactive  # every Plotly figure drawn
    assert images == total > 0


def test_the_demo_report_reads_with_javascript_off(page):
    seen = load_page(page, javascript=False, expression=None)
    pixels = _pixels(seen.screenshot)
    assert pixels.std() > 0.05
    assert [u for u in seen.requests if not u.startswith(("data:", "file:"))] == []
