"""Mark villages: per carrier and technology signal over each footprint, status, lõm sóng, fiber.

Pure: arrays and dataclasses in, :class:`GapRecord` out.  Every output format (JSON, CSV,
GeoJSON, GeoPackage, the API, the map) is written from these records, so they cannot disagree.

Rules (reasons and sources in DESIGN.md, every number overridable through :class:`GapRules`):

* A village's signal is read over its footprint: the grid cells whose centres fall in its polygon,
  or in a disc of ``footprint_radius_m`` around its point (the cell under the point at least).
* ``best_dbm``: the strongest cell of the footprint; ``serving_cell``/``serving_site``: the cell
  that serves there.  ``share_above``: fraction of footprint cells at or above the threshold.
* ``p_cov``: the probability that a handset at a random place in the footprint gets at least the
  threshold when the local mean has log-normal location variability of ``sigma_db`` (the mean
  over footprint cells of ``Q((threshold - S) / sigma)``; cells no tower reaches count as 0).
* Status: ``covered`` when ``p_cov >= covered_p``, ``marginal`` when ``>= marginal_p``, else
  ``gap``.
* **lõm sóng** (``no_mobile``): no carrier has a 3G, 4G or 5G status better than ``gap``.
  ``weak_mobile``: some carrier is ``marginal`` but none is ``covered``.
* ``no_fiber``: no fiber route or access node within ``fiber_max_distance_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lomsong.coverage.models import BROADBAND_RATS, RATS, ServiceRasters

STATUSES = ("covered", "marginal", "gap")
_STATUS_RANK = {"covered": 0, "marginal": 1, "gap": 2}


@dataclass(frozen=True, slots=True)
class GapRules:
    """Thresholds and rules for marking.  Defaults: see DESIGN.md."""

    #: Minimum per-RAT phone figure at a location for service (dBm): RxLev (2G), RSCP (3G),
    #: RSRP (4G), SS-RSRP (5G).
    threshold_dbm: dict[str, float] = field(default_factory=lambda: {
        "2G": -100.0, "3G": -100.0, "4G": -110.0, "5G": -110.0,
    })
    sigma_db: float = 8.0
    covered_p: float = 0.90
    marginal_p: float = 0.50
    footprint_radius_m: float = 300.0
    fiber_max_distance_m: float = 1000.0

    def __post_init__(self) -> None:
        from lomsong.coverage.errors import InvalidInputError

        for rat, v in self.threshold_dbm.items():
            if rat not in RATS or not (-160.0 <= v <= -30.0):
                raise InvalidInputError(f"threshold_dbm.{rat}={v}: expected a RAT in {RATS} "
                                        "and a level between -160 and -30 dBm")
        checks = [("sigma_db", self.sigma_db, 0.0, 30.0),
                  ("covered_p", self.covered_p, 0.0, 1.0),
                  ("marginal_p", self.marginal_p, 0.0, self.covered_p),
                  ("footprint_radius_m", self.footprint_radius_m, 0.0, 10000.0),
                  ("fiber_max_distance_m", self.fiber_max_distance_m, 0.0, 100000.0)]
        for name, v, lo, hi in checks:
            if not (lo <= v <= hi) or not math.isfinite(v):
                raise InvalidInputError(f"{name}={v}: must be between {lo} and {hi}")


@dataclass(frozen=True, slots=True)
class ServiceMark:
    """One village's service from one carrier on one technology."""

    carrier: str
    rat: str
    best_dbm: float | None
    serving_cell: str | None
    serving_site: str | None
    share_above: float
    p_cov: float
    status: str


@dataclass(frozen=True, slots=True)
class Village:
    """A settlement (thôn, bản, or an OSM place standing in for one)."""

    village_id: str
    name: str
    lon: float
    lat: float
    commune: str | None = None
    commune_code: str | None = None
    population: int | None = None
    households: int | None = None
    #: Grid cells of the footprint on the DEM grid: int32 arrays of rows and cols.
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    fiber_distance_m: float | None = None
    geometry: object = None  # shapely geometry in lon/lat, for output only


