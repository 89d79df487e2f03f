"""Per-tower received power and best signal / best server per carrier and RAT."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from lomsong.coverage import signal as sig
from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.models import DemGrid, Tower
from tests import reference_pathloss as ref


def dem_from(elev, cell_m=90.0) -> DemGrid:
    return DemGrid(elevation_m=np.asarray(elev, dtype=np.float32),
                   transform=Affine(cell_m, 0, 500000.0, 0, -cell_m, 2400000.0), crs="EPSG:32648")


def tower(dem: DemGrid, row: float, col: float, **kw) -> Tower:
    x, y = dem.xy(row, col)
    base = dict(cell_id=f"c{row}-{col}", site_id="s", carrier="Viettel", rat="4G", lon=105.8,
                lat=21.6, x=x, y=y, height_m=30.0, eirp_dbm=61.0, frequency_mhz=1800.0,
                bandwidth_mhz=20.0, azimuth_deg=None, radius_m=2000.0)
    base.update(kw)
    return Tower(**base)


@pytest.mark.parametrize("rat, bw, expected", [
    ("4G", 20.0, -10 * math.log10(12 * 100)),   # TS 36.101: 20 MHz = 100 RB -> -30.79 dB
    ("LTE", 1.4, -10 * math.log10(12 * 6)),
    ("5G", 100.0, -10 * math.log10(12 * 273)),  # TS 38.101-1, 30 kHz: 273 RB -> -35.15 dB
    ("NR", 20.0, -10 * math.log10(12 * 51)),
    ("3G", 5.0, -10.0),                         # CPICH = 10 % of total power
    ("UMTS", 5.0, -10.0),
    ("2G", 0.2, 0.0),                           # BCCH at full power
])
def test_reference_offsets(rat, bw, expected):
    assert sig.reference_offset_db(rat, bw) == pytest.approx(expected, abs=1e-12)
    assert sig.reference_offset_db("4G", 20.0) == pytest.approx(-30.7918124605, abs=1e-9)


def test_non_standard_bandwidth_is_rejected_with_field_and_value():
    with pytest.raises(InvalidInputError, match="bandwidth_mhz=12"):
        sig.reference_offset_db("4G", 12.0)
    with pytest.raises(InvalidInputError, match="rat='6G'"):
        sig.reference_offset_db("6G", 20.0)


def test_received_power_matches_hand_link_budget_on_flat_ground():
    dem = dem_from(np.full((61, 61), 20.0))
    t = tower(dem, 30, 30, rat="3G", frequency_mhz=2100.0, bandwidth_mhz=5.0, eirp_dbm=57.0,
              tilt_deg=2.0, vertical_beamwidth_deg=10.0)
    before = dem.elevation_m.copy()
    r = sig.received_power(dem, t, model="fspl")
    np.testing.assert_array_equal(dem.elevation_m, before)
    assert r.quantity == "rx_dbm" and r.values.dtype == np.float32
    # cell 20 east of the tower: d = 1800 m, drop = 28.5 m + d^2 / (2 k a)
    d = 1800.0
    drop = 28.5 + d * d / (2 * 4 / 3 * 6371000.0)
    dep = math.degrees(math.atan2(drop, d))
    a_v = -min(12 * ((dep - 2.0) / 10.0) ** 2, 30.0)
    want = 57.0 - 10.0 + a_v - ref.fspl_ref(math.hypot(d, 28.5), 2100.0)
    got = r.values[30 - r.row_off, 50 - r.col_off]
    assert got == pytest.approx(want, abs=1e-3)


def test_sector_points_where_its_azimuth_says():
    dem = dem_from(np.full((81, 81), 0.0))
    t = tower(dem, 40, 40, azimuth_deg=90.0, radius_m=3000.0)  # facing east
    r = sig.received_power(dem, t, model="fspl")
    v = r.values
    r0, c0 = 40 - r.row_off, 40 - r.col_off
    east, west = v[r0, c0 + 25], v[r0, c0 - 25]
    north, south = v[r0 - 25, c0], v[r0 + 25, c0]
    # every one of these cells is 2250 m away, 28.5 m below the antenna (tilt 0, 10 deg beam)
    dep = math.degrees(math.atan2(28.5 + 2250.0**2 / (2 * 4 / 3 * 6371000.0), 2250.0))
    a_v = -12 * (dep / 10.0) ** 2
    # behind: A_H = -30, and -(A_H + A_V) is capped at A_m = 30
    assert east - west == pytest.approx(a_v + 30.0, abs=1e-3)
    assert north == pytest.approx(south, abs=1e-3)
    # 90 deg off a 65 deg beam: 12 (90/65)^2 = 23.0 dB down
    assert east - north == pytest.approx(12 * (90 / 65) ** 2, abs=1e-3)


def test_best_service_is_the_max_over_cells_with_their_index():
    rng = np.random.default_rng(3)
    elev = 100 + 30 * rng.random((71, 71))
    dem = dem_from(elev)
    a = tower(dem, 30, 30, cell_id="A", azimuth_deg=45.0)
    b = tower(dem, 40, 45, cell_id="B", radius_m=1500.0)
    other_carrier = tower(dem, 35, 35, cell_id="X", carrier="MobiFone", eirp_dbm=90.0)
    other_rat = tower(dem, 35, 35, cell_id="Y", rat="3G", bandwidth_mhz=5.0, eirp_dbm=90.0,
                      frequency_mhz=2100.0)
    with pytest.raises(InvalidInputError, match="one carrier and technology"):
        sig.best_server(dem, [a, other_carrier, b, other_rat])
    seen = []
    s = sig.best_server(dem, [a, b], progress=seen.append)
    assert seen == [0.5, 1.0]
    assert s.cell_ids == ("A", "B") and s.rat == "4G" and s.carrier == "Viettel"
    by_key = sig.service_rasters(dem, [a, other_carrier, b, other_rat])
    np.testing.assert_array_equal(by_key[("Viettel", "4G")].best_dbm, s.best_dbm)
    assert by_key[("MobiFone", "4G")].cell_ids == ("X",)
    assert s.best_dbm.shape == dem.shape and s.best_server.dtype == np.int32
    full = []
    for t in (a, b):
        r = sig.received_power(dem, t)
        g = np.full(dem.shape, np.nan, dtype=np.float32)
        g[r.row_off:r.row_off + r.values.shape[0], r.col_off:r.col_off + r.values.shape[1]] = r.values
        full.append(g)
    stack = np.stack(full)
    want = np.nanmax(np.where(np.isnan(stack), -np.inf, stack), axis=0)
    want[np.all(np.isnan(stack), axis=0)] = np.nan
    np.testing.assert_array_equal(s.best_dbm, want.astype(np.float32))
    none = np.isnan(s.best_dbm)
    assert np.all(s.best_server[none] == -1)
    idx = s.best_server[~none]
    rr, cc = np.nonzero(~none)
    np.testing.assert_array_equal(stack[idx, rr, cc], s.best_dbm[~none])


def test_tie_keeps_the_earlier_cell():
    dem = dem_from(np.full((41, 41), 5.0))
    a = tower(dem, 20, 20, cell_id="first")
    b = tower(dem, 20, 20, cell_id="second")
    s = sig.best_server(dem, [a, b])
    assert set(np.unique(s.best_server)) == {-1, 0}


def test_raising_an_omni_antenna_never_shrinks_coverage():
    y, x = np.mgrid[0:61, 0:61]
    elev = 100 + 120 * np.exp(-((y - 22) ** 2 + (x - 40) ** 2) / 30.0) + 3 * np.sin(x / 3.0)
    dem = dem_from(elev)
    covered = []
    for h in (15.0, 30.0, 60.0):
        t = tower(dem, 30, 30, height_m=h, vertical_beamwidth_deg=90.0, tilt_deg=0.0,
                  radius_m=2600.0)
        covered.append(sig.received_power(dem, t).values >= -95.0)
    assert covered[0].sum() < covered[2].sum()
    assert np.all(covered[1][covered[0]]) and np.all(covered[2][covered[1]])


def test_all_bad_towers_are_reported_at_once():
    dem = dem_from(np.zeros((21, 21)))
    good = tower(dem, 10, 10)
    far = Tower(**{**{f: getattr(good, f) for f in Tower.__slots__}, "x": 0.0, "y": 0.0,
                   "cell_id": "far", "source_row": 7})
    low = Tower(**{**{f: getattr(good, f) for f in Tower.__slots__}, "height_m": -5.0,
                   "cell_id": "low", "source_row": 8})
    badbw = Tower(**{**{f: getattr(good, f) for f in Tower.__slots__}, "bandwidth_mhz": 12.0,
                     "cell_id": "bw", "source_row": 9})
    with pytest.raises(InvalidInputError) as exc:
        sig.service_rasters(dem, [good, far, low, badbw])
    text = str(exc.value)
    assert "tower far (input row 7)" in text and "outside the DEM" in text
    assert "tower low (input row 8): height_m=-5" in text
    assert "tower bw (input row 9): bandwidth_mhz=12" in text
    assert len(exc.value.problems) == 3
    with pytest.raises(InvalidInputError, match="frequency_mhz=1800"):
        sig.received_power(dem, good, model="hata")


def test_service_rasters_keys_every_carrier_and_rat():
    dem = dem_from(np.zeros((41, 41)))
    ts = [tower(dem, 20, 20, cell_id="a"), tower(dem, 10, 10, cell_id="b", carrier="MobiFone"),
          tower(dem, 30, 30, cell_id="c", rat="2G", bandwidth_mhz=0.2, frequency_mhz=900.0,
                eirp_dbm=55.0)]
    out = sig.service_rasters(dem, ts, model="fspl")
    assert set(out) == {("Viettel", "4G"), ("MobiFone", "4G"), ("Viettel", "2G")}
    assert out[("Viettel", "2G")].cell_ids == ("c",)


@pytest.mark.shared
def test_real_terrain_service_is_plausible():
    from lomsong.geodata.dem import lonlat_to_xy, read_dem
    from tests.conftest import shared_file

    dem = read_dem(shared_file("dem/N21E105.hgt"), resolution_m=90.0)
    ts = []
    for i, (lon, lat, az) in enumerate([(105.848, 21.594, 0.0), (105.80, 21.62, 240.0)]):
        x, y = lonlat_to_xy(dem.crs, lon, lat)
        ts.append(Tower(cell_id=f"ill-{i}", site_id=f"s{i}", carrier="Viettel", rat="4G",
                        lon=lon, lat=lat, x=x, y=y, height_m=30.0, eirp_dbm=61.0,
                        frequency_mhz=1800.0, bandwidth_mhz=20.0, azimuth_deg=az, tilt_deg=2.0,
                        radius_m=8000.0, illustrative=True))
    s = sig.best_server(dem, ts)
    got = s.best_dbm[np.isfinite(s.best_dbm)]
    # RSRP of a 61 dBm EIRP / 20 MHz cell: 30 dBm per RE at the antenna, so at most about
    # -40 dBm next to the mast and, within 8 km, rarely below -150 dBm even behind hills
    assert got.max() < -30.0
    assert np.median(got) < -80.0 and np.percentile(got, 5) > -170.0
    assert set(np.unique(s.best_server)) == {-1, 0, 1}


def _rx_window_ref(loss, elev, row_t, col_t, cell_m, antenna_m, rx_h, level, t: Tower):
    """The obvious numpy version: geometry per cell, then the antenna module's pattern."""
    from lomsong.coverage.antenna import sector_gain_db

    rr, cc = np.mgrid[0:loss.shape[0], 0:loss.shape[1]]
    north, east = (row_t - rr) * cell_m, (cc - col_t) * cell_m
    d = np.hypot(east, north)
    bearing = np.degrees(np.arctan2(east, north))
    drop = antenna_m - (elev + rx_h) + d * d / (2 * 4 / 3 * 6371000.0)
    dep = np.degrees(np.arctan2(drop, d))
    g = sector_gain_db(bearing, dep, azimuth_deg=t.azimuth_deg, beamwidth_deg=t.beamwidth_deg,
                       tilt_deg=t.tilt_deg, vertical_beamwidth_deg=t.vertical_beamwidth_deg)
    return level + g - loss


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), az=st.one_of(st.none(), st.floats(0, 359.9)),
       tilt=st.floats(-5, 15), fr=st.floats(0, 1), fc=st.floats(0, 1))
def test_rx_window_kernel_matches_numpy_reference(seed, az, tilt, fr, fc):
    from lomsong.coverage._kernels import radial as rk

    rng = np.random.default_rng(seed)
    elev = rng.uniform(0, 300, (15, 17))
    loss = rng.uniform(60, 160, elev.shape)
    loss[rng.random(elev.shape) < 0.2] = np.nan
    dem = dem_from(elev)
    t = tower(dem, 7, 8, azimuth_deg=az, tilt_deg=tilt, beamwidth_deg=65.0,
              vertical_beamwidth_deg=10.0)
    row_t, col_t = 14 * fr, 16 * fc
    before = (loss.copy(), elev.copy())
    got = rk.rx_power_window(loss, elev, row_t, col_t, 90.0, 250.0, 1.5, 30.0,
                             np.nan if az is None else az, 65.0, tilt, 10.0, 30.0, 30.0, 4 / 3)
    want = _rx_window_ref(loss, elev, row_t, col_t, 90.0, 250.0, 1.5, 30.0, t)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)  # float32 output
    np.testing.assert_array_equal(loss, before[0])
    np.testing.assert_array_equal(elev, before[1])
