"""Longley-Rice Irregular Terrain Model (ITM) as pure Numba kernels.

Written from G. A. Hufford, *The ITS Irregular Terrain Model, version 1.2.2: the Algorithm*
(NTIA/ITS) and NTIA's ITM documentation (v1.4: return codes, warning flags, intermediate values);
the structure and names here are our own.  Every kernel takes arrays and scalars, returns scalars
(or fresh arrays) and never writes to its inputs.

Terrain is a 1-D elevation array ``elev_m`` (tx at index 0, rx at index ``n``) with a constant
``spacing_m``; NTIA's PFL array (``[n_intervals, spacing_m, z_0, ..., z_n]``) is only unpacked by
the outermost per-path kernels.  Keeping the terrain helpers on ``(elev_m, spacing_m)`` lets a
radial caller pass a prefix ``elev_m[:k + 1]`` (a view, no copy) for every receiver on a ray.

Units: metres, MHz, dB, radians; percentages in (0, 100).  Memory per path: O(1) besides a
scratch array of at most 245 samples for ``delta_h``.
"""

from __future__ import annotations

import cmath
import math

import numpy as np
from numba import njit

# ---------------------------------------------------------------------------------------------
# Codes.  Values follow NTIA's ERRORS_AND_WARNINGS.md (ITM v1.4) so that a result can be compared
# with the reference driver bit for bit.
# ---------------------------------------------------------------------------------------------
WARN_TX_TERMINAL_HEIGHT = 0x0001
WARN_RX_TERMINAL_HEIGHT = 0x0002
WARN_FREQUENCY = 0x0004
WARN_PATH_DISTANCE_TOO_BIG_1 = 0x0008
WARN_PATH_DISTANCE_TOO_BIG_2 = 0x0010
WARN_PATH_DISTANCE_TOO_SMALL_1 = 0x0020
WARN_PATH_DISTANCE_TOO_SMALL_2 = 0x0040
WARN_TX_HORIZON_ANGLE = 0x0080
WARN_RX_HORIZON_ANGLE = 0x0100
WARN_TX_HORIZON_DISTANCE_1 = 0x0200
WARN_RX_HORIZON_DISTANCE_1 = 0x0400
WARN_TX_HORIZON_DISTANCE_2 = 0x0800
WARN_RX_HORIZON_DISTANCE_2 = 0x1000
WARN_EXTREME_VARIABILITIES = 0x2000
WARN_SURFACE_REFRACTIVITY = 0x4000

SUCCESS = 0
SUCCESS_WITH_WARNINGS = 1
ERROR_TX_TERMINAL_HEIGHT = 1000
ERROR_RX_TERMINAL_HEIGHT = 1001
ERROR_INVALID_RADIO_CLIMATE = 1002
ERROR_INVALID_TIME = 1003
ERROR_INVALID_LOCATION = 1004
ERROR_INVALID_SITUATION = 1005
ERROR_INVALID_CONFIDENCE = 1006
ERROR_INVALID_RELIABILITY = 1007
ERROR_REFRACTIVITY = 1008
ERROR_FREQUENCY = 1009
ERROR_POLARIZATION = 1010
ERROR_EPSILON = 1011
ERROR_SIGMA = 1012
ERROR_GROUND_IMPEDANCE = 1013
ERROR_MDVAR = 1014
ERROR_EFFECTIVE_EARTH = 1016
ERROR_PATH_DISTANCE = 1017
ERROR_DELTA_H = 1018
ERROR_TX_SITING_CRITERIA = 1019
ERROR_RX_SITING_CRITERIA = 1020
ERROR_SURFACE_REFRACTIVITY_LARGE = 1022
#: Not an NTIA code: the terrain profile is unusable (fewer than 2 points, spacing <= 0, NaN).
ERROR_PROFILE = 1100

MODE_NOT_SET = 0
MODE_LINE_OF_SIGHT = 1
MODE_DIFFRACTION = 2
MODE_TROPOSCATTER = 3

# Layout of the intermediate-values array returned by the ``*_ex`` kernels.
IV_THETA_HZN_TX = 0
IV_THETA_HZN_RX = 1
IV_D_HZN_TX_M = 2
IV_D_HZN_RX_M = 3
IV_H_E_TX_M = 4
IV_H_E_RX_M = 5
IV_N_S = 6
IV_DELTA_H_M = 7
IV_A_REF_DB = 8
IV_A_FS_DB = 9
IV_D_KM = 10
IV_MODE = 11
N_INTERMEDIATES = 12

# ---------------------------------------------------------------------------------------------
# Climate constants (Hufford 1.2.2, subroutine AVAR), one column per radio climate 1..7:
# equatorial, continental subtropical, maritime subtropical, desert, continental temperate,
# maritime temperate over land, maritime temperate over sea.
# ---------------------------------------------------------------------------------------------
_BV1 = np.array([-9.67, -0.62, 1.26, -9.21, -0.62, -0.39, 3.15])
_BV2 = np.array([12.7, 9.19, 15.5, 9.05, 9.19, 2.86, 857.9])
_XV1 = np.array([144.9e3, 228.9e3, 262.6e3, 84.1e3, 228.9e3, 141.7e3, 2222.0e3])
_XV2 = np.array([190.3e3, 205.2e3, 185.2e3, 101.1e3, 205.2e3, 315.9e3, 164.8e3])
_XV3 = np.array([133.8e3, 143.6e3, 99.8e3, 98.6e3, 143.6e3, 167.4e3, 116.3e3])
_BSM1 = np.array([2.13, 2.66, 6.11, 1.98, 2.68, 6.86, 8.51])
_BSM2 = np.array([159.5, 7.67, 6.65, 13.11, 7.16, 10.38, 169.8])
_XSM1 = np.array([762.2e3, 100.4e3, 138.2e3, 139.1e3, 93.7e3, 187.8e3, 609.8e3])
_XSM2 = np.array([123.6e3, 172.5e3, 242.2e3, 132.7e3, 186.8e3, 169.6e3, 119.9e3])
_XSM3 = np.array([94.5e3, 136.4e3, 178.6e3, 193.5e3, 133.5e3, 108.9e3, 106.6e3])
_BSP1 = np.array([2.11, 6.87, 10.08, 3.68, 4.75, 8.58, 8.43])
_BSP2 = np.array([102.3, 15.53, 9.60, 159.3, 8.12, 13.97, 8.19])
_XSP1 = np.array([636.9e3, 138.7e3, 165.3e3, 464.4e3, 93.2e3, 216.0e3, 136.2e3])
_XSP2 = np.array([134.8e3, 143.7e3, 225.7e3, 93.1e3, 135.9e3, 152.0e3, 188.5e3])
_XSP3 = np.array([95.6e3, 98.6e3, 129.7e3, 94.2e3, 113.4e3, 122.7e3, 122.9e3])
_BSD1 = np.array([1.224, 0.801, 1.380, 1.000, 1.224, 1.518, 1.518])
_BZD1 = np.array([1.282, 2.161, 1.282, 20.0, 1.282, 1.282, 1.282])
_BFM1 = np.array([1.0, 1.0, 1.0, 1.0, 0.92, 1.0, 1.0])
_BFM2 = np.array([0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0])
_BFM3 = np.array([0.0, 0.0, 0.0, 0.0, 1.77, 0.0, 0.0])
_BFP1 = np.array([1.0, 0.93, 1.0, 0.93, 0.93, 1.0, 1.0])
_BFP2 = np.array([0.0, 0.31, 0.0, 0.19, 0.31, 0.0, 0.0])
_BFP3 = np.array([0.0, 2.00, 0.0, 1.79, 2.00, 0.0, 0.0])

_THIRD = 1.0 / 3.0


# ---------------------------------------------------------------------------------------------
# Small closed forms
# ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def inverse_ccdf(q: float) -> float:
    """Standard normal deviate exceeded with probability ``q`` (0 < q < 1).

    Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4), the approximation ITM itself uses; the exact
    inverse would shift results by up to a few hundredths of a dB against NTIA's numbers.
    """
    x = 0.5 - q
    t = max(0.5 - abs(x), 0.000001)
    t = math.sqrt(-2.0 * math.log(t))
    v = t - ((0.010328 * t + 0.802853) * t + 2.515516698) / (
        ((0.001308 * t + 0.189269) * t + 1.432788) * t + 1.0
    )
    return -v if x < 0.0 else v


