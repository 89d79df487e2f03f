"""Slow, obvious viewshed reference: one sight line per target, every other cell tested.

It states GRASS ``r.viewshed``'s terrain model (see ``lomsong.coverage._kernels.viewshed``)
directly, with no sweep, no tree and no shared geometry:

for every target cell t within the radius, and every other cell c within the radius that is
strictly closer to the observer than t, c is an obstacle when the ray from the observer's centre
through t's centre passes through the inside of c (some corner of c strictly on each side of the
ray, c in front).  Its height there is interpolated linearly in angle between its two silhouette
corners (the corners at the smallest and largest angle seen from the observer) and its centre.
t is visible unless an obstacle's vertical angle exceeds t's.

Elevation arithmetic (float32 roundings, curvature, corner means) uses the same formulas as the
kernel so that the two agree bit for bit; the geometry (which cells are crossed, which corners
bound them) is worked out independently, with exact integer arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

f32 = np.float32


def _dist(y2: int, x2: int, cell_m: float) -> float:
    dx = (x2 * 0.5) * cell_m
    dy = (y2 * 0.5) * cell_m
    return math.sqrt(dx * dx + dy * dy)


def _rel_angle(uy: int, ux: int, py: int, px: int) -> float:
    return math.atan2(float(ux * py - uy * px), float(ux * px + uy * py))


def reference_viewshed(
    elev: np.ndarray,
    obs_row: int,
    obs_col: int,
    *,
    observer_height_m: float,
    target_height_m: float,
    cell_m: float,
    radius_m: float,
    curvature_coeff: float = 0.0,
    earth_radius_m: float = 6378137.0,
) -> np.ndarray:
    """uint8 array the shape of ``elev``: 255 visible, 0 invisible or beyond the radius."""
    nrows, ncols = elev.shape
    curv = curvature_coeff / (2.0 * earth_radius_m)

    def drop(d: float) -> float:
        return d * d * curv

    z0 = float(f32(elev[obs_row, obs_col]) + f32(observer_height_m))

    def centre_z(r: int, c: int, d: float) -> np.float32:
        return f32(float(elev[r, c]) - drop(d))

    def corner_z(r: int, c: int, hr: int, hc: int, d: float) -> np.float32:
        r1, c1 = r + hr, c + hc
        if 0 <= r1 < nrows and 0 <= c1 < ncols:
            top, left = min(r, r1), min(c, c1)  # sum in row-major order, as the kernel does
            s = (float(elev[top, left]) + float(elev[top, left + 1])
                 + float(elev[top + 1, left]) + float(elev[top + 1, left + 1]))
            z = f32(s / 4.0)
        else:
            z = elev[r, c]
        return f32(float(z) - drop(d))

    cells = []
    for r in range(nrows):
        for c in range(ncols):
            dr, dc = r - obs_row, c - obs_col
            if (dr, dc) != (0, 0) and _dist(2 * dr, 2 * dc, cell_m) <= radius_m:
                cells.append((r, c, dr, dc))

    out = np.zeros((nrows, ncols), np.uint8)
    out[obs_row, obs_col] = 255
    for r, c, dr, dc in cells:
        d = _dist(2 * dr, 2 * dc, cell_m)
        zt = f32(centre_z(r, c, d) + f32(target_height_m))
        g_target = math.atan((float(zt) - z0) / d)
        uy, ux = -2 * dr, 2 * dc  # sight line direction, doubled, y up
        key = dr * dr + dc * dc
        visible = True
        for rb, cb, br, bc in cells:
            if br * br + bc * bc >= key:
                continue
            cy, cx = -2 * br, 2 * bc
            if ux * cx + uy * cy <= 0:  # behind the observer
                continue
            corners = [(hr, hc) for hr in (-1, 1) for hc in (-1, 1)]
            sides = [ux * (-(2 * br + hr)) - uy * (2 * bc + hc) for hr, hc in corners]
            if not (min(sides) < 0 < max(sides)):
                continue  # the sight line misses the inside of this cell
            # Silhouette corners: smallest and largest angle seen from the observer (measured
            # from the cell's own direction, so there is no wrap-around).
            order = sorted(range(4), key=lambda k: _rel_angle(cy, cx, -(2 * br + corners[k][0]),
                                                                 2 * bc + corners[k][1]))
            first, last = corners[order[0]], corners[order[-1]]
            p0 = _rel_angle(uy, ux, -(2 * br + first[0]), 2 * bc + first[1])
            p2 = _rel_angle(uy, ux, -(2 * br + last[0]), 2 * bc + last[1])
            assert p0 < 0 < p2, (r, c, rb, cb)
            d0 = _dist(2 * br + first[0], 2 * bc + first[1], cell_m)
            q0 = (float(corner_z(rb, cb, first[0], first[1], d0)) - z0) / d0
            d2 = _dist(2 * br + last[0], 2 * bc + last[1], cell_m)
            q2 = (float(corner_z(rb, cb, last[0], last[1], d2)) - z0) / d2
            dcen = _dist(2 * br, 2 * bc, cell_m)
            q1 = (float(centre_z(rb, cb, dcen)) - z0) / dcen
            if min(q0, q1, q2) > (float(zt) - z0) / d:
                visible = False  # wholly above the sight line (GRASS's quick test)
                break
            g1 = math.atan(q1)
            p1 = _rel_angle(uy, ux, cy, cx)
            if p1 > 0.0:
                g = g1 + (math.atan(q0) - g1) * p1 / (p1 - p0)
            elif p1 < 0.0:
                g = g1 + (math.atan(q2) - g1) * (-p1) / (p2 - p1)
            else:
                g = g1
            if g > g_target:
                visible = False
                break
        if visible:
            out[r, c] = 255
    return out
