"""Read tower (cell) CSV files: OpenCelliD's own columns plus optional site columns.

OpenCelliD columns, accepted as they are::

    radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal

Optional site columns: ``carrier``, ``site_id``, ``height_m``, ``azimuth_deg`` (omni when
absent or empty), ``beamwidth_deg``, ``tilt_deg``, ``eirp_dbm`` (or ``tx_power_dbm`` +
``antenna_gain_dbi``), ``frequency_mhz``, ``bandwidth_mhz``, ``illustrative`` (1/true marks
made-up towers, e.g. the bundled sample's).

The whole file is checked before anything is used; every problem is reported at once, each naming
the file, row (the spreadsheet row: the header is row 1), column and value.  Missing values take
the per-carrier, per-technology defaults below, whose sources are in DESIGN.md.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.models import Tower

#: OpenCelliD's radio names and the generation names, to our RAT labels.
RADIO_ALIASES = {
    "GSM": "2G", "2G": "2G", "CDMA": "2G",
    "UMTS": "3G", "WCDMA": "3G", "3G": "3G", "HSPA": "3G",
    "LTE": "4G", "4G": "4G",
    "NR": "5G", "5G": "5G",
}

#: MCC 452 (Viet Nam) MNC -> carrier (ITU-T E.212 list; VNTA numbering).
VN_MNC = {1: "MobiFone", 2: "VinaPhone", 4: "Viettel", 5: "Vietnamobile", 7: "Gmobile", 8: "Viettel"}
CARRIER_ALIASES = {
    "viettel": "Viettel", "vinaphone": "VinaPhone", "vnpt": "VinaPhone", "vnpt vinaphone": "VinaPhone",
    "mobifone": "MobiFone", "vietnamobile": "Vietnamobile", "gmobile": "Gmobile",
}


@dataclass(frozen=True, slots=True)
class RadioDefaults:
    """Values used when a tower row leaves a radio field empty (see DESIGN.md for sources)."""

    height_m: float
    eirp_dbm: float
    frequency_mhz: float
    bandwidth_mhz: float
    beamwidth_deg: float = 65.0
    vertical_beamwidth_deg: float = 10.0
    tilt_deg: float = 2.0


#: Per-technology defaults (any carrier). Macro-site values typical of Vietnamese rural sites:
#: 30 m masts; EIRP = PA power + sector antenna gain - feeder/jumper loss.
RAT_DEFAULTS: dict[str, RadioDefaults] = {
    # 20 W BCCH TRX (43 dBm) + 15 dBi - 3 dB
    "2G": RadioDefaults(height_m=30.0, eirp_dbm=55.0, frequency_mhz=900.0, bandwidth_mhz=0.2),
    # 20 W carrier (43 dBm) + 17 dBi - 3 dB
    "3G": RadioDefaults(height_m=30.0, eirp_dbm=57.0, frequency_mhz=2100.0, bandwidth_mhz=5.0),
    # 2 x 20 W (46 dBm) + 17.5 dBi - 2.5 dB
    "4G": RadioDefaults(height_m=30.0, eirp_dbm=61.0, frequency_mhz=1800.0, bandwidth_mhz=20.0),
    # 64T64R AAU, 200 W (53 dBm) + beamforming gain ~ 24 dBi less losses, wide broadcast beam
    "5G": RadioDefaults(height_m=30.0, eirp_dbm=70.0, frequency_mhz=3700.0, bandwidth_mhz=100.0,
                        tilt_deg=3.0),
}

#: Per-carrier overrides of the technology default (licensed bands in Viet Nam; DESIGN.md).
CARRIER_BAND_MHZ: dict[tuple[str, str], float] = {
    ("Viettel", "5G"): 2600.0,       # 2500-2600 MHz block (n41), 2024 auction
    ("VinaPhone", "5G"): 3750.0,     # 3700-3800 MHz block (n77/n78)
    ("MobiFone", "5G"): 3850.0,      # 3800-3900 MHz block (n77/n78)
    ("Vietnamobile", "5G"): 3500.0,  # no licensed 5G block; assumed n78 mid-band if given
}

DEFAULT_RADIUS_M = 20000.0

# Column names we understand; anything else is kept out of the way but not an error.
REQUIRED = ("radio", "lon", "lat")
NUMERIC = {
    "mcc": (0, 999), "net": (0, 999),
    "lon": (-180.0, 180.0), "lat": (-90.0, 90.0), "range": (0, 10**6),
    "height_m": (0.5, 700.0), "azimuth_deg": (0.0, 360.0), "beamwidth_deg": (1.0, 360.0),
    "tilt_deg": (-20.0, 45.0), "eirp_dbm": (0.0, 100.0), "tx_power_dbm": (-10.0, 70.0),
    "antenna_gain_dbi": (-10.0, 40.0), "frequency_mhz": (30.0, 100000.0),
    "bandwidth_mhz": (0.1, 400.0),
}


def _carrier_of(row: dict[str, str], where: str, problems: list[str]) -> str | None:
    raw = (row.get("carrier") or "").strip()
    if raw:
        name = CARRIER_ALIASES.get(raw.lower())
        if name is None:
            problems.append(f"{where}: carrier={raw!r}, expected one of "
                            f"{sorted(set(CARRIER_ALIASES.values()))}")
        return name
    mcc, net = (row.get("mcc") or "").strip(), (row.get("net") or "").strip()
    if not mcc or not net:
        problems.append(f"{where}: no carrier: give a 'carrier' column or mcc+net")
        return None
    try:
        mcc_i, net_i = int(float(mcc)), int(float(net))
    except ValueError:
        return None  # reported by the numeric check
    if mcc_i != 452:
        problems.append(f"{where}: mcc={mcc}: only Viet Nam (452) is mapped to carriers; "
                        "add a 'carrier' column for other networks")
        return None
    name = VN_MNC.get(net_i)
    if name is None:
        problems.append(f"{where}: net={net}: unknown MNC for MCC 452, expected one of "
                        f"{sorted(VN_MNC)}")
    return name


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{name} row {line}: byte 0x{data[exc.start]:02x} at offset {exc.start} is not "
            "UTF-8; save the file as UTF-8 (Excel: 'CSV UTF-8')"
        ) from None
    return text


def parse_towers(
    data: bytes | str,
    name: str = "towers.csv",
    *,
    crs: str | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
    only_carrier: str | None = None,
) -> list[Tower]:
    """Parse and validate a tower CSV; return one :class:`Tower` per row.

    ``crs`` is the metric CRS the towers will be used in (x/y are filled in that CRS);
    ``bounds`` (left, bottom, right, top, in ``crs``) rejects towers outside the DEM.
    ``only_carrier`` rejects rows of any other carrier (a carrier's own upload).
    Raises :class:`InvalidInputError` listing every problem when anything is wrong.
    """
    text = _decode(data, name) if isinstance(data, bytes) else data.lstrip("\ufeff")
    if not text.strip():
        raise InvalidInputError(f"{name}: the file is empty; expected a CSV header with at least "
                                f"{', '.join(REQUIRED)}")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    if "carrier" not in header and not {"mcc", "net"} <= set(header):
        missing.append("carrier (or mcc and net)")
    if missing:
        raise InvalidInputError(f"{name} row 1: missing column(s) {', '.join(missing)}; "
                                f"header is {','.join(header)}")

    problems: list[str] = []
    parsed: list[dict] = []
    seen: dict[tuple, int] = {}
    for i, row in enumerate(reader, start=2):
        if None in row:  # more cells than header columns
            problems.append(f"{name} row {i}: {len(header) + len(row[None])} cells, "
                            f"header has {len(header)}")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # blank line
        where = f"{name} row {i}"
        vals: dict[str, float | None] = {}
        for col, (lo, hi) in NUMERIC.items():
            raw = (row.get(col) or "").strip()
            if not raw:
                vals[col] = None
                continue
            try:
                v = float(raw)
            except ValueError:
                problems.append(f"{where}: {col}={raw!r} is not a number")
                vals[col] = None
                continue
            if not math.isfinite(v) or not (lo <= v <= hi):
                extra = ""
                if col in ("lon", "lat"):
                    extra = " (are lon and lat swapped?)" if col == "lat" and abs(v) > 90 else ""
                problems.append(f"{where}: {col}={raw}, must be between {lo} and {hi}{extra}")
                vals[col] = None
                continue
            vals[col] = v
        radio_raw = (row.get("radio") or "").strip()
        rat = RADIO_ALIASES.get(radio_raw.upper())
        if rat is None:
            problems.append(f"{where}: radio={radio_raw!r}, expected one of GSM, UMTS, LTE, NR "
                            "or 2G, 3G, 4G, 5G")
        carrier = _carrier_of(row, where, problems)
        if only_carrier is not None and carrier is not None and carrier != only_carrier:
            problems.append(f"{where}: carrier={carrier}: this upload may only hold "
                            f"{only_carrier}'s towers")
        if rat is None or carrier is None or vals["lon"] is None or vals["lat"] is None:
            continue
        lon, lat = vals["lon"], vals["lat"]
        cell_raw = (row.get("cell") or row.get("cell_id") or "").strip()
        site_id = (row.get("site_id") or "").strip()
        if not cell_raw:
            cell_raw = f"r{i}"
        area = (row.get("area") or "").strip()
        key = (carrier, rat, area, cell_raw)
        if key in seen:
            problems.append(f"{where}: cell={cell_raw} (carrier {carrier}, {rat}, area {area or '-'}) "
                            f"duplicates row {seen[key]}")
            continue
        seen[key] = i
        parsed.append(dict(row=i, rat=rat, carrier=carrier, lon=lon, lat=lat, cell=cell_raw,
                           area=area, site_id=site_id, vals=vals,
                           illustrative=(row.get("illustrative") or "").strip().lower()
                           in ("1", "true", "yes", "y")))

    xs: list[float] = []
    ys: list[float] = []
    if parsed and crs is not None:
        from lomsong.geodata.dem import lonlat_to_xy

        xs, ys = lonlat_to_xy(crs, [p["lon"] for p in parsed], [p["lat"] for p in parsed])
        xs, ys = list(xs), list(ys)
        if bounds is not None:
            left, bottom, right, top = bounds
            for p, x, y in zip(parsed, xs, ys, strict=True):
                if not (left <= x <= right and bottom <= y <= top):
                    hint = ""
                    sx, sy = lonlat_to_xy(crs, p["lat"], p["lon"])
                    if left <= sx <= right and bottom <= sy <= top:
                        hint = " (lon and lat look swapped)"
                    problems.append(f"{name} row {p['row']}: lon={p['lon']}, lat={p['lat']}: "
                                    f"the tower is outside the DEM{hint}")
    if problems:
        raise InvalidInputError.from_problems(name, problems)
    if not parsed:
        raise InvalidInputError(f"{name}: no tower rows after the header")

    towers: list[Tower] = []
    for k, p in enumerate(parsed):
        v = p["vals"]
        d = RAT_DEFAULTS[p["rat"]]
        defaulted: list[str] = []

        def pick(col: str, default: float, _v=v, _defaulted=defaulted) -> float:
            if _v.get(col) is None:
                _defaulted.append(col)
                return float(default)
            return float(_v[col])

        freq_default = CARRIER_BAND_MHZ.get((p["carrier"], p["rat"]), d.frequency_mhz)
        if v["eirp_dbm"] is not None:
            eirp = float(v["eirp_dbm"])
        elif v["tx_power_dbm"] is not None and v["antenna_gain_dbi"] is not None:
            eirp = float(v["tx_power_dbm"] + v["antenna_gain_dbi"])
        else:
            eirp = d.eirp_dbm
            defaulted.append("eirp_dbm")
        az = v["azimuth_deg"]
        cell_id = f"{p['carrier']}-{p['rat']}-{p['area'] or '0'}-{p['cell']}"
        towers.append(Tower(
            cell_id=cell_id,
            site_id=p["site_id"] or f"{p['carrier']}@{p['lon']:.5f},{p['lat']:.5f}",
            carrier=p["carrier"], rat=p["rat"], lon=float(p["lon"]), lat=float(p["lat"]),
            x=float(xs[k]) if xs else float("nan"), y=float(ys[k]) if ys else float("nan"),
            height_m=pick("height_m", d.height_m),
            eirp_dbm=eirp,
            frequency_mhz=pick("frequency_mhz", freq_default),
            bandwidth_mhz=pick("bandwidth_mhz", d.bandwidth_mhz),
            azimuth_deg=None if az is None else float(az) % 360.0,
            beamwidth_deg=pick("beamwidth_deg", d.beamwidth_deg) if az is not None else 360.0,
            vertical_beamwidth_deg=d.vertical_beamwidth_deg,
            tilt_deg=pick("tilt_deg", d.tilt_deg),
            radius_m=float(radius_m),
            source_row=p["row"],
            illustrative=p["illustrative"],
            defaulted=tuple(defaulted),
        ))
    return towers


def read_towers(path: str | Path, **kwargs) -> list[Tower]:
    """Read and validate a tower CSV file (see :func:`parse_towers`)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such tower file")
    return parse_towers(path.read_bytes(), str(path), **kwargs)


def towers_to_rows(towers: Iterable[Tower]) -> list[dict]:
    """Tower records as flat dicts (for CSV/GeoJSON output and the API)."""
    out = []
    for t in towers:
        out.append({
            "cell_id": t.cell_id, "site_id": t.site_id, "carrier": t.carrier, "rat": t.rat,
            "lon": round(t.lon, 6), "lat": round(t.lat, 6), "height_m": t.height_m,
            "azimuth_deg": t.azimuth_deg, "beamwidth_deg": t.beamwidth_deg, "tilt_deg": t.tilt_deg,
            "eirp_dbm": t.eirp_dbm, "frequency_mhz": t.frequency_mhz,
            "bandwidth_mhz": t.bandwidth_mhz, "illustrative": t.illustrative,
        })
    return out


def _rows_of(data: bytes, name: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(_decode(data, name), newline=""))
    cols = [c.strip() for c in reader.fieldnames or []]
    rows = [{(k or "").strip(): v for k, v in r.items() if k is not None} for r in reader]
    return cols, rows


def _csv_of(parts: list[tuple[list[str], list[dict]]]) -> bytes:
    """One CSV (UTF-8, no BOM) from several row sets; columns are the union, in order."""
    cols: list[str] = []
    for part_cols, _ in parts:
        cols += [c for c in part_cols if c not in cols]
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for _, rows in parts:
        w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def concat_tower_csvs(files: list[tuple[bytes, str]]) -> bytes:
    """Several tower CSVs (``(data, name)``) as one, header union: a run's tower input."""
    return _csv_of([_rows_of(data, name) for data, name in files])


def replace_carrier_rows(old_csv: bytes, new_csv: bytes, carrier: str,
                         name: str = "upload.csv") -> bytes:
    """The tower input of a new version: ``old_csv`` without ``carrier``'s rows, plus ``new_csv``.

    An upload is the carrier's complete current list (a snapshot), so its old rows go.  Columns
    are the union of both headers, in order; the result is UTF-8 without BOM.  Rows are matched
    to carriers the same way :func:`parse_towers` does (``carrier`` column, else MCC/MNC).
    """
    old_cols, old = _rows_of(old_csv, "towers.csv")
    new_cols, new = _rows_of(new_csv, name)
    kept = [r for r in old if _carrier_of(r, "", []) != carrier]
    return _csv_of([(old_cols, kept), (new_cols, new)])
