"""Radial profiles from one transmitter, and the terrain-aware loss along each ray (Numba).

Geometry (this module owns it; no other module samples profiles)
----------------------------------------------------------------
Rays leave the transmitter's exact (fractional) grid position towards the centre of every
perimeter cell of the ``(2n+1)^2`` box, ``n = ceil(radius / cell)`` (:func:`ray_offsets`), so
adjacent rays are at most one cell apart at the radius.  Each ray is sampled every
``step_cells`` cells (one cell by default) with bilinear heights (:func:`sample_rays`); sample 0
is the transmitter itself.  Each grid cell within the radius then takes the loss of the
angularly nearest ray, linearly interpolated between the two samples bracketing the cell's
distance (:func:`assign_cells`).  Profiles are therefore shared by every cell along a ray
instead of being rebuilt per cell.

Plug-in contract for a per-ray model
------------------------------------
A terrain model is one ``@njit(cache=True, nogil=True)`` function::

    loss_db = ray_fn(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params)

* ``dist_m``: float64[n], horizontal distance of each sample from the transmitter, strictly
  increasing, ``dist_m[0] == 0``.  The ray geometry here always samples at a constant step
  (``dist_m[k] == k * step``), so a model that wants a fixed spacing (ITM's PFL) may take
  ``dist_m[1]``; tests may pass irregular spacing to models that accept it.
* ``z_m``: float64[n], terrain height (m above the DEM datum) at each sample; ``z_m[0]`` is the
  ground under the transmitter.
* ``tx_height_m`` / ``rx_height_m``: antenna heights above ground (the receiver is placed in
  turn at every sample).
* ``frequency_mhz``: carrier frequency.
* ``params``: float64[k], model-specific options (documented per model; may be empty).
* returns a new float64[n]: basic transmission loss in dB for a receiver at each sample, using
  only samples ``0..j`` for sample ``j`` (a receiver never sees terrain beyond itself).  Inputs
  are never modified.  Sample 0 is the transmitter's own cell: return the free-space loss over
  the antenna height difference there (``MIN_PATH_M`` at least), as the models here do.

To add a model: write ``ray_fn`` (plus a slow reference and a Hypothesis test against it), then
register a :class:`lomsong.coverage.pathloss.PathLossModel` naming it, its frequency range and
a ``build_params(**options) -> float64[k]``; ``lomsong.coverage.itm`` is imported on the first
lookup of a model name that is not registered yet, so it can register ``itm`` itself.

:mod:`lomsong.coverage.pathloss` holds the registry that maps model names to these functions
and drives :func:`sample_rays` -> ``ray_fn`` per ray -> :func:`assign_cells`.

P.526 Bullington along a ray, incrementally
-------------------------------------------
With effective Earth radius ``r_e = k a`` and ``g_i = z_i - d_i^2 / (2 r_e)`` (heights with the
Earth's curvature taken out), every P.526-15 §4.5 slope becomes a straight-line slope:

* ``S_tim = max_i (g_i - h_ts) / d_i + d / (2 r_e)``: the running transmitter horizon
  (a prefix maximum, O(1) per sample);
* ``S_rim = max_i (g_i - G_r) / (d - d_i) - d / (2 r_e)`` with ``G_r = h_rs - d^2 / (2 r_e)``:
  the tangent from the receiver to the upper convex hull of the points ``(d_i, g_i)``; the hull
  is kept by a monotone chain as samples are appended and queried by binary search (O(log n));
* LOS test ``S_tim < S_tr`` becomes ``max_i (g_i - h_ts)/d_i < (G_r - h_ts)/d``.

The LOS branch needs ``v_max`` over all intermediate points, which has no hull shortcut (the
Fresnel weighting is not linear: the maximiser can lie below the hull), so it is scanned in
O(j) — but only after an O(log n) bound (the hull's highest point relative to the line of
sight, times the smallest Fresnel factor) shows that it could exceed ``v = -0.78``, where J(v)
starts to be non-zero.  On hilly terrain most receivers are trans-horizon or clear by that
bound; open plains are the slow case (about 1.5x the time of hill country at 20 km).

Grid cells are matched to rays by :func:`nearest_ray` in O(1) (projection onto the perimeter
square), not by a search over ray angles.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lomsong.coverage._kernels.pathloss import (
    EARTH_RADIUS_M,
    SPEED_OF_LIGHT_M_S,
    bullington_correction_db,
    cost231_hata_db,
    fspl_db,
    hata_db,
    knife_edge_j_db,
    rma_los_db,
    rma_nlos_db,
    sector_gain_db,
)

#: Shortest path length used in free-space terms (a receiver at the mast foot at the same height
#: as the antenna would otherwise give log10(0)).
MIN_PATH_M = 1.0


# --------------------------------------------------------------------------------------------
# Ray geometry
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def ray_offsets(n_half: int):
    """Perimeter cells of the ``(2 n_half + 1)^2`` box as ray targets, sorted by angle.

    Returns ``(drow, dcol, angle)``: float64[8 n_half] each, ``angle = atan2(drow, dcol)`` in
    ``(-pi, pi]``, ascending.  Memory: 24 bytes per ray.
    """
    n_rays = 8 * n_half
    dr = np.empty(n_rays)
    dc = np.empty(n_rays)
    k = 0
    for i in range(-n_half, n_half + 1):
        for j in range(-n_half, n_half + 1):
            if max(abs(i), abs(j)) == n_half:
                dr[k] = i
                dc[k] = j
                k += 1
    ang = np.empty(n_rays)
    for r in range(n_rays):
        ang[r] = math.atan2(dr[r], dc[r])
    order = np.argsort(ang)
    return dr[order], dc[order], ang[order]


@njit(cache=True, nogil=True)
def _bilinear(elev_m, r: float, c: float) -> float:
    """Bilinear height at fractional (row, col), clamped to the grid's cell centres."""
    rows, cols = elev_m.shape
    r = min(max(r, 0.0), rows - 1.0)
    c = min(max(c, 0.0), cols - 1.0)
    r0 = int(math.floor(r))
    c0 = int(math.floor(c))
    r1 = min(r0 + 1, rows - 1)
    c1 = min(c0 + 1, cols - 1)
    fr = r - r0
    fc = c - c0
    top = elev_m[r0, c0] * (1.0 - fc) + elev_m[r0, c1] * fc
    bot = elev_m[r1, c0] * (1.0 - fc) + elev_m[r1, c1] * fc
    return top * (1.0 - fr) + bot * fr


