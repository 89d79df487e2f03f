"""ITM (Longley-Rice, point-to-point) at every sample of one ray, reusing work along the ray.

:func:`itm_ray_loss_db` follows the per-ray plug-in contract of
:mod:`lomsong.coverage._kernels.radial`: for the receiver at sample ``j`` it returns exactly
what :func:`lomsong.coverage._kernels.itm.p2p_path` gives on the prefix profile ``z_m[:j + 1]``
(tests compare the two on random profiles), but without rebuilding that profile's analysis from
scratch.  What is reused from one receiver to the next, and what is not:

Reused (O(1) or O(log n) per receiver)
    * **Mean path height** (for N_s and the effective curvature gamma_e): prefix sums of the
      heights give the mean over the middle 80 % of any prefix in O(1).
    * **Transmitter horizon**.  With a constant curvature it would be a running maximum, but
      ITM's gamma_e depends on the mean height of each receiver's own path, so it changes along
      the ray.  The horizon angle ``max_i (z_i - z_tx) / s_i - (gamma_e / 2) s_i`` is, for
      every gamma_e at once, the support of the points ``(s_i, (z_i - z_tx) / s_i)`` in the
      direction ``(-gamma_e / 2, 1)``: their upper convex hull is kept as samples are appended
      (monotone chain, :func:`~lomsong.coverage._kernels.radial._hull_push`) and queried by
      binary search.  Exact for every gamma_e.
    * **Receiver horizon**.  ``max_i (z_i - z_rx) / (d - s_i) - (gamma_e / 2) (d - s_i)`` is
      the tangent from the receiver to the upper hull of the curvature-corrected heights
      ``z_i - (gamma_e / 2) s_i^2`` (as radial.py does for P.526), but again that hull depends
      on gamma_e.  The hull is kept for ``q_ref`` = half the largest gamma_e any receiver on
      the ray can have (gamma_e grows with the mean path height, which is at most the ray's
      highest sample).  For a smaller curvature the heights are raised by a convex function, so
      the true hull's vertices are among the ``q_ref`` hull's; the ``q_ref`` tangent vertex is
      found by binary search, no vertex to its right can do better, and vertices to its left
      are checked, nearest first, only while a bound (the ``q_ref`` tangent plus the largest
      possible curvature difference) says they still could.  Typically one to three vertices.
    * **Effective antenna heights**: the least-squares lines over horizon-bounded windows come
      from prefix sums of ``z_i`` and ``i z_i`` (heights relative to the transmitter's ground,
      to keep the sums small), O(1) per window.
    * Ground impedance, normal deviates and climate constants: once per ray.

Not reused (O(n) per receiver, O(n^2) per ray)
    * **Terrain irregularity delta_h**.  ITM resamples the middle of *each* path (between the
      horizon-dependent limits ``x_tx``, ``x_rx``) at 10k-5 evenly spaced points, removes a
      least-squares line fitted to *those* points, and takes the interdecile range.  When the
      receiver moves by one sample every resampled point moves, so the values cannot be
      carried over: each receiver resamples (in runs where the resampled points keep the
      same offset to the profile points, so the loop vectorises; the fit's sums on the way)
      and detrends its own points, in a scratch array allocated once per ray.  What does
      carry over is where the two order statistics lie: from the previous receiver's 10 % and
      90 % points, the new ones are usually a step or two away in value order (none or one
      value in between for 77-88 % of receivers on real terrain), and each step is one
      vectorised pass over integer sort keys of the residuals; when a horizon jump moves the
      window and the answer is further away, a quickselect over all points does it.  The
      values are exactly what a sort would give either way; only the time changes.
    * **Reference attenuation and variability**: every input (horizons, effective heights,
      delta_h, gamma_e) changes with the receiver, so the diffraction, two-ray and
      three-point-fit terms are evaluated afresh (about 50 transcendental functions).

Memory: about 80 bytes per sample (output, two prefix sums, two hulls with indices) plus 492
floats of scratch.

Parameters (``params``, float64[9], built by :func:`lomsong.coverage.itm.itm_params`):
``[climate, n_0, epsilon, sigma, polarization, mdvar, time_pct, location_pct, situation_pct]``
with ITM's meanings (see :mod:`lomsong.coverage.itm`).  The samples must be evenly spaced
(``dist_m[k] == k * dist_m[1]``), as the radial geometry always gives; ITM's profile format
has a single spacing.  A sample whose surface refractivity is out of ITM's range (N_s > 400,
only possible far below sea level with n_0 near 400) is NaN, as the point-to-point API
reports an error there.  Warning flags are not reported per sample.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lomsong.coverage._kernels import itm as _k
from lomsong.coverage._kernels.pathloss import fspl_db
from lomsong.coverage._kernels.radial import (
    MIN_PATH_M,
    _hull_push,
    hull_support_index,
    hull_tangent_index,
)

# Layout of ``params``.
P_CLIMATE = 0
P_N_0 = 1
P_EPSILON = 2
P_SIGMA = 3
P_POLARIZATION = 4
P_MDVAR = 5
P_TIME_PCT = 6
P_LOCATION_PCT = 7
P_SITUATION_PCT = 8
N_PARAMS = 9

#: Slack (radians) in the receiver-horizon bound, far above the rounding of the tangent slopes
#: (about 1e-15 for heights of a few km and spacings of metres) and far below any real
#: difference between two horizon candidates.
_BOUND_SLACK = 1e-12


@njit(cache=True, nogil=True)
def _lsq_prefix(c0, c1, z_m, z0: float, n: int, spacing_m: float, x1_m: float, x2_m: float):
    """:func:`~lomsong.coverage._kernels.itm.least_squares_fit` on ``z_m[:n + 1]`` in O(1).

    ``c0[k] = sum_{i<k} (z_i - z0)`` and ``c1[k] = sum_{i<k} i (z_i - z0)``.  Same window
    rules and weights (half weight at the ends); the sums are taken from the prefix arrays.
    """
    xn = float(n)
    d_m = xn * spacing_m
    x1_m, x2_m = min(max(x1_m, 0.0), d_m), min(max(x2_m, 0.0), d_m)
    if x2_m < x1_m:
        x1_m, x2_m = x2_m, x1_m
    xa = float(int(_k._dim(x1_m / spacing_m, 0.0)))
    xb = xn - float(int(_k._dim(xn, x2_m / spacing_m)))
    if xb <= xa:
        xa = _k._dim(xa, 1.0)
        xb = xn - _k._dim(xn, xb + 1.0)
    ja = int(xa)
    jb = int(xb)
    width = xb - xa
    x = -0.5 * width
    centre = xb + x
    ya = z_m[ja] - z0
    yb = z_m[jb] - z0
    if jb > ja + 1:
        s0 = c0[jb] - c0[ja + 1]
        s1 = c1[jb] - c1[ja + 1]
    else:
        s0 = 0.0
        s1 = 0.0
    a = 0.5 * (ya + yb) + s0
    # sum over ja < i < jb of y_i * (x + i - ja)
    b = 0.5 * (ya - yb) * x + s1 + (x - ja) * s0
    a /= width
    b = b * 12.0 / ((width * width + 2.0) * width)
    return z0 + a - b * centre, z0 + a + b * (xn - centre)


@njit(cache=True, nogil=True)
def itm_ray_loss_db(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params):
    """ITM point-to-point basic transmission loss (dB) for a receiver at every sample of a ray.

    Sample ``j`` gets :func:`~lomsong.coverage._kernels.itm.p2p_path` over ``z_m[:j + 1]``
    at spacing ``dist_m[1]`` with the ``params`` above; sample 0 gets the free-space loss over
    the antenna height difference (at least ``MIN_PATH_M``), as every ray model does.  O(n^2)
    per ray for delta_h (see the module docstring), O(n log n) for the rest.  Inputs are not
    modified.
    """
    return itm_ray_loss_db_need(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params,
                                np.ones(dist_m.shape[0], dtype=np.uint8))


@njit(cache=True, nogil=True)
def itm_ray_loss_db_need(dist_m, z_m, tx_height_m, rx_height_m, frequency_mhz, params, need):
    """:func:`itm_ray_loss_db` evaluated only where ``need`` (uint8[n]) is non-zero; the
    other samples are NaN.  The running state (prefix sums, hulls) still takes every sample,
    so each evaluated receiver gets exactly the value the full ray would give it."""
    n_pts = dist_m.shape[0]
    out = np.empty(n_pts)
    if n_pts == 0:
        return out
    z0 = z_m[0]
    z_tx = z0 + tx_height_m
    out[0] = fspl_db(max(abs(tx_height_m - rx_height_m), MIN_PATH_M), frequency_mhz)
    if n_pts == 1:
        return out
    spacing = dist_m[1]
    if not (spacing > 0.0) or abs(dist_m[n_pts - 1] - (n_pts - 1) * spacing) > 1e-6 * (
        dist_m[n_pts - 1] + 1.0
    ):
        raise ValueError("itm_ray_loss_db: dist_m must be evenly spaced from 0")

    climate = int(params[P_CLIMATE])
    n_0 = params[P_N_0]
    pol = int(params[P_POLARIZATION])
    mdvar = int(params[P_MDVAR])
    z_time = _k.inverse_ccdf(params[P_TIME_PCT] / 100.0)
    z_loc = _k.inverse_ccdf(params[P_LOCATION_PCT] / 100.0)
    z_sit = _k.inverse_ccdf(params[P_SITUATION_PCT] / 100.0)
    z_g = _k.ground_impedance(frequency_mhz, params[P_EPSILON], params[P_SIGMA], pol)
    h_tx = tx_height_m
    h_rx = rx_height_m

    # Prefix sums (heights relative to the transmitter's ground keep them small).
    c0 = np.empty(n_pts + 1)
    c1 = np.empty(n_pts + 1)
    c0[0] = 0.0
    c1[0] = 0.0
    z_max = z0
    for i in range(n_pts):
        y = z_m[i] - z0
        c0[i + 1] = c0[i] + y
        c1[i + 1] = c1[i] + i * y
        if z_m[i] > z_max:
            z_max = z_m[i]
    # Largest half-curvature any receiver here can get (gamma_e grows with the mean path
    # height); the 1 m margin covers the rounding of the mean.
    q_ref = 0.5 * _k.effective_curvature(_k.surface_refractivity(n_0, z_max + 1.0))

    tx_hx = np.empty(n_pts)  # hull of (s_i, (z_i - z_tx) / s_i): transmitter horizon
    tx_hy = np.empty(n_pts)
    m_tx = 0
    rx_hx = np.empty(n_pts)  # hull of (s_i, z_i - q_ref s_i^2): receiver horizon candidates
    rx_hy = np.empty(n_pts)
    rx_hi = np.empty(n_pts, dtype=np.int64)  # sample index of each rx hull vertex
    m_rx = 0
    scratch = np.empty(_k.DELTA_H_SCRATCH)
    q_lo = math.nan  # the previous receiver's 10 % / 90 % points: selection hints for delta_h
    q_hi = math.nan

    for j in range(1, n_pts):
        d = j * spacing
        rc = _k.SUCCESS
        n_s = gamma_e = 0.0
        if need[j]:
            # --- surface refractivity and curvature from the mean height of the middle 80 %
            p10 = int(0.1 * j)
            h_sys = z0 + (c0[j - p10 + 1] - c0[p10]) / (j - 2 * p10 + 1)
            n_s = _k.surface_refractivity(n_0, h_sys)
            gamma_e = _k.effective_curvature(n_s)
            rc, _ = _k._refractivity_checks(n_s, gamma_e)
        if not need[j] or rc != _k.SUCCESS:
            out[j] = math.nan
        else:
            out[j], q_lo, q_hi = _receiver_loss(
                z_m, j, d, spacing, h_tx, h_rx, z_tx, gamma_e, n_s, q_ref, frequency_mhz,
                climate, mdvar, z_time, z_loc, z_sit, z_g, c0, c1, z0,
                tx_hx, tx_hy, m_tx, rx_hx, rx_hy, rx_hi, m_rx, scratch,
                q_lo, q_hi,
            )
        # this sample becomes an intermediate point for the receivers beyond it
        m_tx = _hull_push(tx_hx, tx_hy, m_tx, d, (z_m[j] - z_tx) / d)
        m_new = _hull_push(rx_hx, rx_hy, m_rx, d, z_m[j] - q_ref * d * d)
        rx_hi[m_new - 1] = j
        m_rx = m_new
    return out


@njit(cache=True, nogil=True)
def itm_rays_need(dist_m, z_m, n_valid, need, loss_db, tx_height_m, rx_height_m, frequency_mhz,
                  params):
    """:func:`itm_ray_loss_db_need` on every ray that some cell reads, in one call, into
    ``loss_db[ray, :n_valid[ray]]``; rays nobody reads are left as they are."""
    for ray in range(z_m.shape[0]):
        nv = n_valid[ray]
        read = False
        for k in range(nv):
            if need[ray, k]:
                read = True
                break
        if read:
            loss_db[ray, :nv] = itm_ray_loss_db_need(dist_m[:nv], z_m[ray, :nv], tx_height_m,
                                                     rx_height_m, frequency_mhz, params,
                                                     need[ray, :nv])


@njit(cache=True, nogil=True)
def _rx_horizon(z_m, spacing, d, z_rx, qc, q_ref, rx_hx, rx_hy, rx_hi, m_rx):
    """Receiver horizon ``(theta, distance)`` over all intermediate points (see module doc)."""
    g_r = z_rx - q_ref * d * d
    v = hull_tangent_index(rx_hx, rx_hy, m_rx, d, g_r)
    best = -math.inf
    best_i = -1
    # the q_ref tangent vertex and its right neighbour (rounding in the binary search)
    for w in range(v, min(v + 2, m_rx)):
        i = rx_hi[w]
        s_b = d - i * spacing
        b = (z_m[i] - z_rx) / s_b - qc * s_b
        if b > best or (b == best and i < best_i):
            best = b
            best_i = i
    # vertices to the left: the q_ref tangent falls leftwards, the curvature bonus is <= dq d
    bonus = (q_ref - qc) * d - 2.0 * q_ref * d + _BOUND_SLACK
    w = v - 1
    while w >= 0:
        bound = (rx_hy[w] - g_r) / (d - rx_hx[w]) + bonus
        if bound < best:
            break
        i = rx_hi[w]
        s_b = d - i * spacing
        b = (z_m[i] - z_rx) / s_b - qc * s_b
        if b >= best:  # an earlier sample wins a tie, as in a forward scan
            best = b
            best_i = i
        w -= 1
    return best, d - best_i * spacing


@njit(cache=True, nogil=True)
def _receiver_loss(
    z_m, j, d, spacing, h_tx, h_rx, z_tx, gamma_e, n_s, q_ref, f_mhz, climate, mdvar,
    z_time, z_loc, z_sit, z_g, c0, c1, z0, tx_hx, tx_hy, m_tx, rx_hx, rx_hy, rx_hi, m_rx,
    scratch, pivot_lo, pivot_hi,
):
    # One receiver: p2p_path's steps with the horizons and fits from the ray's running state.
    # Returns (loss_db, q_lo, q_hi), the last two for the next receiver's delta_h.
    qc = 0.5 * gamma_e
    z_rx = z_m[j] + h_rx
    slope = (z_rx - z_tx) / d
    th_tx = slope - qc * d
    th_rx = -slope - qc * d
    dl_tx = d
    dl_rx = d
    if m_tx > 0:
        v = hull_support_index(tx_hx, tx_hy, m_tx, qc)
        a = tx_hy[v] - qc * tx_hx[v]
        if a > th_tx:
            th_tx = a
            dl_tx = tx_hx[v]
            b, s_b = _rx_horizon(z_m, spacing, d, z_rx, qc, q_ref, rx_hx, rx_hy, rx_hi, m_rx)
            if b > th_rx:
                th_rx = b
                dl_rx = s_b

    # p2p_geometry, with the least-squares fits from the prefix sums
    prefix = z_m[: j + 1]
    x_tx = min(15.0 * h_tx, 0.1 * dl_tx)
    x_rx = d - min(15.0 * h_rx, 0.1 * dl_rx)
    delta_h, q_lo, q_hi = _k.terrain_irregularity_into(
        prefix, spacing, x_tx, x_rx, scratch, pivot_lo, pivot_hi
    )
    if dl_tx + dl_rx > 1.5 * d:
        fit_tx, fit_rx = _lsq_prefix(c0, c1, z_m, z0, j, spacing, x_tx, x_rx)
        he_tx = h_tx + _k._dim(z0, fit_tx)
        he_rx = h_rx + _k._dim(z_m[j], fit_rx)
        dl_tx = _k._smooth_horizon_m(he_tx, gamma_e, delta_h)
        dl_rx = _k._smooth_horizon_m(he_rx, gamma_e, delta_h)
        total = dl_tx + dl_rx
        if total <= d:
            scale = (d / total) ** 2
            he_tx *= scale
            he_rx *= scale
            dl_tx = _k._smooth_horizon_m(he_tx, gamma_e, delta_h)
            dl_rx = _k._smooth_horizon_m(he_rx, gamma_e, delta_h)
        th_tx = _k._smooth_horizon_angle(he_tx, dl_tx, gamma_e, delta_h)
        th_rx = _k._smooth_horizon_angle(he_rx, dl_rx, gamma_e, delta_h)
    else:
        fit_tx, _ = _lsq_prefix(c0, c1, z_m, z0, j, spacing, x_tx, 0.9 * dl_tx)
        he_tx = h_tx + _k._dim(z0, fit_tx)
        _, fit_rx = _lsq_prefix(c0, c1, z_m, z0, j, spacing, d - 0.9 * dl_rx, x_rx)
        he_rx = h_rx + _k._dim(z_m[j], fit_rx)

    a_ref, _, _ = _k.reference_attenuation(
        d, f_mhz, h_tx, h_rx, he_tx, he_rx, dl_tx, dl_rx, th_tx, th_rx, gamma_e, n_s, delta_h,
        z_g, True,
    )
    a_var, _ = _k.variability_db(
        a_ref, d, f_mhz, he_tx, he_rx, delta_h, climate, mdvar, z_time, z_loc, z_sit
    )
    return a_var + _k.free_space_loss_db(d, f_mhz), q_lo, q_hi
