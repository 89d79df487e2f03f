"""Write results: COGs, GeoJSON, GeoPackage, Excel-safe CSV, JSON; and publish a folder atomically.

Every table comes from :class:`~lomsong.coverage.gaps.GapRecord` (one source, so the formats
cannot disagree).  Text is UTF-8; CSV carries a BOM so Excel shows Vietnamese correctly, and a
text cell that starts with ``= + - @`` (or tab/CR) gets a leading apostrophe so a spreadsheet
never runs it as a formula (OWASP "CSV injection"); numbers are written as numbers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from lomsong.coverage.errors import OutputExistsError
from lomsong.coverage.gaps import GapRecord

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_cog(path: Path, values: np.ndarray, transform, crs: str, nodata: float | None) -> None:
    """A Cloud-Optimized GeoTIFF (deflate, 256-pixel internal tiles, overviews)."""
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy

    # The COG driver cannot be written to directly: build a GeoTIFF in memory, copy it as COG.
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
                      dtype=values.dtype.name, transform=transform, crs=crs,
                      nodata=nodata) as tmp:
            tmp.write(values, 1)
        with mem.open() as src:
            rio_copy(src, str(path), driver="COG", compress="DEFLATE", blocksize=256,
                     overview_resampling="nearest")


def write_geotiff(path: Path, values: np.ndarray, transform, crs: str, nodata=None) -> None:
    """A plain GeoTIFF (for CLI outputs that peers diff cell for cell)."""
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1],
                       count=1, dtype=values.dtype.name, transform=transform, crs=crs,
                       nodata=nodata, compress="deflate") as dst:
        dst.write(values, 1)


def excel_safe(value):
    """Escape a text cell a spreadsheet would run as a formula; leave numbers alone."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[dict], columns: list[str]) -> bytes:
    """UTF-8 CSV with BOM, Excel-safe cells, ``\\r\\n`` line ends (RFC 4180)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for r in rows:
        out = []
        for c in columns:
            v = r.get(c)
            if v is None:
                out.append("")
            elif isinstance(v, bool):
                out.append("true" if v else "false")
            else:
                out.append(excel_safe(v))
        w.writerow(out)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def feature_collection(records: Iterable[GapRecord], carriers=None) -> dict:
    """A GeoJSON FeatureCollection (EPSG:4326) of records, properties = ``GapRecord.flat``."""
    from shapely.geometry import mapping

    feats = []
    for r in records:
        geom = r.geometry
        if geom is None or geom.geom_type == "Point":
            g = {"type": "Point", "coordinates": [round(r.lon, 6), round(r.lat, 6)]}
        else:
            g = _round_geom(mapping(geom))
        feats.append({"type": "Feature", "id": r.village_id, "geometry": g,
                      "properties": r.flat(carriers)})
    return {"type": "FeatureCollection", "features": feats}


def _round_geom(obj):
    if isinstance(obj, dict):
        return {k: _round_geom(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(c), 6) for c in obj]
        return [_round_geom(v) for v in obj]
    return obj


def json_bytes(obj) -> bytes:
    """Deterministic JSON: sorted keys, UTF-8 (diacritics kept), trailing newline."""
    return (json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def write_gpkg(path: Path, records: list[GapRecord], layer: str = "villages") -> None:
    """Villages as a GeoPackage layer (points), same properties as the GeoJSON."""
    import geopandas as gpd
    from shapely.geometry import Point

    props = [r.flat() for r in records]
    gdf = gpd.GeoDataFrame(props, geometry=[Point(r.lon, r.lat) for r in records],
                           crs="EPSG:4326")
    gdf.to_file(path, layer=layer, driver="GPKG")


@contextlib.contextmanager
def publish_dir(out_dir: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir``; on success it becomes ``out_dir`` at once.

    Nothing already published is lost or half-overwritten: on failure the temporary folder is
    removed and ``out_dir`` is untouched; with ``overwrite`` the old folder is swapped out only
    after the new one is complete (two renames on one file system).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise OutputExistsError(f"{out_dir}: exists; use --overwrite to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        old.rmdir()
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