@njit(cache=True, nogil=True)
def sample_rays(elev_m, row_t: float, col_t: float, drow, dcol, step_cells: float, n_samples: int):
    """Bilinear terrain heights along each ray.

    ``elev_m`` is the (window) grid, ``(row_t, col_t)`` the transmitter's fractional position on
    it (cell centres at integers).  Returns ``(z_m, n_valid)``: float64[n_rays, n_samples] and
    int64[n_rays]; a ray stops (``n_valid``) once it is more than one cell outside the grid, since
    no cell of the grid can be assigned to samples beyond that.  Memory: 8 bytes per sample.
    """
    rows, cols = elev_m.shape
    n_rays = drow.shape[0]
    z = np.full((n_rays, n_samples), np.nan)
    n_valid = np.zeros(n_rays, dtype=np.int64)
    for ray in range(n_rays):
        norm = math.hypot(drow[ray], dcol[ray])
        ur = drow[ray] / norm * step_cells
        uc = dcol[ray] / norm * step_cells
        k = 0
        while k < n_samples:
            r = row_t + k * ur
            c = col_t + k * uc
            if r < -1.0 or r > rows or c < -1.0 or c > cols:
                break
            z[ray, k] = _bilinear(elev_m, r, c)
            k += 1
        n_valid[ray] = k
    return z, n_valid


