"""Viewshed kernel, Python API and ``lomsong viewshed`` command.

The kernel is checked bit for bit against the slow per-target reference in
``tests/reference_viewshed.py`` on small random DEMs, plus invariants and a few hand-made cases.
Agreement with GRASS and GDAL on the real SRTM tile is in ``tests/peer/test_viewshed_peers.py``.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lomsong.coverage.errors import InvalidInputError, OutputExistsError
from lomsong.coverage.models import DemGrid
from lomsong.coverage.viewshed import in_radius_mask, viewshed, viewshed_many
from tests.reference_viewshed import reference_viewshed

CRS = "EPSG:32648"
X0, Y0 = 500000.0, 2400000.0


def make_dem(elev, cell_m: float = 90.0) -> DemGrid:
    elev = np.asarray(elev, dtype=np.float32)
    return DemGrid(elevation_m=elev, transform=Affine(cell_m, 0.0, X0, 0.0, -cell_m, Y0),
                   crs=CRS, source="test.tif")


def on_full_grid(res, shape) -> np.ndarray:
    full = np.zeros(shape, np.uint8)
    rows, cols = res.visible.shape
    full[res.row_off:res.row_off + rows, res.col_off:res.col_off + cols] = res.visible
    return full


def run(dem, row, col, **kw):
    x, y = dem.xy(row, col)
    return viewshed(dem, x, y, **kw)


@st.composite
def scenes(draw, max_side=11, gentle=False):
    rows = draw(st.integers(1, max_side))
    cols = draw(st.integers(1, max_side))
    cell_m = draw(st.sampled_from([1.0, 7.5, 30.0, 90.0]))
    top = cell_m if gentle else draw(st.sampled_from([1.0, 20.0, 500.0]))
    elev = draw(hnp.arrays(np.float32, (rows, cols), elements=st.floats(
        0.0 if gentle else -top, top, width=32, allow_subnormal=False)))
    return dict(
        elev=elev,
        row=draw(st.integers(0, rows - 1)),
        col=draw(st.integers(0, cols - 1)),
        cell_m=cell_m,
        radius_m=cell_m * draw(st.floats(0.3, 16.0)),
        observer_height_m=draw(st.floats(0.0, 60.0)),
        target_height_m=draw(st.floats(0.0, 5.0)),
        curvature_coeff=draw(st.sampled_from([0.0, 0.75, 1.5])),
        # A small earth makes the curvature matter on a grid of a few cells.
        earth_radius_m=draw(st.sampled_from([6378137.0, 800.0])),
    )


@pytest.fixture(scope="module", params=[pytest.param("compiled", marks=pytest.mark.compiler),
                                        "jit"])
def backend(request):
    """Run a test on the ahead-of-time compiled kernel, then on Numba's JIT kernel."""
    from lomsong.coverage import viewshed as vs
    from lomsong.coverage._kernels import aot
    from lomsong.coverage._kernels import viewshed as jit

    if request.param == "compiled":
        module = aot.load_viewshed()
        if module is None:
            pytest.skip("the ahead-of-time kernel could not be built here (no C compiler?)")
        kernels = vs.SweepKernels(module.disc_events, module.viewshed_sweep, True)
    else:
        kernels = vs.SweepKernels(jit.disc_events, jit.viewshed_sweep, False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vs, "sweep_kernels", lambda: kernels)
        yield request.param


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_matches_reference(backend, s):
    dem = make_dem(s["elev"], s["cell_m"])
    res = run(dem, s["row"], s["col"], observer_height_m=s["observer_height_m"],
              target_height_m=s["target_height_m"], radius_m=s["radius_m"],
              curvature_coeff=s["curvature_coeff"], earth_radius_m=s["earth_radius_m"])
    ref = reference_viewshed(s["elev"], s["row"], s["col"], cell_m=s["cell_m"],
                             observer_height_m=s["observer_height_m"],
                             target_height_m=s["target_height_m"], radius_m=s["radius_m"],
                             curvature_coeff=s["curvature_coeff"],
                             earth_radius_m=s["earth_radius_m"])
    got = on_full_grid(res, s["elev"].shape)
    assert np.array_equal(got, ref), np.argwhere(got != ref)[:10]
    assert got[s["row"], s["col"]] == 255  # the observer's cell is always visible


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(max_side=13, gentle=True), st.floats(0.0, 40.0))
def test_raising_the_observer_never_shrinks_the_viewshed(s, raise_m):
    # Terrain no steeper than 1:1 between neighbours.  (GRASS's model interpolates obstacles in
    # angle, so on cliffs of ~10:1 per cell a higher eye can lose a cell; SRTM has none.)
    dem = make_dem(s["elev"], s["cell_m"])
    kw = dict(target_height_m=s["target_height_m"], radius_m=s["radius_m"],
              curvature_coeff=s["curvature_coeff"])
    low = run(dem, s["row"], s["col"], observer_height_m=s["observer_height_m"], **kw)
    high = run(dem, s["row"], s["col"], observer_height_m=s["observer_height_m"] + raise_m, **kw)
    lost = (low.visible == 255) & (high.visible == 0)
    assert not lost.any(), np.argwhere(lost)


