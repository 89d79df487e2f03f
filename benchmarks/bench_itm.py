"""Benchmark: ITM maps (``--model itm``) beside SPLAT! 1.4.2's Longley-Rice maps, in one run.

Run from the repository root::

    python benchmarks/bench_itm.py [--reps 3] [--paths 12] [--sample] [--no-splat]

Setting: one tower, 30 m, 1800 MHz, 20 km radius, handset 1.5 m, at the five sites of
``bench_pathloss.py`` (a 20 km disc around each stays inside the tile: SPLAT! would take the
missing neighbour tile as sea level).  Our terrain is the real SRTM-3 tile
``../shared/data/dem/N21E105.hgt`` reprojected to EPSG:32648 at 90 m by
:func:`lomsong.geodata.dem.read_dem`; SPLAT! reads the same tile through its ``.sdf``.  Both
tools get the same radio parameters: the ``itm`` model's defaults (:data:`ITM_MAP_DEFAULTS`)
written into SPLAT!'s ``.lrp`` (climate, N_0, epsilon, sigma, polarisation, 50 % of time and
situations; SPLAT! fixes the mode of variability itself, which at 50 % changes nothing) and
both run ITM 1.2.2 (SPLAT!'s ``-olditm``).  Printed:

1. JIT compile time of the ITM kernels (fresh process, empty Numba cache) and the cached load.
2. Speed, per site: median wall time of :func:`lomsong.coverage.pathloss.path_loss_map` (one
   thread; the kernels are serial) and of the ``splat`` process, run alternately so machine load
   hits both alike; the ratio of the medians; microseconds per ITM evaluation.
3. Agreement on the cells both compute: ours - SPLAT! (dB), median, IQR, 5/95 percentiles,
   split by SPLAT!'s own obstruction flag; and the same on a nearest-neighbour UTM grid, to show
   how much of the difference is terrain smoothing (bilinear interpolation never raises a
   ridge crest above its grid points, nearest-neighbour keeps the crests).
4. Same-profile check (``--paths``; needs ``gnuplot``, which SPLAT! drives for its plots):
   SPLAT!'s own loss along single paths (``-l``, data kept with ``-gpsav``) against our
   point-to-point ITM on the very profile SPLAT! uses.  That profile is rebuilt here (its great
   circle sampling and nearest-point heights) and checked against SPLAT!'s terrain plot data
   (``-p``) first.  SPLAT!'s value at path point ``y`` is ITM for the receiver at point
   ``y - 1`` (its profile passed to ITM stops one point short); the comparison accounts for it.
   Paths crossing an SRTM void are skipped (``srtm2sdf`` fills voids its own way).  Measured:
   98 % of receivers within 0.01 dB, all within 0.5 dB; the rest is rounding (SPLAT! keeps
   heights in feet and accumulates its distances), and at exact grazing such rounding can flip
   ITM between its line-of-sight and diffraction branches, a jump of tens of dB.
5. ``--sample``: ``lomsong run --model itm`` on the whole bundled sample (wall time; masts are
   computed on as many threads as the machine has CPUs), after the kernels are compiled, with
   ``--no-cache``; also the default model for scale.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# The same tile and the same five sites as the P.526 benchmark.
from benchmarks.bench_pathloss import HGT, SITES  # noqa: E402

RADIUS_M = 20000.0
HEIGHT_M = 30.0
FREQ_MHZ = 1800.0
RX_HEIGHT_M = 1.5

_COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from affine import Affine
from lomsong.coverage.models import DemGrid
from lomsong.coverage.pathloss import path_loss_map
dem = DemGrid(np.full((9, 9), 10.0, np.float32), Affine(90, 0, 0, 0, -90, 900), "EPSG:32648")
path_loss_map(dem, *dem.xy(4, 4), tx_height_m=30.0, frequency_mhz=1800.0, radius_m=300.0,
              model="itm")
print(time.perf_counter() - t0)
"""


def _child(code: str, env: dict | None = None) -> str:
    full = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=full, timeout=900)
    return out.stdout.strip().splitlines()[-1]