@njit(cache=True, nogil=True)
def perimeter_index(drow, dcol, n_half: int):
    """Ray index of each perimeter cell, by side: int64[4, 2 n_half + 1].

    Side 0 is ``drow == -n`` and side 1 ``drow == +n`` (indexed by ``dcol + n``); side 2 is
    ``dcol == -n`` and side 3 ``dcol == +n`` (indexed by ``drow + n``).  Corners appear twice.
    """
    w = 2 * n_half + 1
    idx = np.full((4, w), -1, dtype=np.int64)
    for ray in range(drow.shape[0]):
        r = int(round(drow[ray]))
        c = int(round(dcol[ray]))
        if r == -n_half:
            idx[0, c + n_half] = ray
        if r == n_half:
            idx[1, c + n_half] = ray
        if c == -n_half:
            idx[2, r + n_half] = ray
        if c == n_half:
            idx[3, r + n_half] = ray
    return idx


@njit(cache=True, nogil=True)
def nearest_ray(dr: float, dc: float, n_half: int, side_idx, urow, ucol) -> int:
    """Index of the ray angularly nearest to the offset (dr, dc) from the transmitter, in O(1).

    ``urow``/``ucol`` are the rays' unit directions.  The offset is projected onto the
    perimeter square; the perimeter cells are in angular order along it, so the nearest ray by
    angle is one of the two cells bracketing the projection, whichever makes the larger cosine
    with the offset.
    """
    a = max(abs(dr), abs(dc))
    if a == 0.0:
        return 0
    ur = dr / a  # scaled to the unit box first: no overflow or denormals for tiny offsets
    uc = dc / a
    if abs(ur) >= abs(uc):
        side = 0 if ur < 0 else 1
        p = uc * n_half + n_half
    else:
        side = 2 if uc < 0 else 3
        p = ur * n_half + n_half
    lo = min(max(int(math.floor(p)), 0), 2 * n_half)
    hi = min(lo + 1, 2 * n_half)
    ra = side_idx[side, lo]
    rb = side_idx[side, hi]
    ca = urow[ra] * ur + ucol[ra] * uc
    cb = urow[rb] * ur + ucol[rb] * uc
    return ra if ca >= cb else rb


@njit(cache=True, nogil=True)
def cell_samples(
    n_valid, drow, dcol, row_t: float, col_t: float, step_cells: float, radius_cells: float,
    rows: int, cols: int, nearest: bool = False,
):
    """Where each grid cell takes its loss from: the one place that maps cells to samples.

    Returns ``(ray, k, w)`` per cell (int32, int32, float64, each ``[rows, cols]``): the cell's
    loss is ``loss[ray, k] * (1 - w) + loss[ray, k + 1] * w`` (nearest ray by angle, linear in
    distance between the two samples bracketing the cell), or ``loss[ray, k]`` alone where
    ``w < 0`` (at or beyond the ray's last sample, or always with ``nearest``: the sample
    nearest the cell's distance); ``ray == -1`` outside ``radius_cells`` or on a ray without
    samples.  Memory: 16 bytes per cell.
    """
    n_half = int(round(max(abs(drow[0]), abs(dcol[0]))))
    side_idx = perimeter_index(drow, dcol, n_half)
    urow = np.empty(drow.shape[0])
    ucol = np.empty(drow.shape[0])
    for ray in range(drow.shape[0]):
        norm = math.hypot(drow[ray], dcol[ray])
        urow[ray] = drow[ray] / norm
        ucol[ray] = dcol[ray] / norm
    cell_ray = np.full((rows, cols), -1, dtype=np.int32)
    cell_k = np.zeros((rows, cols), dtype=np.int32)
    cell_w = np.full((rows, cols), -1.0)
    r2max = radius_cells * radius_cells
    for i in range(rows):
        dr = i - row_t
        for j in range(cols):
            dc = j - col_t
            d2 = dr * dr + dc * dc
            if d2 > r2max:
                continue
            ray = nearest_ray(dr, dc, n_half, side_idx, urow, ucol)
            last = n_valid[ray] - 1
            if last < 0:
                continue
            s = math.sqrt(d2) / step_cells
            cell_ray[i, j] = ray
            if nearest:
                cell_k[i, j] = min(int(math.floor(s + 0.5)), last)
                continue
            k = int(math.floor(s))
            if k >= last:
                cell_k[i, j] = last
            else:
                cell_k[i, j] = k
                cell_w[i, j] = s - k
    return cell_ray, cell_k, cell_w