@njit(cache=True, nogil=True)
def free_space_loss_db(d_m: float, f_mhz: float) -> float:
    """Free-space basic transmission loss (dB) over ``d_m`` metres at ``f_mhz``."""
    return 32.45 + 20.0 * math.log10(f_mhz) + 20.0 * math.log10(d_m / 1000.0)


@njit(cache=True, nogil=True)
def surface_refractivity(n_0: float, h_sys_m: float) -> float:
    """Surface refractivity N_s (N-units) from the sea-level value and the mean path height."""
    if h_sys_m == 0.0:
        return n_0
    return n_0 * math.exp(-h_sys_m / 9460.0)


@njit(cache=True, nogil=True)
def effective_curvature(n_s: float) -> float:
    """Effective earth curvature gamma_e (1/m) for surface refractivity ``n_s``."""
    return 157e-9 * (1.0 - 0.04665 * math.exp(n_s / 179.3))


@njit(cache=True, nogil=True)
def ground_impedance(f_mhz: float, epsilon: float, sigma: float, pol: int) -> complex:
    """Surface transfer impedance Z_g of the ground (pol 0 horizontal, 1 vertical)."""
    wn = f_mhz / 47.7
    ep_r = complex(epsilon, 376.62 * sigma / wn)
    z = cmath.sqrt(ep_r - 1.0)
    if pol == 1:
        z = z / ep_r
    return z


@njit(cache=True, nogil=True)
def _dim(x: float, y: float) -> float:
    # Fortran DIM: positive difference.
    return x - y if x > y else 0.0


# ---------------------------------------------------------------------------------------------
# Terrain analysis (point-to-point).  Separate kernels so an incremental radial version can reuse
# them on profile prefixes.
# ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def mean_path_height_m(elev_m: np.ndarray) -> float:
    """Mean terrain height over the profile, leaving out the first and last 10 % of points."""
    n = elev_m.shape[0] - 1
    p10 = int(0.1 * n)
    total = 0.0
    for i in range(p10, n - p10 + 1):
        total += elev_m[i]
    return total / (n - 2 * p10 + 1)


@njit(cache=True, nogil=True)
def find_horizons(
    elev_m: np.ndarray, spacing_m: float, h_tx_m: float, h_rx_m: float, gamma_e: float
) -> tuple[float, float, float, float]:
    """Horizon elevation angles (rad) and distances (m) of both terminals.

    Returns ``(theta_tx, theta_rx, d_hzn_tx_m, d_hzn_rx_m)``.  On a line-of-sight path both
    horizons are the other terminal (distance = path length).  The receiver horizon is only
    searched from the first point that blocks the transmitter's view of the receiver onwards.
    """
    n = elev_m.shape[0] - 1
    d_m = n * spacing_m
    z_tx = elev_m[0] + h_tx_m
    z_rx = elev_m[n] + h_rx_m
    qc = 0.5 * gamma_e
    slope = (z_rx - z_tx) / d_m
    theta_tx = slope - qc * d_m
    theta_rx = -slope - qc * d_m
    d_tx = d_m
    d_rx = d_m
    blocked = False
    for i in range(1, n):
        s_a = i * spacing_m
        s_b = d_m - s_a
        a = (elev_m[i] - z_tx) / s_a - qc * s_a
        if a > theta_tx:
            theta_tx = a
            d_tx = s_a
            blocked = True
        if blocked:
            b = (elev_m[i] - z_rx) / s_b - qc * s_b
            if b > theta_rx:
                theta_rx = b
                d_rx = s_b
    return theta_tx, theta_rx, d_tx, d_rx


@njit(cache=True, nogil=True)
def least_squares_fit(
    elev_m: np.ndarray, spacing_m: float, x1_m: float, x2_m: float
) -> tuple[float, float]:
    """Straight line fitted to the terrain between ``x1_m`` and ``x2_m``.

    The window (clamped to the profile) is widened to whole samples (start rounded down, end
    rounded up, one more each side if that leaves no interval); end samples get half weight.  Returns the fitted heights at the two ends of the *whole*
    profile, ``(z_at_tx, z_at_rx)``.
    """
    xn = float(elev_m.shape[0] - 1)
    # Clamp and order the window: a no-op for the model's own windows (0 <= x1 <= x2 <= d), and
    # it keeps an odd caller from reading outside the profile.
    d_m = xn * spacing_m
    x1_m, x2_m = min(max(x1_m, 0.0), d_m), min(max(x2_m, 0.0), d_m)
    if x2_m < x1_m:
        x1_m, x2_m = x2_m, x1_m
    xa = float(int(_dim(x1_m / spacing_m, 0.0)))
    xb = xn - float(int(_dim(xn, x2_m / spacing_m)))
    if xb <= xa:
        xa = _dim(xa, 1.0)
        xb = xn - _dim(xn, xb + 1.0)
    ja = int(xa)
    jb = int(xb)
    width = xb - xa
    x = -0.5 * width
    centre = xb + x
    a = 0.5 * (elev_m[ja] + elev_m[jb])
    b = 0.5 * (elev_m[ja] - elev_m[jb]) * x
    for j in range(ja + 1, jb):
        x += 1.0
        a += elev_m[j]
        b += elev_m[j] * x
    a /= width
    b = b * 12.0 / ((width * width + 2.0) * width)
    return a - b * centre, a + b * (xn - centre)


#: Most points :func:`terrain_irregularity_m` resamples (k = 25).
DELTA_H_MAX_SAMPLES = 245
#: Floats of scratch :func:`terrain_irregularity_into` needs: the samples, their sort keys and
#: two spare slots.
DELTA_H_SCRATCH = 2 * DELTA_H_MAX_SAMPLES + 2
#: Most distinct values :func:`_two_order_statistics` steps over before it leaves the job to a
#: quickselect.
_KTH_MAX_STEPS = 5
#: Number of runs (stretches where the resampled points keep the same offset to the profile
#: points) above which the resampling takes the plain per-point loop: only short windows
#: resampled much more finely than the profile have more.
_MAX_RUNS = 12
_I64_MAX = np.iinfo(np.int64).max
_MAGNITUDE_BITS = 0x7FFFFFFFFFFFFFFF
_FAST_SUMS = {"reassoc", "nsz", "contract"}


@njit(cache=True, nogil=True)
def _select_kth(a: np.ndarray, lo: int, hi: int, k: int) -> None:
    # Quickselect (Hoare partition, median of three) on a[lo:hi], in place: afterwards a[k]
    # holds the value np.sort would put there, a[lo:k] <= a[k] <= a[k+1:hi].
    hi -= 1
    while hi > lo:
        mid = (lo + hi) >> 1
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@njit(cache=True, nogil=True)
def _interp_point(elev_m, x: float, k_first: int, n_int: int, ref: float) -> float:
    # Hufford's DLTHX interpolation at x (in samples): between profile points k - 1 and k with
    # k = ceil(x) kept within [k_first, n_int] (his walk starts at int(xa) + 1, never passes the
    # last point).  Heights relative to ``ref`` (the fit is shift-invariant).
    k = min(max(int(math.ceil(x)), k_first), n_int)
    return (elev_m[k] - ref) + (elev_m[k] - elev_m[k - 1]) * (x - k)


@njit(cache=True, nogil=True)
def _interp_run(elev_m, samples, j0: int, j1: int, c: int, xa: float, step: float, ref: float) -> int:
    # _interp_point for j in [j0, j1) on the assumption k_j = j + c: the loads are contiguous
    # and the indices start at 0, so the loop vectorises.  Returns how many j break the
    # assumption (x_j outside (k_j - 1, k_j]); the caller redoes the points if any do.
    zs = elev_m[j0 + c - 1 :]
    out = samples[j0:]
    kb = float(j0 + c)
    bad = 0
    for i in range(j1 - j0):
        x = xa + (j0 + i) * step
        k = kb + i
        z1 = zs[i + 1]
        out[i] = (z1 - ref) + (z1 - zs[i]) * (x - k)
        bad += (x <= k - 1.0) | (x > k)
    return bad


