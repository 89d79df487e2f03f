"""``lomsong pathloss``: a path loss map around one transmitter, as a float32 GeoTIFF.

::

    lomsong pathloss N21E105.hgt --lon 105.848 --lat 21.594 --height 30 \\
        --frequency-mhz 900 --radius 20000 --model p526 -o loss.tif

The raster is the transmitter's radius window of the DEM's metric grid (the grid
:func:`lomsong.geodata.dem.read_dem` makes: the local UTM zone for a geographic DEM), in dB,
NaN outside the radius.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer


def _parse_options(pairs: list[str] | None) -> dict[str, object]:
    from lomsong.coverage.errors import InvalidInputError

    out: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--option={pair!r}: expected KEY=VALUE, e.g. environment=open")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            out[key.strip()] = value.strip()
    return out


_DEM = typer.Argument(..., metavar="DEM", help="DEM: GeoTIFF (any CRS) or SRTM .hgt.")
_LON = typer.Option(..., "--lon", help="Transmitter longitude (WGS 84, degrees).")
_LAT = typer.Option(..., "--lat", help="Transmitter latitude (WGS 84, degrees).")
_HEIGHT = typer.Option(..., "--height", help="Antenna height above ground (m).")
_FREQ = typer.Option(..., "--frequency-mhz", help="Carrier frequency (MHz).")
_RADIUS = typer.Option(20000.0, "--radius", help="Radius of the map (m).")
_MODEL = typer.Option(
    "p526", "--model",
    help="p526 (terrain, default), fspl, hata, cost231, rma, or itm when available.",
)
_RX_HEIGHT = typer.Option(1.5, "--rx-height", help="Handset height above ground (m).")
_RESOLUTION = typer.Option(
    None, "--resolution", help="Metric grid cell size (m); default the DEM's own."
)
_OPTION = typer.Option(
    None, "--option", "-O",
    help="Model option KEY=VALUE (repeatable): k_factor=1.33, environment=open, los=nlos ...",
)
_OUT = typer.Option(..., "-o", "--out", help="Output GeoTIFF (float32 dB, NaN nodata).")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace OUT if it exists.")
_THREADS = typer.Option(
    None, "--threads", help="Threads for the rays (p526, itm); default the CPU count.",
)


def pathloss(
    dem_path: Path = _DEM,
    lon: float = _LON,
    lat: float = _LAT,
    height: float = _HEIGHT,
    frequency_mhz: float = _FREQ,
    radius: float = _RADIUS,
    model: str = _MODEL,
    rx_height: float = _RX_HEIGHT,
    resolution: float = _RESOLUTION,
    option: list[str] = _OPTION,
    out: Path = _OUT,
    overwrite: bool = _OVERWRITE,
    threads: int = _THREADS,
) -> None:
    """Path loss (dB) from one transmitter to every cell within the radius."""
    import logging
    import os

    import numpy as np

    from lomsong.coverage.errors import InvalidInputError, OutputExistsError
    from lomsong.coverage.pathloss import get_model, path_loss_map
    from lomsong.geodata.dem import lonlat_to_xy, read_dem, xy_to_lonlat
    from lomsong.geodata.outputs import write_geotiff

    log = logging.getLogger("lomsong.pathloss")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: exists; use --overwrite to replace it")
    spec = get_model(model)
    options = _parse_options(option)
    spec.build_params(**options)  # reject a bad option before the DEM is read
    problems = []
    lo, hi = spec.frequency_mhz
    if not (math.isfinite(frequency_mhz) and lo <= frequency_mhz <= hi):
        problems.append(f"--frequency-mhz={frequency_mhz:g}: model {spec.name} accepts "
                        f"{lo:g}-{hi:g} MHz")
    for flag, value in (("--height", height), ("--rx-height", rx_height), ("--radius", radius)):
        if not (math.isfinite(value) and value > 0):
            problems.append(f"{flag}={value:g}: must be > 0 (metres)")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        problems.append(f"--lon={lon:g}, --lat={lat:g}: not a WGS 84 position")
    if threads is not None and threads < 1:
        problems.append(f"--threads={threads}: must be >= 1")
    if problems:
        raise InvalidInputError.from_problems("lomsong pathloss", problems)

    dem = read_dem(dem_path, resolution_m=resolution)
    x, y = lonlat_to_xy(dem.crs, lon, lat)
    if not dem.contains(x, y):
        left, bottom, right, top = dem.bounds
        lons, lats = xy_to_lonlat(dem.crs, [left, right, left, right], [bottom, bottom, top, top])
        raise InvalidInputError(
            f"--lon={lon:g}, --lat={lat:g}: outside the DEM {dem_path} (it covers lon "
            f"{min(lons):.4f}..{max(lons):.4f}, lat {min(lats):.4f}..{max(lats):.4f})"
        )
    result = path_loss_map(dem, x, y, tx_height_m=height, frequency_mhz=frequency_mhz,
                           radius_m=radius, model=spec.name, rx_height_m=rx_height,
                           threads=threads or os.cpu_count() or 1, **options)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        write_geotiff(tmp, result.values, result.transform, result.crs, nodata=float("nan"))
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    vals = result.values[np.isfinite(result.values)]
    log.info("%s: %d cells within %g m, loss %.1f-%.1f dB (model %s, grid %s at %g m)",
             out, vals.size, radius, float(vals.min()), float(vals.max()), spec.name, dem.crs,
             dem.cell_m)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the ``pathloss`` command to ``app``."""
    app.command("pathloss")(pathloss)