def compile_times() -> tuple[float, float]:
    """(cold compile, cached load) seconds for a first ITM map in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        return float(_child(_COMPILE_SNIPPET, env)), float(_child(_COMPILE_SNIPPET, env))


def _splat_kwargs() -> dict:
    from lomsong.coverage.itm import ITM_MAP_DEFAULTS as d

    return dict(rx_height_m=RX_HEIGHT_M, eps=d["epsilon"], sigma=d["sigma"], n0=d["n_0"],
                climate=int(d["climate"]), polarization=int(d["polarization"]),
                situations=d["situation_pct"] / 100.0, time_fraction=d["time_pct"] / 100.0)


def ours_at(raster, crs, lon, lat):
    """Our raster's value at each lon/lat (see :func:`splat_peer.raster_at`)."""
    from benchmarks.splat_peer import raster_at

    return raster_at(raster, crs, lon, lat)


def diff_stats(diff) -> str:
    import numpy as np

    p5, p25, p50, p75, p95 = np.percentile(diff, [5, 25, 50, 75, 95])
    return f"median {p50:+6.2f}  IQR {p25:+6.2f}..{p75:+6.2f}  p5/p95 {p5:+7.2f}/{p95:+6.2f}"


def nearest_neighbour_dem(dem):
    """The tile on ``dem``'s grid with nearest-neighbour resampling (voids from ``dem``)."""
    import numpy as np
    import rasterio
    from rasterio.warp import Resampling, reproject

    from lomsong.coverage.models import DemGrid

    with rasterio.open(HGT) as src:
        a = src.read(1).astype(np.float32)
        a[a == -32768] = np.nan
        out = np.full(dem.shape, np.nan, np.float32)
        reproject(a, out, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=dem.transform, dst_crs=dem.crs,
                  resampling=Resampling.nearest, src_nodata=np.nan, dst_nodata=np.nan)
    out = np.where(np.isnan(out), dem.elevation_m, out)
    return DemGrid(elevation_m=out, transform=dem.transform, crs=dem.crs)


# ---------------------------------------------------------------------------------------------
# SPLAT!'s path profile, rebuilt (for the same-profile check; verified against its -p output)
# ---------------------------------------------------------------------------------------------
_EARTH_MI = 3959.0  # SPLAT!'s earth radius, miles
_M_PER_MI = 1609.344
_SAMPLES_PER_RADIAN = 68755.0  # 1200 points per degree


def splat_profile(hgt, lon1, lat1, lon2, lat2):
    """SPLAT!'s profile from (lon1, lat1) to (lon2, lat2): distances (m), heights (m).

    Great-circle points every ``total / sqrt(dlon^2 + dlat^2)`` (both in 3-arc-second steps),
    heights of the nearest grid point, and the exact end point appended.
    """
    import numpy as np

    p1, p2 = math.radians(lat1), math.radians(lat2)
    w1, w2 = math.radians(-lon1), math.radians(-lon2)  # SPLAT! works in degrees west
    beta = math.acos(math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(w1 - w2))
    total = _EARTH_MI * beta
    frac = (math.sin(p2) - math.sin(p1) * math.cos(beta)) / (math.cos(p1) * math.sin(beta))
    az = math.acos(min(1.0, max(-1.0, frac)))
    dw = w2 - w1
    if dw <= -math.pi:
        dw += 2 * math.pi
    if dw >= math.pi:
        dw -= 2 * math.pi
    if dw > 0.0:
        az = 2 * math.pi - az
    dx = _SAMPLES_PER_RADIAN * math.acos(math.cos(w1 - w2))
    dy = _SAMPLES_PER_RADIAN * math.acos(math.cos(p1 - p2))
    step = total / math.hypot(dx, dy)

    def height(lat, lon_e):
        r = int(np.rint(1200 * (22.0 - lat)))
        c = int(np.rint(1200 * (lon_e - 105.0)))
        return float(hgt[r, c])

    dist, elev = [], []
    c = 0
    d = 0.0
    while d <= total:
        b = d / _EARTH_MI
        lat = math.asin(math.sin(p1) * math.cos(b) + math.cos(az) * math.sin(b) * math.cos(p1))
        num = math.cos(b) - math.sin(p1) * math.sin(lat)
        den = math.cos(p1) * math.cos(lat)
        if abs(num / den) > 1.0:
            w = w1
        else:
            ac = math.acos(num / den) if den > 0 else math.pi + math.acos(num / den)
            w = w1 - ac if math.pi - az >= 0.0 else w1 + ac
        dist.append(d)
        elev.append(height(math.degrees(lat), 360.0 - math.degrees(w) % 360.0))
        c += 1
        d = step * c
    dist.append(total)
    elev.append(height(lat2, lon2))
    return np.array(dist) * _M_PER_MI, np.array(elev)