@njit(cache=True, nogil=True)
def _resample(elev_m, samples, n: int, xa: float, step: float, k_first: int, n_int: int, ref: float) -> None:
    # samples[j] = _interp_point(xa + j * step), j < n, in runs of constant k_j - j where the
    # step is close to one profile spacing (the usual case: 10k - 5 points over about as many
    # samples); every point of a run is checked, so the values are always _interp_point's.
    samples[0] = _interp_point(elev_m, xa, k_first, n_int, ref)
    samples[n - 1] = _interp_point(elev_m, xa + (n - 1) * step, k_first, n_int, ref)
    drift = step - 1.0
    if abs(drift) * n < _MAX_RUNS - 1 and xa >= 0.0 and xa + (n - 2) * step <= n_int:
        # interior points: strictly inside (xa, xb) within the profile, so the clamps never
        # apply and every index read is in range (a window reaching outside the profile, which
        # the model's own windows never do, takes the point-by-point loop)
        j = 1
        bad = 0
        while j < n - 1 and bad == 0:
            c = int(math.ceil(xa + j * step)) - j
            # where ceil(xa + m (1 + drift)) - m = ceil(xa + m drift) leaves c (guess)
            if drift > 0.0:
                end = int((c - xa) / drift) + 1
            elif drift < 0.0:
                end = int(math.ceil((c - 1 - xa) / drift))
            else:
                end = n - 1
            end = min(max(end, j + 1), n - 1, n_int - c + 1)  # reads stay <= n_int
            bad = _interp_run(elev_m, samples, j, end, c, xa, step, ref)
            j = end
        if bad == 0:
            return
    for j in range(1, n - 1):
        samples[j] = _interp_point(elev_m, xa + j * step, k_first, n_int, ref)


@njit(cache=True, nogil=True, fastmath=_FAST_SUMS)
def _sums(samples, n: int) -> tuple[float, float]:
    # sum of v_j and of j v_j (reassociated: vectorised; differs from a left-to-right sum in
    # the last bits only)
    s = 0.0
    t = 0.0
    for j in range(n):
        v = samples[j]
        s += v
        t += j * v
    return s, t


@njit(cache=True, nogil=True)
def _sort_keys(bits, keys, n: int) -> None:
    # int64 keys in the order of the float64 values whose bits are given (negatives flipped);
    # a bijection, so a key found is turned back into its exact value.
    for j in range(n):
        b = bits[j]
        keys[j] = b ^ ((b >> 63) & _MAGNITUDE_BITS)


@njit(cache=True, nogil=True)
def _keys_and_counts(bits, keys, n: int, p_lo: int, p_hi: int) -> tuple[int, int, int, int]:
    # _sort_keys, counting on the way the keys below / at most p_lo and at least / above p_hi
    lt = 0
    le = 0
    ge = 0
    gt = 0
    for j in range(n):
        b = bits[j]
        v = b ^ ((b >> 63) & _MAGNITUDE_BITS)
        keys[j] = v
        lt += v < p_lo
        le += v <= p_lo
        ge += v >= p_hi
        gt += v > p_hi
    return lt, le, ge, gt


@njit(cache=True, nogil=True)
def _step_pass(keys, n: int, flip_a: int, after_a: int, count_a: int, flip_b: int, after_b: int,
               count_b: int) -> tuple[int, int, int, int]:
    # For two walkers at once, on keys ^ flip (flip -1 reverses the order): the smallest such
    # key above ``after`` and how many equal ``count``.  Integer min and sums: vectorised.
    m_a = _I64_MAX
    c_a = 0
    m_b = _I64_MAX
    c_b = 0
    for j in range(n):
        v = keys[j]
        a = v ^ flip_a
        m_a = min(m_a, a if a > after_a else _I64_MAX)
        c_a += a == count_a
        b = v ^ flip_b
        m_b = min(m_b, b if b > after_b else _I64_MAX)
        c_b += b == count_b
    return m_a, c_a, m_b, c_b


@njit(cache=True, nogil=True)
def _walk_start(n: int, k: int, p: int, n_lt: int, n_le: int) -> tuple[int, int, int, bool]:
    # A walker for the k-th smallest key (0-based) from the pivot key p (n_lt / n_le keys are
    # < / <= p): (flip, rank, passed, done) in the flipped order where the answer lies above
    # the pivot; ``passed`` keys are at or below it.  done: the pivot itself is the answer.
    if n_lt <= k < n_le:
        return 0, k, n_le, True
    if n_le <= k:
        return 0, k, n_le, False
    return -1, n - 1 - k, n - n_lt, False


@njit(cache=True, nogil=True)
def _walk_step(rank: int, passed: int, cand: int, cand_counted: bool, found: int, count: int):
    # One pass's news for a walker: ``found`` is the next key above its last threshold and
    # ``count`` how many keys equal ``cand`` (when cand_counted).  Returns
    # (done, answer, passed, next_cand) where next_cand is both the next threshold and the next
    # key to count.
    if cand_counted:
        passed += count
        if rank < passed:
            return True, cand, passed, cand
    if rank == passed:
        return True, found, passed, found
    return False, 0, passed, found


@njit(cache=True, nogil=True)
def _two_order_statistics(keys, n: int, k_lo: int, k_hi: int, p_lo: int, p_hi: int,
                          lt: int, le: int, ge: int, gt: int) -> tuple[int, bool, int, bool]:
    # Keys of the k_lo-th and k_hi-th smallest, walked to from the pivot keys value by value,
    # both in the same passes: the answer a distance r away costs r + 1 passes.  A walker more
    # than _KTH_MAX_STEPS values away gives up (found False) and leaves it to a quickselect.
    flip_a, rank_a, passed_a, done_a = _walk_start(n, k_lo, p_lo, lt, le)
    flip_b, rank_b, passed_b, done_b = _walk_start(n, k_hi, p_hi, n - ge, n - gt)
    ans_a = p_lo
    ans_b = p_hi
    after_a = p_lo ^ flip_a
    after_b = p_hi ^ flip_b
    counted_a = False
    counted_b = False
    for _ in range(_KTH_MAX_STEPS + 1):
        if done_a and done_b:
            break
        m_a, c_a, m_b, c_b = _step_pass(
            keys, n, flip_a, after_a, after_a if counted_a else _I64_MAX,
            flip_b, after_b, after_b if counted_b else _I64_MAX,
        )
        if not done_a:
            done_a, ans, passed_a, after_a = _walk_step(rank_a, passed_a, after_a, counted_a,
                                                        m_a, c_a)
            ans_a = ans ^ flip_a
            counted_a = True
        if not done_b:
            done_b, ans, passed_b, after_b = _walk_step(rank_b, passed_b, after_b, counted_b,
                                                        m_b, c_b)
            ans_b = ans ^ flip_b
            counted_b = True
    return ans_a, done_a, ans_b, done_b


