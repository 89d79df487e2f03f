"""Received signal per tower, and best signal / best server per carrier and technology.

What a phone reports, in dBm, for a handset at ``rx_height_m`` (1.5 m) with a 0 dBi antenna and
no body or clutter loss::

    rx = EIRP + reference_offset(rat, bandwidth) + A(phi, theta) - L_path

* ``EIRP`` (:attr:`Tower.eirp_dbm`): total carrier power plus peak antenna gain less feeder
  loss, at boresight.
* ``reference_offset`` (:func:`reference_offset_db`): the share of that power the phone measures.
  LTE RSRP and NR SS-RSRP are per resource element: ``-10 log10(12 N_RB)``, assuming the
  reference signal has the average power of a resource element (no boost), with ``N_RB`` the
  maximum transmission bandwidth configuration of 3GPP TS 36.101 Table 5.6-1 (LTE) and
  TS 38.101-1 Table 5.3.2-1 at 30 kHz subcarrier spacing (NR FR1).  UMTS RSCP is the CPICH,
  conventionally 10 % of the cell's total power: -10 dB (Holma & Toskala, *WCDMA for UMTS*,
  radio network planning chapter: CPICH about 2 W of a 20 W carrier).  GSM RxLev is the BCCH
  carrier, which is sent continuously at constant power without power control (3GPP TS 45.008):
  0 dB.
* ``A(phi, theta)``: the sector pattern of :mod:`lomsong.coverage.antenna`, with the bearing
  measured from grid north of the DEM's CRS (UTM meridian convergence, about 0.3 degrees around
  Thái Nguyên, is ignored) and the depression angle from the antenna to the handset computed
  from the terrain heights on an Earth of effective radius 4/3 a.
* ``L_path``: the chosen path loss model (:mod:`lomsong.coverage.pathloss`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from lomsong.coverage import pathloss as _pl
from lomsong.coverage._kernels import radial as _rk
from lomsong.coverage.antenna import A_MAX_DB, SLA_V_DB
from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.models import CoverageRaster, DemGrid, ServiceRasters, Tower

#: 3GPP TS 36.101 Table 5.6-1: channel bandwidth (MHz) -> N_RB.
LTE_N_RB = {1.4: 6, 3.0: 15, 5.0: 25, 10.0: 50, 15.0: 75, 20.0: 100}
#: 3GPP TS 38.101-1 Table 5.3.2-1, SCS 30 kHz: channel bandwidth (MHz) -> N_RB.
NR_N_RB_30KHZ = {5.0: 11, 10.0: 24, 15.0: 38, 20.0: 51, 25.0: 65, 30.0: 78, 35.0: 92,
                 40.0: 106, 45.0: 119, 50.0: 133, 60.0: 162, 70.0: 189, 80.0: 217, 90.0: 245,
                 100.0: 273}
#: UMTS CPICH share of the total carrier power (10 %).
UMTS_CPICH_OFFSET_DB = -10.0
#: GSM BCCH carrier at full power.
GSM_BCCH_OFFSET_DB = 0.0

#: What each RAT's phone figure is called (the ``quantity`` of per-tower rasters is ``rx_dbm``).
MEASURE = {"2G": "RxLev", "3G": "RSCP", "4G": "RSRP", "5G": "SS-RSRP"}
_RAT_ALIASES = {"GSM": "2G", "UMTS": "3G", "WCDMA": "3G", "LTE": "4G", "NR": "5G",
                "2G": "2G", "3G": "3G", "4G": "4G", "5G": "5G"}


def normalise_rat(rat: str) -> str:
    """``GSM/UMTS/LTE/NR`` or ``2G..5G`` to ``2G..5G``."""
    key = str(rat).strip().upper()
    if key not in _RAT_ALIASES:
        raise InvalidInputError(f"rat={rat!r}, must be one of GSM, UMTS, LTE, NR or 2G..5G")
    return _RAT_ALIASES[key]


def _lookup_n_rb(table: dict[float, int], bandwidth_mhz: float) -> int | None:
    for bw, n in table.items():
        if math.isclose(bw, bandwidth_mhz, abs_tol=1e-6):
            return n
    return None


def reference_offset_db(rat: str, bandwidth_mhz: float, *, where: str = "") -> float:
    """dB from total EIRP to the power the phone reports (see the module docstring)."""
    rat = normalise_rat(rat)
    if rat == "2G":
        return GSM_BCCH_OFFSET_DB
    if rat == "3G":
        return UMTS_CPICH_OFFSET_DB
    table = LTE_N_RB if rat == "4G" else NR_N_RB_30KHZ
    n_rb = _lookup_n_rb(table, bandwidth_mhz)
    if n_rb is None:
        std = "TS 36.101" if rat == "4G" else "TS 38.101-1 (30 kHz SCS)"
        allowed = ", ".join(f"{b:g}" for b in table)
        raise InvalidInputError(
            f"{where}bandwidth_mhz={bandwidth_mhz:g}, not a {rat} channel bandwidth of {std}: "
            f"{allowed}"
        )
    return -10.0 * math.log10(12.0 * n_rb)


def _where(t: Tower) -> str:
    return f"tower {t.cell_id} (input row {t.source_row}): "


def check_towers(dem: DemGrid, towers: Iterable[Tower], model: str = "p526",
                 rx_height_m: float = _pl.DEFAULT_RX_HEIGHT_M) -> list[str]:
    """Every problem that would stop a tower from being computed (empty list: all usable)."""
    spec = _pl.get_model(model)
    problems: list[str] = []
    for t in towers:
        w = _where(t)
        problems += _pl.check_link(spec, t.frequency_mhz, t.height_m, rx_height_m, t.radius_m,
                                   where=w)
        try:
            reference_offset_db(t.rat, t.bandwidth_mhz, where=w)
        except InvalidInputError as exc:
            problems.append(str(exc) if str(exc).startswith(w) else w + str(exc))
        if not (math.isfinite(t.x) and math.isfinite(t.y) and dem.contains(t.x, t.y)):
            problems.append(f"{w}x={t.x:.1f}, y={t.y:.1f} (lon {t.lon:.5f}, lat {t.lat:.5f}) "
                            "is outside the DEM")
        if not (t.beamwidth_deg > 0 and t.vertical_beamwidth_deg > 0):
            problems.append(f"{w}beamwidth_deg={t.beamwidth_deg:g}, vertical_beamwidth_deg="
                            f"{t.vertical_beamwidth_deg:g}, must be > 0")
    return problems


def _site_loss(dem: DemGrid, tower: Tower, spec: _pl.PathLossModel, params: np.ndarray,
               rx_height_m: float):
    """Path loss on the tower's radius window: what every sector of one mast shares."""
    sub, row_off, col_off = dem.radius_window(tower.x, tower.y, tower.radius_m)
    row_t, col_t = sub.rowcol_float(tower.x, tower.y)
    loss, ground_m = _pl.radial_loss(sub.elevation_m, row_t, col_t, dem.cell_m, tower.radius_m,
                                     spec, tower.height_m, rx_height_m,
                                     tower.frequency_mhz, params)
    return sub, row_off, col_off, row_t, col_t, loss, ground_m