def _splat_plot_data(sdf, lon, lat, rlon, rlat, flag):
    import numpy as np

    from lomsong.coverage.itm import ITM_MAP_DEFAULTS as d

    with tempfile.TemporaryDirectory(prefix="splat-p2p-") as tmp:
        w = Path(tmp)
        (w / "tx.qth").write_text(f"tx\n{lat:.7f}\n{-lon:.7f}\n{HEIGHT_M:.2f} meters\n")
        (w / "rx.qth").write_text(f"rx\n{rlat:.7f}\n{-rlon:.7f}\n{RX_HEIGHT_M:.2f} meters\n")
        (w / "tx.lrp").write_text(
            f"{d['epsilon']}\n{d['sigma']}\n{d['n_0']}\n{FREQ_MHZ}\n{int(d['climate'])}\n"
            f"{int(d['polarization'])}\n{d['situation_pct'] / 100}\n{d['time_pct'] / 100}\n")
        subprocess.run(["splat", "-t", "tx.qth", "-r", "rx.qth", "-metric", "-d", str(sdf),
                        "-olditm", flag, "plot.png", "-gpsav"], cwd=w, check=True,
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=20)
        return np.loadtxt(w / "profile.gp")


def same_profile_check(sdf, n_paths: int) -> None:
    import numpy as np

    from lomsong.coverage._kernels import itm as k
    from lomsong.coverage.itm import ITM_MAP_DEFAULTS as d

    hgt = np.fromfile(HGT, ">i2").reshape(1201, 1201).astype(float)
    rng = np.random.default_rng(1)
    diffs = []
    worst_profile = 0.0
    z_dev = k.inverse_ccdf(0.5)
    done = 0
    skipped = 0
    while done < n_paths:
        _, lon, lat = SITES[done % 2 * 2]  # the hills and the plain
        az = rng.uniform(0.0, 2 * math.pi)
        dk = rng.uniform(3.0, 19.0)
        rlat = lat + dk / 111.0 * math.cos(az)
        rlon = lon + dk / (111.0 * math.cos(math.radians(lat))) * math.sin(az)
        dist, z = splat_profile(hgt, lon, lat, rlon, rlat)
        back_d, back_z = splat_profile(hgt, rlon, rlat, lon, lat)
        if (z == -32768).any() or (back_z == -32768).any():
            skipped += 1  # an SRTM void: srtm2sdf filled it its own way
            continue
        try:
            ter = _splat_plot_data(sdf, lon, lat, rlon, rlat, "-p")  # drawn rx -> tx
            loss = _splat_plot_data(sdf, lon, lat, rlon, rlat, "-l")
        except subprocess.TimeoutExpired:  # SPLAT! hangs on the odd path; take another
            skipped += 1
            continue
        done += 1
        if back_z.shape != ter[:, 1].shape:
            worst_profile = math.inf  # a different number of points: the rebuild is wrong
        else:
            worst_profile = max(worst_profile, float(np.abs(back_z - ter[:, 1]).max()),
                                float(np.abs(back_d / 1000.0 - ter[:, 0]).max()) * 1000.0)
        z = z * 3.28084 * 0.3048  # SPLAT! keeps heights in feet: the same round trip
        spacing = dist[1] - dist[0]
        for i, (_, splat_db) in enumerate(loss):
            n_int = i + 1  # loss.dat starts at path point 2, computed for point 1
            res = k.p2p_path(z[: n_int + 1].copy(), spacing, HEIGHT_M, RX_HEIGHT_M,
                             int(d["climate"]), d["n_0"], FREQ_MHZ, int(d["polarization"]),
                             d["epsilon"], d["sigma"], int(d["mdvar"]), z_dev, z_dev, z_dev)
            diffs.append(res[0] - splat_db)
    a = np.abs(np.array(diffs))
    print(f"\nsame-profile check, {n_paths} paths ({skipped} others skipped: SRTM voids, or "
          f"SPLAT! hung), {a.size} receivers: rebuilt profiles match "
          f"SPLAT!'s terrain plots to {worst_profile:.1e} (m); |ours - SPLAT!| <= 0.01 dB for "
          f"{(a <= 0.01).mean():.1%}, <= 0.1 dB for {(a <= 0.1).mean():.1%}, <= 1 dB for "
          f"{(a <= 1.0).mean():.1%}; largest {a.max():.1f} dB")


