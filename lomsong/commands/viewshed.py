"""``lomsong viewshed``: visibility from one observer, or from many in one process.

Output follows ``gdal_viewshed``: a Byte GeoTIFF on the DEM's grid (same cell size and origin,
clipped to the radius box), 255 visible, 0 invisible or beyond the radius.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

log = logging.getLogger("lomsong.viewshed")

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

HELP = "Cells visible from an antenna (255) or not (0), on the DEM's own grid."


def register(app) -> None:
    """Add ``viewshed`` to the Typer app as a pass-through to :func:`run`.

    This command parses its own options with argparse: ``lomsong.cli.main`` calls :func:`run`
    without importing Typer, whose option handling (it imports pydantic) cost ~0.25 s of every
    start; the Typer route (``lomsong --help``, ``CliRunner``) hands the arguments over as they
    are, so both routes share one parser.
    """
    import typer

    def viewshed(ctx) -> None:
        run(list(ctx.args))

    viewshed.__annotations__ = {"ctx": typer.Context, "return": None}
    viewshed.__doc__ = HELP
    app.command("viewshed", help=HELP, add_help_option=False,
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                  "allow_interspersed_args": False})(viewshed)


def build_parser(prog: str = "lomsong viewshed") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=HELP, allow_abbrev=False)
    ap.add_argument("dem", type=Path, metavar="DEM",
                    help="DEM: GeoTIFF (any CRS) or SRTM .hgt; a geographic DEM is reprojected "
                    "to the local UTM zone.")
    ap.add_argument("-ox", "--observer-x", dest="ox", type=float, metavar="X",
                    help="Observer x in the DEM file's CRS (as gdal_viewshed -ox).")
    ap.add_argument("-oy", "--observer-y", dest="oy", type=float, metavar="Y",
                    help="Observer y in the DEM file's CRS (as gdal_viewshed -oy).")
    ap.add_argument("--lon", type=float, help="Observer longitude (WGS 84, degrees).")
    ap.add_argument("--lat", type=float, help="Observer latitude (WGS 84, degrees).")
    ap.add_argument("--observers", type=Path, metavar="CSV",
                    help="CSV with columns id,x,y (DEM file's CRS) or id,lon,lat: one viewshed "
                    "per row, written as <id>.tif in the -o folder, all in one process.")
    ap.add_argument("--observer-height", "-oz", dest="observer_height", type=float,
                    default=30.0, metavar="M", help="Antenna height above ground (m; 30).")
    ap.add_argument("--target-height", "-tz", dest="target_height", type=float, default=1.5,
                    metavar="M", help="Target (handset) height above ground (m; 1.5).")
    ap.add_argument("--radius", "-md", type=float, default=20000.0, metavar="M",
                    help="Maximum distance (m), cell centre to cell centre (20000).")
    ap.add_argument("--curvature-coeff", "-cc", dest="curvature_coeff", type=float,
                    default=0.75, metavar="CC",
                    help="1 - refraction coefficient, as gdal_viewshed -cc (0.75: k = 4/3; "
                    "0: flat earth).")
    ap.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                    help="Output GeoTIFF, or a folder with --observers.")
    ap.add_argument("--overwrite", action="store_true", help="Replace existing outputs.")
    ap.add_argument("--threads", type=int, default=None, metavar="N",
                    help="Observers computed side by side (default: the CPU count).")
    return ap


def run(argv: list[str], prog: str = "lomsong viewshed", own_process: bool = False) -> None:
    """Parse ``argv`` (bad flags: usage and exit 2, as for every lomsong command) and run.

    ``own_process``: this process exists only for this command (``lomsong.cli.main``), so its
    imports may be trimmed (see :func:`_keep_boto3_out`); not for calls from a longer-lived
    process such as a notebook or a test runner.
    """
    args = build_parser(prog).parse_args(argv)
    if own_process:
        _keep_boto3_out()
    viewshed_command(**vars(args))


def viewshed_command(
    dem: Path,
    ox: float | None = None,
    oy: float | None = None,
    lon: float | None = None,
    lat: float | None = None,
    observers: Path | None = None,
    observer_height: float = 30.0,
    target_height: float = 1.5,
    radius: float = 20000.0,
    curvature_coeff: float = 0.75,
    output: Path | None = None,
    overwrite: bool = False,
    threads: int | None = None,
) -> None:
    """Cells visible from an antenna (255) or not (0), on the DEM's own grid."""
    from lomsong.coverage.errors import InvalidInputError, OutputExistsError

    single_xy = ox is not None or oy is not None
    single_ll = lon is not None or lat is not None
    modes = [m for m, on in (("-ox/-oy", single_xy), ("--lon/--lat", single_ll),
                             ("--observers", observers is not None)) if on]
    if len(modes) != 1:
        raise InvalidInputError(
            "give the observer as exactly one of -ox/-oy, --lon/--lat or --observers"
            + (f" (got {' and '.join(modes)})" if modes else ""))
    if single_xy and (ox is None or oy is None):
        raise InvalidInputError("-ox and -oy go together: give both")
    if single_ll and (lon is None or lat is None):
        raise InvalidInputError("--lon and --lat go together: give both")
    if observers is not None and not observers.is_file():
        raise InvalidInputError(f"--observers {observers}: no such file")
    if output is None:
        raise InvalidInputError("-o/--output is required")
    if threads is not None and threads < 1:
        raise InvalidInputError(f"--threads {threads}: must be 1 or more")

    # Refuse to overwrite before any work is done.
    if observers is None:
        if output.exists() and not overwrite:
            raise OutputExistsError(f"-o {output}: exists; pass --overwrite to replace it")
        if output.is_dir():
            raise InvalidInputError(f"-o {output}: is a folder; give a .tif file name")

    from lomsong.geodata.dem import read_dem

    grid = read_dem(dem)
    to_grid = _to_grid_crs(dem, grid.crs)

    if observers is None:
        if single_xy:
            x, y = to_grid("xy", ox, oy)
            label = f"-ox {ox} -oy {oy}"
        else:
            x, y = to_grid("lonlat", lon, lat)
            label = f"--lon {lon} --lat {lat}"
        ids = [output.stem]
        points = [(x, y)]
        labels = [label]
        paths = [output]
    else:
        ids, points, labels = _read_observers(observers, to_grid, grid)
        paths = [output / f"{i}.tif" for i in ids]
        if output.exists() and not output.is_dir():
            raise InvalidInputError(f"-o {output}: with --observers, -o must be a folder")
        taken = [str(p) for p in paths if p.exists()]
        if taken and not overwrite:
            shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
            raise OutputExistsError(f"{shown}: exist(s); pass --overwrite to replace")

    from lomsong.coverage.viewshed import for_each_viewshed, in_radius_mask

    def write(k: int, res) -> None:
        # Called in the thread that computed res: the write overlaps the other sweeps.  The
        # folder is made here, once every observer has passed the checks.
        paths[k].parent.mkdir(parents=True, exist_ok=True)
        _write_byte_tiff(paths[k], res.visible, res.transform, res.crs)
        if log.isEnabledFor(logging.INFO):
            inside = in_radius_mask(res, grid.cell_m)
            n_in = int(inside.sum())
            n_vis = int((res.visible[inside] == 255).sum())
            log.info("%s: %d of %d cells within %.0f m visible (%.1f %%) -> %s", ids[k], n_vis,
                     n_in, radius, 100.0 * n_vis / max(n_in, 1), paths[k])

    for_each_viewshed(grid, points, write, observer_height_m=observer_height,
                      target_height_m=target_height, radius_m=radius,
                      curvature_coeff=curvature_coeff, labels=labels, workers=threads)


