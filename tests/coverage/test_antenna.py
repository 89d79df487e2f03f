"""Sector antenna patterns (3GPP TR 36.814 / 38.901 style)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lomsong.coverage.antenna import (
    horizontal_pattern_db,
    sector_gain_db,
    vertical_pattern_db,
    wrap_deg,
)

SECTOR = dict(beamwidth_deg=65.0, tilt_deg=2.0, vertical_beamwidth_deg=10.0)


def test_horizontal_pattern_golden():
    # boresight 0 dB; half the 3 dB beamwidth is -3 dB by construction (12 * 0.5^2 = 3)
    assert horizontal_pattern_db(0.0, 65.0) == 0.0
    assert horizontal_pattern_db(32.5, 65.0) == pytest.approx(-3.0)
    assert horizontal_pattern_db(-32.5, 65.0) == pytest.approx(-3.0)
    # hand: -12 (60 / 65)^2 = -10.2249 dB
    assert horizontal_pattern_db(60.0, 65.0) == pytest.approx(-10.224852071, abs=1e-8)
    # A_m caps it: 12 (180/65)^2 = 92 -> 30
    assert horizontal_pattern_db(180.0, 65.0) == -30.0
    # wrap: 350 deg off is 10 deg off
    assert horizontal_pattern_db(350.0, 65.0) == pytest.approx(horizontal_pattern_db(10.0, 65.0))


def test_vertical_pattern_golden():
    assert vertical_pattern_db(2.0, 2.0, 10.0) == 0.0
    assert vertical_pattern_db(7.0, 2.0, 10.0) == pytest.approx(-3.0)
    assert vertical_pattern_db(-3.0, 2.0, 10.0) == pytest.approx(-3.0)
    assert vertical_pattern_db(60.0, 2.0, 10.0) == -30.0  # SLA_V


def test_combined_is_capped_at_a_max_and_omni_ignores_bearing():
    g = sector_gain_db(180.0, 60.0, azimuth_deg=0.0, **SECTOR)
    assert g == -30.0  # -(30 + 30) capped at A_m
    omni = sector_gain_db(np.array([0.0, 90.0, 200.0]), 2.0, azimuth_deg=None, **SECTOR)
    np.testing.assert_array_equal(omni, [0.0, 0.0, 0.0])
    # an omni keeps its vertical pattern
    assert sector_gain_db(0.0, 7.0, azimuth_deg=None, **SECTOR) == pytest.approx(-3.0)
    # sector: horizontal and vertical add in dB below the cap
    assert sector_gain_db(32.5, 7.0, azimuth_deg=0.0, **SECTOR) == pytest.approx(-6.0)


def test_azimuth_is_clockwise_from_north_with_wrap():
    # a sector pointing at 350 deg serves bearing 10 deg as well as bearing 330 deg
    a = sector_gain_db(10.0, 2.0, azimuth_deg=350.0, **SECTOR)
    b = sector_gain_db(330.0, 2.0, azimuth_deg=350.0, **SECTOR)
    assert a == pytest.approx(b)
    assert wrap_deg(190.0) == pytest.approx(-170.0)
    assert wrap_deg(-180.0) == pytest.approx(-180.0)


@given(bearing=st.floats(-720, 720), dep=st.floats(-90, 90), az=st.floats(0, 360),
       bw=st.floats(10, 180), tilt=st.floats(-10, 20), vbw=st.floats(3, 40))
def test_gain_is_bounded_symmetric_and_falls_off_boresight(bearing, dep, az, bw, tilt, vbw):
    kw = dict(beamwidth_deg=bw, tilt_deg=tilt, vertical_beamwidth_deg=vbw)
    g = sector_gain_db(bearing, dep, azimuth_deg=az, **kw)
    assert -30.0 <= g <= 0.0
    off = float(wrap_deg(bearing - az))
    mirror = sector_gain_db(az - off, dep, azimuth_deg=az, **kw)
    assert g == pytest.approx(mirror, abs=1e-9)
    nearer = sector_gain_db(az + off / 2, dep, azimuth_deg=az, **kw)
    assert nearer >= g - 1e-12


@given(bearing=st.floats(-720, 720), dep=st.floats(-90, 90),
       az=st.one_of(st.none(), st.floats(0, 360)), bw=st.floats(10, 180),
       tilt=st.floats(-10, 20), vbw=st.floats(3, 40))
def test_kernel_matches_numpy_pattern(bearing, dep, az, bw, tilt, vbw):
    from lomsong.coverage._kernels.pathloss import sector_gain_db as kernel

    want = sector_gain_db(bearing, dep, azimuth_deg=az, beamwidth_deg=bw, tilt_deg=tilt,
                          vertical_beamwidth_deg=vbw)
    got = kernel(bearing, dep, float("nan") if az is None else az, bw, tilt, vbw, 30.0, 30.0)
    assert got == pytest.approx(float(want), abs=1e-9)
