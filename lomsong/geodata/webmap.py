"""The web map: one self-contained Leaflet page (built with Folium) of a run's results.

What the page shows, bottom to top (Leaflet panes keep this order whatever the user toggles):
a hillshade of the DEM as the base layer (an image, not internet tiles; an OpenStreetMap layer
is offered only when asked for, and off), the best-signal raster of each carrier and technology
as a classed semi-transparent image, commune boundaries, fiber lines, villages as circles
coloured by status, towers as small diamonds per carrier; a legend, a layer control, and a
banner when the towers are illustrative.  Labels are Vietnamese with English beside them.

Decisions (the lead copies them to DESIGN.md):

* **No request leaves the machine.**  Folium's default JS/CSS come from CDNs (Leaflet, jQuery,
  Bootstrap, Font Awesome, awesome-markers); the map instance's lists are replaced by the
  Leaflet 1.9.4 vendored in ``lomsong/app/static/vendor`` and nothing else is loaded.  Folium's
  ``Popup`` needs jQuery (it builds the content with ``$()``), so popups are bound with plain
  ``bindPopup`` instead.  ``assets="inline"`` puts Leaflet's JS and CSS (its images as data URIs)
  in the page, for the standalone ``map.html``; ``assets="static"`` links them under
  ``static_url`` (``/static/vendor``), for the service.  The rasters are PNG data URIs in both.
* **Rasters are warped to Web Mercator** (EPSG:3857, Leaflet's CRS) before display, because
  ``L.imageOverlay`` stretches an image linearly between two lat/lon corners on the Mercator
  plane: a UTM or lat/lon grid placed that way would be off by up to a few hundred metres
  across the province.  Nearest-neighbour resampling for the signal (each pixel shown is a value
  that was computed), bilinear for the hillshade; at most ``max_overlay_px`` pixels a side.
* **Signal classes** per technology threshold T (the marker's per-RAT dBm threshold):
  strong >= T + 10 dB, above threshold >= T, marginal within 10 dB below T, none below that or
  where no cell reaches (transparent).  10 dB is about 1.28 sigma of the 8 dB location
  variability the marker assumes, so "strong" is where a random spot in the cell gets service
  with ~90 % probability and "marginal" where it still does with ~10 % or more.
* **Village colours**: lõm sóng (no carrier has 3G/4G/5G better than gap) red, weak (some
  carrier marginal, none covered) orange, covered green; a black ring when no fiber is near.
* **Commune boundaries are simplified** (Douglas-Peucker, ``simplify_deg``, default 0.0005°,
  about 50 m) and coordinates rounded to 5 decimals (about 1 m), so the 177k-vertex province
  file stays a few hundred kB in the page.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.gaps import GapRecord, column_key
from lomsong.coverage.models import RATS, DemGrid, ServiceRasters, Tower

LEAFLET_VERSION = "1.9.4"
#: The vendored browser assets (see LICENSES.md there and scripts/vendor_assets.sh).
VENDOR_DIR = Path(__file__).resolve().parents[1] / "app" / "static" / "vendor"
ASSET_MODES = ("inline", "static")

#: Signal classes drawn on the map: index = class value of :func:`classify_signal`.
SIGNAL_CLASSES = (
    # (vi, en, RGBA)
    ("Không có", "none", (0, 0, 0, 0)),
    ("Yếu (dưới ngưỡng ≤ 10 dB)", "marginal (within 10 dB below threshold)", (254, 217, 118, 150)),
    ("Đạt ngưỡng", "above threshold", (127, 205, 187, 140)),
    ("Mạnh (≥ ngưỡng + 10 dB)", "strong (threshold + 10 dB or more)", (44, 127, 184, 135)),
)
VILLAGE_COLORS = {"no_mobile": "#d7191c", "weak": "#fd8d3c", "covered": "#1a9641"}
VILLAGE_LABELS = {
    "no_mobile": ("Lõm sóng", "No mobile signal"),
    "weak": ("Sóng yếu", "Weak signal"),
    "covered": ("Có sóng", "Covered"),
}
STATUS_LABELS = {
    "covered": ("Có sóng", "covered"),
    "marginal": ("Yếu", "marginal"),
    "gap": ("Không", "gap"),
}
STATUS_COLORS = {"covered": "#a6d96a", "marginal": "#fdae61", "gap": "#f4a582"}
CARRIER_COLORS = {
    "viettel": "#6a3d9a",
    "vinaphone": "#1f78b4",
    "mobifone": "#b15928",
    "vietnamobile": "#e7298a",
    "gmobile": "#4d4d4d",
}
_SPARE_COLORS = ("#01665e", "#8c510a", "#762a83", "#35978f", "#bf812d")
#: Phone figure each technology's threshold is about (the legend says which).
RAT_MEASURE = {"2G": "RxLev", "3G": "RSCP", "4G": "RSRP", "5G": "SS-RSRP"}

# Pane z-indexes: Leaflet's tilePane is 200, overlayPane (villages) 400, markerPane 600.
_PANES = (("ls-hillshade", 250), ("ls-signal", 350), ("ls-communes", 370), ("ls-fiber", 390))


@dataclass(frozen=True, slots=True)
class MapInputs:
    """Everything the page needs; the pipeline builds it from a run.

    ``services`` are the best-signal rasters on the DEM grid (float32 dBm, NaN where no cell
    reaches); ``thresholds_dbm`` the per-technology service threshold the marks used.
    ``communes`` and ``fiber`` are GeoDataFrames in EPSG:4326 (or None).  ``attribution`` is
    added to the map's attribution line (data sources and licences).
    """

    records: list[GapRecord]
    carriers: tuple[str, ...]
    towers: list[Tower]
    services: list[ServiceRasters]
    thresholds_dbm: dict[str, float]
    dem: DemGrid | None = None
    communes: Any = None
    fiber: Any = None
    fiber_is_proxy: bool = False
    towers_illustrative: bool = False
    title: str = "lomsong"
    attribution: str = ""


# ---------------------------------------------------------------------------------------------
# Rasters


def classify_signal(
    best_dbm: np.ndarray,
    threshold_dbm: float,
    *,
    strong_margin_db: float = 10.0,
    marginal_margin_db: float = 10.0,
) -> np.ndarray:
    """Class of each cell (uint8): 0 none/NaN, 1 marginal, 2 above threshold, 3 strong.

    Marginal is ``[T - marginal_margin_db, T)``, above ``[T, T + strong_margin_db)``, strong
    ``>= T + strong_margin_db``.  The input is not modified.
    """
    v = np.asarray(best_dbm, dtype=np.float32)
    out = np.zeros(v.shape, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        out[v >= threshold_dbm - marginal_margin_db] = 1
        out[v >= threshold_dbm] = 2
        out[v >= threshold_dbm + strong_margin_db] = 3
    return out


def to_web_mercator(
    values: np.ndarray,
    transform: Affine,
    crs: str,
    *,
    max_px: int = 1024,
    resampling: str = "nearest",
) -> tuple[np.ndarray, tuple[tuple[float, float], tuple[float, float]]]:
    """Warp a float raster to a north-up Web Mercator grid for ``L.imageOverlay``.

    ``values`` is ``(rows, cols)`` or a stack ``(bands, rows, cols)`` on one grid (warped in one
    go).  Returns the warped float32 array (NaN outside the source or where it was NaN) and its
    bounds as ``((south, west), (north, east))`` in degrees, Leaflet's order.  The pixel size is
    the source's cell (scaled by Mercator's 1/cos(lat)) or coarser, so that neither side exceeds
    ``max_px``.
    """
    from rasterio.warp import Resampling, reproject, transform_bounds

    src = np.asarray(values, dtype=np.float32)
    if src.ndim not in (2, 3) or min(src.shape) < 1:
        raise ValueError(f"values: expected a 2-D grid or a 3-D stack, got shape {src.shape}")
    rows, cols = src.shape[-2:]
    left, top = transform.c, transform.f
    right, bottom = left + cols * transform.a, top + rows * transform.e
    ml, mb, mr, mt = transform_bounds(crs, "EPSG:3857", left, bottom, right, top, densify_pts=21)
    _, lat_c = _merc_to_lonlat(0.0, (mb + mt) / 2.0)
    cell = abs(transform.a) / max(math.cos(math.radians(lat_c)), 1e-6)
    res = max(cell, (mr - ml) / max_px, (mt - mb) / max_px)
    width = max(1, min(max_px, math.ceil((mr - ml) / res - 1e-9)))
    height = max(1, min(max_px, math.ceil((mt - mb) / res - 1e-9)))
    dst_t = Affine(res, 0.0, ml, 0.0, -res, mt)
    dst = np.full(src.shape[:-2] + (height, width), np.nan, dtype=np.float32)
    reproject(
        source=src, destination=dst, src_transform=transform, src_crs=crs,
        dst_transform=dst_t, dst_crs="EPSG:3857", src_nodata=np.nan, dst_nodata=np.nan,
        resampling=getattr(Resampling, resampling),
    )
    west, north = _merc_to_lonlat(ml, mt)
    east, south = _merc_to_lonlat(ml + width * res, mt - height * res)
    return dst, ((south, west), (north, east))


def _merc_to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Spherical Mercator (EPSG:3857, R = 6378137 m) to lon/lat degrees, exactly as Leaflet."""
    r = 6378137.0
    return math.degrees(x / r), math.degrees(2.0 * math.atan(math.exp(y / r)) - math.pi / 2.0)


