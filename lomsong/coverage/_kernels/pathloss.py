"""Closed-form path loss kernels (Numba, scalars in, scalars out).

Every function here is a pure ``@njit(cache=True, nogil=True)`` function of scalars; the
per-ray and per-map work that calls them lives in :mod:`lomsong.coverage._kernels.radial`.
Each one has a slow, obvious twin in ``tests/reference_pathloss.py``.

Sources
-------
* Free space: ITU-R P.525-4 eq. (1), ``L_bf = 20 log10(4 pi d / lambda)``.
* Knife edge: ITU-R P.526-15 eq. (31), ``J(v) = 6.9 + 20 log10(sqrt((v-0.1)^2+1) + v - 0.1)``
  for ``v > -0.78``, else 0.
* Bullington correction: ITU-R P.526-15 §4.5,
  ``L_b = L_uc + (1 - exp(-L_uc / 6)) (10 + 0.02 d_km)``.
* Okumura-Hata: M. Hata, "Empirical formula for propagation loss in land mobile radio
  services", IEEE Trans. Veh. Technol. VT-29(3), 1980 (as restated in ITU-R P.529-3 and in
  COST 231 final report §4.4.1).  Validity 150-1500 MHz, h_b 30-200 m, h_m 1-10 m, 1-20 km.
* COST-231-Hata: COST Action 231 final report (1999), §4.4.1.  Validity 1500-2000 MHz, same
  heights and distances as Hata.
* RMa: 3GPP TR 38.901 (v17) Table 7.4.1-1, rural macro, LOS/NLOS with breakpoint distance.
"""

from __future__ import annotations

import math

from numba import njit

#: Speed of light in vacuum, m/s (exact, SI).
SPEED_OF_LIGHT_M_S = 299_792_458.0
#: Mean Earth radius used by ITU-R P.452 / P.526 / P.1812 (6371 km).
EARTH_RADIUS_M = 6_371_000.0

# Environment codes shared by the Hata family (the registry maps names to these).
ENV_LARGE_CITY = 0
ENV_URBAN = 1  # small / medium city: Hata's base formula
ENV_SUBURBAN = 2
ENV_OPEN = 3  # open / rural area


@njit(cache=True, nogil=True)
def fspl_db(distance_m: float, frequency_mhz: float) -> float:
    """Free-space basic transmission loss, ITU-R P.525 eq. (1), in dB.

    ``20 log10(4 pi d f / c)``; ``distance_m`` must be > 0 (callers clamp it to >= 1 m).
    """
    return 20.0 * math.log10(
        4.0 * math.pi * distance_m * frequency_mhz * 1.0e6 / SPEED_OF_LIGHT_M_S
    )


@njit(cache=True, nogil=True)
def knife_edge_j_db(v: float) -> float:
    """Single knife-edge diffraction loss J(v) in dB, ITU-R P.526-15 eq. (31).

    ``6.9 + 20 log10(sqrt((v - 0.1)^2 + 1) + v - 0.1)`` for ``v > -0.78``, else 0.
    """
    if v <= -0.78:
        return 0.0
    t = v - 0.1
    return 6.9 + 20.0 * math.log10(math.sqrt(t * t + 1.0) + t)


@njit(cache=True, nogil=True)
def bullington_correction_db(l_uc_db: float, distance_m: float) -> float:
    """P.526-15 §4.5 corrected Bullington loss from the uncorrected knife-edge loss.

    ``L_b = L_uc + (1 - exp(-L_uc / 6)) (10 + 0.02 d)`` with ``d`` in km.
    """
    return l_uc_db + (1.0 - math.exp(-l_uc_db / 6.0)) * (10.0 + 0.02 * distance_m * 1.0e-3)


