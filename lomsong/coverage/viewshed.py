"""Viewshed of one or many observers on a metric :class:`~lomsong.coverage.models.DemGrid`.

The result follows ``gdal_viewshed``'s conventions so the two can be diffed cell for cell: a
uint8 raster on the DEM's own grid (same cell size and origin), 255 visible, 0 invisible or
beyond the radius, clipped to the box of the radius around the observer.  The terrain model is
GRASS ``r.viewshed``'s (see :mod:`lomsong.coverage._kernels.viewshed`), so on the same DEM the
result agrees with ``r.viewshed -c -r -b`` to within floating-point ties.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from affine import Affine

from lomsong.coverage.errors import InvalidInputError
from lomsong.coverage.models import DemGrid

#: WGS 84 semi-major axis: the earth radius GRASS (``-c``) and GDAL (``-cc``) use on UTM grids.
WGS84_A_M = 6378137.0
#: GDAL's ``-cc`` for the standard radio atmosphere (k = 4/3): 1 - refraction coefficient 0.25.
DEFAULT_CURVATURE_COEFF = 0.75
DEFAULT_TARGET_HEIGHT_M = 1.5
#: Largest radius, in cells, we build a sweep for (the shared geometry takes ~24 B per disc
#: cell, 12.6 M cells at 2000: ~300 MB while it is built).  Coarsen the DEM for longer radii.
MAX_RADIUS_CELLS = 2000

VISIBLE = 255
INVISIBLE = 0


@dataclass(frozen=True, slots=True)
class ViewshedResult:
    """Visibility from one observer on a window of the DEM grid.

    ``visible`` is uint8, 255 visible and 0 invisible or beyond ``radius_m``; its cell (0, 0) is
    DEM cell (``row_off``, ``col_off``) and ``transform`` places it on the map.
    """

    visible: np.ndarray
    transform: Affine
    crs: str
    row_off: int
    col_off: int
    observer_row: int
    observer_col: int
    observer_x: float
    observer_y: float
    observer_height_m: float
    target_height_m: float
    radius_m: float
    curvature_coeff: float

    @property
    def visible_mask(self) -> np.ndarray:
        return self.visible == VISIBLE


@dataclass(frozen=True, slots=True)
class SweepGeometry:
    """Event codes in sweep order, first event of each octant, cells active at angle 0.

    About 24 bytes per cell of the radius disc: 3.7 MB for 20 km at 90 m (155 k cells), 300 MB
    at the largest radius allowed (2000 cells, 12.6 M cells).
    """

    events: np.ndarray
    octant_start: np.ndarray
    start: np.ndarray
    radius_cells: int


class SweepKernels(NamedTuple):
    disc_events: Callable
    viewshed_sweep: Callable
    ahead_of_time: bool  # True: the compiled extension; False: Numba's JIT


@lru_cache(maxsize=1)
def sweep_kernels() -> SweepKernels:
    """The kernels, compiled ahead of time when that module builds and loads (no Numba import,
    ~1 s faster start; see :mod:`lomsong.coverage._kernels.aot`), else the same functions
    through Numba's JIT.  Both release the GIL; their results are identical (tested)."""
    from lomsong.coverage._kernels.aot import load_viewshed

    aot = load_viewshed()
    if aot is not None:
        return SweepKernels(aot.disc_events, aot.viewshed_sweep, True)
    from lomsong.coverage._kernels.viewshed import disc_events, viewshed_sweep

    return SweepKernels(disc_events, viewshed_sweep, False)


#: Sweep geometries of this size are kept on disk beside the compiled kernel (a 20 km radius
#: at 90 m: 3.7 MB, ~70 ms to build, ~3 ms to read); smaller ones rebuild in a few ms and are
#: not worth a file each, larger ones would fill the cache.
GEOMETRY_CACHE_BYTES = (1 * 2**20, 64 * 2**20)


@lru_cache(maxsize=8)
def sweep_geometry(cell_m: float, radius_m: float) -> SweepGeometry:
    """The sweep's event order for this cell size and radius, shared by every observer.

    Kept in memory per process and, with the compiled kernel, on disk per machine: one
    int64 array ``[radius_cells, n_start, octant_start (9), start..., events...]``.
    """
    kernels = sweep_kernels()
    path = None
    if kernels.ahead_of_time:
        from lomsong.coverage._kernels.aot import geometry_path, mark_used, prune

        path = geometry_path(cell_m, radius_m)
        try:
            packed = np.load(path, allow_pickle=False)
            n_start = int(packed[1])
            events = packed[11 + n_start:]
            if packed.dtype != np.int64 or not 0 <= n_start or packed[10] != events.size:
                raise ValueError("inconsistent geometry file")
            mark_used(path)
            return _frozen(events, packed[2:11], packed[11:11 + n_start], int(packed[0]))
        except (OSError, ValueError, IndexError):
            pass  # not there yet (or damaged): build it and write it again
    key, code, octant, start, radius_cells = kernels.disc_events(cell_m, radius_m)
    order = np.argsort(key)  # numpy's sort is ~2x numba's here
    events = code[order]
    octant_start = np.searchsorted(octant[order], np.arange(9)).astype(np.int64)
    if path is not None and GEOMETRY_CACHE_BYTES[0] <= events.nbytes <= GEOMETRY_CACHE_BYTES[1]:
        packed = np.concatenate([np.array([radius_cells, len(start)], np.int64), octant_start,
                                 start, events])
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, packed, allow_pickle=False)
            os.replace(tmp, path)
            prune()
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only cache only costs the rebuild
    return _frozen(events, octant_start, start, int(radius_cells))


