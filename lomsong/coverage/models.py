"""Frozen dataclasses that cross module boundaries.

Units are in the names (``_m``, ``_db``, ``_dbm``, ``_mhz``, ``_deg``).  Arrays are indexed
``row, col`` with row 0 at the top (north); map coordinates are ``x, y`` in the grid's CRS.
A raster is always array + affine transform + CRS in one object (never an ndarray subclass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from affine import Affine

#: Radio access technologies, by generation.  Input may say GSM/UMTS/LTE/NR or 2G..5G.
RATS = ("2G", "3G", "4G", "5G")
#: Technologies that count as "mobile broadband" for the lõm sóng definition.
BROADBAND_RATS = ("3G", "4G", "5G")
CARRIERS = ("Viettel", "VinaPhone", "MobiFone", "Vietnamobile", "Gmobile")


@dataclass(frozen=True, slots=True)
class DemGrid:
    """A terrain grid on a metric CRS with square cells.

    ``elevation_m`` is float32 metres, voids already filled.  ``void_mask`` marks the cells that
    were voids in the source (filled by interpolation), so results there can be flagged.
    """

    elevation_m: np.ndarray
    transform: Affine
    crs: str
    void_mask: np.ndarray | None = None
    voids_filled: int = 0
    source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.elevation_m.shape  # type: ignore[return-value]

    @property
    def cell_m(self) -> float:
        """Cell size in metres (cells are square on a metric grid)."""
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid CRS."""
        rows, cols = self.shape
        left, top = self.transform.c, self.transform.f
        right = left + cols * self.transform.a
        bottom = top + rows * self.transform.e
        return (left, bottom, right, top)

    def rowcol_float(self, x: float, y: float) -> tuple[float, float]:
        """Fractional (row, col) of a map point, such that the centre of cell (r, c) is (r, c)."""
        col, row = ~self.transform @ (x, y)
        return row - 0.5, col - 0.5

    def rowcol(self, x: float, y: float) -> tuple[int, int]:
        """Integer (row, col) of the cell holding map point (x, y)."""
        col, row = ~self.transform @ (x, y)
        return int(math.floor(row)), int(math.floor(col))

    def xy(self, row: float, col: float) -> tuple[float, float]:
        """Map coordinates of the centre of cell (row, col)."""
        x, y = self.transform @ (col + 0.5, row + 0.5)
        return float(x), float(y)

    def contains(self, x: float, y: float) -> bool:
        left, bottom, right, top = self.bounds
        return left <= x < right and bottom < y <= top

    def window(self, row0: int, col0: int, rows: int, cols: int) -> DemGrid:
        """A sub-grid (clipped to the grid) starting at (row0, col0); shares no memory."""
        r0, c0 = max(row0, 0), max(col0, 0)
        r1 = min(row0 + rows, self.shape[0])
        c1 = min(col0 + cols, self.shape[1])
        vm = None if self.void_mask is None else self.void_mask[r0:r1, c0:c1].copy()
        return DemGrid(
            elevation_m=self.elevation_m[r0:r1, c0:c1].copy(),
            transform=self.transform @ Affine.translation(c0, r0),
            crs=self.crs,
            void_mask=vm,
            voids_filled=int(vm.sum()) if vm is not None else 0,
            source=self.source,
        )

    def radius_window(self, x: float, y: float, radius_m: float) -> tuple[DemGrid, int, int]:
        """The sub-grid covering a disc of ``radius_m`` around (x, y), and its (row, col) offset."""
        r, c = self.rowcol(x, y)
        n = int(math.ceil(radius_m / self.cell_m)) + 1
        sub = self.window(r - n, c - n, 2 * n + 1, 2 * n + 1)
        return sub, max(r - n, 0), max(c - n, 0)


@dataclass(frozen=True, slots=True)
class Tower:
    """One radiating cell (sector) of a carrier's site, with every radio parameter resolved.

    ``x``/``y`` are in the metric CRS of the DEM it is used with.  ``defaulted`` names the fields
    that came from per-technology defaults rather than the input file.
    """

    cell_id: str
    site_id: str
    carrier: str
    rat: str
    lon: float
    lat: float
    x: float
    y: float
    height_m: float
    eirp_dbm: float
    frequency_mhz: float
    bandwidth_mhz: float
    azimuth_deg: float | None = None  # None = omnidirectional
    beamwidth_deg: float = 65.0
    vertical_beamwidth_deg: float = 10.0
    tilt_deg: float = 0.0
    radius_m: float = 20000.0
    source_row: int = 0
    illustrative: bool = False
    defaulted: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class CoverageRaster:
    """A float32 raster on (a window of) a DEM grid; NaN where not computed.

    ``quantity`` says what the values are: ``path_loss_db``, ``rx_dbm`` (the per-RAT phone
    figure: RSRP for LTE/NR, RSCP for UMTS, RxLev for GSM), ``best_dbm``...
    """

    values: np.ndarray
    transform: Affine
    crs: str
    quantity: str
    row_off: int = 0
    col_off: int = 0


@dataclass(frozen=True, slots=True)
class ServiceRasters:
    """Best signal and best server over the full DEM grid for one carrier and technology.

    ``best_dbm`` is float32 (NaN where no cell reaches); ``best_server`` is int32 index into
    ``cell_ids`` (-1 where none).
    """

    carrier: str
    rat: str
    best_dbm: np.ndarray
    best_server: np.ndarray
    cell_ids: tuple[str, ...]
    transform: Affine
    crs: str