@dataclass(frozen=True, slots=True)
class GapRecord:
    """The single source of every output row about one village."""

    village_id: str
    name: str
    lon: float
    lat: float
    commune: str | None
    commune_code: str | None
    population: int | None
    households: int | None
    marks: tuple[ServiceMark, ...]
    no_mobile: bool
    weak_mobile: bool
    fiber_distance_m: float | None
    no_fiber: bool | None
    footprint_cells: int
    geometry: object = None

    def mark(self, carrier: str, rat: str) -> ServiceMark | None:
        for m in self.marks:
            if m.carrier == carrier and m.rat == rat:
                return m
        return None

    def carrier_status(self, carrier: str, rats: tuple[str, ...] = BROADBAND_RATS) -> str:
        """The carrier's best status over ``rats`` (``gap`` when it has none of them)."""
        best = "gap"
        for m in self.marks:
            if m.carrier == carrier and m.rat in rats and _STATUS_RANK[m.status] < _STATUS_RANK[best]:
                best = m.status
        return best

    def flat(self, carriers: tuple[str, ...] | None = None, ndigits: int = 2) -> dict:
        """A flat dict: the base fields, then ``<carrier>_<rat>_<field>`` for each mark.

        ``carriers`` restricts the per-carrier fields (a carrier's view shows only its own).
        Floats are rounded so that the same inputs give the same bytes on every machine.
        """

        def r(v):
            return None if v is None else round(float(v), ndigits)

        out: dict = {
            "id": self.village_id, "name": self.name, "commune": self.commune,
            "commune_code": self.commune_code, "population": self.population,
            "households": self.households, "lon": round(self.lon, 6), "lat": round(self.lat, 6),
            "no_mobile": self.no_mobile, "weak_mobile": self.weak_mobile,
            "no_fiber": self.no_fiber, "fiber_distance_m": r(self.fiber_distance_m),
            "footprint_cells": self.footprint_cells,
        }
        for m in self.marks:
            if carriers is not None and m.carrier not in carriers:
                continue
            p = f"{column_key(m.carrier)}_{m.rat.lower()}"
            out[f"{p}_status"] = m.status
            out[f"{p}_best_dbm"] = r(m.best_dbm)
            out[f"{p}_p_cov"] = round(m.p_cov, 3)
            out[f"{p}_share_above"] = round(m.share_above, 3)
            out[f"{p}_serving_site"] = m.serving_site
        return out


def column_key(carrier: str) -> str:
    """Carrier name as used in column and file names (``Viettel`` -> ``viettel``)."""
    return carrier.lower().replace(" ", "_")


