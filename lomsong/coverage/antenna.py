"""Sector antenna patterns in the 3GPP style (TR 36.814 Table A.2.1.1-2, TR 38.901 Table 7.3-1).

Gains are relative to boresight (0 dB at the peak); :class:`~lomsong.coverage.models.Tower`'s
``eirp_dbm`` already holds the peak antenna gain.

* Horizontal: ``A_H(phi) = -min(12 (phi / phi_3dB)^2, A_m)``, ``phi`` the bearing off the
  azimuth, wrapped to [-180, 180) degrees.
* Vertical: ``A_V(theta) = -min(12 ((theta - theta_tilt) / theta_3dB)^2, SLA_V)``.  Here ``theta``
  is the **depression** angle from the antenna to the handset (positive below the horizon) and
  ``theta_tilt`` the downtilt (positive down), the usual RF-planning sign convention; TR 38.901
  writes the same thing with zenith angles (``theta'' - 90``).
* Combined: ``A = -min(-(A_H + A_V), A_m)``.

``A_m = SLA_V = 30 dB`` (TR 38.901 Table 7.3-1; TR 36.814 used A_m = 25 dB, SLA_V = 20 dB).  An omni
antenna (``azimuth_deg is None``) has ``A_H = 0`` but keeps its vertical pattern: a vertical
collinear also has a finite vertical beamwidth and tilt.

These numpy functions are the readable reference; per-tower maps use the scalar Numba twin
:func:`lomsong.coverage._kernels.pathloss.sector_gain_db` (a Hypothesis test keeps them equal).
"""

from __future__ import annotations

import numpy as np

#: Front-to-back ratio / maximum attenuation A_m (TR 38.901 Table 7.3-1).
A_MAX_DB = 30.0
#: Vertical side-lobe level limit SLA_V (TR 38.901 Table 7.3-1).
SLA_V_DB = 30.0


def wrap_deg(angle_deg):
    """Angle(s) wrapped to [-180, 180)."""
    return (np.asarray(angle_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0


def horizontal_pattern_db(phi_deg, beamwidth_deg: float, a_max_db: float = A_MAX_DB):
    """``-min(12 (phi / phi_3dB)^2, A_m)``; ``phi_deg`` off boresight (wrapped here)."""
    phi = wrap_deg(phi_deg)
    return -np.minimum(12.0 * (phi / beamwidth_deg) ** 2, a_max_db)


def vertical_pattern_db(depression_deg, tilt_deg: float, vertical_beamwidth_deg: float,
                        sla_v_db: float = SLA_V_DB):
    """``-min(12 ((theta - tilt) / theta_3dB)^2, SLA_V)``; angles positive below the horizon."""
    theta = np.asarray(depression_deg, dtype=np.float64)
    return -np.minimum(12.0 * ((theta - tilt_deg) / vertical_beamwidth_deg) ** 2, sla_v_db)


def sector_gain_db(
    bearing_deg, depression_deg, *, azimuth_deg: float | None, beamwidth_deg: float,
    tilt_deg: float, vertical_beamwidth_deg: float, a_max_db: float = A_MAX_DB,
    sla_v_db: float = SLA_V_DB,
):
    """Gain relative to boresight, ``-min(-(A_H + A_V), A_m)``, at each bearing/depression.

    ``bearing_deg`` is clockwise from (grid) north, like ``azimuth_deg``; ``azimuth_deg=None``
    means omnidirectional in the horizontal plane.
    """
    a_v = vertical_pattern_db(depression_deg, tilt_deg, vertical_beamwidth_deg, sla_v_db)
    if azimuth_deg is None:
        a_h = np.zeros_like(a_v)
    else:
        a_h = horizontal_pattern_db(np.asarray(bearing_deg, dtype=np.float64) - azimuth_deg,
                                    beamwidth_deg, a_max_db)
    return -np.minimum(-(a_h + a_v), a_max_db)