@pytest.mark.parametrize("observer_height_m", [0.0, 2.0, 30.0])
@pytest.mark.parametrize("target_height_m", [0.0, 1.5])
def test_flat_terrain_is_visible_to_the_radius(observer_height_m, target_height_m):
    dem = make_dem(np.full((61, 71), 37.0), 90.0)
    res = run(dem, 30, 33, observer_height_m=observer_height_m,
              target_height_m=target_height_m, radius_m=25 * 90.0 + 1.0, curvature_coeff=0.0)
    inside = in_radius_mask(res, 90.0)
    assert (res.visible[inside] == 255).all()
    assert (res.visible[~inside] == 0).all()
    assert inside.sum() == sum(1 for dr in range(-25, 26) for dc in range(-25, 26)
                               if math.hypot(dr, dc) * 90.0 <= 25 * 90.0 + 1.0)


def test_flat_earth_curvature_hides_what_lies_past_the_horizon():
    # 4/3-earth horizon of a 30 m mast over a 1.5 m target: sqrt(2 k a)(sqrt(30) + sqrt(1.5))
    # = 27.6 km.  On flat ground everything nearer is visible and everything farther is not.
    dem = make_dem(np.zeros((3, 401)), 90.0)
    res = run(dem, 1, 0, observer_height_m=30.0, target_height_m=1.5, radius_m=36000.0,
              curvature_coeff=0.75)
    horizon_m = math.sqrt(2 * 6378137.0 / 0.75) * (math.sqrt(30.0) + math.sqrt(1.5))
    axis = res.visible[1 - res.row_off]
    dist = np.arange(axis.size) * 90.0
    assert (axis[dist < horizon_m - 200] == 255).all()
    assert (axis[(dist > horizon_m + 200) & (dist <= 36000)] == 0).all()


def test_a_wall_casts_a_shadow():
    elev = np.zeros((9, 30), np.float32)
    elev[:, 10] = 20.0
    dem = make_dem(elev, 10.0)
    res = run(dem, 4, 0, observer_height_m=2.0, target_height_m=0.0, radius_m=1000.0,
              curvature_coeff=0.0)
    axis = res.visible[4]
    assert (axis[:11] == 255).all()  # up to and including the wall's top
    assert (axis[11:] == 0).all()  # the plain behind it
    # Raised high enough, the observer sees over it to the far end.
    high = run(dem, 4, 0, observer_height_m=200.0, target_height_m=0.0, radius_m=1000.0,
               curvature_coeff=0.0)
    assert high.visible[4, 29] == 255