def footprint_cells(
    shape: tuple[int, int], row: float, col: float, radius_cells: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cells whose centres lie within ``radius_cells`` of fractional (row, col), the cell under
    the point at least; clipped to the grid (empty when the point is off the grid)."""
    nrows, ncols = shape
    r0, c0 = int(math.floor(row + 0.5)), int(math.floor(col + 0.5))
    if not (0 <= r0 < nrows and 0 <= c0 < ncols):
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    n = int(math.ceil(radius_cells)) + 1
    rr, cc = np.mgrid[r0 - n:r0 + n + 1, c0 - n:c0 + n + 1]
    inside = (rr - row) ** 2 + (cc - col) ** 2 <= radius_cells ** 2
    inside &= (rr >= 0) & (rr < nrows) & (cc >= 0) & (cc < ncols)
    rr, cc = rr[inside], cc[inside]
    if rr.size == 0:
        rr, cc = np.array([r0]), np.array([c0])
    return rr.astype(np.int32), cc.astype(np.int32)


def mark_service(
    values_dbm: np.ndarray,
    servers: np.ndarray,
    threshold_dbm: float,
    sigma_db: float,
) -> tuple[float | None, int, float, float]:
    """Summarise one footprint: (best dBm, serving index at the best cell, share above, p_cov).

    ``values_dbm`` are the footprint's best-signal values (NaN = no tower reaches), ``servers``
    the matching best-server indices.
    """
    n = values_dbm.size
    if n == 0:
        return None, -1, 0.0, 0.0
    finite = np.isfinite(values_dbm)
    if not finite.any():
        return None, -1, 0.0, 0.0
    vals = np.where(finite, values_dbm, -np.inf)
    k = int(np.argmax(vals))
    share = float(np.count_nonzero(vals >= threshold_dbm)) / n
    if sigma_db > 0:
        from scipy.special import ndtr

        # P(S + X >= threshold), X ~ N(0, sigma): the normal CDF of (S - threshold) / sigma
        z = (values_dbm[finite].astype(np.float64) - threshold_dbm) / sigma_db
        p = float(ndtr(z).sum()) / n
    else:
        p = share
    return float(values_dbm[k]), int(servers[k]), share, p


def status_of(p_cov: float, rules: GapRules) -> str:
    if p_cov >= rules.covered_p:
        return "covered"
    if p_cov >= rules.marginal_p:
        return "marginal"
    return "gap"


def mark_villages(
    villages: list[Village],
    services: list[ServiceRasters],
    site_of_cell: dict[str, str],
    rules: GapRules,
    carriers: tuple[str, ...],
    has_fiber_layer: bool,
    rats: tuple[str, ...] = RATS,
) -> list[GapRecord]:
    """One :class:`GapRecord` per village, in the villages' order.

    ``carriers`` and ``rats`` list every carrier and technology the run is about (a carrier with
    no tower of one of ``rats`` gets a ``gap`` mark for it, so gap lists are complete; a
    technology no tower in the run has, e.g. 2G in the sample, is left out rather than reported
    as a gap everywhere); ``services`` the computed rasters.
    """
    by_key = {(s.carrier, s.rat): s for s in services}
    records: list[GapRecord] = []
    for v in villages:
        marks: list[ServiceMark] = []
        for carrier in carriers:
            for rat in rats:
                s = by_key.get((carrier, rat))
                thr = rules.threshold_dbm[rat]
                if s is None or v.rows.size == 0:
                    marks.append(ServiceMark(carrier, rat, None, None, None, 0.0, 0.0, "gap"))
                    continue
                vals = s.best_dbm[v.rows, v.cols]
                srv = s.best_server[v.rows, v.cols]
                best, k, share, p = mark_service(vals, srv, thr, rules.sigma_db)
                cell = s.cell_ids[k] if k >= 0 else None
                marks.append(ServiceMark(carrier, rat, best, cell,
                                         site_of_cell.get(cell) if cell else None,
                                         share, p, status_of(p, rules)))
        bb = [m.status for m in marks if m.rat in BROADBAND_RATS]
        no_mobile = all(st == "gap" for st in bb)
        weak = not no_mobile and "covered" not in bb
        if has_fiber_layer:
            fd = v.fiber_distance_m
            no_fiber = fd is None or fd > rules.fiber_max_distance_m
        else:
            fd, no_fiber = None, None
        records.append(GapRecord(
            village_id=v.village_id, name=v.name, lon=v.lon, lat=v.lat, commune=v.commune,
            commune_code=v.commune_code, population=v.population, households=v.households,
            marks=tuple(marks), no_mobile=no_mobile, weak_mobile=weak, fiber_distance_m=fd,
            no_fiber=no_fiber, footprint_cells=int(v.rows.size), geometry=v.geometry,
        ))
    return records


def summarize(records: list[GapRecord], carriers: tuple[str, ...],
              rats: tuple[str, ...] = RATS) -> dict:
    """The headline counts: totals, per carrier and technology, and the same per commune.

    Deterministic (sorted keys, integers) so the same inputs give the same ``summary.json``.
    """

    def block(recs: list[GapRecord]) -> dict:
        out: dict = {
            "villages_total": len(recs),
            "villages_no_mobile": sum(r.no_mobile for r in recs),
            "villages_weak_mobile": sum(r.weak_mobile for r in recs),
            "population_no_mobile": sum((r.population or 0) for r in recs if r.no_mobile),
        }
        if any(r.no_fiber is not None for r in recs) or not recs:
            out["villages_no_fiber"] = sum(bool(r.no_fiber) for r in recs)
        per: dict = {}
        for c in carriers:
            d: dict = {}
            for rat in rats:
                st = [r.mark(c, rat).status for r in recs]  # type: ignore[union-attr]
                d[rat.lower()] = {"gap": st.count("gap"), "marginal": st.count("marginal"),
                                  "covered": st.count("covered")}
            d["broadband_gap"] = sum(r.carrier_status(c) == "gap" for r in recs)
            d["broadband_not_covered"] = sum(r.carrier_status(c) != "covered" for r in recs)
            per[c] = d
        out["carriers"] = per
        return out

    summary = block(records)
    communes: dict[str, list[GapRecord]] = {}
    for r in records:
        if r.commune:
            communes.setdefault(r.commune, []).append(r)
    if communes:
        summary["communes"] = {name: block(recs) for name, recs in sorted(communes.items())}
    return summary