@njit(cache=True, nogil=True)
def terrain_irregularity_into(
    elev_m: np.ndarray,
    spacing_m: float,
    x1_m: float,
    x2_m: float,
    scratch: np.ndarray,
    pivot_lo: float,
    pivot_hi: float,
) -> tuple[float, float, float]:
    """:func:`terrain_irregularity_m` with caller-provided scratch and selection hints.

    Returns ``(delta_h_m, q_lo, q_hi)``: the result and the two detrended order statistics it
    came from (the 10 % and 90 % points).  ``scratch`` (``DELTA_H_SCRATCH`` floats) is
    overwritten; nothing is allocated.  ``pivot_lo`` / ``pivot_hi`` are guesses of the 10 %
    and 90 % points (a radial caller passes the previous receiver's): each order statistic is
    then found by stepping from its guess through the few values in between, one vectorised
    pass per value; a far or NaN guess leaves it to a quickselect over all the points.  The
    guesses only change the speed, never the result: the values are exactly the ones a sort
    would give.
    """
    n_int = elev_m.shape[0] - 1
    xa = x1_m / spacing_m
    xb = x2_m / spacing_m
    if xb - xa < 2.0:
        return 0.0, 0.0, 0.0
    ka = int(0.1 * (xb - xa + 8.0))
    ka = min(max(4, ka), 25)
    n = 10 * ka - 5
    sn = float(n - 1)
    step = (xb - xa) / sn
    samples = scratch[:n]
    k_first = int(xa + 1.0)
    _resample(elev_m, samples, n, xa, step, k_first, n_int, elev_m[k_first - 1])
    s_all, t_all = _sums(samples, n)
    # least_squares_fit(samples, 1.0, 0.0, sn): half weight at both ends, centred abscissae
    first = samples[0]
    last = samples[n - 1]
    x0 = -0.5 * sn
    inner = s_all - first - last
    a = (0.5 * (first + last) + inner) / sn
    b = 0.5 * (first - last) * x0 + (t_all - sn * last) + x0 * inner
    b = b * 12.0 / ((sn * sn + 2.0) * sn)
    z0 = a - b * 0.5 * sn
    for j in range(n):
        samples[j] = samples[j] - (z0 + b * j)
    # ascending order statistics: the ka-th smallest and the ka-th largest
    lo_idx = ka - 1
    hi_idx = n - ka
    found_lo = False
    found_hi = False
    q_lo = q_hi = 0.0
    if math.isfinite(s_all) and pivot_lo == pivot_lo and pivot_hi == pivot_hi:
        keys = scratch[DELTA_H_MAX_SAMPLES : DELTA_H_MAX_SAMPLES + n].view(np.int64)
        spare = scratch[2 * DELTA_H_MAX_SAMPLES : 2 * DELTA_H_MAX_SAMPLES + 2]
        spare_bits = spare.view(np.int64)
        spare[0] = pivot_lo
        spare[1] = pivot_hi
        _sort_keys(spare_bits, spare_bits, 2)
        key_lo = spare_bits[0]
        key_hi = spare_bits[1]
        lt, le, ge, gt = _keys_and_counts(samples.view(np.int64), keys, n, key_lo, key_hi)
        key_lo, found_lo, key_hi, found_hi = _two_order_statistics(
            keys, n, lo_idx, hi_idx, key_lo, key_hi, lt, le, ge, gt
        )
        spare_bits[0] = key_lo
        spare_bits[1] = key_hi
        _sort_keys(spare_bits, spare_bits, 2)  # the map is its own inverse
        q_lo = spare[0]
        q_hi = spare[1]
    if not found_lo:
        _select_kth(samples, 0, n, lo_idx)
        q_lo = samples[lo_idx]
        if not found_hi:
            _select_kth(samples, lo_idx + 1, n, hi_idx)
            q_hi = samples[hi_idx]
    elif not found_hi:
        _select_kth(samples, 0, n, hi_idx)
        q_hi = samples[hi_idx]
    q_lo += 0.0  # -0.0 -> +0.0: the key order puts -0.0 first, a sort treats them as equal
    q_hi += 0.0
    spread = q_hi - q_lo
    return spread / (1.0 - 0.8 * math.exp(-(x2_m - x1_m) / 50.0e3)), q_lo, q_hi


@njit(cache=True, nogil=True)
def terrain_irregularity_m(elev_m: np.ndarray, spacing_m: float, x1_m: float, x2_m: float) -> float:
    """Terrain irregularity delta_h (m) between ``x1_m`` and ``x2_m``.

    The terrain is resampled at 10k-5 equally spaced points (k = 4..25), a least-squares line is
    removed, and the spread between the 10 % and 90 % values is scaled to the asymptotic
    interdecile range: ``dh(d) = dh_inf * (1 - 0.8 exp(-d / 50 km))``.
    """
    dh, _, _ = terrain_irregularity_into(
        elev_m, spacing_m, x1_m, x2_m, np.empty(DELTA_H_SCRATCH), math.nan, math.nan
    )
    return dh


@njit(cache=True, nogil=True)
def p2p_geometry(
    elev_m: np.ndarray, spacing_m: float, h_tx_m: float, h_rx_m: float, gamma_e: float
) -> tuple[float, float, float, float, float, float, float]:
    """Point-to-point path parameters from a terrain profile.

    Returns ``(theta_tx, theta_rx, d_hzn_tx_m, d_hzn_rx_m, h_e_tx_m, h_e_rx_m, delta_h_m)``.
    On a line-of-sight path (horizons farther than 1.5 x the path) the horizons are replaced by
    their smooth-earth estimates for the effective heights, as the area mode does.
    """
    n = elev_m.shape[0] - 1
    d_m = n * spacing_m
    th_tx, th_rx, dl_tx, dl_rx = find_horizons(elev_m, spacing_m, h_tx_m, h_rx_m, gamma_e)
    x_tx = min(15.0 * h_tx_m, 0.1 * dl_tx)
    x_rx = d_m - min(15.0 * h_rx_m, 0.1 * dl_rx)
    delta_h = terrain_irregularity_m(elev_m, spacing_m, x_tx, x_rx)
    if dl_tx + dl_rx > 1.5 * d_m:
        fit_tx, fit_rx = least_squares_fit(elev_m, spacing_m, x_tx, x_rx)
        he_tx = h_tx_m + _dim(elev_m[0], fit_tx)
        he_rx = h_rx_m + _dim(elev_m[n], fit_rx)
        dl_tx = _smooth_horizon_m(he_tx, gamma_e, delta_h)
        dl_rx = _smooth_horizon_m(he_rx, gamma_e, delta_h)
        total = dl_tx + dl_rx
        if total <= d_m:
            scale = (d_m / total) ** 2
            he_tx *= scale
            he_rx *= scale
            dl_tx = _smooth_horizon_m(he_tx, gamma_e, delta_h)
            dl_rx = _smooth_horizon_m(he_rx, gamma_e, delta_h)
        th_tx = _smooth_horizon_angle(he_tx, dl_tx, gamma_e, delta_h)
        th_rx = _smooth_horizon_angle(he_rx, dl_rx, gamma_e, delta_h)
    else:
        fit_tx, _ = least_squares_fit(elev_m, spacing_m, x_tx, 0.9 * dl_tx)
        he_tx = h_tx_m + _dim(elev_m[0], fit_tx)
        _, fit_rx = least_squares_fit(elev_m, spacing_m, d_m - 0.9 * dl_rx, x_rx)
        he_rx = h_rx_m + _dim(elev_m[n], fit_rx)
    return th_tx, th_rx, dl_tx, dl_rx, he_tx, he_rx, delta_h


@njit(cache=True, nogil=True)
def _smooth_horizon_m(h_e_m: float, gamma_e: float, delta_h_m: float) -> float:
    return math.sqrt(2.0 * h_e_m / gamma_e) * math.exp(
        -0.07 * math.sqrt(delta_h_m / max(h_e_m, 5.0))
    )


@njit(cache=True, nogil=True)
def _smooth_horizon_angle(h_e_m: float, d_hzn_m: float, gamma_e: float, delta_h_m: float) -> float:
    q = math.sqrt(2.0 * h_e_m / gamma_e)
    return (0.65 * delta_h_m * (q / d_hzn_m - 1.0) - 2.0 * h_e_m) / q


@njit(cache=True, nogil=True)
def area_geometry(
    h_m: float, siting: int, delta_h_m: float, gamma_e: float
) -> tuple[float, float, float]:
    """Area-mode effective height, horizon distance and horizon angle of one terminal.

    ``siting``: 0 random, 1 careful, 2 very careful.  Returns ``(h_e_m, d_hzn_m, theta_hzn)``.
    """
    if siting <= 0:
        h_e = h_m
    else:
        q = 4.0 if siting == 1 else 9.0
        if h_m < 5.0:
            q *= math.sin(0.3141593 * h_m)
        h_e = h_m + (1.0 + q) * math.exp(-min(20.0, 2.0 * h_m / max(1e-3, delta_h_m)))
    d_hzn = _smooth_horizon_m(h_e, gamma_e, delta_h_m)
    return h_e, d_hzn, _smooth_horizon_angle(h_e, d_hzn, gamma_e, delta_h_m)


# ---------------------------------------------------------------------------------------------
# Reference attenuation: line of sight, diffraction, troposcatter
# ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _knife_edge_db(v2: float) -> float:
    if v2 < 5.76:
        return 6.02 + 9.11 * math.sqrt(v2) - 1.27 * v2
    return 12.953 + 4.343 * math.log(v2)


