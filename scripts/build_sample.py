"""Build the bundled sample (lomsong/samples/thai_nguyen) from ../shared/data.

Run from the repository root:  python scripts/build_sample.py [--shared ../shared/data]

Every input is real public data (see lomsong/samples/thai_nguyen/README.md for provenance and
licences), except towers.csv, which scripts/make_sample_towers.py generates (illustrative).
What this script does, so the sample can be rebuilt and checked:

* dem.tif: the SRTM-3 tile N21E105 cut to the part of Thái Nguyên it covers
  (105.42-106.00 E, 21.32-22.00 N), int16, voids kept as -32768 (the loader fills and counts them).
* communes.geojson: the 2025 communes that overlap that box, simplified with a 0.0002 degree
  (about 20 m) tolerance to keep the file small; names and codes unchanged.
* villages.csv: the OSM place points (2018) inside both the province and the box; the OSM
  facilities where people need signal (schools, clinics, hospitals, post offices, commune halls,
  shelters, universities) inside both; and, for each commune whose area inside the box has none
  of those, one stand-in point at the commune's representative point (kind=commune_point), so
  that every covered commune is represented.  Column ``kind`` says which is which.
* fiber.geojson: national/provincial roads and railways (a *proxy* for fiber, which follows them
  in Viet Nam; no public fiber routes exist), cut to the box.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

BOX = (105.42, 21.32, 106.0, 22.0)  # left, bottom, right, top (degrees)
FACILITIES = {"school", "hospital", "doctors", "clinic", "post_office", "town_hall", "shelter",
              "university", "alpine_hut", "college", "kindergarten"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default="lomsong/samples/thai_nguyen")
    args = ap.parse_args()
    src, out = Path(args.shared), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import geopandas as gpd
    import rasterio
    from rasterio.windows import from_bounds
    from shapely.geometry import box

    with rasterio.open(src / "dem/N21E105.hgt") as ds:
        win = from_bounds(*BOX, transform=ds.transform).round_offsets().round_lengths()
        arr = ds.read(1, window=win)
        t = ds.window_transform(win)
        with rasterio.open(out / "dem.tif", "w", driver="GTiff", height=arr.shape[0],
                           width=arr.shape[1], count=1, dtype="int16", crs="EPSG:4326",
                           transform=t, nodata=-32768, compress="deflate", predictor=2,
                           tiled=True) as dst:
            dst.write(arr, 1)
    print("dem.tif", arr.shape, "voids", int((arr == -32768).sum()))

    bbox = box(*BOX)
    com = gpd.read_file(src / "admin/thai_nguyen_2025_communes.geojson")
    com = com[com.intersects(bbox)].copy()
    inside_share = com.geometry.intersection(bbox).area / com.geometry.area
    com = com[inside_share > 0.02].copy()
    com["geometry"] = com.geometry.simplify(0.0002, preserve_topology=True)
    keep = ["code", "name", "nameEn", "fullName", "fullNameEn", "areaKm2", "geometry"]
    com[keep].sort_values("code").to_file(out / "communes.geojson", driver="GeoJSON",
                                          COORDINATE_PRECISION=6)
    print("communes", len(com))

    def in_box(lon: float, lat: float, margin: float = 0.01) -> bool:
        return (BOX[0] + margin <= lon <= BOX[2] - margin and
                BOX[1] + margin <= lat <= BOX[3] - margin)

    rows = []
    for r in csv.DictReader(open(src / "villages/osm_places_bbox_2018.csv", encoding="utf-8")):
        lon, lat = float(r["lon"]), float(r["lat"])
        if r["commune_code_2025"] and in_box(lon, lat):
            rows.append(dict(id=f"osm{r['osm_id']}", name=r["name"], kind=f"osm_{r['fclass']}",
                             commune=r["commune_name_2025"],
                             population=r["population"] if r["population"] not in ("", "0") else "",
                             lon=f"{lon:.6f}", lat=f"{lat:.6f}"))
    for r in csv.DictReader(open(src / "villages/osm_pois_bbox_2018.csv", encoding="utf-8")):
        lon, lat = float(r["lon"]), float(r["lat"])
        if r["fclass"] in FACILITIES and r["name"] and r["commune_code_2025"] and in_box(lon, lat):
            rows.append(dict(id=f"osm{r['osm_id']}", name=r["name"], kind=f"osm_{r['fclass']}",
                             commune=r["commune_name_2025"], population="",
                             lon=f"{lon:.6f}", lat=f"{lat:.6f}"))
    have = {r["commune"] for r in rows}
    for _, c in com.sort_values("code").iterrows():
        if c["fullName"] in have:
            continue
        part = c.geometry.intersection(box(BOX[0] + 0.01, BOX[1] + 0.01, BOX[2] - 0.01,
                                           BOX[3] - 0.01))
        if part.is_empty or part.area < 0.2 * c.geometry.area:
            continue
        p = part.representative_point()
        rows.append(dict(id=f"c{c['code']}", name=f"{c['fullName']} (điểm đại diện)",
                         kind="commune_point", commune=c["fullName"], population="",
                         lon=f"{p.x:.6f}", lat=f"{p.y:.6f}"))
    rows.sort(key=lambda r: r["id"])
    with open(out / "villages.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "name", "kind", "commune", "population", "lon", "lat"])
        w.writeheader()
        w.writerows(rows)
    print("villages", len(rows), {k: sum(r["kind"] == k for r in rows) for k in
                                  sorted({r["kind"] for r in rows})})

    feats = []
    for name in ("lines/vn_national_roads_rail_bbox.geojson", "lines/osm_railways_bbox_2018.geojson"):
        g = gpd.read_file(src / name).to_crs("EPSG:4326")
        g = g[g.intersects(bbox)].copy()
        g["geometry"] = g.geometry.intersection(bbox)
        g = g[~g.geometry.is_empty]
        label = "ten" if "ten" in g.columns else "name"
        for _, r in g.iterrows():
            feats.append(dict(geometry=r.geometry, name=r.get(label) or "",
                              kind=r.get("loai_duong") or r.get("fclass") or "",
                              source=Path(name).name, proxy=True, operator=None))
    fib = gpd.GeoDataFrame(feats, crs="EPSG:4326")
    fib.to_file(out / "fiber.geojson", driver="GeoJSON", COORDINATE_PRECISION=6)
    print("fiber features", len(fib))


if __name__ == "__main__":
    main()
