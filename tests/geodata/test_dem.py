"""DEM reading: GeoTIFF in any CRS, SRTM .hgt with voids, metric grids."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from lomsong.coverage.errors import DemReadError, InvalidInputError
from lomsong.geodata.dem import lonlat_to_xy, read_dem, utm_epsg_for, xy_to_lonlat
from tests.conftest import shared_file


def _write_tif(path, arr, transform, crs, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1],
                       count=1, dtype=arr.dtype, transform=transform, crs=crs,
                       nodata=nodata) as dst:
        dst.write(arr, 1)


def test_utm_zone_for_thai_nguyen():
    assert utm_epsg_for(105.85, 21.6) == 32648
    assert utm_epsg_for(-70.0, -33.0) == 32719
    with pytest.raises(InvalidInputError):
        utm_epsg_for(200.0, 0.0)


def test_lonlat_roundtrip():
    x, y = lonlat_to_xy("EPSG:32648", 105.848, 21.594)
    lon, lat = xy_to_lonlat("EPSG:32648", x, y)
    assert abs(lon - 105.848) < 1e-7 and abs(lat - 21.594) < 1e-7


def test_projected_dem_kept_on_its_grid(tmp_path):
    arr = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    t = Affine(90.0, 0, 500000.0, 0, -90.0, 2400000.0)
    p = tmp_path / "dem_utm.tif"
    _write_tif(p, arr, t, "EPSG:32648")
    dem = read_dem(p)
    assert dem.transform == t and dem.crs == "EPSG:32648"
    np.testing.assert_array_equal(dem.elevation_m, arr)
    assert dem.voids_filled == 0 and not dem.void_mask.any()


def test_voids_are_filled_and_counted(tmp_path):
    arr = np.full((40, 40), 200.0, dtype=np.float32)
    arr[10:13, 10:14] = -32768  # 12 voids
    p = tmp_path / "dem_with_voids.tif"
    _write_tif(p, arr.astype(np.int16), Affine(30.0, 0, 500000, 0, -30.0, 2400000), "EPSG:32648",
               nodata=-32768)
    dem = read_dem(p)
    assert dem.voids_filled == 12
    assert dem.void_mask.sum() == 12
    assert np.allclose(dem.elevation_m[10:13, 10:14], 200.0)
    assert dem.elevation_m.min() > 0  # never a -32 km valley


def test_undeclared_srtm_voids_still_caught(tmp_path):
    arr = np.full((20, 20), 50, dtype=np.int16)
    arr[5, 5] = -32768
    p = tmp_path / "no_nodata.tif"
    _write_tif(p, arr, Affine(30.0, 0, 500000, 0, -30.0, 2400000), "EPSG:32648")
    dem = read_dem(p)
    assert dem.voids_filled == 1 and dem.elevation_m[5, 5] == pytest.approx(50.0)


def test_geographic_dem_reprojected_to_utm(tmp_path):
    arr = (np.add.outer(np.arange(121), np.arange(121)) * 1.0).astype(np.float32)
    t = Affine(1 / 1200, 0, 105.8, 0, -1 / 1200, 21.7)  # 3 arc-second, like SRTM-3
    p = tmp_path / "geo.tif"
    _write_tif(p, arr, t, "EPSG:4326")
    dem = read_dem(p)
    assert dem.crs == "EPSG:32648"
    assert 85 <= dem.cell_m <= 95  # the source's own resolution, about 90 m
    assert dem.transform.a == -dem.transform.e  # square cells
    assert dem.transform.c % dem.cell_m == 0  # aligned grid
    assert np.isfinite(dem.elevation_m).all()
    dem30 = read_dem(p, resolution_m=30)
    assert dem30.cell_m == 30


def test_dem_without_crs_is_rejected(tmp_path):
    p = tmp_path / "nocrs.tif"
    with rasterio.open(p, "w", driver="GTiff", height=5, width=5, count=1, dtype="float32") as d:
        d.write(np.zeros((5, 5), np.float32), 1)
    with pytest.raises(DemReadError, match="nocrs.tif: the DEM has no CRS"):
        read_dem(p)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(DemReadError, match="no such file"):
        read_dem(tmp_path / "nope.tif")
    bad = tmp_path / "garbage.tif"
    bad.write_bytes(b"not a raster at all")
    with pytest.raises(DemReadError, match="garbage.tif"):
        read_dem(bad)
    with pytest.raises(InvalidInputError, match="resolution"):
        read_dem(bad, resolution_m=-5)


@pytest.mark.shared
def test_real_srtm_tile_with_voids():
    dem = read_dem(shared_file("dem/N21E105.hgt"))
    assert dem.crs == "EPSG:32648"
    assert dem.voids_filled == 1539  # SOURCES.md: 1,539 cells are -32768
    assert dem.elevation_m.min() > -100 and dem.elevation_m.max() < 1600
    # Thái Nguyên city reads about 36 m in the source
    x, y = lonlat_to_xy(dem.crs, 105.848, 21.594)
    r, c = dem.rowcol(x, y)
    assert 20 < dem.elevation_m[r, c] < 60
