"""Output writers: Excel-safe CSV with BOM, deterministic JSON, COG, atomic publishing."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import rasterio
from affine import Affine

from lomsong.coverage.errors import OutputExistsError
from lomsong.geodata.outputs import csv_bytes, json_bytes, publish_dir, write_cog


def test_csv_has_bom_keeps_diacritics_and_escapes_formulas():
    rows = [{"id": "v1", "name": "Thôn Nà Tòng", "best": -112.5, "note": "=HYPERLINK(\"x\")"},
            {"id": "v2", "name": "@SUM(A1)", "best": None, "note": "-1+1"},
            {"id": "v3", "name": "+84 phone", "best": True, "note": "ok"}]
    data = csv_bytes(rows, ["id", "name", "best", "note"])
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    got = list(csv.reader(io.StringIO(text)))
    assert got[0] == ["id", "name", "best", "note"]
    assert got[1] == ["v1", "Thôn Nà Tòng", "-112.5", "'=HYPERLINK(\"x\")"]  # numbers stay numbers
    assert got[2] == ["v2", "'@SUM(A1)", "", "'-1+1"]
    assert got[3] == ["v3", "'+84 phone", "true", "ok"]
    assert "\r\n" in text


def test_json_is_deterministic_and_utf8():
    a = json_bytes({"b": 1, "a": "Bắc Kạn"})
    assert a == json_bytes({"a": "Bắc Kạn", "b": 1})
    assert "Bắc Kạn".encode() in a


def test_cog_roundtrip(tmp_path):
    arr = np.linspace(-130, -60, 300 * 300, dtype=np.float32).reshape(300, 300)
    arr[0, 0] = np.nan
    t = Affine(90, 0, 500000, 0, -90, 2400000)
    write_cog(tmp_path / "x.tif", arr, t, "EPSG:32648", float("nan"))
    with rasterio.open(tmp_path / "x.tif") as ds:
        assert ds.transform == t and ds.crs.to_epsg() == 32648
        assert ds.profile["tiled"] and ds.overviews(1)
        np.testing.assert_array_equal(ds.read(1), arr)


def test_publish_dir_is_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    with publish_dir(out, overwrite=False) as tmp:
        (tmp / "summary.json").write_text("v1")
    assert (out / "summary.json").read_text() == "v1"
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with publish_dir(out, overwrite=False):
            pass
    with pytest.raises(RuntimeError):
        with publish_dir(out, overwrite=True) as tmp:
            (tmp / "summary.json").write_text("half")
            raise RuntimeError("crash mid-way")
    assert (out / "summary.json").read_text() == "v1"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no debris
    with publish_dir(out, overwrite=True) as tmp:
        (tmp / "summary.json").write_text("v2")
    assert (out / "summary.json").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