def _frozen(events, octant_start, start, radius_cells: int) -> SweepGeometry:
    geo = SweepGeometry(*(np.ascontiguousarray(a, dtype=np.int64)
                          for a in (events, octant_start, start)), radius_cells)
    for arr in (geo.events, geo.octant_start, geo.start):
        arr.flags.writeable = False
    return geo


def _check_params(observer_height_m, target_height_m, radius_m, curvature_coeff, cell_m):
    problems = []
    for name, value in (("observer_height_m", observer_height_m),
                        ("target_height_m", target_height_m)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            problems.append(f"{name}={value!r}: must be a finite number of metres >= 0")
    if not (isinstance(radius_m, (int, float)) and math.isfinite(radius_m) and radius_m > 0):
        problems.append(f"radius_m={radius_m!r}: must be a finite number of metres > 0")
    elif radius_m / cell_m > MAX_RADIUS_CELLS:
        problems.append(
            f"radius_m={radius_m!r}: {radius_m / cell_m:.0f} cells of {cell_m:g} m, more than "
            f"{MAX_RADIUS_CELLS}; use a coarser DEM (--resolution) or a smaller radius")
    if not (isinstance(curvature_coeff, (int, float)) and math.isfinite(curvature_coeff)
            and curvature_coeff >= 0):
        problems.append(f"curvature_coeff={curvature_coeff!r}: must be a finite number >= 0 "
                        "(1 - refraction coefficient; 0 ignores the earth's curvature)")
    if problems:
        raise InvalidInputError("; ".join(problems), problems)


def _check_dem(dem: DemGrid) -> None:
    t = dem.transform
    if not (t.b == 0 and t.d == 0 and t.a > 0 and math.isclose(t.a, -t.e, rel_tol=1e-9)):
        raise InvalidInputError(
            f"{dem.source or 'DEM'}: grid must be north-up with square cells, got transform "
            f"{tuple(t)[:6]}")


def observer_cell(dem: DemGrid, x: float, y: float, *, label: str = "observer") -> tuple[int, int]:
    """Row and column of the DEM cell holding (x, y); error naming the point if it is outside."""
    if not (math.isfinite(x) and math.isfinite(y)) or not dem.contains(x, y):
        left, bottom, right, top = dem.bounds
        src = f" {dem.source}" if dem.source else ""
        raise InvalidInputError(
            f"{label}: x={x}, y={y} is outside the DEM{src} "
            f"(bounds {left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f} in {dem.crs})")
    return dem.rowcol(x, y)


def viewshed(
    dem: DemGrid,
    x: float,
    y: float,
    *,
    observer_height_m: float,
    radius_m: float,
    target_height_m: float = DEFAULT_TARGET_HEIGHT_M,
    curvature_coeff: float = DEFAULT_CURVATURE_COEFF,
    earth_radius_m: float = WGS84_A_M,
) -> ViewshedResult:
    """Cells visible from an observer at map point (x, y) in the DEM's CRS.

    Parameters
    ----------
    dem
        Metric, north-up grid with square cells and no voids.
    x, y
        Observer position; the observer stands on the centre of the cell holding it.
    observer_height_m, target_height_m
        Heights above the ground of the antenna (eye) and of the target (a handset).
    radius_m
        Cells whose centre is farther than this from the observer's cell centre are 0.
    curvature_coeff
        GDAL's ``-cc``: 1 - refraction coefficient (0.75 = k 4/3; 0 = flat earth).
    earth_radius_m
        Radius the curvature is computed with (the CRS ellipsoid's semi-major axis).
    """
    return viewshed_many(dem, [(x, y)], observer_height_m=observer_height_m, radius_m=radius_m,
                         target_height_m=target_height_m, curvature_coeff=curvature_coeff,
                         earth_radius_m=earth_radius_m, workers=1)[0]


def viewshed_many(
    dem: DemGrid,
    points: Sequence[tuple[float, float]],
    *,
    observer_height_m: float,
    radius_m: float,
    target_height_m: float = DEFAULT_TARGET_HEIGHT_M,
    curvature_coeff: float = DEFAULT_CURVATURE_COEFF,
    earth_radius_m: float = WGS84_A_M,
    workers: int | None = None,
    labels: Sequence[str] | None = None,
) -> list[ViewshedResult]:
    """Viewsheds of many observers sharing one DEM, radius and heights, in input order.

    The sweep order depends only on cell size and radius, so it is built once for all of them.
    The kernel releases the GIL: ``workers`` threads (default: the CPU count, at most the number
    of observers) run observers side by side.  Every point is checked before any is computed.
    ``labels`` name the points in error messages (e.g. ``obs.csv row 4``).
    """
    results: list[ViewshedResult | None] = [None] * len(points)

    def keep(k: int, result: ViewshedResult) -> None:
        results[k] = result

    for_each_viewshed(dem, points, keep, observer_height_m=observer_height_m,
                      radius_m=radius_m, target_height_m=target_height_m,
                      curvature_coeff=curvature_coeff, earth_radius_m=earth_radius_m,
                      workers=workers, labels=labels)
    return results  # type: ignore[return-value]


def for_each_viewshed(
    dem: DemGrid,
    points: Sequence[tuple[float, float]],
    fn: Callable[[int, ViewshedResult], None],
    *,
    observer_height_m: float,
    radius_m: float,
    target_height_m: float = DEFAULT_TARGET_HEIGHT_M,
    curvature_coeff: float = DEFAULT_CURVATURE_COEFF,
    earth_radius_m: float = WGS84_A_M,
    workers: int | None = None,
    labels: Sequence[str] | None = None,
) -> None:
    """As :func:`viewshed_many`, but hand each result to ``fn(k, result)`` as soon as it is
    computed, in the worker thread that computed it, and keep none.

    Writing a result from ``fn`` then overlaps the other threads' sweeps, and memory stays at
    one result per thread however many observers there are.  ``fn`` must be thread-safe; an
    exception it raises stops the observers not yet started and is raised here.
    """
    _check_dem(dem)
    cell_m = dem.cell_m
    _check_params(observer_height_m, target_height_m, radius_m, curvature_coeff, cell_m)
    if not (math.isfinite(earth_radius_m) and earth_radius_m > 0):
        raise InvalidInputError(f"earth_radius_m={earth_radius_m!r}: must be > 0")
    cells = []
    problems = []
    for k, (x, y) in enumerate(points):
        label = labels[k] if labels is not None else ("observer" if len(points) == 1
                                                      else f"observer {k}")
        try:
            cells.append(observer_cell(dem, float(x), float(y), label=label))
        except InvalidInputError as exc:
            problems.extend(exc.problems)
    if problems:
        if len(problems) == 1:
            raise InvalidInputError(problems[0])
        raise InvalidInputError.from_problems(dem.source or "observers", problems)

    elev = np.ascontiguousarray(dem.elevation_m, dtype=np.float32)
    geo = sweep_geometry(float(cell_m), float(radius_m))
    rc = geo.radius_cells  # the disc's own extent: the output box must hold every disc cell
    nrows, ncols = elev.shape
    window = rc + 1  # corners of the outermost cells read one cell further
    for k, (r, c) in enumerate(cells):
        sub = elev[max(r - window, 0):r + window + 1, max(c - window, 0):c + window + 1]
        if not np.isfinite(sub).all():
            label = labels[k] if labels is not None else f"observer at row {r}, col {c}"
            raise InvalidInputError(
                f"{dem.source or 'DEM'}: {int((~np.isfinite(sub)).sum())} cells without "
                f"elevation within the radius of {label}; fill voids first (read_dem does)")
    curv_per_m = float(curvature_coeff) / (2.0 * float(earth_radius_m))

    viewshed_sweep = sweep_kernels().viewshed_sweep

    def one(k: int) -> ViewshedResult:
        r, c = cells[k]
        r0, c0 = max(r - rc, 0), max(c - rc, 0)
        r1, c1 = min(r + rc + 1, nrows), min(c + rc + 1, ncols)
        vis = viewshed_sweep(elev, r, c, float(observer_height_m), float(target_height_m),
                             float(cell_m), curv_per_m, r0, c0, r1 - r0, c1 - c0,
                             geo.events, geo.octant_start, geo.start, geo.radius_cells)
        x, y = points[k]
        return ViewshedResult(
            visible=vis, transform=dem.transform @ Affine.translation(c0, r0), crs=dem.crs,
            row_off=r0, col_off=c0, observer_row=r, observer_col=c, observer_x=float(x),
            observer_y=float(y), observer_height_m=float(observer_height_m),
            target_height_m=float(target_height_m), radius_m=float(radius_m),
            curvature_coeff=float(curvature_coeff))

    def one_to_fn(k: int) -> None:
        fn(k, one(k))

    n = len(cells)
    if workers is None:
        import os

        workers = min(os.cpu_count() or 1, n)
    if workers <= 1 or n <= 1:
        for k in range(n):
            one_to_fn(k)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one_to_fn, k) for k in range(n)]
        try:
            for f in futures:
                f.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def in_radius_mask(result: ViewshedResult, cell_m: float) -> np.ndarray:
    """Cells of ``result``'s window whose centre lies within its radius (observer included)."""
    rows, cols = result.visible.shape
    dr = (np.arange(rows) + result.row_off - result.observer_row)[:, None] * cell_m
    dc = (np.arange(cols) + result.col_off - result.observer_col)[None, :] * cell_m
    return np.sqrt(dc * dc + dr * dr) <= result.radius_m