def test_input_dem_is_not_modified():
    rng = np.random.default_rng(3)
    elev = (rng.random((40, 50)) * 300).astype(np.float32)
    keep = elev.copy()
    dem = make_dem(elev)
    viewshed_many(dem, [dem.xy(20, 20), dem.xy(5, 45)], observer_height_m=30.0,
                  radius_m=1500.0, workers=2)
    assert np.array_equal(elev, keep)
    assert elev.flags.writeable


def test_window_is_the_radius_box_clipped_to_the_dem():
    dem = make_dem(np.zeros((50, 60)), 90.0)
    res = run(dem, 2, 57, observer_height_m=10.0, radius_m=900.0)
    assert (res.row_off, res.col_off) == (0, 47)
    assert res.visible.shape == (13, 13)  # rows 0..12, cols 47..59
    assert res.transform == dem.transform @ Affine.translation(47, 0)
    assert res.visible[2, 10] == 255  # the observer


def test_many_observers_match_single_runs(backend):
    rng = np.random.default_rng(11)
    elev = (rng.random((60, 60)) * 200).astype(np.float32)
    dem = make_dem(elev, 30.0)
    pts = [dem.xy(int(r), int(c)) for r, c in rng.integers(0, 60, size=(5, 2))]
    many = viewshed_many(dem, pts, observer_height_m=15.0, radius_m=700.0, workers=2)
    for (x, y), res in zip(pts, many, strict=True):
        one = viewshed(dem, x, y, observer_height_m=15.0, radius_m=700.0)
        assert np.array_equal(res.visible, one.visible)
        assert (res.row_off, res.col_off) == (one.row_off, one.col_off)


def test_observer_anywhere_in_a_cell_uses_that_cell():
    rng = np.random.default_rng(5)
    dem = make_dem((rng.random((30, 30)) * 100).astype(np.float32), 90.0)
    x, y = dem.xy(10, 12)
    a = viewshed(dem, x - 44.0, y + 44.0, observer_height_m=20.0, radius_m=1000.0)
    b = viewshed(dem, x, y, observer_height_m=20.0, radius_m=1000.0)
    assert np.array_equal(a.visible, b.visible)


@pytest.mark.parametrize(("kwargs", "field"), [
    (dict(observer_height_m=-1.0), "observer_height_m=-1.0"),
    (dict(target_height_m=float("nan")), "target_height_m=nan"),
    (dict(radius_m=0.0), "radius_m=0.0"),
    (dict(radius_m=10_000_000.0), "more than 2000"),
    (dict(curvature_coeff=-0.1), "curvature_coeff=-0.1"),
])
def test_bad_parameters_are_named(kwargs, field):
    dem = make_dem(np.zeros((5, 5)))
    args = dict(observer_height_m=10.0, radius_m=300.0) | kwargs
    with pytest.raises(InvalidInputError, match=field.replace("(", r"\(")):
        viewshed(dem, *dem.xy(2, 2), **args)


def test_observer_outside_the_dem_is_named():
    dem = make_dem(np.zeros((5, 5)))
    with pytest.raises(InvalidInputError, match=r"x=1.0, y=2.0 is outside the DEM test.tif"):
        viewshed(dem, 1.0, 2.0, observer_height_m=10.0, radius_m=300.0)
    with pytest.raises(InvalidInputError, match=r"2 problem\(s\)"):
        viewshed_many(dem, [(1.0, 2.0), (3.0, 4.0)], observer_height_m=10.0, radius_m=300.0)


def test_voids_within_the_radius_are_refused():
    elev = np.zeros((20, 20), np.float32)
    elev[3, 3] = np.nan
    dem = make_dem(elev)
    with pytest.raises(InvalidInputError, match="1 cells without elevation"):
        viewshed(dem, *dem.xy(5, 5), observer_height_m=10.0, radius_m=300.0)
    viewshed(dem, *dem.xy(15, 15), observer_height_m=10.0, radius_m=300.0)  # far enough