@njit(cache=True, nogil=True)
def _height_gain_db(x: float, pk: float) -> float:
    # Height-gain function of the smooth-earth diffraction (Vogler's approximation).
    if x < 200.0:
        w = -math.log(pk)
        if pk < 1e-5 or x * w * w * w > 5495.0:
            v = -117.0
            if x > 1.0:
                v = 17.372 * math.log(x) + v
        else:
            v = 2.5e-5 * x * x / pk - 8.686 * w - 15.0
    else:
        v = 0.05751 * x - 4.343 * math.log(x)
        if x < 2000.0:
            w = 0.0134 * x * math.exp(-0.005 * x)
            v = (1.0 - w) * v + w * (17.372 * math.log(x) - 117.0)
    return v


@njit(cache=True, nogil=True)
def _diffraction_db(
    d_m: float,
    wn: float,
    gamma_e: float,
    delta_h_m: float,
    dl_tx: float,
    dl_rx: float,
    d_ml: float,
    theta_e: float,
    wd1: float,
    xd1: float,
    afo: float,
    qk: float,
    aht: float,
    xht: float,
) -> float:
    # Weighted blend of double knife-edge and smooth-earth (rounded) diffraction.
    th = theta_e + d_m * gamma_e
    ds = d_m - d_ml
    q = 0.0795775 * wn * ds * th * th
    a_knife = _knife_edge_db(q * dl_tx / (ds + dl_tx)) + _knife_edge_db(q * dl_rx / (ds + dl_rx))
    a = ds / th
    wa = (a * wn) ** _THIRD
    pk = qk / wa
    q = (1.607 - pk) * 151.0 * wa * th + xht
    a_round = 0.05751 * q - 4.343 * math.log(q) - aht
    q = (wd1 + xd1 / d_m) * min((1.0 - 0.8 * math.exp(-d_m / 50e3)) * delta_h_m * wn, 6283.2)
    w = 25.1 / (25.1 + math.sqrt(q))
    return a_round * w + (1.0 - w) * a_knife + afo


@njit(cache=True, nogil=True)
def _abs2(z: complex) -> float:
    return z.real * z.real + z.imag * z.imag


@njit(cache=True, nogil=True)
def _line_of_sight_db(
    d_m: float,
    wn: float,
    delta_h_m: float,
    he_tx: float,
    he_rx: float,
    z_g: complex,
    emd: float,
    aed: float,
    wls: float,
) -> float:
    # Two-ray (direct + rough-ground reflection) loss blended with the extrapolated diffraction line.
    q = (1.0 - 0.8 * math.exp(-d_m / 50e3)) * delta_h_m
    s = 0.78 * q * math.exp(-math.sqrt(math.sqrt(q / 16.0)))  # (q/16)^(1/4), without pow
    q = he_tx + he_rx
    sps = q / math.sqrt(d_m * d_m + q * q)
    r = (sps - z_g) / (sps + z_g) * math.exp(-min(10.0, wn * s * sps))
    q = _abs2(r)
    if q < 0.25 or q < sps:
        r = r * math.sqrt(sps / q)
    a_diff = emd * d_m + aed
    q = wn * he_tx * he_rx * 2.0 / d_m
    if q > 1.57:
        q = 3.14 - 2.4649 / q
    a_two_ray = -4.343 * math.log(_abs2(complex(math.cos(q), -math.sin(q)) + r))
    return (a_two_ray - a_diff) * wls + a_diff


@njit(cache=True, nogil=True)
def _h0_curve(r: float, et: float) -> float:
    # H0(r, eta_s): the frequency-gain function of troposcatter, interpolated in eta_s.
    a0 = (25.0, 80.0, 177.0, 395.0, 705.0)
    b0 = (24.0, 45.0, 68.0, 80.0, 105.0)
    it = int(et)
    if it <= 0:
        it = 1
        q = 0.0
    elif it >= 5:
        it = 5
        q = 0.0
    else:
        q = et - it
    x = (1.0 / r) ** 2
    v = 4.343 * math.log((a0[it - 1] * x + b0[it - 1]) * x + 1.0)
    if q != 0.0:
        v = (1.0 - q) * v + q * 4.343 * math.log((a0[it] * x + b0[it]) * x + 1.0)
    return v


@njit(cache=True, nogil=True)
def _f_theta_d(td: float) -> float:
    # F(theta * d): the attenuation function of troposcatter, in the common-log form of the
    # algorithm document.  Hufford's code rounds these to 4.343 ln, 1.086 ln and 2.171 ln; that
    # moves long troposcatter paths by ~0.005 dB and misses NTIA's v1.4 area table at 700/900 km.
    if td <= 10e3:
        return 133.4 + 0.332e-3 * td - 10.0 * math.log10(td)
    if td <= 70e3:
        return 104.6 + 0.212e-3 * td - 2.5 * math.log10(td)
    return 71.8 + 0.157e-3 * td + 5.0 * math.log10(td)


@njit(cache=True, nogil=True)
def _troposcatter_db(
    d_m: float,
    wn: float,
    gamma_e: float,
    n_s: float,
    he_tx: float,
    he_rx: float,
    th_tx: float,
    th_rx: float,
    theta_e: float,
    ad: float,
    rr: float,
    etq: float,
    h0_prev: float,
) -> tuple[float, float]:
    # Returns (loss, h0).  ``h0_prev`` is the H0 of the previous evaluation (-15 before any): a
    # large H0 is reused rather than recomputed, as the algorithm prescribes.  1001 dB means
    # "no troposcatter" (both terminals too low for the scatter volume).
    if h0_prev > 15.0:
        h0 = h0_prev
    else:
        th = th_tx + th_rx + d_m * gamma_e
        r2 = 2.0 * wn * th
        r1 = r2 * he_tx
        r2 *= he_rx
        if r1 < 0.2 and r2 < 0.2:
            return 1001.0, h0_prev
        ss = (d_m - ad) / (d_m + ad)
        q = rr / ss
        ss = max(0.1, ss)
        q = min(max(0.1, q), 10.0)
        z0 = (d_m - ad) * (d_m + ad) * th * 0.25 / d_m
        et = (etq * math.exp(-(min(1.7, z0 / 8.0e3) ** 6)) + 1.0) * z0 / 1.7556e3
        ett = max(et, 1.0)
        h0 = (_h0_curve(r1, ett) + _h0_curve(r2, ett)) * 0.5
        h0 += min(h0, (1.38 - math.log(ett)) * math.log(ss) * math.log(q) * 0.49)
        h0 = _dim(h0, 0.0)
        if et < 1.0:
            h0 = et * h0 + (1.0 - et) * 4.343 * math.log(
                ((1.0 + 1.4142 / r1) * (1.0 + 1.4142 / r2)) ** 2 * (r1 + r2) / (r1 + r2 + 2.8284)
            )
        if h0 > 15.0 and h0_prev >= 0.0:
            h0 = h0_prev
    th = theta_e + d_m * gamma_e
    loss = (
        _f_theta_d(th * d_m)
        + 4.343 * math.log(47.7 * wn * th**4)
        - 0.1 * (n_s - 301.0) * math.exp(-th * d_m / 40e3)
        + h0
    )
    return loss, h0