def _rx_from_loss(dem: DemGrid, tower: Tower, site, rx_height_m: float) -> CoverageRaster:
    sub, row_off, col_off, row_t, col_t, loss, ground_m = site
    offset = reference_offset_db(tower.rat, tower.bandwidth_mhz, where=_where(tower))
    azimuth = math.nan if tower.azimuth_deg is None else float(tower.azimuth_deg)
    rx = _rk.rx_power_window(
        loss, sub.elevation_m, row_t, col_t, dem.cell_m, ground_m + tower.height_m, rx_height_m,
        tower.eirp_dbm + offset, azimuth, tower.beamwidth_deg, tower.tilt_deg,
        tower.vertical_beamwidth_deg, A_MAX_DB, SLA_V_DB, _pl.DEFAULT_K_FACTOR,
    )
    return CoverageRaster(values=rx, transform=sub.transform, crs=dem.crs, quantity="rx_dbm",
                          row_off=row_off, col_off=col_off)


def _received_power(dem: DemGrid, tower: Tower, spec: _pl.PathLossModel, params: np.ndarray,
                    rx_height_m: float) -> CoverageRaster:
    return _rx_from_loss(dem, tower, _site_loss(dem, tower, spec, params, rx_height_m),
                         rx_height_m)


def _loss_key(t: Tower) -> tuple:
    """Cells with the same mast position, height, frequency and radius share one path loss."""
    return (t.x, t.y, t.height_m, t.frequency_mhz, t.radius_m)


def received_power(dem: DemGrid, tower: Tower, *, model: str = "p526",
                   rx_height_m: float = _pl.DEFAULT_RX_HEIGHT_M,
                   **options: object) -> CoverageRaster:
    """The phone's figure (RxLev / RSCP / RSRP / SS-RSRP, dBm) from one cell, within its radius.

    Float32 on the tower's radius window of the DEM (``row_off``/``col_off`` place it), NaN
    outside ``tower.radius_m``.

    Raises
    ------
    InvalidInputError
        The tower cannot be computed (see :func:`check_towers`), or a model option is bad.
    """
    problems = check_towers(dem, [tower], model, rx_height_m)
    if problems:
        raise InvalidInputError.from_problems("towers", problems)
    spec = _pl.get_model(model)
    return _received_power(dem, tower, spec, spec.build_params(**options), rx_height_m)


