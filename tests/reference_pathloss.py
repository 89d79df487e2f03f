"""Slow, obvious references for the path loss kernels (plain Python, no Numba).

Written straight from the Recommendations' own notation and units (distances in km, C_e in
1/km, heights in m), independently of the fast kernels' curvature-corrected hull formulation,
so an agreement between the two means something.
"""

from __future__ import annotations

import math

import numpy as np

C = 299_792_458.0
EARTH_KM = 6371.0


def fspl_ref(distance_m: float, frequency_mhz: float) -> float:
    """ITU-R P.525 eq. (1): 20 log10(4 pi d / lambda)."""
    lam = C / (frequency_mhz * 1e6)
    return 20.0 * math.log10(4.0 * math.pi * distance_m / lam)


def path_length_ref(d_m: float, dz_m: float) -> float:
    return max(math.hypot(d_m, dz_m), 1.0)


def j_ref(v: float) -> float:
    """ITU-R P.526-15 eq. (31)."""
    if v <= -0.78:
        return 0.0
    return 6.9 + 20.0 * math.log10(math.sqrt((v - 0.1) ** 2 + 1.0) + v - 0.1)


def bullington_ref(d_km: list[float], h_m: list[float], h_ts: float, h_rs: float,
                   frequency_mhz: float, k: float = 4.0 / 3.0) -> float:
    """ITU-R P.526-15 §4.5 Bullington diffraction loss L_b (dB) over one profile.

    ``d_km[0] == 0`` is the transmitter, ``d_km[-1]`` the receiver; ``h_ts``, ``h_rs`` are the
    antenna heights above sea level.  Equations numbered as in §4.5.1 of the Recommendation.
    Degenerate geometry (the Bullington point at an end of the path, which only happens at
    exact grazing) is given v_b = 0, the limit of the formula.
    """
    n = len(d_km) - 1
    d = d_km[-1]
    lam = C / (frequency_mhz * 1e6)
    ce = 1.0 / (k * EARTH_KM)
    if n < 2:
        l_uc = 0.0
    else:
        inner = range(1, n)
        s_tim = max((h_m[i] + 500 * ce * d_km[i] * (d - d_km[i]) - h_ts) / d_km[i] for i in inner)
        s_tr = (h_rs - h_ts) / d
        if s_tim < s_tr:
            v_max = max(
                (h_m[i] + 500 * ce * d_km[i] * (d - d_km[i])
                 - (h_ts * (d - d_km[i]) + h_rs * d_km[i]) / d)
                * math.sqrt(0.002 * d / (lam * d_km[i] * (d - d_km[i])))
                for i in inner
            )
            l_uc = j_ref(v_max)
        else:
            s_rim = max((h_m[i] + 500 * ce * d_km[i] * (d - d_km[i]) - h_rs) / (d - d_km[i])
                        for i in inner)
            denom = s_tim + s_rim
            v_b = 0.0
            if denom > 0:
                d_b = (h_rs - h_ts + s_rim * d) / denom
                if 0 < d_b < d:
                    v_b = ((h_ts + s_tim * d_b - (h_ts * (d - d_b) + h_rs * d_b) / d)
                           * math.sqrt(0.002 * d / (lam * d_b * (d - d_b))))
            l_uc = j_ref(v_b)
    return l_uc + (1.0 - math.exp(-l_uc / 6.0)) * (10.0 + 0.02 * d)


def p526_link_ref(d_m, z_m, tx_h: float, rx_h: float, f_mhz: float, k: float = 4 / 3) -> float:
    """Free space + Bullington for one profile, transmitter at index 0, receiver at the end."""
    h_ts = z_m[0] + tx_h
    h_rs = z_m[-1] + rx_h
    fs = fspl_ref(path_length_ref(d_m[-1], h_ts - h_rs), f_mhz)
    if d_m[-1] == 0:
        return fs
    return fs + bullington_ref([x / 1000.0 for x in d_m], list(z_m), h_ts, h_rs, f_mhz, k)


