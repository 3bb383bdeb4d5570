"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

# One thread unless OMP_NUM_THREADS says otherwise: CI runs the suite with 1 and with 2 threads
# (results that go through different thread counts must agree within stated tolerances).
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))

# Parsed datasets (the embedded digits) are cached in a temporary directory shared by the
# suite's runs on this machine, never in the user's cache directory.
os.environ["LANDSCAPE_CACHE_DIR"] = os.path.join(
    tempfile.gettempdir(), f"landscape-test-cache-{getattr(os, 'getuid', lambda: 0)()}")


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` when CUDA is absent.

    ``LANDSCAPE_GPU_TEST_DEVICE=cpu`` runs them on the CPU instead (to check the tests).
    """
    if torch.cuda.is_available() or os.environ.get("LANDSCAPE_GPU_TEST_DEVICE"):
        return
    skip = pytest.mark.skip(reason="needs CUDA; no GPU present")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def tmp_run(tmp_path):
    """A fresh directory for a run."""
    return tmp_path / "run"


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """The demo pipeline on its tiny preset, run once per test session: ``(root, result)``."""
    from landscape.demo import run_demo

    root = tmp_path_factory.mktemp("demo")
    result = run_demo(root / "out", root / "fig", preset="tiny", progress=False,
                      log=lambda s: None)
    return root, result