@njit(cache=True, nogil=True)
def assign_from(loss_db, cell_ray, cell_k, cell_w):
    """float32 loss per cell from the rays' ``loss_db`` and :func:`cell_samples`; NaN where
    ``cell_ray`` is -1.  Reads exactly the samples :func:`needed_from` marks."""
    rows, cols = cell_ray.shape
    out = np.full((rows, cols), np.nan, dtype=np.float32)
    for i in range(rows):
        for j in range(cols):
            ray = cell_ray[i, j]
            if ray < 0:
                continue
            k = cell_k[i, j]
            w = cell_w[i, j]
            if w < 0.0:
                out[i, j] = loss_db[ray, k]
            else:
                out[i, j] = loss_db[ray, k] * (1.0 - w) + loss_db[ray, k + 1] * w
    return out


@njit(cache=True, nogil=True)
def needed_from(cell_ray, cell_k, cell_w, n_rays: int, n_samples: int):
    """uint8[n_rays, n_samples]: 1 where :func:`assign_from` will read a ray's sample.

    A model that is costly per sample (ITM) evaluates only these: near the transmitter many
    rays cross each cell and most of their samples serve no cell (about 40 % of all samples
    for a 20 km radius at 90 m).
    """
    rows, cols = cell_ray.shape
    need = np.zeros((n_rays, n_samples), dtype=np.uint8)
    for i in range(rows):
        for j in range(cols):
            ray = cell_ray[i, j]
            if ray < 0:
                continue
            k = cell_k[i, j]
            need[ray, k] = 1
            if cell_w[i, j] >= 0.0:
                need[ray, k + 1] = 1
    return need


@njit(cache=True, nogil=True)
def assign_cells(
    loss_db, n_valid, drow, dcol, row_t: float, col_t: float, step_cells: float,
    radius_cells: float, rows: int, cols: int,
):
    """Per-cell loss from the rays: nearest ray by angle, linear in distance between samples.

    ``loss_db`` is float64[n_rays, n_samples] (NaN beyond ``n_valid``), ``drow``/``dcol`` the
    ray targets from :func:`ray_offsets`.  Returns float32[rows, cols], NaN outside
    ``radius_cells`` of the transmitter.  :func:`cell_samples` then :func:`assign_from`.
    """
    cell_ray, cell_k, cell_w = cell_samples(n_valid, drow, dcol, row_t, col_t, step_cells,
                                            radius_cells, rows, cols)
    return assign_from(loss_db, cell_ray, cell_k, cell_w)


@njit(cache=True, nogil=True)
def needed_samples(
    n_valid, drow, dcol, row_t: float, col_t: float, step_cells: float, radius_cells: float,
    rows: int, cols: int, n_samples: int, nearest: bool = False,
):
    """:func:`cell_samples` then :func:`needed_from`."""
    cell_ray, cell_k, cell_w = cell_samples(n_valid, drow, dcol, row_t, col_t, step_cells,
                                            radius_cells, rows, cols, nearest)
    return needed_from(cell_ray, cell_k, cell_w, drow.shape[0], n_samples)


# --------------------------------------------------------------------------------------------
# Upper convex hull helpers (points appended with strictly increasing x)
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _hull_push(hx, hy, m: int, x: float, y: float) -> int:
    """Append (x, y) to the upper hull held in ``hx[:m], hy[:m]``; returns the new size."""
    while m >= 2:
        cross = (hx[m - 1] - hx[m - 2]) * (y - hy[m - 2]) - (hy[m - 1] - hy[m - 2]) * (x - hx[m - 2])
        if cross >= 0.0:  # hull[m-1] is on or below the chord: not a vertex any more
            m -= 1
        else:
            break
    hx[m] = x
    hy[m] = y
    return m + 1


