"""ITM along radials (``--model itm``): the ray kernel against point-to-point ITM on every prefix.

The reference is the slow, obvious way: for the receiver at sample ``j``, cut the profile at
``j`` and call the phase-1 point-to-point kernel (validated against NTIA's published cases in
``test_itm.py``) on it.  The ray kernel reuses horizons, fits and sums along the ray instead;
the two must agree to 1e-6 dB (measured: below 1e-10 dB; only rounding differs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lomsong.coverage import itm
from lomsong.coverage import pathloss as pl
from lomsong.coverage._kernels import itm as k
from lomsong.coverage._kernels import itm_radial as kr
from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.models import DemGrid
from tests.reference_pathloss import fspl_ref

TOL_DB = 1e-6


def reference_ray(dist_m, z_m, h_tx, h_rx, f_mhz, params) -> np.ndarray:
    """Point-to-point ITM from scratch on each prefix profile; free space at the mast foot."""
    out = np.empty(len(z_m))
    out[0] = fspl_ref(max(abs(h_tx - h_rx), 1.0), f_mhz)
    deviates = [k.inverse_ccdf(params[i] / 100.0) for i in (kr.P_TIME_PCT,
                                                             kr.P_LOCATION_PCT,
                                                             kr.P_SITUATION_PCT)]
    for j in range(1, len(z_m)):
        res = k.p2p_path(
            np.array(z_m[: j + 1], dtype=np.float64), dist_m[1], h_tx, h_rx,
            int(params[kr.P_CLIMATE]), params[kr.P_N_0], f_mhz, int(params[kr.P_POLARIZATION]),
            params[kr.P_EPSILON], params[kr.P_SIGMA], int(params[kr.P_MDVAR]), *deviates,
        )
        out[j] = res[0]
    return out


def assert_rays_agree(got, want):
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=0.0, atol=TOL_DB)


# ---------------------------------------------------------------------------------------------
# The kernel against the reference
# ---------------------------------------------------------------------------------------------
heights = st.floats(-60.0, 1600.0, allow_nan=False)
walks = st.lists(st.floats(-80.0, 80.0), min_size=1, max_size=70).map(
    lambda steps: 40.0 + np.cumsum(steps))
profiles = st.one_of(st.lists(heights, min_size=1, max_size=60).map(np.array), walks)
mdvars = st.sampled_from([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33])
pcts = st.floats(1.0, 99.0)


@st.composite
def radios(draw):
    return itm.itm_params(
        climate=draw(st.integers(1, 7)), n_0=draw(st.floats(250.0, 400.0)),
        epsilon=draw(st.floats(2.0, 80.0)), sigma=draw(st.floats(1e-4, 5.0)),
        polarization=draw(st.integers(0, 1)), mdvar=draw(mdvars), time_pct=draw(pcts),
        location_pct=draw(pcts), situation_pct=draw(pcts),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(z=profiles, spacing=st.floats(10.0, 400.0), h_tx=st.floats(0.5, 200.0),
       h_rx=st.floats(0.5, 20.0), f=st.floats(20.0, 20000.0), params=radios())
def test_ray_kernel_matches_p2p_on_every_prefix(z, spacing, h_tx, h_rx, f, params):
    dist = np.arange(z.size) * spacing
    before = z.copy(), dist.copy(), params.copy()
    got = kr.itm_ray_loss_db(dist, z, h_tx, h_rx, f, params)
    assert_rays_agree(got, reference_ray(dist, z, h_tx, h_rx, f, params))
    for a, b in zip((z, dist, params), before, strict=True):
        np.testing.assert_array_equal(a, b)  # inputs untouched


@pytest.mark.parametrize("seed", range(4))
def test_ray_kernel_matches_p2p_on_long_rough_rays(seed):
    # 20 km at 90 m, like the real maps: long enough for every delta_h sample count (k = 4..25),
    # horizons that move, and the selection hints of delta_h failing and succeeding.
    rng = np.random.default_rng(seed)
    z = 100.0 + np.cumsum(rng.normal(0.0, 15.0, 224)) + 300.0 * np.sin(np.arange(224) / 17.0)
    dist = np.arange(224) * 90.0
    params = itm.itm_params()
    got = kr.itm_ray_loss_db(dist, z, 30.0, 1.5, 1800.0, params)
    assert_rays_agree(got, reference_ray(dist, z, 30.0, 1.5, 1800.0, params))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(z=profiles, spacing=st.floats(10.0, 400.0), h_tx=st.floats(0.5, 200.0),
       params=radios(), data=st.data())
def test_masked_ray_kernel_evaluates_exactly_the_needed_samples(z, spacing, h_tx, params, data):
    need = np.array(data.draw(st.lists(st.integers(0, 1), min_size=z.size, max_size=z.size)),
                    dtype=np.uint8)
    dist = np.arange(z.size) * spacing
    full = kr.itm_ray_loss_db(dist, z, h_tx, 1.5, 1800.0, params)
    got = kr.itm_ray_loss_db_need(dist, z, h_tx, 1.5, 1800.0, params, need)
    want = np.where(need.astype(bool) | (np.arange(z.size) == 0), full, np.nan)
    # the skipped receivers still feed the running hulls and sums: the others are unchanged
    assert np.array_equal(got, want, equal_nan=True)


def test_an_itm_map_evaluates_only_the_samples_its_cells_read():
    rng = np.random.default_rng(7)
    elev = (200.0 + np.cumsum(rng.normal(0, 12, (61, 61)), axis=1)).astype(np.float32)
    dem = DemGrid(elevation_m=elev, transform=Affine(90.0, 0, 500000.0, 0, -90.0, 2400000.0),
                  crs="EPSG:32648")
    spec = pl.get_model("itm")
    assert spec.ray_fn_need is kr.itm_ray_loss_db_need
    x, y = dem.xy(30, 30)
    masked = pl.path_loss_map(dem, x, y, tx_height_m=30.0, frequency_mhz=1800.0,
                              radius_m=2600.0, model="itm")
    from dataclasses import replace

    pl.register_model(replace(spec, name="itm-every-sample", ray_fn_need=None))
    try:
        full = pl.path_loss_map(dem, x, y, tx_height_m=30.0, frequency_mhz=1800.0,
                                radius_m=2600.0, model="itm-every-sample")
    finally:
        del pl.MODELS["itm-every-sample"]
    assert np.array_equal(masked.values, full.values, equal_nan=True)
    assert np.isfinite(masked.values).sum() > 2000


def _half_curvature(z, n_0=340.0):
    n_s = k.surface_refractivity(n_0, k.mean_path_height_m(z))
    return 0.5 * k.effective_curvature(n_s)


def test_receiver_horizon_chosen_by_the_receivers_own_curvature():
    # Two ridges seen from the receiver at almost the same elevation angle: with this path's own
    # curvature the far one is the horizon, with the ray's largest possible curvature (which the
    # kernel's hull is built for) the near one would be.  The kernel must still pick the far one.
    spacing, n = 100.0, 200
    z = np.zeros(n + 1)
    z[5] = 80.0  # blocks the transmitter's view
    i_far, i_near = 120, 170
    z[i_near] = 60.0
    d = n * spacing
    z_rx = z[n] + 1.5
    u_far, u_near = d - i_far * spacing, d - i_near * spacing
    for _ in range(6):  # z[i_far] moves the mean height, hence the curvature: iterate
        q = _half_curvature(z)
        b_near = (z[i_near] - z_rx) / u_near - q * u_near
        z[i_far] = z_rx + u_far * (b_near + 3e-6 + q * u_far)  # far wins by 3 microradians

    q = _half_curvature(z)
    q_ref = 0.5 * k.effective_curvature(k.surface_refractivity(340.0, z.max() + 1.0))

    def b(i, qq):
        u = d - i * spacing
        return (z[i] - z_rx) / u - qq * u

    assert b(i_far, q) > b(i_near, q) and b(i_far, q_ref) < b(i_near, q_ref)  # premise
    res = k.p2p_path(z, spacing, 30.0, 1.5, 2, 340.0, 1800.0, 1, 15.0, 0.005, 12, 0.0, 0.0, 0.0)
    assert res[6] == pytest.approx(u_far)  # the reference's receiver horizon distance
    dist = np.arange(n + 1) * spacing
    params = itm.itm_params()
    assert_rays_agree(kr.itm_ray_loss_db(dist, z, 30.0, 1.5, 1800.0, params),
                      reference_ray(dist, z, 30.0, 1.5, 1800.0, params))


def test_surface_refractivity_out_of_range_gives_nan_like_the_reference():
    # n_0 = 400 below sea level: N_s > 400 is an ITM error; the sample is NaN, the others not.
    z = np.array([-60.0, -60.0, -55.0, -60.0, 200.0, 600.0, 600.0, 600.0])
    dist = np.arange(z.size) * 90.0
    params = itm.itm_params(n_0=400.0)
    got = kr.itm_ray_loss_db(dist, z, 30.0, 1.5, 900.0, params)
    assert np.isnan(got[1:4]).all() and np.isfinite(got[5:]).all()
    assert_rays_agree(got, reference_ray(dist, z, 30.0, 1.5, 900.0, params))


# ---------------------------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(z=profiles, cut=st.integers(1, 60), h_tx=st.floats(1.0, 100.0))
def test_a_receiver_never_sees_terrain_beyond_itself(z, cut, h_tx):
    dist = np.arange(z.size) * 90.0
    params = itm.itm_params()
    full = kr.itm_ray_loss_db(dist, z, h_tx, 1.5, 900.0, params)
    m = min(cut, z.size)
    part = kr.itm_ray_loss_db(dist[:m], z[:m].copy(), h_tx, 1.5, 900.0, params)
    np.testing.assert_allclose(part, full[:m], rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("h_tx, h_rx", [(30.0, 1.5), (1.5, 1.5), (1.0, 3.0)])
def test_mast_foot_is_free_space_over_the_height_difference(h_tx, h_rx):
    out = kr.itm_ray_loss_db(np.array([0.0, 90.0]), np.array([10.0, 10.0]), h_tx, h_rx, 900.0,
                             itm.itm_params())
    assert out[0] == pytest.approx(fspl_ref(max(abs(h_tx - h_rx), 1.0), 900.0), abs=1e-9)


@pytest.mark.parametrize("f_mhz", [20.0, 900.0, 1800.0, 20000.0])
@pytest.mark.parametrize("h_tx", [1.0, 30.0, 200.0])
@pytest.mark.parametrize("spacing", [30.0, 90.0, 500.0])
def test_loss_grows_with_distance_over_flat_terrain(f_mhz, h_tx, spacing):
    z = np.full(300, 50.0)
    out = kr.itm_ray_loss_db(np.arange(300) * spacing, z, h_tx, 1.5, f_mhz, itm.itm_params())
    # from sample 1 on: sample 0 is free space over the (slant) height difference, while ITM's
    # free-space term uses the horizontal distance
    assert (np.diff(out[1:]) > 0).all()


def test_uneven_spacing_is_refused():
    with pytest.raises(ValueError, match="evenly spaced"):
        kr.itm_ray_loss_db(np.array([0.0, 90.0, 200.0]), np.zeros(3), 30.0, 1.5, 900.0,
                           itm.itm_params())


def test_delta_h_selection_hints_change_nothing():
    rng = np.random.default_rng(3)
    z = np.cumsum(rng.normal(0.0, 20.0, 230))
    scratch = np.empty(k.DELTA_H_SCRATCH)
    for x2 in (5000.0, 12000.0, 20000.0):
        want = k.terrain_irregularity_m(z, 90.0, 450.0, x2)
        ordered = None
        for lo, hi in ((math.nan, math.nan), (-1e9, 1e9), (1e9, -1e9), (0.0, 0.0), (-30, 30)):
            dh, q_lo, q_hi = k.terrain_irregularity_into(z, 90.0, 450.0, x2, scratch, lo, hi)
            assert dh == want
            if ordered is None:
                ordered = (q_lo, q_hi)
            assert (q_lo, q_hi) == ordered


# ---------------------------------------------------------------------------------------------
# The model in the registry, on maps and on the command line
# ---------------------------------------------------------------------------------------------
def test_itm_is_a_registered_model_with_its_defaults():
    assert "itm" in pl.model_names()
    spec = pl.get_model("itm")
    assert spec is itm.ITM_MODEL and spec.ray_fn is kr.itm_ray_loss_db
    p = spec.build_params()
    assert p.shape == (kr.N_PARAMS,)
    assert p[kr.P_CLIMATE] == 2 and p[kr.P_N_0] == 340.0 and p[kr.P_MDVAR] == 12
    assert p[kr.P_POLARIZATION] == 1 and p[kr.P_EPSILON] == 15.0 and p[kr.P_SIGMA] == 0.005
    assert (p[[kr.P_TIME_PCT, kr.P_LOCATION_PCT, kr.P_SITUATION_PCT]] == 50.0).all()
    named = spec.build_params(climate="Maritime_Temperate_Over_Land", polarization="horizontal",
                              mdvar="broadcast", n_0="301")
    assert named[kr.P_CLIMATE] == 6 and named[kr.P_POLARIZATION] == 0
    assert named[kr.P_MDVAR] == 3 and named[kr.P_N_0] == 301.0


def test_every_bad_option_is_named_at_once():
    with pytest.raises(InvalidInputError) as info:
        itm.itm_params(climate=9, sigma=-1.0, mdvar="sometimes", time_pct=100.0)
    msg = str(info.value)
    assert "4 problem(s)" in msg
    for needle in ("climate=9", "sigma=-1.0", "mdvar='sometimes'", "time_pct=100.0",
                   "continental_subtropical"):
        assert needle in msg
    with pytest.raises(InvalidInputError, match="unknown option.*k_factor"):
        itm.itm_params(k_factor=1.33)


def _flat_dem(n=41, cell_m=90.0, height=120.0):
    return DemGrid(elevation_m=np.full((n, n), height, dtype=np.float32),
                   transform=Affine(cell_m, 0, 580000.0, 0, -cell_m, 2400000.0),
                   crs="EPSG:32648")


def test_itm_map_over_flat_terrain_depends_on_distance_only():
    dem = _flat_dem()
    c = 20
    r = pl.path_loss_map(dem, *dem.xy(c, c), tx_height_m=30.0, frequency_mhz=1800.0,
                         radius_m=1800.0, model="itm")
    ray = kr.itm_ray_loss_db(np.arange(22) * 90.0, np.full(22, 120.0), 30.0, 1.5, 1800.0,
                             itm.itm_params())
    v = r.values
    r0, c0 = c - r.row_off, c - r.col_off
    for step in range(1, 21):  # cells on the four axes sit exactly on a ray sample
        for dr, dc in ((0, step), (0, -step), (step, 0), (-step, 0)):
            assert v[r0 + dr, c0 + dc] == pytest.approx(ray[step], abs=1e-4)
    assert v[r0, c0] == pytest.approx(fspl_ref(28.5, 1800.0), abs=1e-4)
    # and the options reach the kernel
    r5 = pl.path_loss_map(dem, *dem.xy(c, c), tx_height_m=30.0, frequency_mhz=1800.0,
                          radius_m=1800.0, model="itm", climate=5, situation_pct=90.0)
    # 90 % of situations adds ITM's situation variability (about 8 dB at 1.3 sigma here)
    assert 5.0 < np.nanmean(r5.values - v) < 15.0


def test_cli_pathloss_model_itm(tmp_path):
    import rasterio
    from typer.testing import CliRunner

    from lomsong.cli import app
    from lomsong.geodata.dem import xy_to_lonlat

    rng = np.random.default_rng(0)
    elev = (100.0 + np.cumsum(rng.normal(0, 5, (31, 31)), axis=1)).astype(np.float32)
    dem = DemGrid(elevation_m=elev, transform=Affine(90.0, 0, 580000.0, 0, -90.0, 2390000.0),
                  crs="EPSG:32648")
    dem_path = tmp_path / "dem.tif"
    with rasterio.open(dem_path, "w", driver="GTiff", height=31, width=31, count=1,
                       dtype="float32", crs="EPSG:32648", transform=dem.transform) as dst:
        dst.write(elev, 1)
    lon, lat = xy_to_lonlat(dem.crs, *dem.xy(15, 15))
    out = tmp_path / "itm.tif"
    args = ["pathloss", str(dem_path), "--lon", str(lon), "--lat", str(lat), "--height", "30",
            "--frequency-mhz", "1800", "--radius", "1200", "--model", "itm", "-o", str(out)]
    res = CliRunner().invoke(app, [*args, "-O", "climate=continental_temperate"])
    assert res.exit_code == 0, res.output
    want = pl.path_loss_map(dem, *dem.xy(15, 15), tx_height_m=30.0, frequency_mhz=1800.0,
                            radius_m=1200.0, model="itm", climate=5)
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), want.values, atol=1e-3)
    res = CliRunner().invoke(app, [*args, "--overwrite", "-O", "climate=monsoon"])
    assert isinstance(res.exception, InvalidInputError)
    assert "climate='monsoon'" in str(res.exception)