def encode_png(pixels: np.ndarray, palette: list[tuple[int, int, int, int]] | None = None) -> bytes:
    """A PNG of a 2-D uint8 array: palette colours (RGBA) or, without one, grey with 0 clear.

    Written here (zlib + the PNG chunk format) so the map needs no imaging library; palette PNGs
    of a few classes compress to a few kB.
    """
    px = np.ascontiguousarray(pixels, dtype=np.uint8)
    if px.ndim != 2:
        raise ValueError(f"pixels: expected a 2-D array, got shape {px.shape}")
    h, w = px.shape
    raw = np.empty((h, w + 1), dtype=np.uint8)
    raw[:, 0] = 1  # PNG filter "Sub": store each byte minus its left neighbour
    raw[:, 1] = px[:, 0]
    raw[:, 2:] = px[:, 1:] - px[:, :-1]  # uint8 arithmetic wraps modulo 256, as PNG wants

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    if palette is None:
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
        extra = chunk(b"tRNS", struct.pack(">H", 0))
    else:
        if len(palette) > 256 or int(px.max(initial=0)) >= len(palette):
            raise ValueError(f"palette: {len(palette)} colours do not cover the pixel values")
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
        extra = chunk(b"PLTE", bytes(c for rgba in palette for c in rgba[:3]))
        extra += chunk(b"tRNS", bytes(rgba[3] for rgba in palette))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _hillshade_png(dem: DemGrid, max_px: int) -> tuple[str, tuple]:
    from lomsong.geodata.hillshade import hillshade

    shade = hillshade(dem.elevation_m, dem.cell_m)
    warped, bounds = to_web_mercator(shade, dem.transform, dem.crs, max_px=max_px,
                                     resampling="bilinear")
    # Grey 1..255 (0 is transparent outside the DEM); lifted so coloured overlays stay legible,
    # and quantised to 64 levels, which the eye cannot tell apart here but zlib packs far better.
    level = np.where(np.isfinite(warped), 70.0 + 185.0 * np.nan_to_num(warped), 0.0)
    level = np.where(level > 0, np.maximum(np.round(level / 4.0) * 4.0, 1.0), 0.0)
    return _data_uri(encode_png(np.clip(level, 0, 255).astype(np.uint8))), bounds


