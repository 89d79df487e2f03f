"""The web map page (``lomsong.geodata.webmap``) and its hillshade, checked as HTML.

The page is also opened in a real headless Chromium by ``tests/app/test_map_browser.py``, which
builds its inputs with :func:`synthetic_inputs` from here.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest
from affine import Affine

from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.gaps import GapRecord, ServiceMark
from lomsong.coverage.models import DemGrid, ServiceRasters, Tower
from lomsong.geodata.hillshade import hillshade
from lomsong.geodata.webmap import (
    SIGNAL_CLASSES,
    VENDOR_DIR,
    VILLAGE_COLORS,
    MapInputs,
    classify_signal,
    encode_png,
    render_map,
    to_web_mercator,
)
from tests.conftest import shared_file

CRS = "EPSG:32648"
CELL_M = 90.0
X0, Y0 = 585000.0, 2395000.0  # top-left corner, near Thái Nguyên city
ROWS, COLS = 80, 100
TRANSFORM = Affine(CELL_M, 0.0, X0, 0.0, -CELL_M, Y0)
CARRIERS = ("Viettel", "VinaPhone")
RATS_BUILT = ("3G", "4G")
THRESHOLDS = {"2G": -100.0, "3G": -100.0, "4G": -110.0, "5G": -110.0}
#: Tower sites: (carrier, site, row, col) on the grid.
SITES = (("Viettel", "VT-001", 40, 30), ("VinaPhone", "VP-007", 20, 75))
HOSTILE_NAME = "Làng <b>\"Q\" & 'R'</b> {{x}}"


def cell_xy(row: float, col: float) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL_M, Y0 - (row + 0.5) * CELL_M


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def signal_at(d_km: np.ndarray, rat: str) -> np.ndarray:
    """The synthetic best signal: -85 dBm at the mast, 10 dB less per km, none past 4.5 km.

    For 4G (threshold -110): strong to 1.5 km, above threshold to 2.5 km, marginal to 3.5 km,
    below that to 4.5 km, NaN beyond.  3G is 10 dB stronger against a 10 dB higher threshold,
    so its classes fall at the same distances.
    """
    s = -85.0 - 10.0 * d_km + (10.0 if rat == "3G" else 0.0)
    return np.where(d_km <= 4.5, s, np.nan).astype(np.float32)


def _services() -> list[ServiceRasters]:
    rr, cc = np.mgrid[0:ROWS, 0:COLS]
    out = []
    for carrier, _site, r0, c0 in SITES:
        d_km = np.hypot(rr - r0, cc - c0) * CELL_M / 1000.0
        for rat in RATS_BUILT:
            best = signal_at(d_km, rat)
            server = np.where(np.isfinite(best), 0, -1).astype(np.int32)
            out.append(ServiceRasters(carrier, rat, best, server, (f"{_site}-{rat}",), TRANSFORM,
                                      CRS))
    return out


def _towers() -> list[Tower]:
    towers = []
    for carrier, site, r0, c0 in SITES:
        x, y = cell_xy(r0, c0)
        lon, lat = to_lonlat(x, y)
        for rat in RATS_BUILT:
            for k, az in enumerate((0.0, 120.0, 240.0)):
                towers.append(Tower(
                    cell_id=f"{site}-{rat}-{k}", site_id=site, carrier=carrier, rat=rat, lon=lon,
                    lat=lat, x=x, y=y, height_m=30.0, eirp_dbm=58.0,
                    frequency_mhz=2100.0 if rat == "3G" else 1800.0, bandwidth_mhz=10.0,
                    azimuth_deg=az, illustrative=True))
    return towers


def _record(vid: str, name: str, row: float, col: float, statuses: dict, *,
            fiber_m: float | None, no_fiber: bool | None, commune: str) -> GapRecord:
    lon, lat = to_lonlat(*cell_xy(row, col))
    marks = []
    for carrier in CARRIERS:
        for rat in ("2G", "3G", "4G", "5G"):
            st = statuses.get((carrier, rat), "gap")
            dbm = {"covered": -90.0, "marginal": -112.5, "gap": None}[st]
            p = {"covered": 0.97, "marginal": 0.6, "gap": 0.0}[st]
            site = SITES[CARRIERS.index(carrier)][1] if dbm is not None else None
            marks.append(ServiceMark(carrier, rat, dbm, f"{site}-{rat}-0" if site else None, site,
                                     1.0 if st == "covered" else 0.0, p, st))
    bb = [m.status for m in marks if m.rat in ("3G", "4G", "5G")]
    no_mobile = all(s == "gap" for s in bb)
    return GapRecord(
        village_id=vid, name=name, lon=lon, lat=lat, commune=commune, commune_code="05000",
        population=1234, households=300, marks=tuple(marks), no_mobile=no_mobile,
        weak_mobile=not no_mobile and "covered" not in bb, fiber_distance_m=fiber_m,
        no_fiber=no_fiber, footprint_cells=13)


def _records() -> list[GapRecord]:
    cov = {("Viettel", "3G"): "covered", ("Viettel", "4G"): "covered", ("Viettel", "2G"): "covered"}
    return [
        _record("v1", "Xóm Đồng Tâm", 42, 34, cov, fiber_m=350.0, no_fiber=False,
                commune="Xã Phú Đình"),
        _record("v2", "Thôn Khuổi Nằm", 40, 63, {("Viettel", "4G"): "marginal"}, fiber_m=800.0,
                no_fiber=False, commune="Xã Phú Đình"),
        _record("v3", "Bản Lòng Ngòi", 72, 92, {}, fiber_m=5200.0, no_fiber=True,
                commune="Xã Điềm Mặc"),
        _record("v4", HOSTILE_NAME, 20, 72, {("VinaPhone", "4G"): "covered"}, fiber_m=900.0,
                no_fiber=False, commune="Xã Điềm Mặc"),
    ]


def _dem() -> DemGrid:
    rr, cc = np.mgrid[0:ROWS, 0:COLS].astype(np.float64)
    z = 120.0 + 500.0 * np.exp(-((rr - 45.0) ** 2 + (cc - 55.0) ** 2) / 300.0) + 3.0 * cc
    return DemGrid(elevation_m=z.astype(np.float32), transform=TRANSFORM, crs=CRS)


def _communes():
    import geopandas as gpd
    from shapely.geometry import box

    (w, s), (e, n) = to_lonlat(X0, Y0 - ROWS * CELL_M), to_lonlat(X0 + COLS * CELL_M, Y0)
    mid = (w + e) / 2.0
    return gpd.GeoDataFrame({"name": ["Xã Phú Đình", "Xã Điềm Mặc"]},
                            geometry=[box(w, s, mid, n), box(mid, s, e, n)], crs="EPSG:4326")


def _fiber():
    import geopandas as gpd
    from shapely.geometry import LineString

    pts = [to_lonlat(*cell_xy(r, c)) for r, c in ((5, 0), (40, 50), (78, 99))]
    return gpd.GeoDataFrame({"name": ["Quốc lộ 3"]}, geometry=[LineString(pts)], crs="EPSG:4326")


def synthetic_inputs(**changes) -> MapInputs:
    """Small but complete map inputs: 2 carriers x 2 technologies, 4 villages of every status
    (one with a hostile name), 2 tower sites, a DEM with a hill, 2 communes, 1 fiber line."""
    base = dict(
        records=_records(), carriers=CARRIERS, towers=_towers(), services=_services(),
        thresholds_dbm=dict(THRESHOLDS), dem=_dem(), communes=_communes(), fiber=_fiber(),
        fiber_is_proxy=True, towers_illustrative=True, title="Thái Nguyên — lõm sóng (thử / test)",
        attribution="SRTM (NASA/USGS)")
    base.update(changes)
    return MapInputs(**base)


def expected_layer_names(inputs: MapInputs) -> set[str]:
    names = {"Địa hình (DEM) / Hillshade", "Ranh giới xã / Communes",
             "Cáp quang (proxy: đường bộ, đường sắt) / Fiber (proxy: roads, rail)",
             "Lõm sóng / No mobile signal (1)", "Sóng yếu / Weak signal (1)",
             "Có sóng / Covered (2)"}
    names |= {f"Sóng / Signal {c} {r}" for c in CARRIERS for r in RATS_BUILT}
    names |= {f"Trạm / Towers {c} (minh họa / illustrative)" for c in CARRIERS}
    return names


# ---------------------------------------------------------------------------------------------
# Reading the page back


def layer_control(page: str) -> tuple[list[str], list[str]]:
    """(base layer names, overlay names) from the layer control's script, decoded."""
    m = re.search(r"_layers = \{\s*base_layers : \{(.*?)\},\s*overlays :\s*\{(.*?)\},\s*\};", page,
                  re.S)
    assert m, "no layer control in the page"

    def names(block: str) -> list[str]:
        return [json.loads(s) for s in re.findall(r'("(?:[^"\\]|\\.)*")\s*:', block)]

    return names(m.group(1)), names(m.group(2))