def test_sweep_geometry_active_sets_are_the_closer_crossed_cells():
    """Replay the event order in Python: at every centre event the cells the kernel would test
    (earlier columns of the octant, or the nearer cell of the same column) are exactly the
    cells crossed by the sight line and closer than the target, and no two active cells ever
    share a slot."""
    from lomsong.coverage._kernels.viewshed import decode
    from lomsong.coverage.viewshed import sweep_geometry

    geo = sweep_geometry(1.0, 9.7)
    events, octant_start, start = geo.events, geo.octant_start, geo.start
    sizes = np.diff(octant_start)  # a quarter turn maps octant k onto k + 2 exactly
    assert (sizes > 0).all() and len(set(sizes[0::2])) == 1 and len(set(sizes[1::2])) == 1
    x_major_of = [True, False, False, True, True, False, False, True]

    def slot(dr, dc, x_major):
        return 2 * abs(dc) + (dr & 1) if x_major else 2 * abs(dr) + (dc & 1)

    def crossed(dr, dc, tr, tc):
        uy, ux = -2 * tr, 2 * tc
        if ux * 2 * dc + uy * -2 * dr <= 0:
            return False
        sides = [ux * -(2 * dr + hr) - uy * (2 * dc + hc) for hr in (-1, 1) for hc in (-1, 1)]
        return min(sides) < 0 < max(sides)

    disc = {(int(decode(e)[0]), int(decode(e)[1])) for e in events}
    active = {}  # slot -> (dr, dc)
    octant = 0
    for k in range(-len(start), len(events)):
        code = start[k + len(start)] if k < 0 else events[k]
        if k >= 0:
            while k >= octant_start[octant + 1]:
                octant += 1
                if x_major_of[octant] != x_major_of[octant - 1]:
                    cells = list(active.values())
                    active = {slot(dr, dc, x_major_of[octant]): (dr, dc) for dr, dc in cells}
                    assert len(active) == len(cells)
        xm = x_major_of[octant]
        dr, dc, *_, typ = (int(v) for v in decode(code))
        s = slot(dr, dc, xm)
        if typ == 2:
            assert s not in active, (dr, dc, active.get(s))
            active[s] = (dr, dc)
        elif typ == 0:
            assert active.pop(s) == (dr, dc)
        else:
            major, minor = (abs(dc), dr) if xm else (abs(dr), dc)
            tested = {cell for sl, cell in active.items() if sl < 2 * major}
            other = active.get(2 * major + ((minor & 1) ^ 1))
            if other is not None and abs(other[0] if xm else other[1]) < abs(minor):
                tested.add(other)
            truth = {(br, bc) for br, bc in disc
                     if br * br + bc * bc < dr * dr + dc * dc and crossed(br, bc, dr, dc)}
            assert tested == truth, (dr, dc)
    assert octant == 7


# --- the command -------------------------------------------------------------------------


@pytest.fixture()
def dem_tif(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    rng = np.random.default_rng(7)
    elev = (rng.random((80, 90)) * 150).astype(np.float32)
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", height=80, width=90, count=1,
                       dtype="float32", crs=CRS,
                       transform=Affine(90.0, 0.0, X0, 0.0, -90.0, Y0)) as dst:
        dst.write(elev, 1)
    return path, make_dem(elev, 90.0)