def best_server(dem: DemGrid, towers: Sequence[Tower], *, model: str = "p526",
                rx_height_m: float = _pl.DEFAULT_RX_HEIGHT_M,
                progress: Callable[[float], None] | None = None,
                workers: int | None = None,
                **options: object) -> ServiceRasters:
    """Best signal and best server over the whole DEM for the cells of one carrier and RAT.

    ``towers`` must all share one carrier and one RAT (GSM/UMTS/LTE/NR and 2G..5G are the
    same); they take part in the given order, ``cell_ids`` lists them and ``best_server``
    indexes it (-1 where no cell reaches, as ``best_dbm`` is NaN there).  A tie keeps the
    earlier cell.  Each tower is computed on its radius window and folded into the running
    best, so memory is two full-grid rasters plus one window.  All towers are checked before
    any is computed and every problem is reported at once.  ``progress(fraction)`` is called
    as towers complete.  ``workers`` threads compute masts in parallel (default: the CPU count;
    1 computes in the caller's thread).
    """
    if not towers:
        raise InvalidInputError("towers: none given for best_server; need at least one cell")
    groups = {(t.carrier, normalise_rat(t.rat)) for t in towers}
    if len(groups) != 1:
        raise InvalidInputError(
            "towers: best_server needs one carrier and technology, got "
            + ", ".join(f"{c} {r}" for c, r in sorted(groups))
        )
    carrier, rat = groups.pop()
    problems = check_towers(dem, towers, model, rx_height_m)
    if problems:
        raise InvalidInputError.from_problems("towers", problems)
    spec = _pl.get_model(model)
    params = spec.build_params(**options)
    best = np.full(dem.shape, np.nan, dtype=np.float32)
    server = np.full(dem.shape, -1, dtype=np.int32)
    # The sectors of one mast share its path loss (computed once), and masts are computed on
    # ``workers`` threads: the kernels are nopython + nogil and never run parallel=True, so
    # threads are safe with any Numba threading layer.  Folding is deterministic whatever the
    # completion order: a tie keeps the lower cell index.
    sites: dict[tuple, list[int]] = {}
    for i, t in enumerate(towers):
        sites.setdefault(_loss_key(t), []).append(i)

    def compute(idx: list[int]) -> list[tuple[int, CoverageRaster]]:
        site = _site_loss(dem, towers[idx[0]], spec, params, rx_height_m)
        return [(i, _rx_from_loss(dem, towers[i], site, rx_height_m)) for i in idx]

    def fold(results: list[tuple[int, CoverageRaster]]) -> None:
        for i, r in results:
            h, w = r.values.shape
            win = (slice(r.row_off, r.row_off + h), slice(r.col_off, r.col_off + w))
            cur = best[win]
            srv = server[win]
            better = r.values > cur  # NaN compares False on either side
            better |= np.isnan(cur) & ~np.isnan(r.values)
            better |= (r.values == cur) & (i < srv)
            cur[better] = r.values[better]
            srv[better] = i

    done = 0
    groups_in_order = list(sites.values())
    n_workers = max(1, min(workers if workers else (os.cpu_count() or 1), len(groups_in_order)))
    if n_workers == 1:
        results_iter = map(compute, groups_in_order)
        pool = None
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="lomsong-signal")
        results_iter = pool.map(compute, groups_in_order)
    try:
        for results in results_iter:
            fold(results)
            done += len(results)
            if progress is not None:
                progress(done / len(towers))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return ServiceRasters(carrier=carrier, rat=rat, best_dbm=best, best_server=server,
                          cell_ids=tuple(t.cell_id for t in towers), transform=dem.transform,
                          crs=dem.crs)


def service_rasters(dem: DemGrid, towers: Sequence[Tower], *, model: str = "p526",
                    rx_height_m: float = _pl.DEFAULT_RX_HEIGHT_M,
                    **options: object) -> dict[tuple[str, str], ServiceRasters]:
    """:func:`best_server` for every (carrier, RAT) present in ``towers``, keyed by that pair
    (cells in input order within each).

    All towers are checked first, so bad input is rejected whole before anything is computed.
    """
    problems = check_towers(dem, towers, model, rx_height_m)
    if problems:
        raise InvalidInputError.from_problems("towers", problems)
    groups: dict[tuple[str, str], list[Tower]] = {}
    for t in towers:
        groups.setdefault((t.carrier, normalise_rat(t.rat)), []).append(t)
    return {k: best_server(dem, groups[k], model=model, rx_height_m=rx_height_m, **options)
            for k in sorted(groups)}