def point_layers(page: str) -> list[list]:
    """Every point row ([lat, lon, style, popup, tooltip]) the page's point scripts add."""
    rows = []
    for block in re.findall(r"var pts = (\[.*?\]);\n", page, re.S):
        rows.extend(json.loads(block))
    return rows


def resource_urls(page: str) -> list[str]:
    """URLs the browser would fetch by itself: script/img/iframe src, link href, CSS url(),
    and the image overlays' URLs."""
    urls = re.findall(r"<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*[\"']([^\"']*)",
                      page, re.I)
    urls += re.findall(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']*)", page, re.I)
    urls += re.findall(r"url\(\s*[\"']?([^\"')]+)", page)
    urls += [json.loads(u) for u in re.findall(r"L\.imageOverlay\(\s*(\"[^\"]*\")", page)]
    urls += [json.loads(u) for u in re.findall(r"L\.tileLayer\(\s*(\"[^\"]*\")", page)]
    return urls


def is_external(url: str) -> bool:
    return bool(re.match(r"^\s*(https?:)?//", url, re.I))


def decode_png(data: bytes) -> tuple[np.ndarray, list | None, bytes | None]:
    """A minimal PNG reader for what :func:`encode_png` writes (8-bit grey or palette; filter
    types None/Sub/Up), checking every chunk's CRC: (pixels, palette RGB, tRNS)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, plte, trns, ihdr = 8, b"", None, None, None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, f"bad CRC in {tag!r}"
        if tag == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        elif tag == b"PLTE":
            plte = [tuple(body[i:i + 3]) for i in range(0, n, 3)]
        elif tag == b"tRNS":
            trns = body
        pos += 12 + n
    w, h, depth, ctype, *_ = ihdr
    assert depth == 8 and ctype in (0, 3)
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w + 1)
    out = np.zeros((h, w), np.uint8)
    for r in range(h):
        ftype, line = raw[r, 0], raw[r, 1:].astype(np.int64)
        if ftype == 1:
            line = np.cumsum(line) % 256
        elif ftype == 2:
            line = (line + (out[r - 1] if r else 0)) % 256
        else:
            assert ftype == 0, f"filter {ftype} not expected"
        out[r] = line
    return out, plte, trns


# ---------------------------------------------------------------------------------------------
# The page


@pytest.fixture(scope="module")
def inputs() -> MapInputs:
    return synthetic_inputs()


@pytest.fixture(scope="module")
def inline_page(inputs) -> str:
    return render_map(inputs, assets="inline")


@pytest.fixture(scope="module")
def static_page(inputs) -> str:
    return render_map(inputs, assets="static")


@pytest.mark.parametrize("mode", ["inline", "static"])
def test_every_layer_is_in_the_layer_control(mode, inline_page, static_page, inputs):
    page = inline_page if mode == "inline" else static_page
    base, overlays = layer_control(page)
    assert base == ["Địa hình (DEM) / Hillshade"]
    assert set(base) | set(overlays) == expected_layer_names(inputs)
    assert len(overlays) == len(set(overlays))


def test_only_the_first_carriers_4g_signal_is_shown_at_start(inline_page):
    shown = re.findall(r"ls-signal-([a-z]+-[0-9]g)", inline_page)
    assert sorted(set(shown)) == ["viettel-3g", "viettel-4g", "vinaphone-3g", "vinaphone-4g"]
    added = re.findall(r"(image_overlay_\w+)\.addTo\(", inline_page)
    # The hillshade base layer and one signal layer are on at start; the rest wait for a click.
    assert len(added) == 2


def test_inline_page_requests_nothing_from_outside(inline_page):
    urls = resource_urls(inline_page)
    assert urls, "the parser found no resource at all: it is not looking at the right page"
    external = [u for u in urls if is_external(u)]
    assert external == []
    # Everything is inline: no script or stylesheet file is named, every image is a data URI
    # (the icon too, so the browser does not look for a favicon.ico).
    assert not re.search(r"<script\b[^>]*\bsrc=", inline_page)
    assert re.findall(r"<link\b[^>]*\bhref=\"([^\"]*)", inline_page) == ["data:,"]
    assert all(u.startswith(("data:image/png;base64,", "#", "data:,")) for u in urls), urls
    # No trace of Folium's CDN defaults, not even unused.
    for host in ("cdn.jsdelivr", "cdnjs.cloudflare", "code.jquery", "bootstrapcdn", "unpkg"):
        assert host not in inline_page
    assert "tile.openstreetmap.org" not in inline_page
    # Leaflet itself is really there (and its version is the vendored one).
    assert 't.version="1.9.4"' in inline_page
    assert "L.map(" in inline_page and ".leaflet-pane" in inline_page


def test_static_page_links_only_the_vendored_files(static_page):
    urls = [u for u in resource_urls(static_page) if not u.startswith("data:")]
    assert sorted(urls) == ["/static/vendor/leaflet/leaflet.css",
                            "/static/vendor/leaflet/leaflet.js"]
    for u in urls:
        assert (VENDOR_DIR / u.removeprefix("/static/vendor/")).is_file()
    # The CSS names its images relatively, so they resolve under /static/vendor/leaflet/images/.
    css = (VENDOR_DIR / "leaflet" / "leaflet.css").read_text()
    for img in re.findall(r"url\((images/[^)]+)\)", css):
        assert (VENDOR_DIR / "leaflet" / img).is_file()
    assert "<style>.leaflet-pane" not in static_page  # Leaflet's CSS is not also inlined


def test_static_url_prefix_is_used(inputs):
    page = render_map(inputs, assets="static", static_url="/lomsong/static/vendor/")
    assert '<script src="/lomsong/static/vendor/leaflet/leaflet.js"></script>' in page


def test_osm_layer_only_when_asked_and_off_at_start(inputs, inline_page):
    assert "openstreetmap" not in inline_page.lower()
    page = render_map(inputs, assets="inline", osm_layer=True)
    base, _ = layer_control(page)
    assert base == ["Địa hình (DEM) / Hillshade", "OpenStreetMap (trực tuyến / online)"]
    tiles = [u for u in resource_urls(page) if is_external(u)]
    assert tiles == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    osm_var = re.search(r"var (tile_layer_\w+) = L\.tileLayer", page).group(1)
    assert f"{osm_var}.addTo(" not in page
    # Off at start even with no hillshade to show instead.
    page = render_map(synthetic_inputs(dem=None), assets="static", osm_layer=True)
    osm_var = re.search(r"var (tile_layer_\w+) = L\.tileLayer", page).group(1)
    assert f"{osm_var}.addTo(" not in page


def test_unknown_asset_mode_is_refused(inputs):
    with pytest.raises(InvalidInputError, match="assets='cdn'"):
        render_map(inputs, assets="cdn")


def test_missing_threshold_is_refused(inputs):
    with pytest.raises(InvalidInputError, match="no threshold for 4G"):
        render_map(synthetic_inputs(thresholds_dbm={"3G": -100.0}))


def test_vietnamese_text_is_intact(inline_page):
    assert '<meta http-equiv="content-type" content="text/html; charset=UTF-8" />' in inline_page
    assert '<html lang="vi">' in inline_page
    for text in ("Lõm sóng / No mobile signal", "Không có cáp quang / No fiber",
                 "Sóng yếu / Weak signal", "Có sóng / Covered", "Thôn, bản / Villages",
                 "<title>Thái Nguyên — lõm sóng (thử / test)</title>", "Ranh giới xã"):
        assert text in inline_page, text
    # Names reach the popups and tooltips as written (NFC, not \u escapes or mojibake).
    names = {row[4] for row in point_layers(inline_page)}
    assert {"Xóm Đồng Tâm", "Thôn Khuổi Nằm", "Bản Lòng Ngòi"} <= names
    assert "Ã" not in inline_page and "\\u1ed3" not in inline_page.split("var pts", 1)[1]
    assert inline_page.encode("utf-8").decode("utf-8") == inline_page


def test_villages_coloured_by_status_with_popups(inline_page, inputs):
    rows = {row[4]: row for row in point_layers(inline_page)}
    want = {"Xóm Đồng Tâm": "covered", "Thôn Khuổi Nằm": "weak", "Bản Lòng Ngòi": "no_mobile"}
    for name, key in want.items():
        lat, lon, style, popup, _ = rows[name]
        rec = next(r for r in inputs.records if r.name == name)
        assert (lat, lon) == (round(rec.lat, 6), round(rec.lon, 6))
        assert style["fillColor"] == VILLAGE_COLORS[key]
        assert f"ls-village-{key}" in style["className"]
        assert name in popup and rec.commune in popup
        # One row per carrier, one column per technology with a raster.
        assert popup.count("<tr>") == 1 + len(CARRIERS)
        assert re.findall(r"<th>(\dG)</th>", popup) == list(RATS_BUILT)
    no_fiber = rows["Bản Lòng Ngòi"]
    assert no_fiber[2]["color"] == "#000000"
    assert "Không có cáp quang / No fiber" in no_fiber[3] and "5.2 km" in no_fiber[3]
    assert "Lõm sóng / No mobile" in no_fiber[3]
    covered = rows["Xóm Đồng Tâm"][3]
    assert 'class="st-covered"' in covered and ">-90<" in covered and "0.3 km" in covered


def test_names_are_escaped(inline_page):
    assert "<b>\"Q\"" not in inline_page
    rows = point_layers(inline_page)
    hostile = [r for r in rows if "Làng" in r[4]]
    assert len(hostile) == 1
    assert hostile[0][4] == "Làng &lt;b&gt;&quot;Q&quot; &amp; &#x27;R&#x27;&lt;/b&gt; {{x}}"
    assert "<b>\"Q\"" not in hostile[0][3] and "&lt;b&gt;" in hostile[0][3]
    # Text placed in a script cannot close it.
    page = render_map(synthetic_inputs(attribution="x</script><script>alert(1)//"),
                      assets="static")
    assert "x</script>" not in page and "x<\\/script><script>alert(1)//" in page


def test_towers_labelled_illustrative(inline_page, inputs):
    rows = [r for r in point_layers(inline_page) if r[4].startswith(("Viettel ", "VinaPhone "))]
    assert sorted(r[4] for r in rows) == ["Viettel VT-001", "VinaPhone VP-007"]
    for r in rows:
        assert "minh họa / illustrative" in r[3]
        assert r[3].count("<tr>") == 1 + 6  # header + 3 sectors x 2 technologies
    page = render_map(synthetic_inputs(towers=[replace_illustrative(t) for t in inputs.towers],
                                       towers_illustrative=False))
    assert "minh họa" not in page and 'id="ls-banner"' not in page
    _, overlays = layer_control(page)
    assert "Trạm / Towers Viettel" in overlays


def replace_illustrative(t: Tower) -> Tower:
    from dataclasses import replace

    return replace(t, illustrative=False)


def test_banner_when_illustrative(inline_page):
    m = re.search(r'<div id="ls-banner"[^>]*>(.*?)</div>', inline_page, re.S)
    assert m, "no banner"
    assert "Dữ liệu minh họa" in m.group(1) and "Illustrative data" in m.group(1)
    assert "proxy" in m.group(1)


def test_fiber_proxy_label_only_when_proxy(inputs):
    page = render_map(synthetic_inputs(fiber_is_proxy=False), assets="static")
    _, overlays = layer_control(page)
    assert "Cáp quang / Fiber" in overlays
    assert not any("proxy" in n for n in overlays)


def test_without_optional_layers(inputs):
    page = render_map(synthetic_inputs(dem=None, communes=None, fiber=None, services=[],
                                       towers=[]), assets="static")
    base, overlays = layer_control(page)
    assert base == []
    assert sorted(overlays) == sorted(["Lõm sóng / No mobile signal (1)",
                                       "Sóng yếu / Weak signal (1)", "Có sóng / Covered (2)"])
    # Popups fall back to the technologies the marks name.
    popup = point_layers(page)[0][3]
    assert re.findall(r"<th>(\dG)</th>", popup) == ["2G", "3G", "4G", "5G"]


def test_signal_overlay_classes_follow_the_threshold(inline_page):
    """Decode the Viettel 4G overlay and check its classes against the synthetic distances."""
    m = re.search(r'L\.imageOverlay\(\s*"data:image/png;base64,([^"]+)",\s*'
                  r'(\[\[[^\]]*\],\s*\[[^\]]*\]\]),[^;]*?ls-signal-viettel-4g', inline_page)
    assert m
    import base64

    px, plte, trns = decode_png(base64.b64decode(m.group(1)))
    assert plte == [c[2][:3] for c in SIGNAL_CLASSES]
    assert list(trns) == [c[2][3] for c in SIGNAL_CLASSES]
    (south, west), (north, east) = json.loads(m.group(2))
    lon0, lat0 = to_lonlat(*cell_xy(40, 30))

    def pixel_at(lon, lat):
        y = lambda la: math.log(math.tan(math.pi / 4 + math.radians(la) / 2))  # noqa: E731
        fx = (lon - west) / (east - west)
        fy = (y(north) - y(lat)) / (y(north) - y(south))
        return int(fy * px.shape[0]), int(fx * px.shape[1])

    # Class by distance east of the mast (see signal_at): 0.5 km strong ... 6 km none (NaN).
    for d_km, cls in ((0.0, 3), (0.5, 3), (2.0, 2), (3.0, 1), (4.0, 0), (6.0, 0)):
        lon, lat = to_lonlat(*cell_xy(40, 30 + d_km * 1000 / CELL_M))
        r, c = pixel_at(lon, lat)
        assert px[r, c] == cls, (d_km, px[r, c])
    assert set(np.unique(px)) == {0, 1, 2, 3}
    r, c = pixel_at(lon0, lat0)
    assert px[r, c] == 3


@pytest.mark.shared
@pytest.mark.slow
def test_real_province_layers_keep_the_page_small():
    """The real commune file (177k vertices) and road/rail proxy, over the real SRTM tile."""
    import geopandas as gpd

    from lomsong.geodata.dem import read_dem

    communes = gpd.read_file(shared_file("admin/thai_nguyen_2025_communes.geojson"))
    fiber = gpd.read_file(shared_file("lines/vn_national_roads_rail_bbox.geojson"))
    dem = read_dem(shared_file("dem/N21E105.hgt"))
    inp = synthetic_inputs(dem=dem, communes=communes, fiber=fiber)
    page = render_map(inp, assets="inline")
    size_mb = len(page.encode("utf-8")) / 1e6
    assert size_mb < 4.0, size_mb
    # All 92 communes survive simplification, with their names.
    data = [json.loads(b) for b in re.findall(r"geo_json_\w+_add\((\{.*?\})\);\n", page, re.S)]
    communes_fc = next(d for d in data if any("name" in f["properties"]
                                              and f["properties"]["name"].startswith(("Xã", "Phường"))
                                              for f in d["features"]))
    assert len(communes_fc["features"]) == 92
    vertices = sum(len(json.dumps(f["geometry"]["coordinates"]).split(",")) // 2
                   for f in communes_fc["features"])
    assert vertices < 177_000 // 4, vertices
    base, _ = layer_control(page)
    assert base == ["Địa hình (DEM) / Hillshade"]


# ---------------------------------------------------------------------------------------------
# Building blocks


def test_classify_signal_boundaries():
    v = np.array([np.nan, -130.0, -120.01, -120.0, -110.01, -110.0, -100.01, -100.0, -50.0],
                 dtype=np.float32)
    before = v.copy()
    assert classify_signal(v, -110.0).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]
    assert classify_signal(v, -110.0, strong_margin_db=20.0).tolist() == [0, 0, 0, 1, 1, 2, 2,
                                                                          2, 3]
    np.testing.assert_array_equal(v, before)


def test_to_web_mercator_puts_a_block_where_it_belongs():
    from pyproj import Transformer

    grid = np.full((60, 80), np.nan, np.float32)
    grid[20:23, 50:53] = 1.0  # a 270 m block centred on cell (21, 51)
    warped, ((s, w), (n, e)) = to_web_mercator(grid, TRANSFORM, CRS, max_px=512)
    lon, lat = to_lonlat(*cell_xy(21, 51))
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (mw, ms), (me, mn), (mx, my) = (to_merc.transform(w, s), to_merc.transform(e, n),
                                    to_merc.transform(lon, lat))
    row = int((mn - my) / (mn - ms) * warped.shape[0])
    col = int((mx - mw) / (me - mw) * warped.shape[1])
    assert warped[row, col] == 1.0
    assert np.count_nonzero(warped == 1.0) >= 4
    assert np.isnan(warped[0, 0])
    # Bounds hold the whole grid, with no more than a pixel to spare on each side.
    corners = [to_lonlat(X0 + dx * CELL_M, Y0 - dy * CELL_M) for dx in (0, 80) for dy in (0, 60)]
    eps = 1e-9
    assert w <= min(c[0] for c in corners) + eps and e >= max(c[0] for c in corners) - eps
    assert s <= min(c[1] for c in corners) + eps and n >= max(c[1] for c in corners) - eps
    px_deg = (e - w) / warped.shape[1]
    assert w > min(c[0] for c in corners) - 2 * px_deg


def test_to_web_mercator_respects_max_px_and_stacks():
    stack = np.stack([np.full((80, 100), v, np.float32) for v in (1.0, 2.0)])
    warped, _ = to_web_mercator(stack, TRANSFORM, CRS, max_px=40)
    assert warped.shape[0] == 2 and max(warped.shape[1:]) <= 40
    assert np.nanmax(warped[0]) == 1.0 and np.nanmin(warped[1]) == 2.0


def test_encode_png_round_trips():
    rng = np.random.default_rng(3)
    px = rng.integers(0, 4, size=(37, 53), dtype=np.uint8)
    pal = [c[2] for c in SIGNAL_CLASSES]
    back, plte, trns = decode_png(encode_png(px, pal))
    np.testing.assert_array_equal(back, px)
    assert plte == [p[:3] for p in pal] and list(trns) == [p[3] for p in pal]
    grey = rng.integers(0, 256, size=(5, 300), dtype=np.uint8)
    back, plte, trns = decode_png(encode_png(grey))
    np.testing.assert_array_equal(back, grey)
    assert plte is None and trns == b"\x00\x00"
    with pytest.raises(ValueError, match="palette"):
        encode_png(px, pal[:2])


# ---------------------------------------------------------------------------------------------
# Hillshade


def test_hillshade_flat_ground_is_sin_altitude():
    z = np.full((9, 7), 250.0, np.float32)
    before = z.copy()
    for alt in (30.0, 45.0, 70.0):
        np.testing.assert_allclose(hillshade(z, 90.0, altitude_deg=alt),
                                   math.sin(math.radians(alt)), rtol=1e-6)
    np.testing.assert_array_equal(z, before)


def test_hillshade_slope_facing_the_light_is_brighter():
    cols = np.arange(20, dtype=np.float32)
    rows = np.arange(20, dtype=np.float32)[:, None]
    west_facing = np.tile(cols * 30.0, (20, 1))  # rises to the east: faces west
    north_facing = np.tile(rows * 30.0, (1, 20))  # rises to the south: faces north
    nw = hillshade(west_facing, 90.0, azimuth_deg=315.0)
    se = hillshade(west_facing, 90.0, azimuth_deg=135.0)
    assert nw[10, 10] > math.sin(math.radians(45.0)) > se[10, 10]
    # The sun in the west lights a west-facing slope; in the north, a north-facing one.
    assert hillshade(west_facing, 90.0, azimuth_deg=270.0)[5, 5] > hillshade(
        west_facing, 90.0, azimuth_deg=90.0)[5, 5]
    assert hillshade(north_facing, 90.0, azimuth_deg=0.0)[5, 5] > hillshade(
        north_facing, 90.0, azimuth_deg=180.0)[5, 5]
    # A slope steeper than the light is in full shadow, never negative.
    cliff = np.tile(cols * 1000.0, (20, 1))
    assert hillshade(cliff, 90.0, azimuth_deg=90.0)[5, 5] == 0.0


def test_hillshade_matches_closed_form_on_a_plane():
    """On a plane z = a x + b y the shade is the cosine between its normal and the light."""
    a, b, alt, az = 0.3, -0.2, 40.0, 300.0
    rr, cc = np.mgrid[0:12, 0:12].astype(np.float64)
    x, y = cc * 30.0, -rr * 30.0  # row 0 north
    z = (a * x + b * y).astype(np.float32)
    n = np.array([-a, -b, 1.0]) / math.sqrt(1 + a * a + b * b)
    light = np.array([math.sin(math.radians(az)) * math.cos(math.radians(alt)),
                      math.cos(math.radians(az)) * math.cos(math.radians(alt)),
                      math.sin(math.radians(alt))])
    np.testing.assert_allclose(hillshade(z, 30.0, azimuth_deg=az, altitude_deg=alt),
                               float(n @ light), atol=1e-5)


@pytest.mark.peer
def test_hillshade_agrees_with_gdaldem(tmp_path):
    if shutil.which("gdaldem") is None:
        pytest.skip("needs gdaldem (gdal-bin)")
    import rasterio

    rng = np.random.default_rng(11)
    z = np.cumsum(np.cumsum(rng.random((40, 50)), 0), 1).astype(np.float32) * 6.0
    src, dst = tmp_path / "dem.tif", tmp_path / "hs.tif"
    with rasterio.open(src, "w", driver="GTiff", width=50, height=40, count=1, dtype="float32",
                       crs=CRS, transform=TRANSFORM) as ds:
        ds.write(z, 1)
    subprocess.run(["gdaldem", "hillshade", "-q", "-az", "315", "-alt", "45", str(src), str(dst)],
                   check=True)
    with rasterio.open(dst) as ds:
        peer = ds.read(1).astype(np.float64)
    ours = hillshade(z, CELL_M)
    # gdaldem writes 1 + 254 * shade as a byte (0 = nodata on its one-cell border).
    want = np.where(ours <= 0, 1.0, 1.0 + 254.0 * ours)
    inner = (slice(1, -1), slice(1, -1))
    assert np.abs(peer[inner] - want[inner]).max() <= 1.0


def test_render_maps_inline_equals_a_direct_inline_render(inputs):
    from lomsong.geodata.webmap import render_maps

    inline_html, static_html = render_maps(inputs)
    # Folium names its elements with random ids per render; compare with the ids normalised.
    norm = lambda h: re.sub(r"_[0-9a-f]{32}", "_ID", h)  # noqa: E731
    assert norm(static_html) == norm(render_map(inputs, assets="static"))
    assert norm(inline_html) == norm(render_map(inputs, assets="inline"))
    assert "/static/vendor/" not in inline_html