def _to_grid_crs(dem_path: Path, grid_crs: str):
    """A function mapping ('xy', x, y) in the DEM file's CRS or ('lonlat', lon, lat) to the grid."""
    import rasterio

    with rasterio.open(dem_path) as src:
        file_crs = src.crs

    def convert(kind: str, a: float, b: float) -> tuple[float, float]:
        from lomsong.geodata.dem import lonlat_to_xy

        if kind == "lonlat":
            if not (-180.0 <= a <= 180.0 and -90.0 <= b <= 90.0):
                from lomsong.coverage.errors import InvalidInputError

                raise InvalidInputError(f"lon={a}, lat={b}: not a WGS 84 position")
            x, y = lonlat_to_xy(grid_crs, a, b)
            return float(x), float(y)
        if file_crs is None or file_crs.to_string() == grid_crs:
            return float(a), float(b)
        from pyproj import Transformer

        t = Transformer.from_crs(file_crs.to_wkt(), grid_crs, always_xy=True)
        x, y = t.transform(a, b)
        return float(x), float(y)

    return convert


def _read_observers(path: Path, to_grid, grid):
    """Rows of an observers CSV as (ids, points in the grid CRS, labels); all problems at once."""
    import csv
    import math

    from lomsong.coverage.errors import InvalidInputError

    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot be read as UTF-8 CSV ({exc})") from exc
    if not rows:
        raise InvalidInputError(f"{name}: empty; expected a header id,x,y or id,lon,lat")
    header = [h.strip().lower() for h in rows[0]]
    col = {h: k for k, h in enumerate(header)}
    has_xy = "x" in col and "y" in col
    has_ll = "lon" in col and "lat" in col
    missing = [c for c in ("id",) if c not in col]
    if not (has_xy or has_ll):
        missing.append("x,y or lon,lat")
    if missing:
        raise InvalidInputError(f"{name}: header {','.join(rows[0])!s} lacks column(s) "
                                f"{'; '.join(missing)}; expected id,x,y or id,lon,lat")
    if has_xy and has_ll:
        raise InvalidInputError(f"{name}: has both x,y and lon,lat columns; keep one pair")
    a_name, b_name = ("x", "y") if has_xy else ("lon", "lat")
    kind = "xy" if has_xy else "lonlat"

    problems: list[str] = []
    ids: list[str] = []
    points: list[tuple[float, float]] = []
    labels: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{name} row {line}"
        if len(row) < len(header):
            problems.append(f"{where}: {len(row)} fields, header has {len(header)}")
            continue
        ident = row[col["id"]].strip()
        if not _ID_RE.match(ident):
            problems.append(f"{where}: id={ident!r}, must be 1-100 letters, digits, '.', '_' or "
                            "'-' (it names the output file)")
        elif ident in seen:
            problems.append(f"{where}: id={ident!r} repeats row {seen[ident]}")
        else:
            seen[ident] = line
        vals = []
        for field in (a_name, b_name):
            raw = row[col[field]].strip()
            try:
                v = float(raw)
                if not math.isfinite(v):
                    raise ValueError
                vals.append(v)
            except ValueError:
                problems.append(f"{where}: {field}={raw!r}, must be a finite number")
        if len(vals) != 2:
            continue
        try:
            x, y = to_grid(kind, vals[0], vals[1])
        except InvalidInputError as exc:
            problems.append(f"{where}: {exc}")
            continue
        label = where if kind == "xy" else f"{where} (lon={vals[0]}, lat={vals[1]})"
        if not grid.contains(x, y):
            left, bottom, right, top = grid.bounds
            problems.append(f"{label}: x={x:.1f}, y={y:.1f} is outside the DEM (bounds "
                            f"{left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f} in {grid.crs})")
            continue
        ids.append(ident)
        points.append((x, y))
        labels.append(label)
    if not problems and not ids:
        problems.append(f"{name}: no observer rows after the header")
    if problems:
        raise InvalidInputError.from_problems(str(path), problems)
    return ids, points, labels


def _keep_boto3_out() -> None:
    """Stop rasterio from importing boto3 in this process.

    rasterio imports boto3 at import time whenever it is installed, only to open ``s3://``
    files; that import takes 0.2-0.3 s, about a quarter of a 20-observer run.  This command
    reads and writes local files only, so a ``None`` entry in ``sys.modules`` makes rasterio
    see boto3 as absent (it falls back to its dummy session).  Only done in a process of its
    own (``run(..., own_process=True)``), where nothing else uses boto3.
    """
    import sys

    if "rasterio" not in sys.modules:
        sys.modules.setdefault("boto3", None)


def _write_byte_tiff(path: Path, data, transform, crs: str) -> None:
    """Write a Byte GeoTIFF atomically (a temporary file renamed into place)."""
    import os

    import rasterio

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with rasterio.open(tmp, "w", driver="GTiff", height=data.shape[0], width=data.shape[1],
                           count=1, dtype="uint8", crs=crs, transform=transform) as dst:
            dst.write(data, 1)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