# ---------------------------------------------------------------------------------------------
# Vectors


def _features(gdf: Any, simplify_deg: float, props: dict[str, str]) -> list[dict]:
    """GeoJSON features of a GeoDataFrame (any CRS; shown in EPSG:4326), ready to display.

    Lines and polygons are simplified by ``simplify_deg``; coordinates are rounded to 5 decimals
    (about 1 m).  ``props`` maps feature property names to the columns they come from.
    """
    import shapely
    from shapely.geometry import mapping

    crs = getattr(gdf, "crs", None)
    if crs is not None and crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if simplify_deg > 0:
        geoms = shapely.simplify(geoms, simplify_deg, preserve_topology=True)
    geoms = shapely.transform(geoms, lambda c: np.round(c, 5))
    columns = {key: list(gdf[col]) for key, col in props.items() if col in gdf.columns}
    feats = []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        # Every feature has every key (Folium's GeoJSON tooltip insists); missing values are "".
        # Values are shown as HTML by the tooltip: escaped here.
        p = {key: "" if vals[i] is None or vals[i] != vals[i] else html.escape(str(vals[i]))
             for key, vals in columns.items()}
        feats.append({"type": "Feature", "id": str(i), "properties": p, "geometry": mapping(geom)})
    return feats


def _first_column(gdf: Any, names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in gdf.columns:
            return n
    return None


# ---------------------------------------------------------------------------------------------
# Assets


@lru_cache(maxsize=4)
def _vendor_text(rel: str) -> str:
    p = VENDOR_DIR / rel
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: vendored web-map asset missing; run scripts/vendor_assets.sh")
    return p.read_text(encoding="utf-8")


def _asset_tags(assets: str, static_url: str) -> list[str]:
    if assets == "static":
        base = html.escape(static_url.rstrip("/"), quote=True)
        _vendor_text("leaflet/leaflet.js")  # fail at render time, not in the browser
        return [f'<link rel="stylesheet" href="{base}/leaflet/leaflet.css"/>',
                f'<script src="{base}/leaflet/leaflet.js"></script>']
    css = _vendor_text("leaflet/leaflet.css")

    def inline_image(m: re.Match) -> str:
        png = (VENDOR_DIR / "leaflet" / m.group(1)).read_bytes()
        return f"url({_data_uri(png)})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline_image, css)
    js = _vendor_text("leaflet/leaflet.js")
    # The source map is not shipped; without the comment no tool tries to fetch it.
    js = re.sub(r"//# sourceMappingURL=\S+", "", js).replace("</script", "<\\/script")
    return [f"<style>{css}</style>", f"<script>{js}</script>"]


_PAGE_CSS = """
<style>
.leaflet-image-layer.ls-hillshade { image-rendering: auto; }
.ls-box { font: 12px/1.35 "DejaVu Sans", "Noto Sans", Arial, sans-serif; color: #222;
  background: rgba(255,255,255,0.93); border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.4); }
#ls-legend { position: fixed; left: 10px; bottom: 48px; z-index: 1000; padding: 8px 10px;
  max-height: 62vh; max-width: 330px; overflow-y: auto; }
#ls-legend h4 { margin: 0 0 4px; font-size: 13px; }
#ls-legend h5 { margin: 6px 0 2px; font-size: 12px; }
#ls-legend .row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
#ls-legend .dot { width: 12px; height: 12px; border-radius: 50%; border: 1.5px solid #fff;
  box-shadow: 0 0 0 1px #888; flex: none; }
#ls-legend .sw { width: 18px; height: 12px; flex: none; border: 1px solid #999; }
#ls-legend .dia { width: 8px; height: 8px; margin: 0 3px; transform: rotate(45deg); flex: none;
  border: 1px solid #fff; box-shadow: 0 0 0 1px #555; }
#ls-legend .ln { width: 18px; height: 0; flex: none; }
#ls-legend .note { color: #555; font-size: 11px; }
#ls-banner { position: fixed; top: 10px; left: 60px; z-index: 1001;
  max-width: calc(100vw - 400px); padding: 6px 12px; background: #fff3cd; border: 2px solid #d39e00;
  font-weight: bold; text-align: center; }
.leaflet-control-layers-expanded { font-size: 11px; line-height: 1.3; max-width: 290px; }
.ls-tower div { width: 8px; height: 8px; transform: rotate(45deg); border: 1px solid #fff;
  box-shadow: 0 0 1px 1px rgba(0,0,0,.55); }
.ls-pop { font: 12px/1.35 "DejaVu Sans", "Noto Sans", Arial, sans-serif; }
.ls-pop table { border-collapse: collapse; margin-top: 4px; }
.ls-pop th, .ls-pop td { border: 1px solid #ccc; padding: 1px 4px; text-align: center; }
.ls-pop td.c { text-align: left; }
.ls-pop .st-covered { background: #a6d96a; } .ls-pop .st-marginal { background: #fdae61; }
.ls-pop .st-gap { background: #f4a582; }
</style>
"""


# ---------------------------------------------------------------------------------------------
# Page pieces


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _js(obj: Any) -> str:
    """``obj`` as a JS literal that is safe inside ``<script>`` (no ``</`` in it)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _village_class(r: GapRecord) -> str:
    if r.no_mobile:
        return "no_mobile"
    return "weak" if r.weak_mobile else "covered"


def _fiber_text(r: GapRecord, proxy: bool) -> str:
    tag = " (proxy)" if proxy else ""
    d = r.fiber_distance_m
    if r.no_fiber is None:
        return "Cáp quang: không có dữ liệu / Fiber: no data"
    if r.no_fiber:
        near = f" — gần nhất / nearest {d / 1000:.1f} km" if d is not None else ""
        return f"<b>Không có cáp quang / No fiber</b>{tag}{near}"
    dist = f"{d / 1000:.1f} km" if d is not None else "?"
    return f"Cáp quang / Fiber{tag}: {dist}"


def _village_popup(r: GapRecord, carriers: tuple[str, ...], rats: tuple[str, ...],
                   fiber_proxy: bool) -> str:
    vi, en = VILLAGE_LABELS[_village_class(r)]
    parts = [f'<div class="ls-pop"><b>{_e(r.name)}</b>']
    if r.commune:
        parts.append(f"<br>{_e(r.commune)}")
    if r.population is not None:
        parts.append(f"<br>Dân số / Population: {r.population:,}".replace(",", "."))
    parts.append(f'<br><b style="color:{VILLAGE_COLORS[_village_class(r)]}">{vi} / {en}</b>')
    head = "".join(f"<th>{rat}</th>" for rat in rats)
    rows = []
    for c in carriers:
        cells = []
        for rat in rats:
            m = r.mark(c, rat)
            if m is None:
                cells.append("<td>·</td>")
                continue
            dbm = "—" if m.best_dbm is None else f"{m.best_dbm:.0f}"
            vi_s, en_s = STATUS_LABELS[m.status]
            tip = f"{vi_s} / {en_s}; p={m.p_cov:.2f}"
            if m.serving_site:
                tip += f"; trạm / site {m.serving_site}"
            cells.append(f'<td class="st-{m.status}" title="{_e(tip)}">{dbm}</td>')
        rows.append(f'<tr><td class="c">{_e(c)}</td>{"".join(cells)}</tr>')
    parts.append(f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>")
    parts.append('<span style="font-size:11px;color:#555">dBm mạnh nhất; màu: có sóng / yếu / '
                 "không — best dBm; colour: covered / marginal / gap</span>")
    parts.append(f"<br>{_fiber_text(r, fiber_proxy)}</div>")
    return "".join(parts)


def _tower_popup(site: str, carrier: str, cells: list[Tower], illustrative: bool) -> str:
    tag = " <i>(minh họa / illustrative)</i>" if illustrative else ""
    lines = [f'<div class="ls-pop"><b>{_e(carrier)}</b> — trạm / site {_e(site)}{tag}<table>'
             "<tr><th>cell</th><th>RAT</th><th>MHz</th><th>h (m)</th><th>az (°)</th></tr>"]
    for t in sorted(cells, key=lambda t: (RATS.index(t.rat) if t.rat in RATS else 9, t.cell_id)):
        az = "omni" if t.azimuth_deg is None else f"{t.azimuth_deg:.0f}"
        lines.append(f"<tr><td>{_e(t.cell_id)}</td><td>{_e(t.rat)}</td>"
                     f"<td>{t.frequency_mhz:.0f}</td><td>{t.height_m:.0f}</td><td>{az}</td></tr>")
    lines.append("</table></div>")
    return "".join(lines)


def _carrier_color(carrier: str, carriers: tuple[str, ...]) -> str:
    """The carrier's own colour, or a spare one by its place among the carriers without one."""
    key = column_key(carrier)
    if key in CARRIER_COLORS:
        return CARRIER_COLORS[key]
    others = [c for c in carriers if column_key(c) not in CARRIER_COLORS]
    i = others.index(carrier) if carrier in others else 0
    return _SPARE_COLORS[i % len(_SPARE_COLORS)]


def _legend_html(inputs: MapInputs, rats: tuple[str, ...], strong_db: float, marg_db: float,
                 has_towers: bool, has_fiber: bool, has_communes: bool) -> str:
    out = [f'<div id="ls-legend" class="ls-box"><h4>{_e(inputs.title)}</h4>',
           "<h5>Thôn, bản / Villages</h5>"]
    for key in ("no_mobile", "weak", "covered"):
        vi, en = VILLAGE_LABELS[key]
        out.append(f'<div class="row"><span class="dot" style="background:{VILLAGE_COLORS[key]}">'
                   f"</span>{vi} / {en}</div>")
    if any(r.no_fiber is not None for r in inputs.records):
        out.append('<div class="row"><span class="dot" style="background:#fff;border:2.5px solid '
                   '#000;box-shadow:none"></span>Không có cáp quang / No fiber nearby '
                   "(viền đen / black ring)</div>")
    out.append("<h5>Tín hiệu tốt nhất / Best signal</h5>")
    for k in (3, 2, 1):
        vi, en, (r_, g_, b_, a_) = SIGNAL_CLASSES[k]
        out.append(f'<div class="row"><span class="sw" style="background:rgba({r_},{g_},{b_},'
                   f'{a_ / 255:.2f})"></span>{vi} / {en}</div>')
    thr = ", ".join(f"{rat} {inputs.thresholds_dbm[rat]:.0f} dBm ({RAT_MEASURE.get(rat, '')})"
                    for rat in rats)
    out.append(f'<div class="note">Ngưỡng / threshold: {_e(thr)}; mạnh / strong: '
               f"+{strong_db:.0f} dB, yếu / marginal: −{marg_db:.0f} dB</div>")
    if has_towers:
        tag = " (minh họa / illustrative)" if inputs.towers_illustrative else ""
        out.append(f"<h5>Trạm phát sóng / Towers{tag}</h5>")
        for c in inputs.carriers:
            if any(t.carrier == c for t in inputs.towers):
                out.append(f'<div class="row"><span class="dia" style="background:'
                           f'{_carrier_color(c, inputs.carriers)}"></span>{_e(c)}</div>')
    if has_fiber or has_communes:
        out.append("<h5>Khác / Other</h5>")
    if has_fiber:
        label = _fiber_layer_name(inputs.fiber_is_proxy)
        out.append(f'<div class="row"><span class="ln" style="border-top:3px solid #ff7f00">'
                   f"</span>{label}</div>")
    if has_communes:
        out.append('<div class="row"><span class="ln" style="border-top:2px dashed #333">'
                   "</span>Ranh giới xã / Commune boundary</div>")
    out.append("</div>")
    return "".join(out)


def _fiber_layer_name(proxy: bool) -> str:
    if proxy:
        return "Cáp quang (proxy: đường bộ, đường sắt) / Fiber (proxy: roads, rail)"
    return "Cáp quang / Fiber"


def _banner_html(inputs: MapInputs) -> str:
    if not inputs.towers_illustrative:
        return ""
    text = ("Dữ liệu minh họa: vị trí và thông số trạm phát sóng là giả định, không phải trạm thật "
            "của nhà mạng. / Illustrative data: tower sites and parameters are assumed, not the "
            "carriers' real sites.")
    if inputs.fiber_is_proxy:
        text += (" Cáp quang: dùng đường bộ, đường sắt làm proxy. / Fiber: roads and rail stand "
                 "in for it.")
    return f'<div id="ls-banner" class="ls-box" role="alert">{_e(text)}</div>'


def _raw(text: str):
    """A branca element that renders ``text`` verbatim.

    branca's own ``Element`` runs its text through Jinja, which would mangle any ``{{``, ``{%``
    or ``{#`` in the inlined JS or in user-supplied names.
    """
    from branca.element import Element

    class _Raw(Element):
        def render(self, **kwargs) -> str:
            return text

    return _Raw()


def _script(js: str):
    """A map child whose JS goes, verbatim, into the page's script after its parent's."""
    from branca.element import Figure, MacroElement

    class _Script(MacroElement):
        def render(self, **kwargs) -> None:  # type: ignore[override]  # as MacroElement's
            root = self.get_root()
            assert isinstance(root, Figure), "render the map through its Figure"
            root.script.add_child(_raw(js), name=self.get_name())

    el = _Script()
    el._name = "LsScript"
    return el


def _points_script(parent_name: str, points: list[list], kind: str) -> str:
    """JS adding many points to a FeatureGroup in one loop (no per-marker Folium object).

    ``points`` rows: ``[lat, lon, style_or_color, popup_html, tooltip]``.  Villages become
    ``L.circleMarker``s, towers ``L.marker``s with a div icon (no image, no icon font).
    """
    data = _js(points)
    if kind == "village":
        make = "L.circleMarker([p[0], p[1]], p[2])"
    else:
        make = ("L.marker([p[0], p[1]], {icon: L.divIcon({className: 'ls-tower', iconSize: [10, "
                "10], html: '<div style=\"background:' + p[2] + '\"></div>'})})")
    return ("(function () {\n"
            f"  var pts = {data};\n"
            "  for (var i = 0; i < pts.length; i++) {\n    var p = pts[i];\n"
            f"    var m = {make};\n"
            "    m.bindPopup(p[3], {maxWidth: 380});\n"
            "    if (p[4]) { m.bindTooltip(p[4]); }\n"
            f"    m.addTo({parent_name});\n"
            "  }\n})();\n")


# ---------------------------------------------------------------------------------------------


def render_map(
    inputs: MapInputs,
    *,
    assets: str = "inline",
    static_url: str = "/static/vendor",
    osm_layer: bool = False,
    max_overlay_px: int = 1024,
    strong_margin_db: float = 10.0,
    marginal_margin_db: float = 10.0,
    simplify_deg: float = 0.0005,
) -> str:
    """The map page as a string of HTML (UTF-8).

    ``assets="inline"`` gives one file that works anywhere with no network (the run's
    ``map.html``); ``assets="static"`` links Leaflet under ``static_url`` (the service's
    ``/map``).  ``osm_layer`` adds an OpenStreetMap tile layer as a second base layer, off at
    start: the only thing on the page that would reach the internet, and only when chosen.
    """
    import folium
    from branca.element import Figure
    from folium.map import CustomPane

    if assets not in ASSET_MODES:
        raise InvalidInputError(f"assets={assets!r}: expected one of {ASSET_MODES}")
    if not (16 <= max_overlay_px <= 8192):
        raise InvalidInputError(f"max_overlay_px={max_overlay_px}: must be between 16 and 8192")
    # Technologies shown (popup columns, legend thresholds): those with a raster, else those
    # the marks name; a run without 5G cells shows no empty 5G column.
    rats_used = tuple(r for r in RATS if any(s.rat == r for s in inputs.services))
    if not rats_used:
        rats_used = tuple(r for r in RATS if any(m.rat == r for rec in inputs.records
                                                 for m in rec.marks))
    for rat in rats_used:
        if rat not in inputs.thresholds_dbm:
            raise InvalidInputError(f"thresholds_dbm: no threshold for {rat}; "
                                    f"have {sorted(inputs.thresholds_dbm)}")

    fig = Figure(title=html.escape(inputs.title))
    m = folium.Map(location=_centre(inputs), zoom_start=10, tiles=None, control_scale=True,
                   prefer_canvas=False, font_size="12px")
    # Instance attributes shadow Folium's CDN lists (the class lists are left alone).
    m.default_js = []
    m.default_css = []
    fig.add_child(m)
    for i, tag in enumerate(_asset_tags(assets, static_url)):
        fig.header.add_child(_raw(tag), name=f"ls_asset_{i}")
    fig.header.add_child(_raw(_PAGE_CSS), name="ls_css")
    # An empty icon: otherwise the browser asks the server (or the disk) for /favicon.ico.
    fig.header.add_child(_raw('<link rel="icon" href="data:,"/>'), name="ls_icon")
    for pane, z in _PANES:
        m.add_child(CustomPane(pane, z_index=z, pointer_events=pane in ("ls-communes", "ls-fiber")))

    bounds: list[tuple[tuple[float, float], tuple[float, float]]] = []
    if inputs.dem is not None:
        uri, b = _hillshade_png(inputs.dem, max_overlay_px)
        bounds.append(b)
        folium.raster_layers.ImageOverlay(
            uri, bounds=[list(b[0]), list(b[1])], name="Địa hình (DEM) / Hillshade",
            overlay=False, show=True, pixelated=False, pane="ls-hillshade",
            className="ls-hillshade",
        ).add_to(m)
    if osm_layer:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap (trực tuyến / online)",
                         overlay=False, show=False).add_to(m)

    # Signal rasters: first carrier's best broadband technology shown, the rest off.
    order = {c: i for i, c in enumerate(inputs.carriers)}
    services = sorted((s for s in inputs.services if s.carrier in order),
                      key=lambda s: (order[s.carrier], RATS.index(s.rat)))
    shown = _default_service(services, inputs.carriers)
    palette = [c[2] for c in SIGNAL_CLASSES]
    for s, warped, b in _warp_services(services, max_overlay_px):
        cls = classify_signal(warped, inputs.thresholds_dbm[s.rat],
                              strong_margin_db=strong_margin_db,
                              marginal_margin_db=marginal_margin_db)
        bounds.append(b)
        folium.raster_layers.ImageOverlay(
            _data_uri(encode_png(cls, palette)), bounds=[list(b[0]), list(b[1])],
            name=f"Sóng / Signal {_e(s.carrier)} {_e(s.rat)}", show=s is shown, pane="ls-signal",
            className=f"ls-signal ls-signal-{column_key(s.carrier)}-{s.rat.lower()}",
        ).add_to(m)

    has_communes = inputs.communes is not None and len(inputs.communes) > 0
    if has_communes:
        col = _first_column(inputs.communes, ("fullName", "name", "commune", "ten", "NAME"))
        feats = _features(inputs.communes, simplify_deg, {"name": col} if col else {})
        folium.GeoJson(
            {"type": "FeatureCollection", "features": feats}, name="Ranh giới xã / Communes",
            style_function=lambda f: {"color": "#333333", "weight": 1.2, "dashArray": "4 3",
                                      "fill": True, "fillOpacity": 0.0},
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False) if col else None,
            pane="ls-communes",
        ).add_to(m)
    has_fiber = inputs.fiber is not None and len(inputs.fiber) > 0
    if has_fiber:
        col = _first_column(inputs.fiber, ("name", "ten", "ref", "operator", "kind"))
        feats = _features(inputs.fiber, simplify_deg / 5.0, {"name": col} if col else {})
        folium.GeoJson(
            {"type": "FeatureCollection", "features": feats},
            name=_fiber_layer_name(inputs.fiber_is_proxy),
            style_function=lambda f: {"color": "#ff7f00", "weight": 2.5, "opacity": 0.9},
            marker=folium.CircleMarker(radius=3, fill=True, fill_opacity=1.0),
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False) if col else None,
            pane="ls-fiber",
        ).add_to(m)

    # Villages, one group per status so each can be toggled.
    groups: dict[str, list[list]] = {"no_mobile": [], "weak": [], "covered": []}
    for r in inputs.records:
        key = _village_class(r)
        ring = "#000000" if r.no_fiber else "#ffffff"
        style = {"radius": 6, "color": ring, "weight": 2.5 if r.no_fiber else 1.5,
                 "fillColor": VILLAGE_COLORS[key], "fillOpacity": 0.95,
                 "className": f"ls-village ls-village-{key}"}
        groups[key].append([round(r.lat, 6), round(r.lon, 6), style,
                            _village_popup(r, inputs.carriers, rats_used, inputs.fiber_is_proxy),
                            _e(r.name)])
    for key in ("covered", "weak", "no_mobile"):  # lõm sóng drawn last, on top
        vi, en = VILLAGE_LABELS[key]
        fg = folium.FeatureGroup(name=f"{vi} / {en} ({len(groups[key])})", show=True)
        fg.add_to(m)
        if groups[key]:
            fg.add_child(_script(_points_script(fg.get_name(), groups[key], "village")))

    # Towers: one diamond per carrier site, its cells in the popup.
    tag = " (minh họa / illustrative)" if inputs.towers_illustrative else ""
    for c in inputs.carriers:
        sites: dict[str, list[Tower]] = {}
        for t in inputs.towers:
            if t.carrier == c:
                sites.setdefault(t.site_id, []).append(t)
        if not sites:
            continue
        color = _carrier_color(c, inputs.carriers)
        pts = []
        for site, cells in sorted(sites.items()):
            lat = sum(t.lat for t in cells) / len(cells)
            lon = sum(t.lon for t in cells) / len(cells)
            illus = inputs.towers_illustrative or any(t.illustrative for t in cells)
            pts.append([round(lat, 6), round(lon, 6), color,
                        _tower_popup(site, c, cells, illus), _e(f"{c} {site}")])
        fg = folium.FeatureGroup(name=f"Trạm / Towers {_e(c)}{tag}", show=True)
        fg.add_to(m)
        fg.add_child(_script(_points_script(fg.get_name(), pts, "tower")))

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    fit = _fit_bounds(inputs, bounds)
    if fit is not None:
        # Not animated: the page opens on the data at once (and a test reading the overlay's
        # pixels does not catch it mid-zoom).
        m.add_child(_script(f"{m.get_name()}.fitBounds({_js([list(fit[0]), list(fit[1])])}, "
                            "{animate: false, padding: [8, 8]});"))
    if inputs.attribution:
        m.add_child(_script(f"{m.get_name()}.attributionControl.addAttribution("
                            f"{_js(inputs.attribution)});"))
    fig.html.add_child(_raw(_legend_html(inputs, rats_used, strong_margin_db,
                                            marginal_margin_db, bool(inputs.towers), has_fiber,
                                            has_communes)), name="ls_legend")
    banner = _banner_html(inputs)
    if banner:
        fig.html.add_child(_raw(banner), name="ls_banner")
    page = fig.render()
    return page.replace("<html>", '<html lang="vi">', 1)