@njit(cache=True, nogil=True)
def reference_attenuation(
    d_m: float,
    f_mhz: float,
    h_tx_m: float,
    h_rx_m: float,
    he_tx: float,
    he_rx: float,
    dl_tx: float,
    dl_rx: float,
    th_tx: float,
    th_rx: float,
    gamma_e: float,
    n_s: float,
    delta_h_m: float,
    z_g: complex,
    p2p: bool,
) -> tuple[float, int, int]:
    """Reference attenuation A_ref (dB, relative to free space) of one path.

    Returns ``(a_ref_db, mode, warnings)``; ``mode`` is 1 line of sight, 2 diffraction,
    3 troposcatter.  ``p2p`` selects the point-to-point variant of the diffraction weighting.
    """
    warn = 0
    wn = f_mhz / 47.7
    a_e = 1.0 / gamma_e
    dls_tx = math.sqrt(2.0 * he_tx * a_e)
    dls_rx = math.sqrt(2.0 * he_rx * a_e)
    d_sml = dls_tx + dls_rx  # smooth-earth line-of-sight distance
    d_ml = dl_tx + dl_rx  # actual line-of-sight distance
    theta_e = max(th_tx + th_rx, -d_ml * gamma_e)

    if wn < 0.838 or wn > 210.0:
        warn |= WARN_FREQUENCY
    if h_tx_m < 1.0 or h_tx_m > 1000.0:
        warn |= WARN_TX_TERMINAL_HEIGHT
    if h_rx_m < 1.0 or h_rx_m > 1000.0:
        warn |= WARN_RX_TERMINAL_HEIGHT
    if abs(th_tx) > 200e-3:
        warn |= WARN_TX_HORIZON_ANGLE
    if abs(th_rx) > 200e-3:
        warn |= WARN_RX_HORIZON_ANGLE
    if dl_tx < 0.1 * dls_tx:
        warn |= WARN_TX_HORIZON_DISTANCE_1
    if dl_rx < 0.1 * dls_rx:
        warn |= WARN_RX_HORIZON_DISTANCE_1
    if dl_tx > 3.0 * dls_tx:
        warn |= WARN_TX_HORIZON_DISTANCE_2
    if dl_rx > 3.0 * dls_rx:
        warn |= WARN_RX_HORIZON_DISTANCE_2

    # Diffraction: constants of the path, then a straight line through two far points.
    q = h_tx_m * h_rx_m
    qk = he_tx * he_rx - q
    if p2p:
        q += 10.0
    wd1 = math.sqrt(1.0 + qk / q)
    xd1 = d_ml + theta_e / gamma_e
    q = (1.0 - 0.8 * math.exp(-d_sml / 50e3)) * delta_h_m
    q *= 0.78 * math.exp(-math.sqrt(math.sqrt(q / 16.0)))
    afo = min(15.0, 2.171 * math.log(1.0 + 4.77e-4 * h_tx_m * h_rx_m * wn * q))
    qk = 1.0 / abs(z_g)
    aht = 20.0
    xht = 0.0
    for j in range(2):
        dl = dl_tx if j == 0 else dl_rx
        he = he_tx if j == 0 else he_rx
        a = 0.5 * dl * dl / he
        wa = (a * wn) ** _THIRD
        pk = qk / wa
        q = (1.607 - pk) * 151.0 * wa * dl / a
        xht += q
        aht += _height_gain_db(q, pk)
    xae = (wn * gamma_e * gamma_e) ** (-_THIRD)
    d3 = max(d_sml, 1.3787 * xae + d_ml)
    d4 = d3 + 2.7574 * xae
    a3 = _diffraction_db(
        d3, wn, gamma_e, delta_h_m, dl_tx, dl_rx, d_ml, theta_e, wd1, xd1, afo, qk, aht, xht
    )
    a4 = _diffraction_db(
        d4, wn, gamma_e, delta_h_m, dl_tx, dl_rx, d_ml, theta_e, wd1, xd1, afo, qk, aht, xht
    )
    emd = (a4 - a3) / (d4 - d3)
    aed = a3 - emd * d3

    d_min = abs(he_tx - he_rx) / 200e-3
    if d_m > 1000e3:
        warn |= WARN_PATH_DISTANCE_TOO_BIG_1
    if d_m > 2000e3:
        warn |= WARN_PATH_DISTANCE_TOO_BIG_2
    if d_m < d_min:
        warn |= WARN_PATH_DISTANCE_TOO_SMALL_1
    if d_m < 1e3:
        warn |= WARN_PATH_DISTANCE_TOO_SMALL_2

    if d_m < d_sml:
        # Line of sight: fit A = ael + ak1 d + ak2 ln d through three points.
        wls = 0.021 / (0.021 + wn * delta_h_m / max(10e3, d_sml))
        d2 = d_sml
        a2 = aed + d2 * emd
        d0 = 1.908 * wn * he_tx * he_rx
        if aed >= 0.0:
            d0 = min(d0, 0.5 * d_ml)
            d1 = d0 + 0.25 * (d_ml - d0)
        else:
            d1 = max(-aed / emd, 0.25 * d_ml)
        a1 = _line_of_sight_db(d1, wn, delta_h_m, he_tx, he_rx, z_g, emd, aed, wls)
        fitted = False
        ak1 = 0.0
        ak2 = 0.0
        if d0 < d1:
            a0 = _line_of_sight_db(d0, wn, delta_h_m, he_tx, he_rx, z_g, emd, aed, wls)
            q = math.log(d2 / d0)
            ak2 = max(
                0.0,
                ((d2 - d0) * (a1 - a0) - (d1 - d0) * (a2 - a0))
                / ((d2 - d0) * math.log(d1 / d0) - (d1 - d0) * q),
            )
            fitted = aed >= 0.0 or ak2 > 0.0
            if fitted:
                ak1 = (a2 - a0 - ak2 * q) / (d2 - d0)
                if ak1 < 0.0:
                    ak1 = 0.0
                    ak2 = _dim(a2, a0) / q
                    if ak2 == 0.0:
                        ak1 = emd
            else:
                ak2 = 0.0
                ak1 = (a2 - a1) / (d2 - d1)
                if ak1 <= 0.0:
                    ak1 = emd
        if not fitted:
            ak1 = _dim(a2, a1) / (d2 - d1)
            ak2 = 0.0
            if ak1 == 0.0:
                ak1 = emd
        ael = a2 - ak1 * d2 - ak2 * math.log(d2)
        a_ref = ael + ak1 * d_m + ak2 * math.log(d_m)
        mode = MODE_LINE_OF_SIGHT
    else:
        # Beyond the horizon: diffraction line, or troposcatter line past d_x.
        ad = dl_tx - dl_rx
        rr = he_rx / he_tx
        if ad < 0.0:
            ad = -ad
            rr = 1.0 / rr
        etq = (5.67e-6 * n_s - 2.32e-3) * n_s + 0.031
        d5 = d_ml + 200e3
        d6 = d5 + 200e3
        a6, h0 = _troposcatter_db(
            d6, wn, gamma_e, n_s, he_tx, he_rx, th_tx, th_rx, theta_e, ad, rr, etq, -15.0
        )
        a5, h0 = _troposcatter_db(
            d5, wn, gamma_e, n_s, he_tx, he_rx, th_tx, th_rx, theta_e, ad, rr, etq, h0
        )
        if a5 < 1000.0:
            ems = (a6 - a5) / 200e3
            dx = max(
                d_sml,
                max(d_ml + 0.3 * xae * math.log(47.7 * wn), (a5 - aed - ems * d5) / (emd - ems)),
            )
            aes = (emd - ems) * dx + aed
        else:
            ems = emd
            aes = aed
            dx = 10.0e6
        if d_m > dx:
            a_ref = aes + ems * d_m
            mode = MODE_TROPOSCATTER
        else:
            a_ref = aed + emd * d_m
            mode = MODE_DIFFRACTION
    return max(a_ref, 0.0), mode, warn


# ---------------------------------------------------------------------------------------------
# Variability
# ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _curve(c1: float, c2: float, x1: float, x2: float, x3: float, de: float) -> float:
    r = de / x1
    return (c1 + c2 / (1.0 + ((de - x2) / x3) ** 2)) * r * r / (1.0 + r * r)


