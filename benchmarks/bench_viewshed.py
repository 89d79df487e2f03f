"""Viewshed benchmark: agreement with GRASS ``r.viewshed`` and speed against ``gdal_viewshed``.

Setup (the issue's target): the real SRTM tile N21E105 read by ``lomsong.geodata.dem.read_dem``
(voids filled by inverse-distance interpolation *before* the bilinear reprojection) onto
EPSG:32648 at 90 m and written as a Float32 GeoTIFF that every tool reads; 20 seeded random
observers inside the tile with a 20 km margin, 30 m mast, 1.5 m target, 20 km radius,
curvature coefficient 0.75 (GRASS ``-c -r refraction_coeff=0.25``).

* Agreement: for every observer, the share of in-radius cells (centre within 20 km of the
  observer's cell centre) on which lomsong, and gdal_viewshed, say the same as GRASS's exact
  sweep.  Targets: lomsong's mean >= 99 %, and per observer lomsong >= gdal_viewshed.
* Speed: wall time of ONE ``lomsong viewshed --observers`` process for the 20 observers against
  20 ``gdal_viewshed`` processes, in alternation, median over ``--repeats`` rounds, with the
  kernel cache warm (the compiled kernel built, as after any first run).  The first
  (empty-cache) run is reported separately as the compile cost, and the same command on Numba's
  JIT kernel (``LOMSONG_AOT=0``) beside it.

Run from the repository root::

    python benchmarks/bench_viewshed.py            # full run, ~1-2 minutes
    python benchmarks/bench_viewshed.py --repeats 3 --observers 5   # quicker

Needs gdal-bin (gdal_viewshed) and grass-core (grass); outputs go to ``bench-out/viewshed``.
The helpers here are reused by ``tests/peer/test_viewshed_peers.py``.
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
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HGT = REPO / ".." / "shared" / "data" / "dem" / "N21E105.hgt"
CRS = "EPSG:32648"


def peers_available() -> bool:
    return all(shutil.which(t) for t in ("gdal_viewshed", "grass"))


def prepare_dem(hgt: Path, out_tif: Path, resolution_m: float = 90.0):
    """The tile on EPSG:32648 at ``resolution_m`` (voids filled by read_dem), as Float32 GeoTIFF."""
    import rasterio

    from lomsong.geodata.dem import read_dem

    dem = read_dem(hgt, resolution_m=resolution_m, dst_crs=CRS)
    out_tif.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(out_tif, "w", driver="GTiff", height=dem.shape[0], width=dem.shape[1],
                       count=1, dtype="float32", crs=dem.crs, transform=dem.transform) as dst:
        dst.write(dem.elevation_m, 1)
    # The same grid, as every tool will read it; keep the count of voids filled from the tile.
    return replace(read_dem(out_tif), voids_filled=dem.voids_filled)


def random_observers(n: int, margin_m: float, seed: int = 20250701):
    """``n`` seeded (lon, lat) points in the 1-degree tile, ``margin_m`` from its edges."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dlat = margin_m / 111_320.0
    pts = []
    while len(pts) < n:
        lat = rng.uniform(21.0 + dlat, 22.0 - dlat)
        dlon = margin_m / (111_320.0 * math.cos(math.radians(lat)))
        lon = rng.uniform(105.0 + dlon, 106.0 - dlon)
        pts.append((float(lon), float(lat)))
    return pts


def observer_xy(dem, lonlat):
    """Observers at their cells' centres in the DEM grid (what every tool uses)."""
    from lomsong.geodata.dem import lonlat_to_xy

    out = []
    for lon, lat in lonlat:
        x, y = lonlat_to_xy(dem.crs, lon, lat)
        out.append(dem.xy(*dem.rowcol(x, y)))
    return out


def run_gdal_viewshed(dem_tif: Path, x: float, y: float, out_tif: Path, *, height_m: float,
                      target_m: float, radius_m: float, curvature_coeff: float) -> None:
    subprocess.run(["gdal_viewshed", "-q", "-oz", str(height_m), "-tz", str(target_m),
                    "-md", str(radius_m), "-cc", str(curvature_coeff), "-ox", repr(x),
                    "-oy", repr(y), str(dem_tif), str(out_tif)], check=True,
                   capture_output=True)