def run_sample(model: str) -> float:
    """Wall seconds of ``lomsong run --model MODEL`` on the bundled sample, no result cache."""
    with tempfile.TemporaryDirectory(prefix="lomsong-sample-") as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lomsong.cli", "-q", "run", "--model", model,
                        "-o", str(Path(tmp) / "out"), "--overwrite", "--no-cache"],
                       check=True, capture_output=True, timeout=7200,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
        return time.perf_counter() - t0


def evaluations_per_map(dem, x: float, y: float) -> int:
    """ITM evaluations in one map: the ray samples some cell reads (radial.needed_samples)."""
    import numpy as np

    from lomsong.coverage._kernels import radial as rk

    sub, _, _ = dem.radius_window(x, y, RADIUS_M)
    row_t, col_t = sub.rowcol_float(x, y)
    radius_cells = RADIUS_M / dem.cell_m
    n_half = max(int(math.ceil(radius_cells)), 1)
    drow, dcol, _ = rk.ray_offsets(n_half)
    n_samples = int(math.floor(radius_cells)) + 2
    elev = np.ascontiguousarray(sub.elevation_m, dtype=np.float64)
    _, n_valid = rk.sample_rays(elev, row_t, col_t, drow, dcol, 1.0, n_samples)
    from lomsong.coverage.pathloss import get_model

    need = rk.needed_samples(n_valid, drow, dcol, row_t, col_t, 1.0, radius_cells,
                             elev.shape[0], elev.shape[1], n_samples,
                             get_model("itm").nearest_sample)
    need[:, 0] = 0  # the mast foot is free space, not ITM
    return int(need.sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="timed runs per site and tool")
    ap.add_argument("--paths", type=int, default=12, help="paths in the same-profile check")
    ap.add_argument("--sample", action="store_true", help="also time the whole bundled sample")
    ap.add_argument("--no-splat", action="store_true", help="skip SPLAT! (our timings only)")
    args = ap.parse_args()
    if not HGT.exists():
        print(f"needs {HGT} (../shared beside the checkout)", file=sys.stderr)
        return 2

    import numpy as np

    from benchmarks.splat_peer import prepare_sdf, run_splat_pathloss, splat_available
    from lomsong.coverage.pathloss import path_loss_map
    from lomsong.geodata.dem import lonlat_to_xy, read_dem

    cold, cached = compile_times()
    print(f"first ITM map in a fresh process: cold JIT compile {cold:.1f} s, from Numba's cache "
          f"{cached:.1f} s (imports included)")

    dem = read_dem(HGT, dst_crs="EPSG:32648", resolution_m=90.0)
    n_half = int(math.ceil(RADIUS_M / dem.cell_m))
    n_samples_all = 8 * n_half * (int(RADIUS_M / dem.cell_m) + 1)
    n_eval = evaluations_per_map(dem, *lonlat_to_xy(dem.crs, SITES[0][1], SITES[0][2]))
    print(f"DEM {HGT.name} -> {dem.crs} {dem.shape[0]}x{dem.shape[1]} at {dem.cell_m:g} m; tower "
          f"{HEIGHT_M:g} m, {FREQ_MHZ:g} MHz, radius {RADIUS_M / 1000:g} km; {8 * n_half} rays, "
          f"{n_samples_all / 1e3:.0f}k ray samples of which {n_eval / 1e3:.0f}k are read by a "
          f"cell and evaluated (ITM point-to-point each)")

    def ours(x, y, grid=dem):
        return path_loss_map(grid, x, y, tx_height_m=HEIGHT_M, frequency_mhz=FREQ_MHZ,
                             radius_m=RADIUS_M, rx_height_m=RX_HEIGHT_M, model="itm")

    xy = [lonlat_to_xy(dem.crs, lon, lat) for _, lon, lat in SITES]
    ours(*xy[0])  # compiled / loaded
    use_splat = not args.no_splat and splat_available()
    if not args.no_splat and not use_splat:
        print("SPLAT! not installed (apt install splat): our timings only")

    with tempfile.TemporaryDirectory(prefix="sdf-") as sdf_tmp:
        sdf = prepare_sdf(HGT, sdf_tmp) if use_splat else None
        kw = _splat_kwargs()
        print(f"\n{'site':24s} {'ours (s)':>9s} {'SPLAT! (s)':>11s} {'ratio':>6s}   runs")
        mine_all, splat_all, results = [], [], []
        for (name, lon, lat), (x, y) in zip(SITES, xy, strict=True):
            mine, theirs, res = [], [], None
            for _ in range(args.reps):
                t0 = time.perf_counter()
                raster = ours(x, y)
                mine.append(time.perf_counter() - t0)
                if use_splat:
                    res = run_splat_pathloss(sdf, lon, lat, HEIGHT_M, FREQ_MHZ,
                                             RADIUS_M / 1000.0, **kw)
                    theirs.append(res.elapsed_s)
            mine_all += mine
            splat_all += theirs
            results.append((raster, res))
            m = statistics.median(mine)
            s = statistics.median(theirs) if theirs else math.nan
            print(f"{name:24s} {m:9.3f} {s:11.2f} {s / m:6.1f}   ours "
                  f"{' '.join(f'{t:.2f}' for t in mine)}; SPLAT! "
                  f"{' '.join(f'{t:.2f}' for t in theirs)}")
        m = statistics.median(mine_all)
        print(f"ours: median {m:.3f} s per map over {len(mine_all)} runs, "
              f"{m / n_eval * 1e6:.2f} us per ITM evaluation")
        if not use_splat:
            return 0
        s = statistics.median(splat_all)
        print(f"SPLAT! -L -olditm: median {s:.2f} s per map over {len(splat_all)} runs "
              f"({results[0][1].loss_db.size} points, one ITM evaluation each); "
              f"ratio of medians {s / m:.1f}x (target >= 10x)")

        print("\nours - SPLAT! (dB) on the cells both compute, 20 km:")
        pooled, pooled_nn = [], []
        nn_dem = nearest_neighbour_dem(dem)
        for (name, _, _), (x, y), (raster, res) in zip(SITES, xy, results, strict=True):
            o = ours_at(raster, dem.crs, res.lon, res.lat)
            c = np.isfinite(o) & np.isfinite(res.loss_db)
            d = o[c] - res.loss_db[c]
            clear = ~res.obstructed[c]
            pooled.append(d)
            o_nn = ours_at(ours(x, y, nn_dem), dem.crs, res.lon, res.lat)
            d_nn = o_nn[c] - res.loss_db[c]
            pooled_nn.append(d_nn)
            print(f"  {name:24s} n={c.sum():6d}  {diff_stats(d)}  | unobstructed "
                  f"{np.median(d[clear]):+5.2f}, obstructed {np.median(d[~clear]):+5.2f}; "
                  f"nearest-neighbour grid: median {np.median(d_nn):+5.2f}, obstructed "
                  f"{np.median(d_nn[~clear]):+5.2f}")
        print(f"  {'all five':24s} n={sum(p.size for p in pooled):6d}  "
              f"{diff_stats(np.concatenate(pooled))}")
        print(f"  {'all five, nn grid':24s} n={sum(p.size for p in pooled_nn):6d}  "
              f"{diff_stats(np.concatenate(pooled_nn))}")

        if args.paths > 0:
            if shutil.which("gnuplot") is None:
                print("\nsame-profile check skipped: SPLAT! writes its plot data via gnuplot")
            else:
                same_profile_check(sdf, args.paths)

    if args.sample:
        ours(*xy[0])
        print(f"\nbundled sample, `lomsong run --no-cache` (masts on {os.cpu_count()} threads, "
              f"one per CPU):")
        for model in ("itm", "p526"):
            print(f"  --model {model}: {run_sample(model):.0f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