@njit(cache=True, nogil=True)
def variability_db(
    a_ref_db: float,
    d_m: float,
    f_mhz: float,
    he_tx: float,
    he_rx: float,
    delta_h_m: float,
    climate: int,
    mdvar: int,
    z_time: float,
    z_location: float,
    z_situation: float,
) -> tuple[float, int]:
    """Attenuation (dB, relative to free space) at the given standard normal deviates.

    ``mdvar`` 0 single message, 1 accidental, 2 mobile, 3 broadcast; +10 removes location
    variability, +20 removes direct situation variability.  Returns ``(a_db, warnings)``.
    """
    warn = 0
    k = climate - 1
    kdv = mdvar
    no_situation = kdv >= 20
    if no_situation:
        kdv -= 20
    no_location = kdv >= 10
    if no_location:
        kdv -= 10
    wn = f_mhz / 47.7

    # Effective distance: the horizon distances of 9000 km-radius earth plus a frequency term.
    dexa = math.sqrt(18e6 * he_tx) + math.sqrt(18e6 * he_rx) + (575.7e12 / wn) ** _THIRD
    if d_m < dexa:
        de = 130e3 * d_m / dexa
    else:
        de = 130e3 + d_m - dexa

    v_med = _curve(_BV1[k], _BV2[k], _XV1[k], _XV2[k], _XV3[k], de)
    q = math.log(0.133 * wn)
    g_minus = _BFM1[k] + _BFM2[k] / ((_BFM3[k] * q) ** 2 + 1.0)
    g_plus = _BFP1[k] + _BFP2[k] / ((_BFP3[k] * q) ** 2 + 1.0)
    sg_t_minus = _curve(_BSM1[k], _BSM2[k], _XSM1[k], _XSM2[k], _XSM3[k], de) * g_minus
    sg_t_plus = _curve(_BSP1[k], _BSP2[k], _XSP1[k], _XSP2[k], _XSP3[k], de) * g_plus
    sg_t_d = sg_t_plus * _BSD1[k]
    z_d = _BZD1[k]
    tgtd = (sg_t_plus - sg_t_d) * z_d
    if no_location:
        sg_l = 0.0
    else:
        q = (1.0 - 0.8 * math.exp(-d_m / 50e3)) * delta_h_m * wn
        sg_l = 10.0 * q / (q + 13.0)
    if no_situation:
        vs0 = 0.0
    else:
        vs0 = (5.0 + 3.0 * math.exp(-de / 100e3)) ** 2

    zt = z_time
    zl = z_location
    zc = z_situation
    if kdv == 0:
        zt = zc
        zl = zc
    elif kdv == 1:
        zl = zc
    elif kdv == 2:
        zl = zt
    if abs(zt) > 3.1 or abs(zl) > 3.1 or abs(zc) > 3.1:
        warn |= WARN_EXTREME_VARIABILITIES

    if zt < 0.0:
        sg_t = sg_t_minus
    elif zt <= z_d:
        sg_t = sg_t_plus
    else:
        sg_t = sg_t_d + tgtd / zt
    vs = vs0 + (sg_t * zt) ** 2 / (7.8 + zc * zc) + (sg_l * zl) ** 2 / (24.0 + zc * zc)
    if kdv == 0:
        yr = 0.0
        sg_c = math.sqrt(sg_t * sg_t + sg_l * sg_l + vs)
    elif kdv == 1:
        yr = sg_t * zt
        sg_c = math.sqrt(sg_l * sg_l + vs)
    elif kdv == 2:
        yr = math.sqrt(sg_t * sg_t + sg_l * sg_l) * zt
        sg_c = math.sqrt(vs)
    else:
        yr = sg_t * zt + sg_l * zl
        sg_c = math.sqrt(vs)
    a = a_ref_db - v_med - yr - sg_c * zc
    if a < 0.0:
        # Soft floor: a loss below free space approaches -29 dB... never below it.
        a = a * (29.0 - a) / (29.0 - 10.0 * a)
    return a, warn


# ---------------------------------------------------------------------------------------------
# Input validation (NTIA v1.4 return codes)
# ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _valid_mdvar(mdvar: int) -> bool:
    base = mdvar % 10
    return 0 <= mdvar <= 33 and base <= 3


@njit(cache=True, nogil=True)
def validate_common(
    h_tx_m: float,
    h_rx_m: float,
    climate: int,
    n_0: float,
    f_mhz: float,
    pol: int,
    epsilon: float,
    sigma: float,
    mdvar: int,
) -> int:
    """Return code for the inputs shared by both modes: 0, or the first ``ERROR_*`` found."""
    if not (0.5 <= h_tx_m <= 3000.0):
        return ERROR_TX_TERMINAL_HEIGHT
    if not (0.5 <= h_rx_m <= 3000.0):
        return ERROR_RX_TERMINAL_HEIGHT
    if climate < 1 or climate > 7:
        return ERROR_INVALID_RADIO_CLIMATE
    if not (250.0 <= n_0 <= 400.0):
        return ERROR_REFRACTIVITY
    if not (20.0 <= f_mhz <= 20000.0):
        return ERROR_FREQUENCY
    if pol != 0 and pol != 1:
        return ERROR_POLARIZATION
    if not (epsilon > 1.0):
        return ERROR_EPSILON
    if not (sigma > 0.0):
        return ERROR_SIGMA
    if not _valid_mdvar(mdvar):
        return ERROR_MDVAR
    z_g = ground_impedance(f_mhz, epsilon, sigma, pol)
    if z_g.real <= abs(z_g.imag):
        return ERROR_GROUND_IMPEDANCE
    return SUCCESS


@njit(cache=True, nogil=True)
def _pct_ok(p: float) -> bool:
    return 0.0 < p < 100.0


@njit(cache=True, nogil=True)
def validate_tls(time_pct: float, location_pct: float, situation_pct: float) -> int:
    """Return code for time / location / situation percentages (each strictly in 0..100)."""
    if not _pct_ok(time_pct):
        return ERROR_INVALID_TIME
    if not _pct_ok(location_pct):
        return ERROR_INVALID_LOCATION
    if not _pct_ok(situation_pct):
        return ERROR_INVALID_SITUATION
    return SUCCESS


@njit(cache=True, nogil=True)
def validate_profile(pfl: np.ndarray) -> int:
    """Return code for a PFL array: ``[n_intervals, spacing_m, z_0 .. z_n]``, n >= 1, finite."""
    if pfl.shape[0] < 4:
        return ERROR_PROFILE
    n = pfl[0]
    if not (n >= 1.0) or n != math.floor(n) or int(n) + 3 > pfl.shape[0]:
        return ERROR_PROFILE
    if not (pfl[1] > 0.0) or not math.isfinite(pfl[1]):
        return ERROR_PROFILE
    for i in range(2, int(n) + 3):
        if not math.isfinite(pfl[i]):
            return ERROR_PROFILE
    return SUCCESS


@njit(cache=True, nogil=True)
def _refractivity_checks(n_s: float, gamma_e: float) -> tuple[int, int]:
    # Returns (return code, warnings).
    if n_s > 400.0:
        return ERROR_SURFACE_REFRACTIVITY_LARGE, 0
    if gamma_e < 75e-9 or gamma_e > 250e-9:
        return ERROR_EFFECTIVE_EARTH, 0
    if n_s < 250.0:
        return SUCCESS, WARN_SURFACE_REFRACTIVITY
    return SUCCESS, 0


# ---------------------------------------------------------------------------------------------
# Whole predictions
# ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def p2p_path(
    elev_m: np.ndarray,
    spacing_m: float,
    h_tx_m: float,
    h_rx_m: float,
    climate: int,
    n_0: float,
    f_mhz: float,
    pol: int,
    epsilon: float,
    sigma: float,
    mdvar: int,
    z_time: float,
    z_location: float,
    z_situation: float,
) -> tuple[float, int, int, float, float, float, float, float, float, float, float, float, int]:
    """One point-to-point prediction on ``elev_m`` (tx first) at given normal deviates.

    No input validation (see :func:`validate_common`); ``elev_m`` needs at least 2 points.
    Returns ``(a_db, warnings, rc, theta_tx, theta_rx, d_hzn_tx_m, d_hzn_rx_m, h_e_tx_m,
    h_e_rx_m, n_s, delta_h_m, a_ref_db, mode)`` where ``a_db`` is basic transmission loss.
    """
    n = elev_m.shape[0] - 1
    d_m = n * spacing_m
    n_s = surface_refractivity(n_0, mean_path_height_m(elev_m))
    gamma_e = effective_curvature(n_s)
    rc, warn = _refractivity_checks(n_s, gamma_e)
    if rc != SUCCESS:
        nan = math.nan
        return nan, warn, rc, nan, nan, nan, nan, nan, nan, n_s, nan, nan, MODE_NOT_SET
    z_g = ground_impedance(f_mhz, epsilon, sigma, pol)
    th_tx, th_rx, dl_tx, dl_rx, he_tx, he_rx, delta_h = p2p_geometry(
        elev_m, spacing_m, h_tx_m, h_rx_m, gamma_e
    )
    a_ref, mode, w = reference_attenuation(
        d_m,
        f_mhz,
        h_tx_m,
        h_rx_m,
        he_tx,
        he_rx,
        dl_tx,
        dl_rx,
        th_tx,
        th_rx,
        gamma_e,
        n_s,
        delta_h,
        z_g,
        True,
    )
    warn |= w
    a_var, w = variability_db(
        a_ref, d_m, f_mhz, he_tx, he_rx, delta_h, climate, mdvar, z_time, z_location, z_situation
    )
    warn |= w
    a_db = a_var + free_space_loss_db(d_m, f_mhz)
    rc = SUCCESS_WITH_WARNINGS if warn != 0 else SUCCESS
    return a_db, warn, rc, th_tx, th_rx, dl_tx, dl_rx, he_tx, he_rx, n_s, delta_h, a_ref, mode