def p526_ray_ref(d_m, z_m, tx_h, rx_h, f_mhz, k=4 / 3) -> np.ndarray:
    """The per-ray function done the slow way: a fresh profile 0..j for every receiver j."""
    return np.array([p526_link_ref(d_m[: j + 1], z_m[: j + 1], tx_h, rx_h, f_mhz, k)
                     for j in range(len(d_m))])


def bilinear_ref(elev: np.ndarray, r: float, c: float) -> float:
    rows, cols = elev.shape
    r = min(max(r, 0.0), rows - 1.0)
    c = min(max(c, 0.0), cols - 1.0)
    r0, c0 = int(math.floor(r)), int(math.floor(c))
    r1, c1 = min(r0 + 1, rows - 1), min(c0 + 1, cols - 1)
    fr, fc = r - r0, c - c0
    return float((elev[r0, c0] * (1 - fc) + elev[r0, c1] * fc) * (1 - fr)
                 + (elev[r1, c0] * (1 - fc) + elev[r1, c1] * fc) * fr)


def p526_cell_ref(elev: np.ndarray, cell_m: float, row_t: float, col_t: float, row: int, col: int,
                  tx_h: float, rx_h: float, f_mhz: float, k: float = 4 / 3) -> float:
    """P.526 loss to one cell centre over its own straight profile from the transmitter.

    The profile has ``ceil(d / cell)`` equal intervals (about one cell each) with bilinear heights.
    """
    dr, dc = row - row_t, col - col_t
    dist_cells = math.hypot(dr, dc)
    n = max(int(math.ceil(dist_cells - 1e-9)), 1)
    d_m = [dist_cells * cell_m * i / n for i in range(n + 1)]
    z_m = [bilinear_ref(elev, row_t + dr * i / n, col_t + dc * i / n) for i in range(n + 1)]
    return p526_link_ref(d_m, z_m, tx_h, rx_h, f_mhz, k)


def p526_map_ref(elev, cell_m, row_t, col_t, radius_m, tx_h, rx_h, f_mhz, k=4 / 3, cells=None):
    """Per-cell reference map (NaN outside the radius); ``cells`` limits it to some (r, c)."""
    rows, cols = elev.shape
    out = np.full((rows, cols), np.nan)
    todo = cells if cells is not None else [(r, c) for r in range(rows) for c in range(cols)]
    for r, c in todo:
        if math.hypot(r - row_t, c - col_t) * cell_m <= radius_m:
            out[r, c] = p526_cell_ref(elev, cell_m, row_t, col_t, r, c, tx_h, rx_h, f_mhz, k)
    return out


def hata_ref(d_km, f, hb, hm, env="urban") -> float:
    """Okumura-Hata as printed in Hata (1980) / COST 231 §4.4.1."""
    lf = math.log10(f)
    if env == "large_city":
        a = (8.29 * math.log10(1.54 * hm) ** 2 - 1.1) if f <= 300 else (
            3.2 * math.log10(11.75 * hm) ** 2 - 4.97)
    else:
        a = (1.1 * lf - 0.7) * hm - (1.56 * lf - 0.8)
    lu = 69.55 + 26.16 * lf - 13.82 * math.log10(hb) - a + (44.9 - 6.55 * math.log10(hb)) * math.log10(d_km)
    if env == "suburban":
        return lu - 2 * math.log10(f / 28) ** 2 - 5.4
    if env == "open":
        return lu - 4.78 * lf**2 + 18.33 * lf - 40.94
    return lu


def cost231_ref(d_km, f, hb, hm, env="urban") -> float:
    lf = math.log10(f)
    if env == "large_city":
        a = 3.2 * math.log10(11.75 * hm) ** 2 - 4.97
        cm = 3.0
    else:
        a = (1.1 * lf - 0.7) * hm - (1.56 * lf - 0.8)
        cm = 0.0
    loss = 46.3 + 33.9 * lf - 13.82 * math.log10(hb) - a + (44.9 - 6.55 * math.log10(hb)) * math.log10(d_km) + cm
    if env == "open":
        loss -= 4.78 * lf**2 - 18.33 * lf + 40.94
    return loss