def _warp_services(services: list[ServiceRasters], max_px: int):
    """(service, warped best dBm, bounds) in the services' order; one warp per grid."""
    grids: dict[tuple, list[int]] = {}
    for i, s in enumerate(services):
        grids.setdefault((tuple(s.transform), s.best_dbm.shape, str(s.crs)), []).append(i)
    out: dict[int, tuple] = {}
    for idx in grids.values():
        first = services[idx[0]]
        stack = np.stack([services[i].best_dbm for i in idx])
        warped, b = to_web_mercator(stack, first.transform, first.crs, max_px=max_px)
        for k, i in enumerate(idx):
            out[i] = (services[i], warped[k], b)
    return [out[i] for i in range(len(services))]


def _default_service(services: list[ServiceRasters], carriers: tuple[str, ...]):
    if not services:
        return None
    first = [s for s in services if s.carrier == services[0].carrier]
    for rat in ("4G", "3G", "5G"):
        for s in first:
            if s.rat == rat:
                return s
    return first[0]


def _centre(inputs: MapInputs) -> list[float]:
    if inputs.records:
        return [float(np.mean([r.lat for r in inputs.records])),
                float(np.mean([r.lon for r in inputs.records]))]
    return [21.6, 105.8]  # Thái Nguyên


def _fit_bounds(inputs: MapInputs, raster_bounds: list) -> tuple | None:
    lats = [r.lat for r in inputs.records] + [t.lat for t in inputs.towers]
    lons = [r.lon for r in inputs.records] + [t.lon for t in inputs.towers]
    for (s, w), (n, e) in raster_bounds:
        lats += [s, n]
        lons += [w, e]
    if not lats:
        return None
    return (min(lats), min(lons)), (max(lats), max(lons))


__all__ = ["MapInputs", "classify_signal", "encode_png", "render_map", "to_web_mercator"]


def render_maps(inputs: MapInputs, *, static_url: str = "/static/vendor",
                **options) -> tuple[str, str]:
    """Both pages at the cost of one render: ``(inline_html, static_html)``.

    The two differ only in how Leaflet is brought in, so the static page is rendered once and
    its two asset tags are swapped for the inlined ones.
    """
    static_html = render_map(inputs, assets="static", static_url=static_url, **options)
    inline_html = static_html
    for s_tag, i_tag in zip(_asset_tags("static", static_url), _asset_tags("inline", static_url),
                            strict=True):
        if inline_html.count(s_tag) != 1:  # never guess: fall back to a second render
            return render_map(inputs, assets="inline", static_url=static_url,
                              **options), static_html
        inline_html = inline_html.replace(s_tag, i_tag)
    return inline_html, static_html