@njit(cache=True, nogil=True)
def _pack(
    d_m: float,
    f_mhz: float,
    th_tx: float,
    th_rx: float,
    dl_tx: float,
    dl_rx: float,
    he_tx: float,
    he_rx: float,
    n_s: float,
    delta_h: float,
    a_ref: float,
    mode: int,
) -> np.ndarray:
    out = np.empty(N_INTERMEDIATES)
    out[IV_THETA_HZN_TX] = th_tx
    out[IV_THETA_HZN_RX] = th_rx
    out[IV_D_HZN_TX_M] = dl_tx
    out[IV_D_HZN_RX_M] = dl_rx
    out[IV_H_E_TX_M] = he_tx
    out[IV_H_E_RX_M] = he_rx
    out[IV_N_S] = n_s
    out[IV_DELTA_H_M] = delta_h
    out[IV_A_REF_DB] = a_ref
    out[IV_A_FS_DB] = free_space_loss_db(d_m, f_mhz) if d_m > 0.0 else math.nan
    out[IV_D_KM] = d_m / 1000.0
    out[IV_MODE] = mode
    return out


@njit(cache=True, nogil=True)
def itm_p2p_tls_ex(
    pfl: np.ndarray,
    h_tx_m: float,
    h_rx_m: float,
    climate: int,
    n_0: float,
    f_mhz: float,
    pol: int,
    epsilon: float,
    sigma: float,
    mdvar: int,
    time_pct: float,
    location_pct: float,
    situation_pct: float,
) -> tuple[float, int, int, np.ndarray]:
    """Point-to-point ITM with time / location / situation percentages, NTIA PFL input.

    Returns ``(a_db, warnings, rc, intermediates)``; on an error ``rc`` >= 1000 and ``a_db`` is
    NaN.  ``intermediates`` follows the ``IV_*`` layout (angles in radians).
    """
    nan = math.nan
    rc = validate_profile(pfl)
    if rc == SUCCESS:
        rc = validate_common(h_tx_m, h_rx_m, climate, n_0, f_mhz, pol, epsilon, sigma, mdvar)
    if rc == SUCCESS:
        rc = validate_tls(time_pct, location_pct, situation_pct)
    if rc != SUCCESS:
        return nan, 0, rc, _pack(0.0, f_mhz, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    n = int(pfl[0])
    elev_m = pfl[2 : n + 3]
    spacing_m = pfl[1]
    res = p2p_path(
        elev_m,
        spacing_m,
        h_tx_m,
        h_rx_m,
        climate,
        n_0,
        f_mhz,
        pol,
        epsilon,
        sigma,
        mdvar,
        inverse_ccdf(time_pct / 100.0),
        inverse_ccdf(location_pct / 100.0),
        inverse_ccdf(situation_pct / 100.0),
    )
    a_db, warn, rc, th_tx, th_rx, dl_tx, dl_rx, he_tx, he_rx, n_s, delta_h, a_ref, mode = res
    return (
        a_db,
        warn,
        rc,
        _pack(
            n * spacing_m,
            f_mhz,
            th_tx,
            th_rx,
            dl_tx,
            dl_rx,
            he_tx,
            he_rx,
            n_s,
            delta_h,
            a_ref,
            mode,
        ),
    )


@njit(cache=True, nogil=True)
def cr_to_tls(confidence_pct: float, reliability_pct: float) -> tuple[float, float, float]:
    """Map confidence / reliability to (time, location, situation) percentages.

    Reliability is the time percentage, confidence the situation percentage, and location is
    held at its median (Hufford's two-parameter point-to-point use of AVAR).
    """
    return reliability_pct, 50.0, confidence_pct


@njit(cache=True, nogil=True)
def validate_cr(confidence_pct: float, reliability_pct: float) -> int:
    """Return code for confidence / reliability percentages (each strictly in 0..100)."""
    if not _pct_ok(confidence_pct):
        return ERROR_INVALID_CONFIDENCE
    if not _pct_ok(reliability_pct):
        return ERROR_INVALID_RELIABILITY
    return SUCCESS


@njit(cache=True, nogil=True)
def itm_area_tls_ex(
    h_tx_m: float,
    h_rx_m: float,
    tx_siting: int,
    rx_siting: int,
    d_km: float,
    delta_h_m: float,
    climate: int,
    n_0: float,
    f_mhz: float,
    pol: int,
    epsilon: float,
    sigma: float,
    mdvar: int,
    time_pct: float,
    location_pct: float,
    situation_pct: float,
) -> tuple[float, int, int, np.ndarray]:
    """Area-mode ITM with time / location / situation percentages.

    Returns ``(a_db, warnings, rc, intermediates)`` like :func:`itm_p2p_tls_ex`.
    """
    nan = math.nan
    rc = validate_common(h_tx_m, h_rx_m, climate, n_0, f_mhz, pol, epsilon, sigma, mdvar)
    if rc == SUCCESS:
        rc = validate_tls(time_pct, location_pct, situation_pct)
    if rc == SUCCESS and not (d_km > 0.0):
        rc = ERROR_PATH_DISTANCE
    if rc == SUCCESS and not (delta_h_m >= 0.0):
        rc = ERROR_DELTA_H
    if rc == SUCCESS and not (0 <= tx_siting <= 2):
        rc = ERROR_TX_SITING_CRITERIA
    if rc == SUCCESS and not (0 <= rx_siting <= 2):
        rc = ERROR_RX_SITING_CRITERIA
    if rc != SUCCESS:
        return nan, 0, rc, _pack(0.0, f_mhz, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    d_m = d_km * 1000.0
    n_s = n_0
    gamma_e = effective_curvature(n_s)
    rc, warn = _refractivity_checks(n_s, gamma_e)
    z_g = ground_impedance(f_mhz, epsilon, sigma, pol)
    he_tx, dl_tx, th_tx = area_geometry(h_tx_m, tx_siting, delta_h_m, gamma_e)
    he_rx, dl_rx, th_rx = area_geometry(h_rx_m, rx_siting, delta_h_m, gamma_e)
    a_ref, mode, w = reference_attenuation(
        d_m,
        f_mhz,
        h_tx_m,
        h_rx_m,
        he_tx,
        he_rx,
        dl_tx,
        dl_rx,
        th_tx,
        th_rx,
        gamma_e,
        n_s,
        delta_h_m,
        z_g,
        False,
    )
    warn |= w
    a_var, w = variability_db(
        a_ref,
        d_m,
        f_mhz,
        he_tx,
        he_rx,
        delta_h_m,
        climate,
        mdvar,
        inverse_ccdf(time_pct / 100.0),
        inverse_ccdf(location_pct / 100.0),
        inverse_ccdf(situation_pct / 100.0),
    )
    warn |= w
    a_db = a_var + free_space_loss_db(d_m, f_mhz)
    rc = SUCCESS_WITH_WARNINGS if warn != 0 else SUCCESS
    return (
        a_db,
        warn,
        rc,
        _pack(d_m, f_mhz, th_tx, th_rx, dl_tx, dl_rx, he_tx, he_rx, n_s, delta_h_m, a_ref, mode),
    )