@njit(cache=True, nogil=True)
def hull_tangent_index(hx, hy, m: int, qx: float, qy: float) -> int:
    """Index of the hull vertex maximising ``(hy_i - qy) / (qx - hx_i)``, ``qx`` right of all
    vertices: the tangent from (qx, qy) to the upper hull, by binary search."""
    lo = 0
    hi = m - 1
    while lo < hi:
        mid = (lo + hi) // 2
        # f(mid + 1) > f(mid), cross-multiplied (both denominators are positive)
        if (hy[mid + 1] - qy) * (qx - hx[mid]) > (hy[mid] - qy) * (qx - hx[mid + 1]):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _hull_tangent_from_right(hx, hy, m: int, qx: float, qy: float) -> float:
    """``max_i (hy_i - qy) / (qx - hx_i)`` over the hull, for ``qx`` right of every vertex."""
    k = hull_tangent_index(hx, hy, m, qx, qy)
    return (hy[k] - qy) / (qx - hx[k])


@njit(cache=True, nogil=True)
def hull_support_index(hx, hy, m: int, slope: float) -> int:
    """Index of the upper-hull vertex maximising ``hy - slope * hx`` (the first one on a tie).

    ``hy - slope * hx`` is unimodal along an upper convex hull, so a binary search finds it.
    """
    lo = 0
    hi = m - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if hy[mid + 1] - slope * hx[mid + 1] > hy[mid] - slope * hx[mid]:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _hull_support(hx, hy, m: int, slope: float) -> float:
    """``max_i (hy_i - slope * hx_i)`` over the hull (its highest point above lines of ``slope``)."""
    k = hull_support_index(hx, hy, m, slope)
    return hy[k] - slope * hx[k]


# --------------------------------------------------------------------------------------------
# Per-ray models (the plug-in contract above)
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _path_length_m(d_m: float, dz_m: float) -> float:
    return max(math.sqrt(d_m * d_m + dz_m * dz_m), MIN_PATH_M)


@njit(cache=True, nogil=True)
def p526_ray_loss_db(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params):
    """Free space + ITU-R P.526-15 §4.5 Bullington diffraction at every sample of one ray.

    ``params[0]``: effective Earth radius factor k (4/3 for the standard atmosphere, P.453).
    Free space uses the straight antenna-to-antenna distance (clamped to >= 1 m); the
    Bullington term uses the horizontal distance, as P.526 does.  O(n log n) on terrain that
    hides the receivers; O(n^2) worst case on open terrain within a Fresnel zone of grazing.
    Memory: 24 bytes per sample (output, curvature-corrected heights, hull).
    """
    n = dist_m.shape[0]
    out = np.empty(n)
    k = params[0]
    two_re = 2.0 * k * EARTH_RADIUS_M
    lam = SPEED_OF_LIGHT_M_S / (frequency_mhz * 1.0e6)
    h_ts = z_m[0] + tx_height_m
    out[0] = fspl_db(_path_length_m(0.0, h_ts - (z_m[0] + rx_height_m)), frequency_mhz)
    g = np.empty(n)  # curvature-corrected heights of the points passed, less h_ts
    hx = np.empty(n)  # upper convex hull of (dist_m[i], g[i]), i = 1..j-1
    hy = np.empty(n)
    m = 0
    m_t = -np.inf  # running max of g[i] / d_i: the transmitter horizon
    for j in range(1, n):
        d = dist_m[j]
        h_rs = z_m[j] + rx_height_m
        g_r = h_rs - d * d / two_re
        s_tr = (g_r - h_ts) / d  # tx->rx slope, curvature removed
        l_uc = 0.0
        if m > 0:
            if m_t < s_tr:
                # Line of sight (P.526-15 §4.5, S_tim < S_tr): v_max over the intermediate
                # points.  Every clearance is <= h_max < 0, and the Fresnel factor
                # sqrt(c / (d_i (d - d_i))) is >= sqrt(4 c) / d, so when h_max sqrt(4 c) / d
                # <= -0.78 every v_i is too, and J = 0 without a scan.
                h_max = _hull_support(hx, hy, m, s_tr)
                c = 2.0 * d / lam
                if h_max * math.sqrt(4.0 * c) / d > -0.78:
                    # all v_i < 0, so max v_i is -sqrt(c min_i clear_i^2 / (d_i (d - d_i)))
                    q_min = np.inf
                    for i in range(1, j):
                        di = dist_m[i]
                        cl = g[i] - s_tr * di
                        q_min = min(q_min, cl * cl / (di * (d - di)))
                    l_uc = knife_edge_j_db(-math.sqrt(c * q_min))
            else:
                # Trans-horizon: Bullington point from the two horizon slopes
                half_c = d / two_re
                s_tim = m_t + half_c
                s_rim = _hull_tangent_from_right(hx, hy, m, d, g_r - h_ts) - half_c
                denom = s_tim + s_rim
                v_b = 0.0
                if denom > 0.0:
                    d_b = (h_rs - h_ts + s_rim * d) / denom
                    if 0.0 < d_b < d:
                        h_b = h_ts + s_tim * d_b - (h_ts * (d - d_b) + h_rs * d_b) / d
                        v_b = h_b * math.sqrt(2.0 * d / (lam * d_b * (d - d_b)))
                l_uc = knife_edge_j_db(v_b)
        l_b = bullington_correction_db(l_uc, d) if l_uc > 0.0 else 0.0
        out[j] = fspl_db(_path_length_m(d, h_ts - h_rs), frequency_mhz) + l_b
        # this sample becomes an intermediate point for the ones beyond it
        # (heights relative to the antenna: the LOS clearance is then g[i] - s_tr d_i)
        gj = z_m[j] - d * d / two_re - h_ts
        g[j] = gj
        slope = gj / d
        if slope > m_t:
            m_t = slope
        m = _hull_push(hx, hy, m, d, gj)
    return out