def run_grass_viewsheds(dem_tif: Path, points, out_dir: Path, *, height_m: float,
                        target_m: float, radius_m: float, curvature_coeff: float) -> float:
    """GRASS r.viewshed -c -r -b for every point in one batch session; returns its wall time.

    GRASS's refraction coefficient is 1 - curvature_coeff.  Outputs ``grass_<k>.tif``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["set -e", f"r.in.gdal -o input={dem_tif} output=dem --quiet", "g.region raster=dem"]
    for k, (x, y) in enumerate(points):
        lines += [
            f"r.viewshed -c -r -b input=dem output=vs{k} coordinates={x!r},{y!r} "
            f"observer_elevation={height_m} target_elevation={target_m} "
            f"max_distance={radius_m} refraction_coeff={1.0 - curvature_coeff!r} memory=2000 "
            "--quiet",
            f"r.out.gdal -c input=vs{k} output={out_dir / f'grass_{k}.tif'} format=GTiff "
            "type=Byte --quiet --overwrite",
        ]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "run.sh"
        script.write_text("\n".join(lines) + "\n")
        t = time.perf_counter()
        subprocess.run(["grass", "--tmp-location", CRS, "--exec", "bash", str(script)],
                       check=True, capture_output=True, cwd=tmp)
        return time.perf_counter() - t


def read_on_grid(path: Path, dem, visible_value: int):
    """A tool's output placed on the DEM's full grid as a boolean 'visible' array."""
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        data = src.read(1)
        col0, row0 = ~dem.transform @ (src.transform.c, src.transform.f)
    r0, c0 = int(round(row0)), int(round(col0))
    full = np.zeros(dem.shape, bool)
    rs, cs = slice(max(r0, 0), min(r0 + data.shape[0], dem.shape[0])), slice(
        max(c0, 0), min(c0 + data.shape[1], dem.shape[1]))
    full[rs, cs] = data[rs.start - r0:rs.stop - r0, cs.start - c0:cs.stop - c0] == visible_value
    return full


def in_radius(dem, x: float, y: float, radius_m: float):
    import numpy as np

    r, c = dem.rowcol(x, y)
    rows, cols = np.ogrid[:dem.shape[0], :dem.shape[1]]
    return np.hypot((rows - r) * dem.cell_m, (cols - c) * dem.cell_m) <= radius_m


def agreement(a, b, mask) -> float:
    return float((a[mask] == b[mask]).mean())


def _median_ms(xs):
    return statistics.median(xs) * 1000.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--observers", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--radius", type=float, default=20000.0)
    ap.add_argument("--height", type=float, default=30.0)
    ap.add_argument("--target", type=float, default=1.5)
    ap.add_argument("--cc", type=float, default=0.75)
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "viewshed")
    args = ap.parse_args(argv)
    if not HGT.exists():
        print(f"needs {HGT}", file=sys.stderr)
        return 2
    if not peers_available():
        print("needs gdal_viewshed (gdal-bin) and grass (grass-core)", file=sys.stderr)
        return 2
    import numpy as np

    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    dem_tif = out / "N21E105_utm48_90m.tif"
    dem = prepare_dem(HGT, dem_tif)
    lonlat = random_observers(args.observers, margin_m=args.radius)
    pts = observer_xy(dem, lonlat)
    csv = out / "observers.csv"
    csv.write_text("id,x,y\n" + "".join(f"o{k:02d},{x!r},{y!r}\n" for k, (x, y) in enumerate(pts)))
    kw = dict(height_m=args.height, target_m=args.target, radius_m=args.radius,
              curvature_coeff=args.cc)
    print(f"DEM {dem_tif.name}: {dem.shape[0]} x {dem.shape[1]} cells of {dem.cell_m:g} m, "
          f"{dem.voids_filled} SRTM voids filled by read_dem; {len(pts)} observers, "
          f"{args.height:g} m mast, {args.target:g} m target, {args.radius:g} m radius, "
          f"cc {args.cc:g} (GRASS refraction {1 - args.cc:g})")
    print(f"machine: {os.cpu_count()} CPUs, {sys.platform}, Python {sys.version.split()[0]}")

    grass_s = run_grass_viewsheds(dem_tif, pts, out / "grass", **kw)
    print(f"GRASS r.viewshed (reference), one batch session: {grass_s:.1f} s")

    lomsong_cmd = [sys.executable, "-m", "lomsong.cli", "-q", "viewshed", str(dem_tif),
                   "--observers", str(csv), "--observer-height", str(args.height),
                   "--target-height", str(args.target), "--radius", str(args.radius),
                   "--curvature-coeff", str(args.cc), "-o", str(out / "lomsong"), "--overwrite"]
    env = dict(os.environ, NUMBA_CACHE_DIR=str(out / "numba-cache"))
    env.pop("LOMSONG_CACHE_DIR", None)  # the compiled kernel goes to numba-cache/lomsong-aot
    t = time.perf_counter()
    subprocess.run(lomsong_cmd, check=True, env=env)
    cold_s = time.perf_counter() - t
    # The same command on Numba's JIT kernel (LOMSONG_AOT=0), to show what compiling ahead of
    # time buys; its own first run compiles into the same Numba cache.
    jit_env = dict(env, LOMSONG_AOT="0")
    jit_cmd = [a if a != str(out / "lomsong") else str(out / "lomsong_jit") for a in lomsong_cmd]
    t = time.perf_counter()
    subprocess.run(jit_cmd, check=True, env=jit_env)
    jit_cold_s = time.perf_counter() - t

    # The same process for the first observer alone: its time is the fixed start-up cost
    # (Python, imports, Numba's first dispatch, the sweep order) plus one viewshed.
    one_csv = out / "observer_o00.csv"
    one_csv.write_text("\n".join(csv.read_text().splitlines()[:2]) + "\n")
    one_cmd = [a if a != str(csv) else str(one_csv) for a in lomsong_cmd]
    one_cmd[one_cmd.index(str(out / "lomsong"))] = str(out / "lomsong_one")

    gdal_times, ours_times, one_times, jit_times = [], [], [], []
    (out / "gdal").mkdir()
    for _ in range(args.repeats):
        t = time.perf_counter()
        for k, (x, y) in enumerate(pts):
            run_gdal_viewshed(dem_tif, x, y, out / "gdal" / f"o{k:02d}.tif", **kw)
        gdal_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(lomsong_cmd, check=True, env=env)
        ours_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(one_cmd, check=True, env=env)
        one_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(jit_cmd, check=True, env=jit_env)
        jit_times.append(time.perf_counter() - t)

    # Compute alone, in this process (kernel warm): single thread and threaded, on the same
    # compiled kernel the command used.
    os.environ["NUMBA_CACHE_DIR"] = env["NUMBA_CACHE_DIR"]
    os.environ.pop("LOMSONG_CACHE_DIR", None)
    from lomsong.coverage.viewshed import sweep_kernels, viewshed_many

    grid = dem
    viewshed_many(grid, pts[:1], observer_height_m=args.height, radius_m=args.radius,
                  target_height_m=args.target, curvature_coeff=args.cc)
    inproc = {}
    for workers in (1, None):
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            viewshed_many(grid, pts, observer_height_m=args.height, radius_m=args.radius,
                          target_height_m=args.target, curvature_coeff=args.cc, workers=workers)
            ts.append(time.perf_counter() - t)
        inproc[workers] = ts

    print("\nagreement with GRASS r.viewshed on in-radius cells (observer, ours, gdal_viewshed):")
    ours_agree, gdal_agree, ok_each = [], [], True
    for k, (x, y) in enumerate(pts):
        mask = in_radius(dem, x, y, args.radius)
        g = read_on_grid(out / "grass" / f"grass_{k}.tif", dem, 1)
        o = read_on_grid(out / "lomsong" / f"o{k:02d}.tif", dem, 255)
        d = read_on_grid(out / "gdal" / f"o{k:02d}.tif", dem, 255)
        a_o, a_d = agreement(o, g, mask), agreement(d, g, mask)
        ours_agree.append(a_o)
        gdal_agree.append(a_d)
        ok_each &= a_o >= a_d
        lon, lat = lonlat[k]
        print(f"  o{k:02d} ({lon:.4f}, {lat:.4f}) visible {g[mask].mean() * 100:5.1f} %: "
              f"ours {a_o * 100:8.4f} %  gdal {a_d * 100:7.3f} %  {'ok' if a_o >= a_d else 'WORSE'}")
    print(f"  mean: ours {np.mean(ours_agree) * 100:.4f} % (min {min(ours_agree) * 100:.4f} %), "
          f"gdal_viewshed {np.mean(gdal_agree) * 100:.3f} % "
          f"(min {min(gdal_agree) * 100:.3f} %, max {max(gdal_agree) * 100:.3f} %)")

    g_ms, o_ms = _median_ms(gdal_times), _median_ms(ours_times)
    print(f"\nwall time for {len(pts)} observers, median of {args.repeats} alternating rounds:")
    print(f"  {len(pts)} x gdal_viewshed processes: {g_ms:8.0f} ms "
          f"({g_ms / len(pts):.0f} ms each; all: {', '.join(f'{t * 1000:.0f}' for t in gdal_times)})")
    print(f"  1 x lomsong viewshed --observers:  {o_ms:8.0f} ms "
          f"(all: {', '.join(f'{t * 1000:.0f}' for t in ours_times)})")
    print(f"  ratio lomsong / gdal: {o_ms / g_ms:.2f} (target <= 0.50)")
    one_ms = _median_ms(one_times)
    n = len(pts)
    marginal = (o_ms - one_ms) / max(n - 1, 1)
    fixed = one_ms - marginal
    print(f"  1 x lomsong viewshed, first observer only: {one_ms:8.0f} ms, so lomsong's fixed "
          f"start-up is ~{fixed:.0f} ms and each further observer ~{marginal:.0f} ms "
          f"(gdal_viewshed: {g_ms / n:.0f} ms per observer, start-up included)")
    if g_ms / n > 2 * marginal:
        print(f"  at these rates lomsong takes half of gdal's time from about "
              f"{math.ceil(fixed / (g_ms / n / 2 - marginal))} observers per process")
    j_ms = _median_ms(jit_times)
    print(f"  the same command on Numba's JIT kernel (LOMSONG_AOT=0): {j_ms:8.0f} ms "
          f"(ratio to gdal {j_ms / g_ms:.2f}; all: {', '.join(f'{t * 1000:.0f}' for t in jit_times)})")
    print(f"  first lomsong run, empty cache (builds the compiled kernel): {cold_s * 1000:.0f} ms, "
          f"so compiling costs about {cold_s * 1000 - o_ms:.0f} ms once; first JIT run "
          f"{jit_cold_s * 1000:.0f} ms")
    kind = "compiled ahead of time" if sweep_kernels().ahead_of_time else "Numba JIT"
    print(f"  in-process compute only ({len(pts)} observers, {kind} kernel): 1 thread "
          f"{_median_ms(inproc[1]):.0f} ms, {min(os.cpu_count() or 1, len(pts))} threads "
          f"{_median_ms(inproc[None]):.0f} ms")
    ok_mean = np.mean(ours_agree) >= 0.99
    print(f"\ntargets: mean agreement >= 99 %: {'PASS' if ok_mean else 'FAIL'}; "
          f"every observer at least as close to GRASS as gdal_viewshed: "
          f"{'PASS' if ok_each else 'FAIL'}; time <= half of gdal's: "
          f"{'PASS' if o_ms <= 0.5 * g_ms else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
