"""Generate the bundled sample's ILLUSTRATIVE towers (no public tower data exists for the area).

Run from the repository root:  python scripts/make_sample_towers.py

Seeded (SEED below), so the same file comes out every time.  The towers are made up, but follow
how Vietnamese carriers build out, so the sample's gap lists look like a real province's
(neither empty nor everything):

* Sites are dense in towns and sparse in the mountains: every town/city place gets a site from
  each carrier with the carrier's town probability (the city three); rural sites are drawn at
  random over the sample area and kept with a probability that falls with terrain height
  (valleys are where people live and where the roads and power are).
* Viettel has the widest rural network, then VinaPhone, MobiFone, and Vietnamobile (towns only):
  the order of their published 4G population coverage.
* Every site has 3 sectors (azimuths 120 degrees apart, random rotation) of 4G (LTE 1800) and 3G
  (UMTS 2100); sites in towns also carry 5G on the carrier's licensed band (not Vietnamobile).
  Radio parameters are left empty where lomsong's documented defaults apply.
* Every row has illustrative=1, and lomsong labels these towers "illustrative" wherever they show.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 20250701  # 1 July 2025, the day Thái Nguyên and Bắc Kạn merged
SAMPLE = Path("lomsong/samples/thai_nguyen")
MNC = {"Viettel": 4, "VinaPhone": 2, "MobiFone": 1, "Vietnamobile": 5}
TOWN_P = {"Viettel": 1.0, "VinaPhone": 0.9, "MobiFone": 0.8, "Vietnamobile": 0.5}
RURAL_N = {"Viettel": 16, "VinaPhone": 10, "MobiFone": 7, "Vietnamobile": 0}
HAS_5G = {"Viettel": True, "VinaPhone": True, "MobiFone": True, "Vietnamobile": False}
COLUMNS = ["radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range", "samples",
           "changeable", "created", "updated", "averageSignal", "carrier", "site_id", "height_m",
           "azimuth_deg", "beamwidth_deg", "tilt_deg", "eirp_dbm", "frequency_mhz",
           "bandwidth_mhz", "illustrative"]


def keep_probability(elev_m: float) -> float:
    """Rural site density by terrain height: valleys likely, ridges rare."""
    if elev_m < 80:
        return 0.7
    if elev_m < 200:
        return 0.35
    if elev_m < 400:
        return 0.12
    return 0.03


def main() -> None:
    import rasterio

    rng = np.random.default_rng(SEED)
    with rasterio.open(SAMPLE / "dem.tif") as ds:
        elev = ds.read(1)
        left, bottom, right, top = ds.bounds

        def height_at(lon: float, lat: float) -> float:
            r, c = ds.index(lon, lat)
            v = float(elev[min(max(r, 0), elev.shape[0] - 1), min(max(c, 0), elev.shape[1] - 1)])
            return 500.0 if v == -32768 else v

    towns = []
    for r in csv.DictReader(open(SAMPLE / "villages.csv", encoding="utf-8")):
        if r["kind"] in ("osm_town", "osm_city"):
            towns.append((r["name"], float(r["lon"]), float(r["lat"]), r["kind"] == "osm_city"))

    rows = []
    for carrier in MNC:
        sites = []
        for name, lon, lat, city in towns:
            n = 3 if city else 1
            for k in range(n):
                if rng.random() > TOWN_P[carrier]:
                    continue
                # a few hundred metres off the place point, as real sites are
                jlon, jlat = rng.normal(0, 0.004 if not city else 0.012, 2)
                sites.append((f"{name}-{k + 1}", lon + jlon, lat + jlat, True))
        drawn = 0
        while drawn < RURAL_N[carrier]:
            lon = rng.uniform(left + 0.03, right - 0.03)
            lat = rng.uniform(bottom + 0.03, top - 0.03)
            if rng.random() < keep_probability(height_at(lon, lat)):
                drawn += 1
                sites.append((f"R{drawn:02d}", lon, lat, False))
        for s, (_label, lon, lat, town) in enumerate(sites, start=1):
            site_id = f"{carrier[:3].upper()}-{s:03d}"
            rot = float(rng.uniform(0, 120))
            height = float(rng.choice([30, 36, 42])) if town else float(rng.choice([36, 42, 45]))
            rats = ["LTE", "UMTS"] + (["NR"] if town and HAS_5G[carrier] else [])
            for radio in rats:
                for sector in range(3):
                    cell = s * 10 + sector + {"LTE": 1000, "UMTS": 2000, "NR": 3000}[radio] * 10
                    rows.append({
                        "radio": radio, "mcc": 452, "net": MNC[carrier], "area": 100 + s,
                        "cell": cell, "unit": "", "lon": f"{lon:.6f}", "lat": f"{lat:.6f}",
                        "range": "", "samples": "", "changeable": "", "created": "",
                        "updated": "", "averageSignal": "", "carrier": carrier,
                        "site_id": site_id, "height_m": height,
                        "azimuth_deg": round((rot + 120 * sector) % 360, 1),
                        "beamwidth_deg": 65, "tilt_deg": "", "eirp_dbm": "",
                        "frequency_mhz": "", "bandwidth_mhz": "", "illustrative": 1,
                    })
    with open(SAMPLE / "towers.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    sites = {(r["carrier"], r["site_id"]) for r in rows}
    print(f"towers.csv: {len(rows)} cells on {len(sites)} sites "
          + ", ".join(f"{c}: {sum(1 for s in sites if s[0] == c)}" for c in MNC))


if __name__ == "__main__":
    main()