def rma_ref(d2d, d3d, f_mhz, h_bs, h_ut, los, h=5.0, w=20.0) -> float:
    """TR 38.901 Table 7.4.1-1, RMa."""
    fc = f_mhz / 1000.0

    def pl1(d):
        return (20 * math.log10(40 * math.pi * d * fc / 3) + min(0.03 * h**1.72, 10) * math.log10(d)
                - min(0.044 * h**1.72, 14.77) + 0.002 * math.log10(h) * d)

    d_bp = 2 * math.pi * h_bs * h_ut * fc * 1e9 / C
    pl_los = pl1(d3d) if d2d <= d_bp else pl1(d_bp) + 40 * math.log10(d3d / d_bp)
    if los:
        return pl_los
    pl_n = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
            - (24.37 - 3.7 * (h / h_bs) ** 2) * math.log10(h_bs)
            + (43.42 - 3.1 * math.log10(h_bs)) * (math.log10(d3d) - 3)
            + 20 * math.log10(fc) - (3.2 * math.log10(11.75 * h_ut) ** 2 - 4.97))
    return max(pl_los, pl_n)


def geometric_los_ref(d_m, z_m, tx_h, rx_h, k=4 / 3) -> bool:
    """Whether the receiver at the end of the profile sees the antenna over a k-earth."""
    n = len(d_m) - 1
    if n < 2:
        return True
    d = d_m[-1] / 1000
    ce = 1 / (k * EARTH_KM)
    h_ts, h_rs = z_m[0] + tx_h, z_m[-1] + rx_h
    s_tim = max((z_m[i] + 500 * ce * d_m[i] / 1000 * (d - d_m[i] / 1000) - h_ts) / (d_m[i] / 1000)
                for i in range(1, n))
    return s_tim < (h_rs - h_ts) / d


def sample_rays_ref(elev, row_t, col_t, drow, dcol, step_cells, n_samples):
    """Heights along each ray, one bilinear lookup at a time; stops > 1 cell outside the grid."""
    rows, cols = elev.shape
    z = np.full((len(drow), n_samples), np.nan)
    n_valid = np.zeros(len(drow), dtype=np.int64)
    for ray, (a, b) in enumerate(zip(drow, dcol, strict=True)):
        norm = math.hypot(a, b)
        ur, uc = a / norm * step_cells, b / norm * step_cells
        for k in range(n_samples):
            r, c = row_t + k * ur, col_t + k * uc
            if r < -1 or r > rows or c < -1 or c > cols:
                break
            z[ray, k] = bilinear_ref(elev, r, c)
            n_valid[ray] = k + 1
    return z, n_valid


def assign_cells_ref(loss, n_valid, drow, dcol, row_t, col_t, step_cells, radius_cells, rows,
                     cols):
    """For each cell within the radius, the values it may take: one per angularly nearest ray
    (several only on an exact tie), linear between the samples bracketing its distance."""
    angles = np.arctan2(drow, dcol)
    out = {}
    for i in range(rows):
        for j in range(cols):
            dr, dc = i - row_t, j - col_t
            d = math.hypot(dr, dc)
            if d > radius_cells:
                continue
            a = math.atan2(dr, dc)
            gaps = np.abs(np.angle(np.exp(1j * (angles - a))))
            best = [int(r) for r in np.nonzero(gaps <= gaps.min() + 1e-12)[0]] if d > 0 else None
            vals = []
            for ray in best if best is not None else range(len(drow)):
                last = n_valid[ray] - 1
                s = d / step_cells
                k = int(math.floor(s))
                if k >= last:
                    vals.append(loss[ray, last])
                else:
                    w = s - k
                    vals.append(loss[ray, k] * (1 - w) + loss[ray, k + 1] * w)
            out[(i, j)] = vals
    return out
