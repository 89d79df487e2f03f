"""Path loss maps around one transmitter: the model registry and :func:`path_loss_map`.

Models (``name``: what, frequency range accepted):

* ``p526`` (default): free space + ITU-R P.526-15 §4.5 Bullington diffraction over the real
  terrain profile, effective Earth radius factor ``k`` (default 4/3), 30-6000 MHz.
* ``fspl``: free space (ITU-R P.525), 1 MHz-100 GHz.
* ``hata``: Okumura-Hata, 150-1500 MHz; ``environment`` = ``urban`` (small/medium city, the
  default), ``large_city``, ``suburban`` or ``open`` (open/rural area).
* ``cost231``: COST-231-Hata, 1500-2000 MHz; same environments (``large_city`` = metropolitan
  centre, C_m = 3 dB).
* ``rma``: 3GPP TR 38.901 rural macro, 500-30000 MHz; ``building_height_m`` (5), ``street_width_m``
  (20), ``los`` = ``terrain`` (default: LOS where the terrain profile clears the line of sight),
  ``los`` or ``nlos``.
* ``itm``: registered by :mod:`lomsong.coverage.itm` when that module exists (see
  :func:`register_model`).

Every model is a per-ray kernel (contract in :mod:`lomsong.coverage._kernels.radial`), so every
model runs through the same ray geometry.  Frequency outside a model's range and non-positive
antenna heights are errors; heights and distances outside the range an empirical model was
fitted on are extrapolated with a logged warning (towers in Thái Nguyên are often 20-30 m,
below Hata's 30 m, and the useful radius is 20 km, beyond RMa's 10 km).
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from lomsong.coverage._kernels import pathloss as _pk
from lomsong.coverage._kernels import radial as _rk
from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.models import CoverageRaster, DemGrid

log = logging.getLogger(__name__)

#: ITU-R P.453: the standard atmosphere's median refractivity gradient gives k = 4/3.
DEFAULT_K_FACTOR = 4.0 / 3.0
#: Handset height above ground used throughout (3GPP TR 38.901 default h_UT = 1.5 m).
DEFAULT_RX_HEIGHT_M = 1.5

_ENVIRONMENTS = {
    "large_city": _pk.ENV_LARGE_CITY,
    "urban": _pk.ENV_URBAN,
    "suburban": _pk.ENV_SUBURBAN,
    "open": _pk.ENV_OPEN,
}
_RMA_LOS = {"terrain": _rk.RMA_LOS_TERRAIN, "los": _rk.RMA_LOS_ALWAYS, "nlos": _rk.RMA_LOS_NEVER}


@dataclass(frozen=True, slots=True)
class PathLossModel:
    """One path loss model: its per-ray kernel, its ranges and how to build its ``params``.

    ``frequency_mhz`` is enforced (outside it the model is not defined); the other ranges are the
    ones the model was fitted or validated on, outside which it is extrapolated with a warning.
    ``build_params(**options)`` turns keyword options into the float64 ``params`` array of
    ``ray_fn`` and raises :class:`InvalidInputError` on an unknown option or value.
    """

    name: str
    description: str
    ray_fn: Callable
    build_params: Callable[..., np.ndarray]
    frequency_mhz: tuple[float, float]
    tx_height_m: tuple[float, float] = (0.0, math.inf)
    rx_height_m: tuple[float, float] = (0.0, math.inf)
    distance_m: tuple[float, float] = (0.0, math.inf)
    source: str = ""
    options: tuple[str, ...] = field(default_factory=tuple)
    #: Optional ``ray_fn`` with a last argument ``need`` (uint8 per sample): evaluate only the
    #: samples some cell reads (:func:`~lomsong.coverage._kernels.radial.needed_samples`), NaN
    #: elsewhere.  For models whose cost is per sample, not per ray (ITM).
    ray_fn_need: Callable | None = None
    #: How a cell takes its value from its ray: False, linear between the two samples that
    #: bracket its distance; True, the nearest sample (one model evaluation per cell, as
    #: SPLAT! does per point; for ITM, a third fewer evaluations).
    nearest_sample: bool = False
    #: Optional: ``ray_fn`` (or, with ``need``, ``ray_fn_need``) over all rays in one compiled
    #: call, ``(dist, z, n_valid[, need], loss, tx_height, rx_height, frequency, params)``
    #: filling ``loss[ray, :n_valid[ray]]``; saves a Python dispatch per ray (1784 rays for
    #: 20 km at 90 m).  Must write exactly what the per-ray loop would.
    rays_fn: Callable | None = None
    rays_fn_need: Callable | None = None


def _unknown(name: str, options: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(options) - set(allowed))
    if extra:
        raise InvalidInputError(
            f"model {name}: unknown option(s) {', '.join(extra)}; accepted: {', '.join(allowed) or 'none'}"
        )


def _positive(name: str, key: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = math.nan
    if not (v > 0 and math.isfinite(v)):
        raise InvalidInputError(f"model {name}: {key}={value!r}, must be a positive number")
    return v


def _choice(name: str, key: str, value: object, table: Mapping[str, int]) -> int:
    if value not in table:
        raise InvalidInputError(
            f"model {name}: {key}={value!r}, must be one of {', '.join(table)}"
        )
    return table[value]  # type: ignore[index]


def _p526_params(**options: object) -> np.ndarray:
    _unknown("p526", options, ("k_factor",))
    k = _positive("p526", "k_factor", options.get("k_factor", DEFAULT_K_FACTOR))
    return np.array([k])


def _fspl_params(**options: object) -> np.ndarray:
    _unknown("fspl", options, ())
    return np.zeros(0)


def _hata_params(name: str) -> Callable[..., np.ndarray]:
    def build(**options: object) -> np.ndarray:
        _unknown(name, options, ("environment",))
        env = _choice(name, "environment", options.get("environment", "urban"), _ENVIRONMENTS)
        return np.array([float(env)])

    return build


def _rma_params(**options: object) -> np.ndarray:
    allowed = ("building_height_m", "street_width_m", "los", "k_factor")
    _unknown("rma", options, allowed)
    h = _positive("rma", "building_height_m", options.get("building_height_m", 5.0))
    w = _positive("rma", "street_width_m", options.get("street_width_m", 20.0))
    mode = _choice("rma", "los", options.get("los", "terrain"), _RMA_LOS)
    k = _positive("rma", "k_factor", options.get("k_factor", DEFAULT_K_FACTOR))
    return np.array([h, w, float(mode), k])


MODELS: dict[str, PathLossModel] = {}


def register_model(model: PathLossModel) -> None:
    """Add (or replace) a model in the registry; ITM registers itself this way on import."""
    MODELS[model.name] = model


#: Modules imported on the first lookup of a name not yet registered; each registers its own
#: model(s) with :func:`register_model` at import.  A module that does not exist is skipped.
PLUGIN_MODULES = ("lomsong.coverage.itm",)
_plugins_loaded = False


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for mod in PLUGIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise


def get_model(name: str) -> PathLossModel:
    """The registered model called ``name``; :class:`InvalidInputError` naming the choices."""
    if name not in MODELS:
        _load_plugins()
    if name not in MODELS:
        raise InvalidInputError(
            f"--model={name}: unknown path loss model; one of {', '.join(sorted(MODELS))}"
        )
    return MODELS[name]


def model_names() -> tuple[str, ...]:
    _load_plugins()
    return tuple(sorted(MODELS))


register_model(PathLossModel(
    name="p526", description="free space + ITU-R P.526-15 Bullington diffraction over terrain",
    ray_fn=_rk.p526_ray_loss_db, rays_fn=_rk.p526_rays, build_params=_p526_params,
    # P.526 sets no upper limit; P.1812, which uses this same Bullington construction, is
    # defined for 30 MHz-6 GHz, and 90 m terrain is meaningless for diffraction far above that.
    frequency_mhz=(30.0, 6000.0),
    source="ITU-R P.526-15 §4.5; P.525-4", options=("k_factor",),
))
register_model(PathLossModel(
    name="fspl", description="free-space path loss", ray_fn=_rk.fspl_ray_loss_db,
    build_params=_fspl_params, frequency_mhz=(1.0, 100000.0), source="ITU-R P.525-4",
))
register_model(PathLossModel(
    name="hata", description="Okumura-Hata (empirical, no terrain)", ray_fn=_rk.hata_ray_loss_db,
    build_params=_hata_params("hata"), frequency_mhz=(150.0, 1500.0),
    tx_height_m=(30.0, 200.0), rx_height_m=(1.0, 10.0), distance_m=(1000.0, 20000.0),
    source="Hata 1980, IEEE Trans. VT-29(3)", options=("environment",),
))
register_model(PathLossModel(
    name="cost231", description="COST-231-Hata (empirical, no terrain)",
    ray_fn=_rk.cost231_ray_loss_db, build_params=_hata_params("cost231"),
    frequency_mhz=(1500.0, 2000.0), tx_height_m=(30.0, 200.0), rx_height_m=(1.0, 10.0),
    distance_m=(1000.0, 20000.0), source="COST 231 final report (1999) §4.4.1",
    options=("environment",),
))
register_model(PathLossModel(
    name="rma", description="3GPP TR 38.901 rural macro (LOS from terrain)",
    ray_fn=_rk.rma_ray_loss_db, build_params=_rma_params, frequency_mhz=(500.0, 30000.0),
    tx_height_m=(10.0, 150.0), rx_height_m=(1.0, 10.0), distance_m=(10.0, 10000.0),
    source="3GPP TR 38.901 v17 Table 7.4.1-1",
    options=("building_height_m", "street_width_m", "los", "k_factor"),
))


def check_link(
    model: PathLossModel, frequency_mhz: float, tx_height_m: float, rx_height_m: float,
    radius_m: float, *, where: str = "",
) -> list[str]:
    """Problems that make a model unusable for this link (empty list: usable).

    ``where`` prefixes every message (e.g. ``"towers.csv row 4: "``); flag-style names are used
    so the CLI's messages name the flag.  Extrapolation beyond the fitted ranges only warns.
    """
    problems = []
    lo, hi = model.frequency_mhz
    if not (math.isfinite(frequency_mhz) and lo <= frequency_mhz <= hi):
        problems.append(
            f"{where}frequency_mhz={frequency_mhz:g}, model {model.name} accepts {lo:g}-{hi:g} MHz"
        )
    if not (math.isfinite(tx_height_m) and tx_height_m > 0):
        problems.append(f"{where}height_m={tx_height_m:g}, must be > 0")
    if not (math.isfinite(rx_height_m) and rx_height_m > 0):
        problems.append(f"{where}rx_height_m={rx_height_m:g}, must be > 0")
    if not (math.isfinite(radius_m) and radius_m > 0):
        problems.append(f"{where}radius_m={radius_m:g}, must be > 0")
    if problems:
        return problems
    for what, value, (a, b) in (
        ("height_m", tx_height_m, model.tx_height_m),
        ("rx_height_m", rx_height_m, model.rx_height_m),
        ("radius_m", radius_m, (0.0, model.distance_m[1])),
    ):
        key = (model.name, what, value)
        if not a <= value <= b and key not in _WARNED:
            _WARNED.add(key)  # once per value: a tower list repeats the same defaults
            log.warning("%s%s=%g is outside the %g-%g range model %s was fitted on; extrapolating",
                        where, what, value, a, b, model.name)
    return problems


_WARNED: set[tuple[str, str, float]] = set()


def radial_loss(
    elev_m: np.ndarray, row_t: float, col_t: float, cell_m: float, radius_m: float,
    spec: PathLossModel, tx_height_m: float, rx_height_m: float, frequency_mhz: float,
    params: np.ndarray, *, step_cells: float = 1.0, threads: int = 1,
) -> tuple[np.ndarray, float]:
    """Run a model's ray kernel over a grid window: rays out to ``radius_m``, then cells from
    rays (``spec`` says which kernel, whether only the samples cells read are evaluated, and
    how a cell takes its value from its ray).

    ``threads`` > 1 splits the rays (interleaved, so near and far work is shared alike) over
    that many threads when the model has an all-rays driver (``rays_fn`` / ``rays_fn_need``,
    which release the GIL); the result is the same bit for bit.  For one map at a time (the
    ``pathloss`` command); a batch that already runs masts side by side should keep 1.

    ``(row_t, col_t)`` is the transmitter's fractional position on ``elev_m`` (cell centres at
    integers).  Returns ``(loss_db, ground_m)``: float32 loss on ``elev_m``'s shape (NaN beyond
    the radius) and the bilinear ground height under the transmitter.  Peak memory is about
    ``2 * 8 * n_rays * n_samples`` bytes for profiles and losses (3.2 MB each for 20 km at 90 m)
    plus 20 bytes per window cell (the cell-to-sample map and the output).
    """
    radius_cells = radius_m / cell_m
    n_half = max(int(math.ceil(radius_cells)), 1)
    drow, dcol, _ = _rk.ray_offsets(n_half)
    n_samples = int(math.floor(radius_cells / step_cells)) + 2
    elev = np.ascontiguousarray(elev_m, dtype=np.float64)
    z, n_valid = _rk.sample_rays(elev, row_t, col_t, drow, dcol, step_cells, n_samples)
    dist = np.arange(n_samples, dtype=np.float64) * (step_cells * cell_m)
    loss = np.full_like(z, np.nan)
    rows, cols = elev.shape
    cells = _rk.cell_samples(n_valid, drow, dcol, row_t, col_t, step_cells, radius_cells, rows,
                             cols, spec.nearest_sample)
    need = None
    if spec.ray_fn_need is not None:
        need = _rk.needed_from(*cells, z.shape[0], n_samples)
    driver = spec.rays_fn if need is None else spec.rays_fn_need
    if driver is not None:
        radio = (tx_height_m, rx_height_m, frequency_mhz, params)
        _run_driver(driver, dist, z, n_valid, need, loss, radio, max(int(threads), 1))
    else:
        for ray in range(z.shape[0]):
            nv = int(n_valid[ray])
            if nv > 0:
                if need is None:
                    loss[ray, :nv] = spec.ray_fn(dist[:nv], z[ray, :nv], tx_height_m,
                                                 rx_height_m, frequency_mhz, params)
                elif need[ray, :nv].any():
                    loss[ray, :nv] = spec.ray_fn_need(dist[:nv], z[ray, :nv], tx_height_m,
                                                      rx_height_m, frequency_mhz, params,
                                                      need[ray, :nv])
    out = _rk.assign_from(loss, *cells)
    ground = float(z[0, 0]) if n_valid[0] > 0 else float(_rk._bilinear(elev, row_t, col_t))
    return out, ground


def _run_driver(driver: Callable, dist: np.ndarray, z: np.ndarray, n_valid: np.ndarray,
                need: np.ndarray | None, loss: np.ndarray, radio: tuple, threads: int) -> None:
    """An all-rays driver over every ray, on ``threads`` threads (rays interleaved)."""
    def rays(rows: slice | np.ndarray) -> tuple[np.ndarray, ...]:
        return (z[rows], n_valid[rows]) if need is None else (z[rows], n_valid[rows], need[rows])

    threads = min(threads, z.shape[0])
    if threads <= 1:
        driver(dist, *rays(slice(None)), loss, *radio)
        return
    from concurrent.futures import ThreadPoolExecutor

    def run(rows: np.ndarray) -> np.ndarray:
        part = np.full((rows.size, z.shape[1]), np.nan)
        driver(dist, *rays(rows), part, *radio)  # fancy indexing: contiguous copies
        return part

    groups = [np.arange(k, z.shape[0], threads) for k in range(threads)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lomsong-rays") as pool:
        for rows, part in zip(groups, pool.map(run, groups)):
            loss[rows] = part


def path_loss_map(
    dem: DemGrid, x: float, y: float, *, tx_height_m: float, frequency_mhz: float,
    radius_m: float, model: str = "p526", rx_height_m: float = DEFAULT_RX_HEIGHT_M,
    threads: int = 1, **options: object,
) -> CoverageRaster:
    """Basic transmission loss (dB) from a transmitter at map point (x, y) to every cell within
    ``radius_m``, on the DEM's own grid.

    The result covers the radius window of the DEM (``row_off``/``col_off`` place it on the full
    grid), float32, NaN outside the radius.  ``options`` go to the model (see module docstring).
    ``threads``: rays computed on that many threads (p526 and ITM; same result), for one map
    at a time.

    Raises
    ------
    InvalidInputError
        Unknown model or option, frequency outside the model's range, non-positive heights or
        radius, or (x, y) outside the DEM.
    """
    spec = get_model(model)
    problems = check_link(spec, frequency_mhz, tx_height_m, rx_height_m, radius_m)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        problems.append(f"threads={threads!r}: must be a whole number >= 1")
    if not dem.contains(x, y):
        left, bottom, right, top = dem.bounds
        problems.append(
            f"x={x:.1f}, y={y:.1f}: the transmitter is outside the DEM "
            f"(bounds {left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f})"
        )
    if problems:
        raise InvalidInputError.from_problems("path loss", problems)
    params = spec.build_params(**options)
    sub, row_off, col_off = dem.radius_window(x, y, radius_m)
    row_t, col_t = sub.rowcol_float(x, y)
    loss, _ = radial_loss(sub.elevation_m, row_t, col_t, dem.cell_m, radius_m, spec,
                          tx_height_m, rx_height_m, frequency_mhz, params, threads=threads)
    return CoverageRaster(values=loss, transform=sub.transform, crs=dem.crs,
                          quantity="path_loss_db", row_off=row_off, col_off=col_off)
