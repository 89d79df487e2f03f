"""A hand-built scenario whose answer is known without the code.

A flat plain at 100 m with a 400 m-high north-south ridge.  Tower A (Viettel 4G, omni, 30 m)
stands 4.5 km west of the ridge.  Village "behind" is 4.5 km east of the ridge: the ridge rises
~300 m above the line of sight, a knife edge with v ≈ 20 (J(v) ≈ 39 dB, plus Bullington's
correction), so RSRP ≈ -135 dBm: a gap.  Village "near" is 1.8 km from the tower in the open:
RSRP ≈ -70 dBm, covered.  Village "far" is 10.5 km away, beyond the 10 km useful radius: a gap.
A second Viettel tower on the ridge covers "behind".  A fiber line 300 m from "near" clears its
fiber flag; the others are kilometres away.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from lomsong.coverage.gaps import GapRules
from lomsong.geodata.dem import xy_to_lonlat
from lomsong.pipeline import RunConfig, run_pipeline

CELL = 90.0
X0, Y0 = 560000.0, 2400000.0  # UTM 48N, about 105.57 E, 21.7 N
ROWS, COLS = 120, 240
TOWER_RC = (60, 100)
RIDGE_COLS = (150, 155)
VILLAGES = {"near": (60, 120), "behind": (60, 200), "far": (0, 0)}


def _xy(r, c):
    return X0 + (c + 0.5) * CELL, Y0 - (r + 0.5) * CELL


def _lonlat(r, c):
    return xy_to_lonlat("EPSG:32648", *_xy(r, c))


@pytest.fixture
def scenario(tmp_path):
    elev = np.full((ROWS, COLS), 100.0, dtype=np.float32)
    elev[:, RIDGE_COLS[0]:RIDGE_COLS[1]] = 500.0
    with rasterio.open(tmp_path / "dem_ridge.tif", "w", driver="GTiff", height=ROWS, width=COLS,
                       count=1, dtype="float32", crs="EPSG:32648",
                       transform=Affine(CELL, 0, X0, 0, -CELL, Y0)) as d:
        d.write(elev, 1)
    with open(tmp_path / "villages.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "population", "lon", "lat"])
        for i, (vid, rc) in enumerate(VILLAGES.items()):
            lon, lat = _lonlat(*rc)
            w.writerow([vid, f"Bản {vid} Đồi", 100 * (i + 1), f"{lon:.7f}", f"{lat:.7f}"])
    # fiber: a north-south line 300 m east of "near"
    fx = _xy(*VILLAGES["near"])[0] + 300.0
    line = [list(xy_to_lonlat("EPSG:32648", fx, y)) for y in (Y0, Y0 - ROWS * CELL)]
    (tmp_path / "fiber.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"operator": "VNPT"},
         "geometry": {"type": "LineString", "coordinates": line}}]}), encoding="utf-8")

    def towers(extra_on_ridge: bool):
        rows = [("A", *TOWER_RC)]
        if extra_on_ridge:
            rows.append(("B", 60, 152))
        p = tmp_path / f"towers_{len(rows)}.csv"
        with open(p, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["radio", "carrier", "site_id", "cell", "lon", "lat", "height_m"])
            for name, r, c in rows:
                lon, lat = _lonlat(r, c)
                w.writerow(["LTE", "Viettel", name, name, f"{lon:.7f}", f"{lat:.7f}", 30])
        return p

    def config(extra_on_ridge: bool) -> RunConfig:
        return RunConfig(dem=tmp_path / "dem_ridge.tif", towers=(towers(extra_on_ridge),),
                         villages=tmp_path / "villages.csv", fiber=(tmp_path / "fiber.geojson",),
                         radius_m=10000.0, rules=GapRules())

    return tmp_path, config


def test_ridge_gap_second_tower_range_and_fiber(scenario):
    tmp, config = scenario
    res = run_pipeline(config(False), tmp / "out1", cache_dir=tmp / "cache")
    rec = {r.village_id: r for r in res.records}
    near, behind, far = (rec[k].mark("Viettel", "4G") for k in ("near", "behind", "far"))
    assert near.status == "covered" and near.best_dbm > -90
    assert behind.status == "gap" and behind.best_dbm < -120  # the ridge blocks it
    assert far.status == "gap" and far.best_dbm is None  # beyond the useful radius
    assert [rec[k].no_mobile for k in ("near", "behind", "far")] == [False, True, True]
    assert [rec[k].no_fiber for k in ("near", "behind", "far")] == [False, True, True]
    assert 250 < rec["near"].fiber_distance_m < 350

    summary = json.loads((tmp / "out1" / "summary.json").read_text(encoding="utf-8"))
    assert summary["villages_no_mobile"] == 2 and summary["villages_no_fiber"] == 2
    gap_csv = (tmp / "out1" / "gaps" / "viettel.csv").read_bytes()
    assert gap_csv.startswith(b"\xef\xbb\xbf")
    ids = [r["id"] for r in csv.DictReader(gap_csv.decode("utf-8-sig").splitlines())]
    assert sorted(ids) == ["behind", "far"]
    assert "Bản behind Đồi" in gap_csv.decode("utf-8-sig")

    res2 = run_pipeline(config(True), tmp / "out2", cache_dir=tmp / "cache")
    behind2 = next(r for r in res2.records if r.village_id == "behind").mark("Viettel", "4G")
    assert behind2.status == "covered" and behind2.serving_site == "B"
    assert next(r for r in res2.records if r.village_id == "far").no_mobile


def test_same_inputs_same_summary_bytes(scenario):
    tmp, config = scenario
    run_pipeline(config(False), tmp / "a", cache_dir=None)
    run_pipeline(config(False), tmp / "b", cache_dir=tmp / "cache")
    run_pipeline(config(False), tmp / "c", cache_dir=tmp / "cache")  # from the cache
    a, b, c = ((tmp / d / "summary.json").read_bytes() for d in "abc")
    assert a == b == c
    for name in ("villages.geojson", "gaps/viettel.csv"):
        assert (tmp / "a" / name).read_bytes() == (tmp / "c" / name).read_bytes()
    feats = json.loads((tmp / "a" / "villages.geojson").read_text(encoding="utf-8"))["features"]
    import geopandas as gpd

    gdf = gpd.read_file(tmp / "a" / "villages.gpkg")
    assert len(gdf) == len(feats) == summary_total(tmp / "a")
    assert set(gdf["name"]) == {f["properties"]["name"] for f in feats}


def summary_total(out):
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))["villages_total"]
