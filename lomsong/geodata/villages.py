"""Read villages, communes and fiber; give each village its commune, footprint and fiber distance.

Villages: points or polygons from GeoJSON, GeoPackage, Shapefile (anything OGR reads) or CSV with
``lon,lat``; columns ``id`` and ``name`` are required, ``commune``, ``population`` and
``households`` are used when present.  Vietnamese names keep their diacritics (UTF-8 in, UTF-8
out).  Communes: polygons with ``name`` (or ``fullName``) and optionally ``code``.  Fiber: lines
(routes) and/or points (access nodes), optional ``operator``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.gaps import Village, footprint_cells
from lomsong.coverage.models import DemGrid

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml"}


def _read_vector(path: Path, what: str):
    """A GeoDataFrame in EPSG:4326 from any OGR-readable file."""
    import geopandas as gpd

    if not path.is_file():
        raise InvalidInputError(f"{path}: no such {what} file")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InvalidInputError(f"{path}: cannot be read as a {what} layer ({exc})") from exc
    if gdf.crs is None:
        if path.suffix.lower() in (".geojson", ".json"):
            gdf = gdf.set_crs("EPSG:4326")  # RFC 7946: GeoJSON is WGS 84
        else:
            raise InvalidInputError(f"{path}: the {what} layer has no CRS")
    return gdf.to_crs("EPSG:4326")


def _opt_int(raw, where: str, col: str, problems: list[str]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, float) and math.isnan(raw):
        return None
    s = str(raw).strip()
    if not s:
        return None
    try:
        v = float(s)
    except ValueError:
        problems.append(f"{where}: {col}={s!r} is not a number")
        return None
    if v < 0 or not math.isfinite(v) or v != int(v):
        problems.append(f"{where}: {col}={s}, must be a whole number >= 0")
        return None
    return int(v)


def read_villages(path: str | Path) -> list[Village]:
    """Read and validate a village layer; raise :class:`InvalidInputError` listing every problem."""
    from shapely.geometry import Point

    path = Path(path)
    name = str(path)
    problems: list[str] = []
    rows: list[dict] = []
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise InvalidInputError(f"{path}: no such villages file")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InvalidInputError(f"{name} row {line}: byte 0x{data[exc.start]:02x} is not "
                                    "UTF-8; save the file as UTF-8") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        missing = [c for c in ("id", "name", "lon", "lat") if c not in header]
        if missing:
            raise InvalidInputError(f"{name} row 1: missing column(s) {', '.join(missing)}; "
                                    f"header is {','.join(header)}")
        for i, row in enumerate(reader, start=2):
            where = f"{name} row {i}"
            try:
                lon, lat = float(row["lon"]), float(row["lat"])
            except (TypeError, ValueError):
                problems.append(f"{where}: lon={row.get('lon')!r}, lat={row.get('lat')!r}: "
                                "not numbers")
                continue
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                problems.append(f"{where}: lon={lon}, lat={lat}: out of range")
                continue
            rows.append(dict(where=where, row=row, geom=Point(lon, lat)))
    else:
        gdf = _read_vector(path, "villages")
        cols = set(gdf.columns)
        missing = [c for c in ("id", "name") if c not in cols]
        if missing:
            raise InvalidInputError(f"{name}: missing field(s) {', '.join(missing)}; fields are "
                                    f"{', '.join(c for c in gdf.columns if c != 'geometry')}")
        for i, (_, rec) in enumerate(gdf.iterrows(), start=1):
            where = f"{name} feature {i}"
            g = rec.geometry
            if g is None or g.is_empty:
                problems.append(f"{where}: id={rec['id']}: empty geometry")
                continue
            if g.geom_type not in ("Point", "Polygon", "MultiPolygon"):
                problems.append(f"{where}: geometry={g.geom_type}, expected Point or Polygon")
                continue
            rows.append(dict(where=where, row={k: rec[k] for k in cols if k != "geometry"}, geom=g))

    seen: dict[str, str] = {}
    out: list[Village] = []
    for r in rows:
        row, where, g = r["row"], r["where"], r["geom"]
        vid = str(row.get("id") if row.get("id") is not None else "").strip()
        if vid.endswith(".0") and vid[:-2].isdigit():
            vid = vid[:-2]
        vname = str(row.get("name") or "").strip()
        if not vid:
            problems.append(f"{where}: id is empty")
            continue
        if not vname or vname == "nan":
            problems.append(f"{where}: id={vid}: name is empty")
            continue
        if vid in seen:
            problems.append(f"{where}: id={vid} duplicates {seen[vid]}")
            continue
        seen[vid] = where
        pt = g if g.geom_type == "Point" else g.representative_point()
        commune = row.get("commune")
        commune = None if commune is None or str(commune).strip() in ("", "nan") else str(commune).strip()
        out.append(Village(
            village_id=vid, name=vname, lon=float(pt.x), lat=float(pt.y), commune=commune,
            population=_opt_int(row.get("population"), where, "population", problems),
            households=_opt_int(row.get("households"), where, "households", problems),
            geometry=g,
        ))
    if problems:
        raise InvalidInputError.from_problems(name, problems)
    if not out:
        raise InvalidInputError(f"{name}: no villages")
    return out


def read_communes(path: str | Path):
    """Commune polygons as a GeoDataFrame (EPSG:4326) with ``commune`` and ``commune_code``."""
    path = Path(path)
    gdf = _read_vector(path, "communes")
    label = next((c for c in ("fullName", "name", "ten", "NAME") if c in gdf.columns), None)
    if label is None:
        raise InvalidInputError(f"{path}: communes need a 'name' (or 'fullName') field")
    bad = [i for i, g in enumerate(gdf.geometry, start=1)
           if g is None or g.geom_type not in ("Polygon", "MultiPolygon")]
    if bad:
        raise InvalidInputError(f"{path} feature {bad[0]}: commune geometry must be a polygon")
    out = gdf[[label, "geometry"]].rename(columns={label: "commune"})
    out["commune_code"] = gdf["code"].astype(str) if "code" in gdf.columns else None
    return out.reset_index(drop=True)


def read_fiber(paths: list[Path] | tuple[Path, ...]):
    """Fiber routes (lines) and access nodes (points) from one or more layers, EPSG:4326."""
    import geopandas as gpd
    import pandas as pd

    frames = []
    for p in paths:
        p = Path(p)
        gdf = _read_vector(p, "fiber")
        bad = [i for i, g in enumerate(gdf.geometry, start=1) if g is None or g.geom_type not in
               ("LineString", "MultiLineString", "Point", "MultiPoint")]
        if bad:
            raise InvalidInputError(f"{p} feature {bad[0]}: fiber geometry must be a line or point")
        keep = gdf[["geometry"]].copy()
        keep["operator"] = gdf["operator"] if "operator" in gdf.columns else None
        keep["source"] = p.name
        frames.append(keep)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")


def assign_communes(villages: list[Village], communes) -> list[Village]:
    """Give villages without a commune the one their point falls in (spatial join)."""
    from dataclasses import replace

    import shapely

    tree = shapely.STRtree(communes.geometry.values)
    names = communes["commune"].tolist()
    codes = communes["commune_code"].tolist()
    by_name = dict(zip(names, codes, strict=True))
    out = []
    for v in villages:
        if v.commune:
            out.append(replace(v, commune_code=v.commune_code or by_name.get(v.commune)))
            continue
        hits = tree.query(shapely.Point(v.lon, v.lat), predicate="within")
        if len(hits):
            k = int(sorted(hits)[0])
            out.append(replace(v, commune=names[k], commune_code=codes[k]))
        else:
            out.append(v)
    return out


def attach_fiber_distance(villages: list[Village], fiber, crs: str) -> list[Village]:
    """Distance (m, in the metric ``crs``) from each village's geometry to the nearest fiber."""
    from dataclasses import replace

    import geopandas as gpd
    import shapely

    fib = fiber.to_crs(crs).geometry.values
    tree = shapely.STRtree(fib)
    vg = gpd.GeoSeries([v.geometry for v in villages], crs="EPSG:4326").to_crs(crs).values
    idx = tree.nearest(vg)
    out = []
    for v, g, k in zip(villages, vg, idx, strict=True):
        out.append(replace(v, fiber_distance_m=float(shapely.distance(g, fib[int(k)]))))
    return out


