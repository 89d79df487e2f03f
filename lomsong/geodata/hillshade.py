"""Shaded relief from a metric DEM, for the web map's offline base layer.

The map must work with no internet, so instead of fetching basemap tiles it draws the terrain it
already has.  Slopes use Horn's (1981) 3x3 weights, the same as ``gdaldem hillshade`` (a peer test
compares the two); the shade is Lambert's cosine between the surface normal and a light from
``azimuth_deg`` (clockwise from north) at ``altitude_deg`` above the horizon.  Display only:
nothing here is used to compute coverage.
"""

from __future__ import annotations

import math

import numpy as np


def hillshade(
    elevation_m: np.ndarray,
    cell_m: float,
    *,
    azimuth_deg: float = 315.0,
    altitude_deg: float = 45.0,
    z_factor: float = 1.0,
) -> np.ndarray:
    """Shade in [0, 1] (float32, same shape) of a north-up grid with square ``cell_m`` cells.

    Row 0 is north.  The grid is padded by linear extrapolation (``2 * edge - inner``), so edge
    cells get a value and any plane shades the same everywhere, edges included; flat ground is
    ``sin(altitude)``.  The input is not modified.  Memory: about 100 bytes per cell of float64
    temporaries.
    """
    z = np.asarray(elevation_m, dtype=np.float64)
    if z.ndim != 2 or min(z.shape) < 1:
        raise ValueError(f"elevation_m: expected a 2-D grid, got shape {z.shape}")
    if not (cell_m > 0 and math.isfinite(cell_m)):
        raise ValueError(f"cell_m={cell_m}: must be a positive number of metres")
    p = np.pad(z, 1, mode="reflect", reflect_type="odd") if min(z.shape) >= 2 \
        else np.pad(z, 1, mode="edge")
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]  # north row
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]  # south row
    # Gradients towards east (x) and north (y), in metres of rise per metre.
    dz_dx = ((c + 2.0 * f + i) - (a + 2.0 * d + g)) / (8.0 * cell_m) * z_factor
    dz_dy = ((a + 2.0 * b + c) - (g + 2.0 * h + i)) / (8.0 * cell_m) * z_factor
    az = math.radians(azimuth_deg)
    alt = math.radians(altitude_deg)
    # Unit vector towards the light: x east, y north, z up.
    lx, ly, lz = math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt)
    # The surface normal is (-dz_dx, -dz_dy, 1) / norm.
    shade = (lz - lx * dz_dx - ly * dz_dy) / np.sqrt(1.0 + dz_dx * dz_dx + dz_dy * dz_dy)
    return np.clip(shade, 0.0, 1.0).astype(np.float32)