@njit(cache=True, nogil=True)
def _hata_mobile_correction_db(frequency_mhz: float, rx_height_m: float, env: int) -> float:
    """Hata's mobile antenna height correction a(h_m) in dB."""
    if env == ENV_LARGE_CITY:
        # Hata gives the large-city form for f <= 200 MHz and f >= 400 MHz; the usual split
        # between the two (e.g. COST 231 §4.4.1 restatements) is at 300 MHz.
        if frequency_mhz <= 300.0:
            t = math.log10(1.54 * rx_height_m)
            return 8.29 * t * t - 1.1
        t = math.log10(11.75 * rx_height_m)
        return 3.2 * t * t - 4.97
    lf = math.log10(frequency_mhz)
    return (1.1 * lf - 0.7) * rx_height_m - (1.56 * lf - 0.8)


@njit(cache=True, nogil=True)
def hata_db(
    distance_km: float, frequency_mhz: float, tx_height_m: float, rx_height_m: float, env: int
) -> float:
    """Okumura-Hata median path loss in dB.

    ``L_u = 69.55 + 26.16 log f - 13.82 log h_b - a(h_m) + (44.9 - 6.55 log h_b) log d``,
    with a(h_m) for a small/medium city (``ENV_URBAN``, ``ENV_SUBURBAN``, ``ENV_OPEN``) or a
    large city (``ENV_LARGE_CITY``); suburban ``L_u - 2 (log(f/28))^2 - 5.4``; open area
    ``L_u - 4.78 (log f)^2 + 18.33 log f - 40.94``.  No range checks here: callers extrapolate
    knowingly (the registry documents and checks the validity ranges).
    """
    lf = math.log10(frequency_mhz)
    lhb = math.log10(tx_height_m)
    loss = (
        69.55
        + 26.16 * lf
        - 13.82 * lhb
        - _hata_mobile_correction_db(frequency_mhz, rx_height_m, env)
        + (44.9 - 6.55 * lhb) * math.log10(distance_km)
    )
    if env == ENV_SUBURBAN:
        t = math.log10(frequency_mhz / 28.0)
        loss -= 2.0 * t * t + 5.4
    elif env == ENV_OPEN:
        loss -= 4.78 * lf * lf - 18.33 * lf + 40.94
    return loss


@njit(cache=True, nogil=True)
def cost231_hata_db(
    distance_km: float, frequency_mhz: float, tx_height_m: float, rx_height_m: float, env: int
) -> float:
    """COST-231-Hata median path loss in dB (COST 231 final report §4.4.1).

    ``L = 46.3 + 33.9 log f - 13.82 log h_b - a(h_m) + (44.9 - 6.55 log h_b) log d + C_m`` with
    ``C_m = 3 dB`` for metropolitan centres (``ENV_LARGE_CITY``, with Hata's large-city a(h_m))
    and 0 dB for medium cities and suburban centres (``ENV_URBAN``, ``ENV_SUBURBAN``).  COST 231
    defines no open-area form; ``ENV_OPEN`` applies Hata's open-area correction to the
    medium-city value (a documented extrapolation).
    """
    lf = math.log10(frequency_mhz)
    lhb = math.log10(tx_height_m)
    c_m = 3.0 if env == ENV_LARGE_CITY else 0.0
    loss = (
        46.3
        + 33.9 * lf
        - 13.82 * lhb
        - _hata_mobile_correction_db(frequency_mhz, rx_height_m, env)
        + (44.9 - 6.55 * lhb) * math.log10(distance_km)
        + c_m
    )
    if env == ENV_OPEN:
        loss -= 4.78 * lf * lf - 18.33 * lf + 40.94
    return loss


@njit(cache=True, nogil=True)
def _rma_pl1_db(d3d_m: float, f_ghz: float, h_bldg_m: float) -> float:
    """TR 38.901 RMa PL1 (LOS before the breakpoint)."""
    hp = h_bldg_m**1.72
    return (
        20.0 * math.log10(40.0 * math.pi * d3d_m * f_ghz / 3.0)
        + min(0.03 * hp, 10.0) * math.log10(d3d_m)
        - min(0.044 * hp, 14.77)
        + 0.002 * math.log10(h_bldg_m) * d3d_m
    )


