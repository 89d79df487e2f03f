"""Shared test fixtures: where ../shared lives, and small synthetic grids."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from hypothesis import settings

# No per-example deadline anywhere: the first example of a test pays Numba's compile or cache
# load (0.1-20 s), which Hypothesis would report as a flaky deadline failure.  Run time is the
# benchmarks' business, not the tests'.
settings.register_profile("lomsong", deadline=None)
settings.load_profile("lomsong")

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
SHARED_DATA = SHARED / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


def shared_file(rel: str) -> Path:
    """A file under ../shared/data, or skip the test cleanly when ../shared is absent."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"needs ../shared/data/{rel} (present in CI, not shipped to users)")
    return p


@pytest.fixture
def flat_dem():
    """A 101 x 101 flat grid at 100 m elevation, 30 m cells, in UTM 48N near Thái Nguyên."""
    from lomsong.coverage.models import DemGrid

    elev = np.full((101, 101), 100.0, dtype=np.float32)
    t = Affine(30.0, 0.0, 580000.0, 0.0, -30.0, 2400000.0)
    return DemGrid(elevation_m=elev, transform=t, crs="EPSG:32648")


# In CI (.ci/run sets LOMSONG_REQUIRE_PEERS=1) the peer tools, a C compiler and ../shared are
# installed, so a test marked peer/shared/browser/compiler that skips means a broken install
# step: make it fail instead.
REQUIRE_PEERS = os.environ.get("LOMSONG_REQUIRE_PEERS") == "1"
PEER_TOOLS = ("gdal_viewshed", "gdalwarp", "grass", "splat", "chromium", "gcc")


def pytest_sessionstart(session):
    if not REQUIRE_PEERS:
        return
    missing = [t for t in PEER_TOOLS if shutil.which(t) is None]
    if not SHARED_DATA.exists():
        missing.append(str(SHARED_DATA))
    if missing:
        raise pytest.UsageError(f"LOMSONG_REQUIRE_PEERS=1 but missing: {', '.join(missing)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if REQUIRE_PEERS and rep.skipped and any(
        item.get_closest_marker(m) for m in ("peer", "shared", "browser", "compiler")
    ):
        rep.outcome = "failed"
        rep.longrepr = f"skipped under LOMSONG_REQUIRE_PEERS=1: {rep.longrepr}"
