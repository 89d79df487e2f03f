"""Benchmark: one tower, 20 km radius, 90 m grid, default model (p526), beside SPLAT! (ITM).

Run from the repository root::

    python benchmarks/bench_pathloss.py [--reps 3] [--no-splat]

The DEM is the real SRTM-3 tile ``../shared/data/dem/N21E105.hgt`` reprojected to EPSG:32648
(UTM 48N) at 90 m by :func:`lomsong.geodata.dem.read_dem` (bilinear, voids filled), the same
grid ``gdalwarp -t_srs EPSG:32648 -tr 90 90 -tap -r bilinear`` gives.  The five transmitters
sit where a 20 km disc stays inside the tile (SPLAT! would treat the missing neighbour tile as
sea level).  Printed:

* cold JIT compile time (fresh ``NUMBA_CACHE_DIR``) and the cached-load time, each in a new
  process;
* the median wall time per tower of :func:`lomsong.coverage.pathloss.path_loss_map`, warm, one
  thread (the kernels are serial), with a breakdown (sampling, per-ray P.526, cell assignment);
* peak memory: the peak RSS of a fresh process during one map above its RSS before the map
  (Linux ``clear_refs``), and tracemalloc's peak (numpy allocations only; Numba's own
  allocations are not traced);
* SPLAT! 1.4.2 ``-L`` (Longley-Rice, ``-olditm``) wall time for the same towers, its median and
  the ratio.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
HGT = REPO / ".." / "shared" / "data" / "dem" / "N21E105.hgt"

#: (name, lon, lat): a 20 km disc around each stays inside N21E105.
SITES = [
    ("Đại Từ (hills)", 105.64, 21.63),
    ("Tam Đảo south slope", 105.60, 21.45),
    ("Vĩnh Phúc plain", 105.50, 21.35),
    ("Sơn Dương (hills)", 105.40, 21.70),
    ("Sóc Sơn (plain/hills)", 105.75, 21.30),
]
RADIUS_M = 20000.0
HEIGHT_M = 30.0
FREQ_MHZ = 900.0

_COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from affine import Affine
from lomsong.coverage.models import DemGrid
from lomsong.coverage.pathloss import path_loss_map
dem = DemGrid(np.full((9, 9), 10.0, np.float32), Affine(90, 0, 0, 0, -90, 900), "EPSG:32648")
path_loss_map(dem, *dem.xy(4, 4), tx_height_m=30.0, frequency_mhz=900.0, radius_m=300.0)
print(time.perf_counter() - t0)
"""

# Peak RSS of one map: Linux resets a process's high-water mark (VmHWM) when "5" is written to
# /proc/self/clear_refs, so the peak can be read over the map alone, after imports and JIT.
_MEMORY_SNIPPET = """
import sys, numpy as np
from affine import Affine
from lomsong.coverage.models import DemGrid
from lomsong.coverage.pathloss import path_loss_map

def kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

elev = np.load(sys.argv[1])
dem = DemGrid(elev, Affine(90.0, 0, 0, 0, -90.0, 90.0 * elev.shape[0]), "EPSG:32648")
small = DemGrid(elev[:9, :9].copy(), dem.transform, dem.crs)
path_loss_map(small, *small.xy(4, 4), tx_height_m=30.0, frequency_mhz=900.0, radius_m=300.0)
r, c = elev.shape[0] // 2, elev.shape[1] // 2
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = kb("VmRSS")
path_loss_map(dem, *dem.xy(r, c), tx_height_m=30.0, frequency_mhz=900.0, radius_m=20000.0)
print(before, kb("VmHWM"))
"""


def _child(code: str, *args: str, env: dict | None = None) -> str:
    full = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, env=full, timeout=600)
    return out.stdout.strip().splitlines()[-1]