@njit(cache=True, nogil=True)
def rma_breakpoint_m(frequency_mhz: float, tx_height_m: float, rx_height_m: float) -> float:
    """TR 38.901 Table 7.4.1-1 (RMa breakpoint note): ``d_BP = 2 pi h_BS h_UT f_c / c`` (f_c in Hz)."""
    return 2.0 * math.pi * tx_height_m * rx_height_m * frequency_mhz * 1.0e6 / SPEED_OF_LIGHT_M_S


@njit(cache=True, nogil=True)
def rma_los_db(
    d2d_m: float,
    d3d_m: float,
    frequency_mhz: float,
    tx_height_m: float,
    rx_height_m: float,
    h_bldg_m: float,
) -> float:
    """TR 38.901 RMa LOS path loss: PL1 up to ``d_BP``, then ``PL1(d_BP) + 40 log10(d3D/d_BP)``."""
    f_ghz = frequency_mhz * 1.0e-3
    d_bp = rma_breakpoint_m(frequency_mhz, tx_height_m, rx_height_m)
    if d2d_m <= d_bp:
        return _rma_pl1_db(d3d_m, f_ghz, h_bldg_m)
    return _rma_pl1_db(d_bp, f_ghz, h_bldg_m) + 40.0 * math.log10(d3d_m / d_bp)


@njit(cache=True, nogil=True)
def rma_nlos_db(
    d2d_m: float,
    d3d_m: float,
    frequency_mhz: float,
    tx_height_m: float,
    rx_height_m: float,
    h_bldg_m: float,
    street_width_m: float,
) -> float:
    """TR 38.901 RMa NLOS path loss ``max(PL_RMa-LOS, PL'_RMa-NLOS)``.

    ``PL' = 161.04 - 7.1 log W + 7.5 log h - (24.37 - 3.7 (h/h_BS)^2) log h_BS
    + (43.42 - 3.1 log h_BS)(log d3D - 3) + 20 log f_c - (3.2 (log 11.75 h_UT)^2 - 4.97)``.
    """
    f_ghz = frequency_mhz * 1.0e-3
    lhbs = math.log10(tx_height_m)
    t = math.log10(11.75 * rx_height_m)
    ratio = h_bldg_m / tx_height_m
    pl_nlos = (
        161.04
        - 7.1 * math.log10(street_width_m)
        + 7.5 * math.log10(h_bldg_m)
        - (24.37 - 3.7 * ratio * ratio) * lhbs
        + (43.42 - 3.1 * lhbs) * (math.log10(d3d_m) - 3.0)
        + 20.0 * math.log10(f_ghz)
        - (3.2 * t * t - 4.97)
    )
    pl_los = rma_los_db(d2d_m, d3d_m, frequency_mhz, tx_height_m, rx_height_m, h_bldg_m)
    return max(pl_los, pl_nlos)


@njit(cache=True, nogil=True)
def sector_gain_db(
    bearing_deg: float, depression_deg: float, azimuth_deg: float, beamwidth_deg: float,
    tilt_deg: float, vertical_beamwidth_deg: float, a_max_db: float, sla_v_db: float,
) -> float:
    """3GPP sector gain relative to boresight, ``-min(-(A_H + A_V), A_m)`` (scalar).

    Same formula as :func:`lomsong.coverage.antenna.sector_gain_db` (its numpy reference):
    ``A_H = -min(12 (phi / phi_3dB)^2, A_m)`` with ``phi`` the bearing off ``azimuth_deg``
    wrapped to [-180, 180) (``azimuth_deg`` NaN: omni, ``A_H = 0``), and
    ``A_V = -min(12 ((theta - tilt) / theta_3dB)^2, SLA_V)`` with ``theta`` the depression angle.
    """
    t = (depression_deg - tilt_deg) / vertical_beamwidth_deg
    a_v = -min(12.0 * t * t, sla_v_db)
    a_h = 0.0
    if not math.isnan(azimuth_deg):
        phi = (bearing_deg - azimuth_deg + 180.0) % 360.0 - 180.0
        p = phi / beamwidth_deg
        a_h = -min(12.0 * p * p, a_max_db)
    return -min(-(a_h + a_v), a_max_db)
