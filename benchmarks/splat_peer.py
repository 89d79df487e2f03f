"""Drive SPLAT! 1.4.2 (Debian ``splat``) for an ITM path loss map, for benchmarks and peer tests.

SPLAT! reads SRTM-3 through its own ``.sdf`` tiles (``srtm2sdf``), takes the transmitter from a
``.qth`` file (latitude, longitude in degrees *west*, antenna height) and the ITM parameters
from a ``.lrp`` file, and with ``-L`` computes Longley-Rice path loss along radials to every
3-arc-second point within ``-R``.  ``-ano`` writes those points as text:
``lat, lon_west, azimuth, elevation, loss_db[ *]`` (``*``: the path is obstructed).  Without an
ERP in the ``.lrp`` file the values are path loss in dB.

Everything is done in a scratch folder; nothing is written beside the caller's files.  SPLAT!
treats a missing neighbouring tile as sea level, so keep the radius inside the tiles you give it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class SplatResult:
    """Points of a SPLAT! ``-L`` map: WGS 84 lon/lat (east positive), loss in dB."""

    lon: np.ndarray
    lat: np.ndarray
    loss_db: np.ndarray
    obstructed: np.ndarray
    elapsed_s: float
    command: tuple[str, ...]


def splat_available() -> bool:
    """Whether both ``splat`` and ``srtm2sdf`` are on the PATH."""
    return shutil.which("splat") is not None and shutil.which("srtm2sdf") is not None


def prepare_sdf(hgt_path: str | Path, sdf_dir: str | Path) -> Path:
    """Convert an SRTM-3 ``.hgt`` tile to SPLAT!'s ``.sdf`` in ``sdf_dir`` (once); returns it.

    ``srtm2sdf`` fills SRTM voids by averaging neighbours when no USGS tiles are at hand;
    ``-d /dev/null`` stops it from looking for any.
    """
    sdf_dir = Path(sdf_dir)
    sdf_dir.mkdir(parents=True, exist_ok=True)
    if any(sdf_dir.glob("*.sdf")):
        return sdf_dir
    hgt = Path(hgt_path).resolve()
    local = sdf_dir / hgt.name
    if not local.exists():
        shutil.copyfile(hgt, local)  # srtm2sdf wants the tile name; it writes to the cwd
    subprocess.run(["srtm2sdf", "-d", "/dev/null", local.name], cwd=sdf_dir, check=True,
                   capture_output=True, timeout=120)
    local.unlink()
    return sdf_dir


def run_splat_pathloss(
    sdf_dir: str | Path, lon: float, lat: float, tx_height_m: float, frequency_mhz: float,
    radius_km: float, *, rx_height_m: float = 1.5, eps: float = 15.0, sigma: float = 0.005,
    n0: float = 301.0, climate: int = 5, polarization: int = 1, situations: float = 0.5,
    time_fraction: float = 0.5, olditm: bool = True, timeout_s: float = 300.0,
) -> SplatResult:
    """Run ``splat -L`` for one transmitter and return its path loss points.

    Defaults: average ground (eps 15, sigma 0.005 S/m), N_s = 301 N-units (k about 4/3),
    continental temperate climate, vertical polarisation, 50 % locations and time (the median),
    the original Longley-Rice ITM (``-olditm``) rather than SPLAT!'s ITWOM.
    ``elapsed_s`` is SPLAT!'s wall time, including its map (PPM) output, which it always writes.
    """
    sdf_dir = Path(sdf_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="splat-") as tmp:
        work = Path(tmp)
        (work / "tx.qth").write_text(f"tx\n{lat:.7f}\n{-lon:.7f}\n{tx_height_m:.2f} meters\n")
        (work / "tx.lrp").write_text(
            f"{eps:.3f} ; Earth Dielectric Constant\n{sigma:.6f} ; Earth Conductivity\n"
            f"{n0:.3f} ; Atmospheric Bending Constant\n{frequency_mhz:.3f} ; Frequency in MHz\n"
            f"{climate:d} ; Radio Climate\n{polarization:d} ; Polarization\n"
            f"{situations:.2f} ; Fraction of situations\n{time_fraction:.2f} ; Fraction of time\n"
        )
        cmd = ["splat", "-t", "tx.qth", "-L", f"{rx_height_m:g}", "-R", f"{radius_km:g}",
               "-metric", "-d", str(sdf_dir), "-N", "-ano", "out.ano"]
        if olditm:
            cmd.append("-olditm")
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=work, check=True, capture_output=True, timeout=timeout_s)
        elapsed = time.perf_counter() - t0
        lats, lons, losses, obst = [], [], [], []
        with open(work / "out.ano") as fh:
            for line in fh:
                line = line.split(";", 1)[0].strip()
                if not line:
                    continue
                parts = [p.strip() for p in line.split(",")]
                if len(parts) < 5:
                    continue
                last = parts[4]
                lats.append(float(parts[0]))
                lons.append(float(parts[1]))
                losses.append(float(last.rstrip("*").strip()))
                obst.append(last.endswith("*"))
    lon_w = np.array(lons)
    return SplatResult(
        lon=np.where(lon_w > 180.0, 360.0 - lon_w, -lon_w), lat=np.array(lats),
        loss_db=np.array(losses), obstructed=np.array(obst, dtype=bool), elapsed_s=elapsed,
        command=tuple(cmd),
    )


def raster_at(raster, crs, lon, lat):
    """A lomsong raster's value at each lon/lat (the cell containing it), NaN outside: how a
    SPLAT! point is matched to our grid."""
    from rasterio.transform import rowcol

    from lomsong.geodata.dem import lonlat_to_xy

    px, py = lonlat_to_xy(crs, lon, lat)
    rows, cols = (np.asarray(a) for a in rowcol(raster.transform, px, py))
    h, w = raster.values.shape
    ok = (rows >= 0) & (cols >= 0) & (rows < h) & (cols < w)
    out = np.full(np.shape(lon), np.nan)
    out[ok] = raster.values[rows[ok], cols[ok]]
    return out