@njit(cache=True, nogil=True)
def p526_rays(dist_m, z_m, n_valid, loss_db, tx_height_m, rx_height_m, frequency_mhz, params):
    """:func:`p526_ray_loss_db` on every ray (``z_m[ray, :n_valid[ray]]``) in one call, into
    ``loss_db[ray, :n_valid[ray]]`` (what a Python loop over the rays would write, without a
    dispatch per ray)."""
    for ray in range(z_m.shape[0]):
        nv = n_valid[ray]
        if nv > 0:
            loss_db[ray, :nv] = p526_ray_loss_db(dist_m[:nv], z_m[ray, :nv], tx_height_m,
                                                 rx_height_m, frequency_mhz, params)


@njit(cache=True, nogil=True)
def fspl_ray_loss_db(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params):
    """Free-space loss (P.525) over the antenna-to-antenna distance; ``params`` unused."""
    n = dist_m.shape[0]
    out = np.empty(n)
    h_ts = z_m[0] + tx_height_m
    for j in range(n):
        out[j] = fspl_db(_path_length_m(dist_m[j], h_ts - z_m[j] - rx_height_m), frequency_mhz)
    return out


@njit(cache=True, nogil=True)
def _hata_family_ray(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, env, cost231):
    """Okumura-Hata (``cost231`` False) or COST-231-Hata along a ray, never below free space.

    These models ignore the profile: ``h_b`` is the mast height above its own ground, ``d`` the
    horizontal distance.  Below 1 km (outside their range) the formula is extrapolated and
    floored at free-space loss; sample 0 is free space.
    """
    n = dist_m.shape[0]
    out = np.empty(n)
    h_ts = z_m[0] + tx_height_m
    for j in range(n):
        fs = fspl_db(_path_length_m(dist_m[j], h_ts - z_m[j] - rx_height_m), frequency_mhz)
        if j == 0:
            out[j] = fs
            continue
        d_km = dist_m[j] * 1.0e-3
        if cost231:
            hl = cost231_hata_db(d_km, frequency_mhz, tx_height_m, rx_height_m, env)
        else:
            hl = hata_db(d_km, frequency_mhz, tx_height_m, rx_height_m, env)
        out[j] = max(hl, fs)
    return out


@njit(cache=True, nogil=True)
def hata_ray_loss_db(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params):
    """Okumura-Hata, never below free space.  ``params[0]``: environment code (0..3)."""
    return _hata_family_ray(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz,
                            int(params[0]), False)


@njit(cache=True, nogil=True)
def cost231_ray_loss_db(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params):
    """COST-231-Hata, never below free space.  ``params[0]``: environment code (0..3)."""
    return _hata_family_ray(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz,
                            int(params[0]), True)


