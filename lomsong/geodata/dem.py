"""Read a DEM into a metric :class:`~lomsong.coverage.models.DemGrid`.

Accepts any raster rasterio reads (GeoTIFF in any CRS) and SRTM ``.hgt`` tiles (1201² SRTM-3 and
3601² SRTM-1; GDAL's SRTMHGT driver gives them their geographic transform from the file name).

Decisions (reasons in DESIGN.md):

* Voids (the file's nodata, and SRTM's -32768 even when the file declares no nodata) are filled
  by inverse-distance interpolation from their edges (GDAL's FillNodata), counted, and kept in
  ``void_mask`` — never read as -32 km valleys.
* Computation happens on a metric grid with square cells.  Geographic input is reprojected to the
  local UTM zone, chosen from the DEM's centre (EPSG:32648 for Thái Nguyên), with bilinear
  resampling, at ``resolution_m`` or by default the source's own resolution (about 90 m for
  SRTM-3), on a grid aligned to whole multiples of the resolution (like ``gdalwarp -tap``) so the
  same input always gives the same grid.  A projected DEM in metres with square cells is used as
  it is, on its own grid, so results can be diffed against peers cell for cell.
* Cells of the output grid that the source does not cover (the slanted edges of a reprojected
  tile) are filled from the nearest data and marked in ``void_mask`` too.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from affine import Affine

from lomsong.coverage.errors import DemReadError, InvalidInputError
from lomsong.coverage.models import DemGrid

SRTM_VOID = -32768.0


def utm_epsg_for(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding (lon, lat): 326zz north, 327zz south."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InvalidInputError(f"lon={lon}, lat={lat}: not a WGS 84 position")
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def lonlat_to_xy(crs: str, lon, lat):
    """WGS 84 lon/lat (scalars or arrays) to x/y in ``crs``."""
    return _transformer("EPSG:4326", str(crs)).transform(lon, lat)


def xy_to_lonlat(crs: str, x, y):
    """x/y in ``crs`` (scalars or arrays) to WGS 84 lon/lat."""
    return _transformer(str(crs), "EPSG:4326").transform(x, y)


def _fill_voids(elev: np.ndarray, void: np.ndarray, name: str) -> np.ndarray:
    """Fill ``void`` cells by inverse-distance interpolation; never leave a hole."""
    if not void.any():
        return elev
    if void.all():
        raise DemReadError(f"{name}: every cell is nodata; nothing to compute on")
    from rasterio.fill import fillnodata

    work = np.where(void, 0.0, elev).astype(np.float32)
    # A large search distance: SRTM voids on steep slopes run to tens of cells.
    filled = fillnodata(work, mask=(~void).astype(np.uint8), max_search_distance=2000.0,
                        smoothing_iterations=0)
    still = ~np.isfinite(filled)
    if still.any():  # unreachable by the search: fall back to the nearest valid value
        from scipy import ndimage

        idx = ndimage.distance_transform_edt(void, return_distances=False, return_indices=True)
        filled = elev[tuple(idx)]
    return filled.astype(np.float32)


def read_dem(
    path: str | Path,
    *,
    resolution_m: float | None = None,
    dst_crs: str | None = None,
) -> DemGrid:
    """Read ``path`` into a metric, void-free float32 :class:`DemGrid`.

    Parameters
    ----------
    path
        GeoTIFF (any CRS) or SRTM ``.hgt``.
    resolution_m
        Cell size of the metric grid; default the source's own.
    dst_crs
        Target CRS (metric); default the DEM's own when projected, else the local UTM zone.

    Raises
    ------
    DemReadError
        The file is missing, unreadable, has no CRS, or holds no valid cell.
    InvalidInputError
        ``resolution_m`` is not positive, or ``dst_crs`` is not metric.
    """
    import rasterio
    from rasterio.crs import CRS
    from rasterio.errors import RasterioIOError

    path = Path(path)
    name = str(path)
    if resolution_m is not None and not (resolution_m > 0 and math.isfinite(resolution_m)):
        raise InvalidInputError(f"--resolution={resolution_m}: must be a positive number of metres")
    if not path.exists():
        raise DemReadError(f"{name}: no such file")
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise DemReadError(
                    f"{name}: the DEM has no CRS; give it one (e.g. gdal_edit.py -a_srs EPSG:4326)"
                )
            src_crs = src.crs
            src_transform = src.transform
            raw = src.read(1, masked=False)
            nodata = src.nodata
    except RasterioIOError as exc:
        raise DemReadError(f"{name}: cannot be read as a raster ({exc})") from exc

    elev = raw.astype(np.float32)
    void = ~np.isfinite(elev)
    if nodata is not None and math.isfinite(nodata):
        void |= elev == np.float32(nodata)
    void |= elev <= SRTM_VOID  # SRTM void marker, whether or not nodata says so
    src_voids = int(void.sum())
    elev = _fill_voids(elev, void, name)

    if dst_crs is not None:
        target = CRS.from_user_input(dst_crs)
    elif src_crs.is_geographic:
        rows, cols = elev.shape
        cx, cy = src_transform @ (cols / 2.0, rows / 2.0)
        target = CRS.from_epsg(utm_epsg_for(cx, cy))
    else:
        target = src_crs
    if not target.is_projected or (target.linear_units or "").lower() not in ("metre", "meter", "m"):
        raise InvalidInputError(f"{name}: target CRS {target.to_string()} is not metric (metres)")

    same_crs = target == src_crs
    square = math.isclose(abs(src_transform.a), abs(src_transform.e), rel_tol=1e-9)
    north_up = src_transform.b == 0 and src_transform.d == 0 and src_transform.e < 0
    keep_grid = same_crs and square and north_up and (
        resolution_m is None or math.isclose(resolution_m, src_transform.a, rel_tol=1e-9)
    )
    if keep_grid:
        return DemGrid(elevation_m=elev, transform=src_transform, crs=target.to_string(),
                       void_mask=void, voids_filled=src_voids, source=name)

    from rasterio.warp import Resampling, calculate_default_transform, reproject

    rows, cols = elev.shape
    left, top = src_transform @ (0, 0)
    right, bottom = src_transform @ (cols, rows)
    if resolution_m is None:
        t0, _, _ = calculate_default_transform(src_crs, target, cols, rows,
                                               left=min(left, right), bottom=min(bottom, top),
                                               right=max(left, right), top=max(bottom, top))
        # The source's own resolution, rounded to whole metres so the grid is reproducible.
        resolution_m = float(round(abs(t0.a)))
    res = float(resolution_m)
    from rasterio.warp import transform_bounds

    b = transform_bounds(src_crs, target, min(left, right), min(bottom, top),
                         max(left, right), max(bottom, top), densify_pts=51)
    x0 = math.floor(b[0] / res) * res
    y1 = math.ceil(b[3] / res) * res
    ncols = int(math.ceil((b[2] - x0) / res))
    nrows = int(math.ceil((y1 - b[1]) / res))
    dst_transform = Affine(res, 0.0, x0, 0.0, -res, y1)
    out = np.full((nrows, ncols), np.nan, dtype=np.float32)
    reproject(elev, out, src_transform=src_transform, src_crs=src_crs,
              dst_transform=dst_transform, dst_crs=target, resampling=Resampling.bilinear,
              src_nodata=None, dst_nodata=np.nan)
    vmask = np.zeros((nrows, ncols), dtype=np.uint8)
    reproject(void.astype(np.uint8), vmask, src_transform=src_transform, src_crs=src_crs,
              dst_transform=dst_transform, dst_crs=target, resampling=Resampling.max,
              src_nodata=None, dst_nodata=0)
    outside = ~np.isfinite(out)
    out = _fill_voids(out, outside, name)
    return DemGrid(elevation_m=out, transform=dst_transform, crs=target.to_string(),
                   void_mask=(vmask > 0) | outside, voids_filled=src_voids, source=name)


def footprint_mask(dem: DemGrid) -> np.ndarray:
    """Cells with real (not filled or extrapolated) terrain."""
    if dem.void_mask is None:
        return np.ones(dem.shape, dtype=bool)
    return ~dem.void_mask