def attach_footprints(villages: list[Village], dem: DemGrid, radius_m: float) -> list[Village]:
    """The DEM cells each village is read over: its polygon's cells, or a disc round its point."""
    from dataclasses import replace

    import geopandas as gpd
    from rasterio.features import geometry_mask

    from lomsong.geodata.dem import lonlat_to_xy

    xs, ys = lonlat_to_xy(dem.crs, [v.lon for v in villages], [v.lat for v in villages])
    metric = gpd.GeoSeries([v.geometry for v in villages], crs="EPSG:4326").to_crs(dem.crs).values
    out = []
    for v, x, y, g in zip(villages, xs, ys, metric, strict=True):
        if g.geom_type == "Point":
            r, c = dem.rowcol_float(float(x), float(y))
            rr, cc = footprint_cells(dem.shape, r, c, radius_m / dem.cell_m)
        else:
            left, bottom, right, top = g.bounds
            r0, c0 = dem.rowcol(left, top)
            r1, c1 = dem.rowcol(right, bottom)
            r0, c0 = max(r0, 0), max(c0, 0)
            r1, c1 = min(r1, dem.shape[0] - 1), min(c1, dem.shape[1] - 1)
            if r1 < r0 or c1 < c0:
                rr = cc = np.zeros(0, np.int32)
            else:
                from affine import Affine

                t = dem.transform @ Affine.translation(c0, r0)
                inside = ~geometry_mask([g], out_shape=(r1 - r0 + 1, c1 - c0 + 1), transform=t)
                rr, cc = np.nonzero(inside)
                rr, cc = (rr + r0).astype(np.int32), (cc + c0).astype(np.int32)
                if rr.size == 0:  # smaller than a cell: the cell under its point
                    r, c = dem.rowcol_float(float(x), float(y))
                    rr, cc = footprint_cells(dem.shape, r, c, 0.0)
        out.append(replace(v, rows=rr, cols=cc))
    return out
