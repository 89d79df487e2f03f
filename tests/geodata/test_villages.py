"""Villages, communes and fiber inputs: formats, validation, spatial join, distances."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affine import Affine

from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.models import DemGrid
from lomsong.geodata.dem import lonlat_to_xy
from lomsong.geodata.villages import (
    assign_communes,
    attach_fiber_distance,
    attach_footprints,
    read_communes,
    read_fiber,
    read_villages,
)

SQ = [[105.80, 21.50], [105.90, 21.50], [105.90, 21.60], [105.80, 21.60], [105.80, 21.50]]


def _fc(features):
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _dem():
    x0, y1 = lonlat_to_xy("EPSG:32648", 105.75, 21.65)
    t = Affine(90.0, 0, float(int(x0)), 0, -90.0, float(int(y1)))
    return DemGrid(np.zeros((200, 300), np.float32), t, "EPSG:32648")


def test_csv_villages_keep_diacritics(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text("id,name,commune,population,lon,lat\n1,Bản Nà Tòng,,120,105.85,21.55\n"
                 "2,Thôn Đồng Mỏ,Xã Chợ Rã,,105.86,21.56\n", encoding="utf-8-sig")
    v = read_villages(p)
    assert [x.name for x in v] == ["Bản Nà Tòng", "Thôn Đồng Mỏ"]
    assert v[0].population == 120 and v[1].population is None and v[1].commune == "Xã Chợ Rã"


@pytest.mark.parametrize("body, match", [
    ("id,name,lon\n1,A,105\n", r"row 1: missing column\(s\) lat"),
    ("id,name,lon,lat\n1,A,105.8,x\n", r"row 2: lon='105.8', lat='x'"),
    ("id,name,lon,lat\n1,A,105.8,21.5\n1,B,105.8,21.5\n", r"row 3: id=1 duplicates"),
    ("id,name,lon,lat\n1,,105.8,21.5\n", r"row 2: id=1: name is empty"),
    ("id,name,lon,lat,population\n1,A,105.8,21.5,-4\n", r"row 2: population=-4"),
])
def test_bad_villages(tmp_path, body, match):
    p = tmp_path / "v.csv"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=match):
        read_villages(p)


def test_polygon_villages_communes_and_fiber(tmp_path):
    vp = tmp_path / "villages.geojson"
    vp.write_text(_fc([
        {"type": "Feature", "properties": {"id": "p1", "name": "Thôn Vuông"},
         "geometry": {"type": "Polygon", "coordinates": [[[105.84, 21.54], [105.86, 21.54],
                                                           [105.86, 21.56], [105.84, 21.56],
                                                           [105.84, 21.54]]]}},
        {"type": "Feature", "properties": {"id": "p2", "name": "Bản Xa"},
         "geometry": {"type": "Point", "coordinates": [105.95, 21.55]}}]), encoding="utf-8")
    cp = tmp_path / "communes.geojson"
    cp.write_text(_fc([{"type": "Feature", "properties": {"code": "05443", "fullName": "Phường Phan Đình Phùng"},
                        "geometry": {"type": "Polygon", "coordinates": [SQ]}}]), encoding="utf-8")
    fp = tmp_path / "fiber.geojson"
    fp.write_text(_fc([{"type": "Feature", "properties": {"operator": "VNPT"},
                        "geometry": {"type": "LineString", "coordinates": [[105.85, 21.40], [105.85, 21.70]]}}]),
                  encoding="utf-8")
    v = read_villages(vp)
    v = assign_communes(v, read_communes(cp))
    assert v[0].commune == "Phường Phan Đình Phùng" and v[0].commune_code == "05443"
    assert v[1].commune is None  # outside every commune
    v = attach_fiber_distance(v, read_fiber([fp]), "EPSG:32648")
    assert v[0].fiber_distance_m == pytest.approx(0.0, abs=1.0)  # the line crosses the polygon
    assert 9000 < v[1].fiber_distance_m < 11000  # 0.1 degree of longitude at 21.55 N ~ 10.4 km
    v = attach_footprints(v, _dem(), 300.0)
    # a 0.02 x 0.02 degree square is about 2.07 x 2.22 km: about 570 cells of 90 m
    assert 450 < v[0].rows.size < 700
    assert 30 <= v[1].rows.size <= 40  # a 300 m disc on 90 m cells: pi*(300/90)^2 ~ 35


def test_fiber_must_be_lines_or_points(tmp_path):
    fp = tmp_path / "fiber.geojson"
    fp.write_text(_fc([{"type": "Feature", "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [SQ]}}]), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="feature 1: fiber geometry must be a line or point"):
        read_fiber([fp])