#: ``params[2]`` values of :func:`rma_ray_loss_db`.
RMA_LOS_TERRAIN = 0
RMA_LOS_ALWAYS = 1
RMA_LOS_NEVER = 2


@njit(cache=True, nogil=True)
def rma_ray_loss_db(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params):
    """3GPP TR 38.901 RMa, LOS or NLOS per sample, never below free space.

    ``params``: ``[h_bldg_m, street_width_m, los_mode, k]``; ``los_mode`` 0 decides LOS from the
    terrain (geometric line of sight over the profile on an Earth of radius ``k a``), 1 forces
    LOS, 2 forces NLOS.  ``d_2D`` is clamped to the model's 10 m minimum; ``d_3D`` uses the real
    antenna height difference.
    """
    h_bldg = params[0]
    width = params[1]
    mode = int(params[2])
    two_re = 2.0 * params[3] * EARTH_RADIUS_M
    n = dist_m.shape[0]
    out = np.empty(n)
    h_ts = z_m[0] + tx_height_m
    m_t = -np.inf
    for j in range(n):
        d = dist_m[j]
        h_rs = z_m[j] + rx_height_m
        fs = fspl_db(_path_length_m(d, h_ts - h_rs), frequency_mhz)
        if j == 0:
            out[j] = fs
            continue
        d2 = max(d, 10.0)
        d3 = math.sqrt(d2 * d2 + (h_ts - h_rs) * (h_ts - h_rs))
        if mode == RMA_LOS_ALWAYS:
            los = True
        elif mode == RMA_LOS_NEVER:
            los = False
        else:
            los = m_t < (h_rs - d * d / two_re - h_ts) / d
        if los:
            pl = rma_los_db(d2, d3, frequency_mhz, tx_height_m, rx_height_m, h_bldg)
        else:
            pl = rma_nlos_db(d2, d3, frequency_mhz, tx_height_m, rx_height_m, h_bldg, width)
        out[j] = max(pl, fs)
        slope = (z_m[j] - d * d / two_re - h_ts) / d
        if slope > m_t:
            m_t = slope
    return out


# --------------------------------------------------------------------------------------------
# Received power on the window (antenna pattern over the terrain geometry)
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def rx_power_window(
    loss_db, elev_m, row_t: float, col_t: float, cell_m: float, antenna_m: float,
    rx_height_m: float, level_dbm: float, azimuth_deg: float, beamwidth_deg: float,
    tilt_deg: float, vertical_beamwidth_deg: float, a_max_db: float, sla_v_db: float,
    k_factor: float,
):
    """``level_dbm + A(bearing, depression) - loss_db`` per cell, float32, NaN where the loss is.

    ``antenna_m`` is the antenna's height above the datum (ground + mast).  The bearing is
    clockwise from grid north (row 0 is north); the depression angle is from the antenna down
    to the handset (``elev_m + rx_height_m``) over an Earth of radius ``k a``, which lowers a
    handset at distance d by ``d^2 / (2 k a)``.  ``azimuth_deg`` NaN means omni.
    Memory: 4 bytes per cell.
    """
    rows, cols = loss_db.shape
    out = np.full((rows, cols), np.nan, dtype=np.float32)
    two_re = 2.0 * k_factor * EARTH_RADIUS_M
    to_deg = 180.0 / math.pi
    for i in range(rows):
        north = (row_t - i) * cell_m
        for j in range(cols):
            loss = loss_db[i, j]
            if math.isnan(loss):
                continue
            east = (j - col_t) * cell_m
            d = math.sqrt(east * east + north * north)
            bearing = math.atan2(east, north) * to_deg
            drop = antenna_m - (elev_m[i, j] + rx_height_m) + d * d / two_re
            depression = math.atan2(drop, d) * to_deg
            g = sector_gain_db(bearing, depression, azimuth_deg, beamwidth_deg, tilt_deg,
                               vertical_beamwidth_deg, a_max_db, sla_v_db)
            out[i, j] = level_dbm + g - loss
    return out