def invoke(*args):
    from typer.testing import CliRunner

    from lomsong.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_single_observer_writes_an_aligned_byte_geotiff(dem_tif, tmp_path):
    import rasterio

    path, dem = dem_tif
    x, y = dem.xy(40, 45)
    out = tmp_path / "out" / "vs.tif"
    res = invoke("viewshed", path, "-ox", x, "-oy", y, "--observer-height", 25,
                 "--target-height", 1.5, "--radius", 2000, "--curvature-coeff", 0.75, "-o", out)
    assert res.exit_code == 0, res.output
    want = viewshed(dem, x, y, observer_height_m=25.0, radius_m=2000.0)
    with rasterio.open(out) as src:
        assert src.dtypes == ("uint8",)
        assert src.crs.to_string() == CRS
        assert src.transform == want.transform
        assert np.array_equal(src.read(1), want.visible)
    again = invoke("viewshed", path, "-ox", x, "-oy", y, "-o", out)
    assert isinstance(again.exception, OutputExistsError)
    assert invoke("viewshed", path, "-ox", x, "-oy", y, "-o", out, "--overwrite").exit_code == 0


def test_cli_lon_lat(dem_tif, tmp_path):
    from lomsong.geodata.dem import xy_to_lonlat

    path, dem = dem_tif
    lon, lat = xy_to_lonlat(CRS, *dem.xy(10, 70))
    res = invoke("viewshed", path, "--lon", lon, "--lat", lat, "-o", tmp_path / "ll.tif")
    assert res.exit_code == 0, res.output
    bad = invoke("viewshed", path, "--lon", lon, "-o", tmp_path / "x.tif")
    assert isinstance(bad.exception, InvalidInputError)
    assert "--lon and --lat" in str(bad.exception)


def test_cli_many_observers_write_one_file_each(dem_tif, tmp_path):
    import rasterio

    path, dem = dem_tif
    pts = {"t1": dem.xy(10, 10), "t-2": dem.xy(60, 80), "t.3": dem.xy(40, 45)}
    csv = tmp_path / "obs.csv"
    csv.write_text("id,x,y\n" + "".join(f"{k},{x},{y}\n" for k, (x, y) in pts.items()))
    out = tmp_path / "many"
    res = invoke("viewshed", path, "--observers", csv, "--radius", 1500, "-o", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["t-2.tif", "t.3.tif", "t1.tif"]
    for k, (x, y) in pts.items():
        want = viewshed(dem, x, y, observer_height_m=30.0, radius_m=1500.0)
        with rasterio.open(out / f"{k}.tif") as src:
            assert np.array_equal(src.read(1), want.visible)
    again = invoke("viewshed", path, "--observers", csv, "--radius", 1500, "-o", out)
    assert isinstance(again.exception, OutputExistsError)


def test_cli_bad_observer_rows_are_all_listed(dem_tif, tmp_path):
    path, dem = dem_tif
    x, y = dem.xy(5, 5)
    csv = tmp_path / "obs.csv"
    csv.write_text(f"id,x,y\na,{x},{y}\na,{x},{y}\nb/c,{x},{y}\nd,abc,{y}\ne,1,2\n")
    res = invoke("viewshed", path, "--observers", csv, "-o", tmp_path / "o")
    err = res.exception
    assert isinstance(err, InvalidInputError)
    text = str(err)
    assert "obs.csv row 3: id='a' repeats row 2" in text
    assert "obs.csv row 4: id='b/c'" in text
    assert "obs.csv row 5: x='abc', must be a finite number" in text
    assert "obs.csv row 6: x=1.0, y=2.0 is outside the DEM" in text
    assert not (tmp_path / "o").exists()  # nothing published


def test_cli_missing_column_is_named(dem_tif, tmp_path):
    path, _ = dem_tif
    csv = tmp_path / "obs.csv"
    csv.write_text("name,x,y\nq,1,2\n")
    res = invoke("viewshed", path, "--observers", csv, "-o", tmp_path / "o")
    assert isinstance(res.exception, InvalidInputError)
    assert "lacks column(s) id" in str(res.exception)


def test_cli_exit_code_for_bad_input_is_2(dem_tif, tmp_path):
    path, _ = dem_tif
    proc = subprocess.run([sys.executable, "-m", "lomsong.cli", "viewshed", str(path), "-ox",
                           "1", "-oy", "2", "-o", str(tmp_path / "v.tif")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "outside the DEM" in proc.stderr