def compile_times() -> tuple[float, float]:
    """(cold compile, cached load) seconds for the first map in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = float(_child(_COMPILE_SNIPPET, env=env))
        warm = float(_child(_COMPILE_SNIPPET, env=env))
    return cold, warm


def breakdown(dem, x, y) -> dict[str, float]:
    """Seconds spent in each stage of one map (same calls as path_loss_map)."""
    import numpy as np

    from lomsong.coverage import pathloss as pl
    from lomsong.coverage._kernels import radial as rk

    sub, _, _ = dem.radius_window(x, y, RADIUS_M)
    row_t, col_t = sub.rowcol_float(x, y)
    elev = np.ascontiguousarray(sub.elevation_m, dtype=np.float64)
    n_half = int(math.ceil(RADIUS_M / dem.cell_m))
    t0 = time.perf_counter()
    drow, dcol, _ = rk.ray_offsets(n_half)
    n_samples = int(math.floor(RADIUS_M / dem.cell_m)) + 2
    z, n_valid = rk.sample_rays(elev, row_t, col_t, drow, dcol, 1.0, n_samples)
    t1 = time.perf_counter()
    dist = np.arange(n_samples) * dem.cell_m
    loss = np.full_like(z, np.nan)
    params = pl.get_model("p526").build_params()
    for ray in range(z.shape[0]):
        n = int(n_valid[ray])
        loss[ray, :n] = rk.p526_ray_loss_db(dist[:n], z[ray, :n], HEIGHT_M, 1.5, FREQ_MHZ, params)
    t2 = time.perf_counter()
    rk.assign_cells(loss, n_valid, drow, dcol, row_t, col_t, 1.0, RADIUS_M / dem.cell_m,
                    *elev.shape)
    t3 = time.perf_counter()
    return {"sample": t1 - t0, "rays": t2 - t1, "assign": t3 - t2, "n_rays": z.shape[0],
            "n_samples": n_samples}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="timed runs per tower (default 3)")
    ap.add_argument("--no-splat", action="store_true", help="skip SPLAT!")
    args = ap.parse_args()
    if not HGT.exists():
        print(f"needs {HGT} (../shared beside the checkout)", file=sys.stderr)
        return 2

    import numpy as np

    from lomsong.coverage.pathloss import path_loss_map
    from lomsong.geodata.dem import lonlat_to_xy, read_dem

    cold, cached = compile_times()
    print(f"first map in a fresh process: cold JIT compile {cold:.2f} s, "
          f"from Numba's cache {cached:.2f} s (imports included)")

    dem = read_dem(HGT, dst_crs="EPSG:32648", resolution_m=90.0)
    print(f"DEM {HGT.name} -> {dem.crs} {dem.shape[0]}x{dem.shape[1]} at {dem.cell_m:g} m; "
          f"towers {HEIGHT_M:g} m, {FREQ_MHZ:g} MHz, radius {RADIUS_M / 1000:g} km, model p526")
    xy = [lonlat_to_xy(dem.crs, lon, lat) for _, lon, lat in SITES]
    path_loss_map(dem, *xy[0], tx_height_m=HEIGHT_M, frequency_mhz=FREQ_MHZ, radius_m=RADIUS_M)

    all_times = []
    print(f"\n{'site':24s} {'ours median (s)':>16s} {'runs':>28s}")
    per_site = []
    for (name, _, _), (x, y) in zip(SITES, xy, strict=True):
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            path_loss_map(dem, x, y, tx_height_m=HEIGHT_M, frequency_mhz=FREQ_MHZ,
                          radius_m=RADIUS_M)
            times.append(time.perf_counter() - t0)
        all_times += times
        per_site.append(statistics.median(times))
        print(f"{name:24s} {statistics.median(times):16.3f} "
              f"{' '.join(f'{t:.3f}' for t in times):>28s}")
    ours = statistics.median(all_times)
    print(f"ours: median {ours:.3f} s per tower over {len(all_times)} runs "
          f"(min {min(all_times):.3f}, max {max(all_times):.3f}); target <= 0.2 s")

    b = breakdown(dem, *xy[0])
    print(f"breakdown at {SITES[0][0]}: sampling {b['sample'] * 1e3:.1f} ms, P.526 on "
          f"{b['n_rays']} rays x {b['n_samples']} samples {b['rays'] * 1e3:.1f} ms, cell "
          f"assignment {b['assign'] * 1e3:.1f} ms")

    tracemalloc.start()
    path_loss_map(dem, *xy[0], tx_height_m=HEIGHT_M, frequency_mhz=FREQ_MHZ, radius_m=RADIUS_M)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sub, _, _ = dem.radius_window(*xy[0], RADIUS_M)
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "window.npy"
        np.save(npy, sub.elevation_m)
        before_kb, after_kb = (int(v) for v in _child(_MEMORY_SNIPPET, str(npy)).split())
    print(f"memory: tracemalloc peak {peak / 2**20:.1f} MiB (numpy side); peak RSS over one "
          f"map, above the process's RSS before it: {(after_kb - before_kb) / 1024:.1f} MiB "
          f"(window {sub.shape[0]}x{sub.shape[1]})")

    if args.no_splat:
        return 0
    from benchmarks.splat_peer import prepare_sdf, run_splat_pathloss, splat_available

    if not splat_available():
        print("SPLAT! not installed (apt install splat); peer timing skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="sdf-") as sdf_tmp:
        sdf = prepare_sdf(HGT, sdf_tmp)
        splat_times = []
        print(f"\n{'site':24s} {'SPLAT! (s)':>12s} {'ours (s)':>10s} {'points':>8s}")
        for (name, lon, lat), mine in zip(SITES, per_site, strict=True):
            res = run_splat_pathloss(sdf, lon, lat, HEIGHT_M, FREQ_MHZ, RADIUS_M / 1000.0)
            splat_times.append(res.elapsed_s)
            print(f"{name:24s} {res.elapsed_s:12.2f} {mine:10.3f} {res.loss_db.size:8d}")
    sp = statistics.median(splat_times)
    print(f"SPLAT! -L -olditm: median {sp:.2f} s per tower; ours {ours:.3f} s; "
          f"ratio {sp / ours:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
