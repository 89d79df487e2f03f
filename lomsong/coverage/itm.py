"""Longley-Rice Irregular Terrain Model (ITM): point-to-point and area predictions.

The numbers come from the Numba kernels in :mod:`lomsong.coverage._kernels.itm`; this module
checks inputs (raising :class:`~lomsong.coverage.errors.InvalidInputError` that names the field,
the value and the accepted range) and wraps results in frozen dataclasses.

Behaviour follows NTIA's reference ITM v1.4 (= Hufford's algorithm v1.2.2) and is checked in the
tests against NTIA's published cases to their printed precision.  Inputs and limits (NTIA README):

=================  ==========================================================================
``h_tx_m``         structural height of the transmitter, 0.5..3000 m
``h_rx_m``         structural height of the receiver, 0.5..3000 m
``climate``        radio climate 1..7 (see :data:`CLIMATES`)
``n_0``            minimum monthly mean surface refractivity at sea level, 250..400 N-units
``f_mhz``          frequency, 20..20000 MHz
``pol``            polarization, 0 horizontal / 1 vertical
``epsilon``        relative permittivity of the ground, > 1
``sigma``          ground conductivity, > 0 S/m
``mdvar``          mode of variability 0..3 (see :data:`MDVAR_MODES`), +10 no location
                   variability, +20 no direct situation variability
percentages        time / location / situation or confidence / reliability, each in (0, 100)
=================  ==========================================================================

ITM as a coverage model (``--model itm``)
-----------------------------------------
Importing this module registers a :class:`~lomsong.coverage.pathloss.PathLossModel` named
``itm``: point-to-point ITM from the transmitter to every sample of every ray of the radial
geometry (:mod:`lomsong.coverage._kernels.itm_radial`, which reuses horizons and fits along each
ray).  Options (``-O key=value`` on the command line, keywords in Python) and their defaults,
chosen for Thái Nguyên (:data:`ITM_MAP_DEFAULTS`):

``climate`` = 2, continental subtropical
    A number 1..7 or a name (:data:`CLIMATE_NAMES`).  Northern Viet Nam inland of the Red River
    delta has a monsoon climate with a hot rainy season and a cool dry one (Köppen Cwa), far
    from the coast.  Of ITM's seven climates (NBS Technical Note 101, §10; Debian splat(1)
    lists their types: Congo, Sudan, West Africa coast, Sahara ...) the equatorial one has no
    dry season, the maritime ones are coastal, the temperate ones are colder; the continental
    subtropical (Sudan) type is the one with distinct wet and dry seasons inland.  At the
    median it matters little within 20 km: climates 2 and 5 share the same median curve, and
    equatorial adds 0.1-0.2 dB; the spread around the median differs more.
``n_0`` = 340 N-units
    ITM's refractivity is the *minimum monthly mean* surface refractivity reduced to sea level
    (Longley & Rice 1968, TN 101).  The driest month at Hà Nội / Thái Nguyên (January: about
    16.5 °C, 80 % relative humidity, 1020 hPa) gives, by ITU-R P.453's formula
    N = 77.6 P / T + 3.732e5 e / T^2, about 273 + 67 = 340 N-units; July gives about 390, and
    the annual mean (about 365) matches P.453's maps (360-380 over the region).  Measured on
    the real tile (20 km, 1800 MHz): 370 instead of 340 lowers losses by 0.3-0.4 dB at the
    median cell (0.85 dB at the 5th percentile); 301 raises them as much.
``epsilon`` = 15, ``sigma`` = 0.005 S/m
    Average ground, also "farmland, forest" (SPLAT!'s table; Hufford's suggested defaults).
``polarization`` = vertical (1)
    ITM knows only horizontal and vertical; cellular antennas are mostly +/-45 degree
    cross-polarised, and vertical is the conventional choice for mobile links.
``mdvar`` = 12: mobile mode without location variability
    The gap rules (:mod:`lomsong.coverage.gaps`) apply their own location (shadowing) margin,
    ``sigma_db``, to the median loss; keeping ITM's location variability as well would count
    it twice.  With location variability removed, modes 1, 2 and 3 give the same numbers (and
    at 50/50/50 every mode does).
``time_pct``, ``location_pct``, ``situation_pct`` = 50
    The median: margins are the gap rules' business.  At 50/50/50 the mode of variability does
    not matter at all (every deviate is 0); the climate still does, through ITM's median
    time-variability term.

Heights outside 0.5-3000 m and radii beyond 2000 km are outside ITM's range and only warned
about by :func:`~lomsong.coverage.pathloss.check_link`; frequencies outside 20-20000 MHz are
rejected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lomsong.coverage import pathloss as _pl
from lomsong.coverage._kernels import itm as _k
from lomsong.coverage._kernels import itm_radial as _kr
from lomsong.coverage.errors import InvalidInputError

#: Radio climates by code.
CLIMATES = {
    1: "Equatorial",
    2: "Continental Subtropical",
    3: "Maritime Subtropical",
    4: "Desert",
    5: "Continental Temperate",
    6: "Maritime Temperate Over Land",
    7: "Maritime Temperate Over Sea",
}
#: Base modes of variability (``mdvar % 10``).
MDVAR_MODES = {
    0: "Single Message Mode",
    1: "Accidental Mode",
    2: "Mobile Mode",
    3: "Broadcast Mode",
}
POLARIZATIONS = {0: "Horizontal", 1: "Vertical"}
SITING_CRITERIA = {0: "Random", 1: "Careful", 2: "Very Careful"}
PROPAGATION_MODES = {
    _k.MODE_NOT_SET: "Not Set",
    _k.MODE_LINE_OF_SIGHT: "Line of Sight",
    _k.MODE_DIFFRACTION: "Diffraction",
    _k.MODE_TROPOSCATTER: "Troposcatter",
}
#: Warning flags (bit -> (NTIA constant name, description)), as in NTIA's ERRORS_AND_WARNINGS.md.
WARNINGS = {
    _k.WARN_TX_TERMINAL_HEIGHT: (
        "WARN__TX_TERMINAL_HEIGHT",
        "TX terminal height is near its limits",
    ),
    _k.WARN_RX_TERMINAL_HEIGHT: (
        "WARN__RX_TERMINAL_HEIGHT",
        "RX terminal height is near its limits",
    ),
    _k.WARN_FREQUENCY: ("WARN__FREQUENCY", "Frequency is near its limits"),
    _k.WARN_PATH_DISTANCE_TOO_BIG_1: (
        "WARN__PATH_DISTANCE_TOO_BIG_1",
        "Path distance is near its upper limit",
    ),
    _k.WARN_PATH_DISTANCE_TOO_BIG_2: (
        "WARN__PATH_DISTANCE_TOO_BIG_2",
        "Path distance is large - care must be taken with result",
    ),
    _k.WARN_PATH_DISTANCE_TOO_SMALL_1: (
        "WARN__PATH_DISTANCE_TOO_SMALL_1",
        "Path distance is near its lower limit",
    ),
    _k.WARN_PATH_DISTANCE_TOO_SMALL_2: (
        "WARN__PATH_DISTANCE_TOO_SMALL_2",
        "Path distance is small - care must be taken with result",
    ),
    _k.WARN_TX_HORIZON_ANGLE: ("WARN__TX_HORIZON_ANGLE", "TX horizon angle is large"),
    _k.WARN_RX_HORIZON_ANGLE: ("WARN__RX_HORIZON_ANGLE", "RX horizon angle is large"),
    _k.WARN_TX_HORIZON_DISTANCE_1: (
        "WARN__TX_HORIZON_DISTANCE_1",
        "TX horizon distance is less than 1/10 of the smooth earth horizon distance",
    ),
    _k.WARN_RX_HORIZON_DISTANCE_1: (
        "WARN__RX_HORIZON_DISTANCE_1",
        "RX horizon distance is less than 1/10 of the smooth earth horizon distance",
    ),
    _k.WARN_TX_HORIZON_DISTANCE_2: (
        "WARN__TX_HORIZON_DISTANCE_2",
        "TX horizon distance is greater than 3 times the smooth earth horizon distance",
    ),
    _k.WARN_RX_HORIZON_DISTANCE_2: (
        "WARN__RX_HORIZON_DISTANCE_2",
        "RX horizon distance is greater than 3 times the smooth earth horizon distance",
    ),
    _k.WARN_EXTREME_VARIABILITIES: (
        "WARN__EXTREME_VARIABILITIES",
        "One of the provided variabilities is located far in the tail of its distribution",
    ),
    _k.WARN_SURFACE_REFRACTIVITY: (
        "WARN__SURFACE_REFRACTIVITY",
        "Internally computed surface refractivity value is small - care must be taken with result",
    ),
}

# Error code -> (field, what is expected).  The kernels return the code; we raise with words.
_ERRORS = {
    _k.ERROR_TX_TERMINAL_HEIGHT: ("h_tx_m", "must be in [0.5, 3000] m"),
    _k.ERROR_RX_TERMINAL_HEIGHT: ("h_rx_m", "must be in [0.5, 3000] m"),
    _k.ERROR_INVALID_RADIO_CLIMATE: ("climate", "must be an integer 1..7"),
    _k.ERROR_INVALID_TIME: ("time_pct", "must be in (0, 100)"),
    _k.ERROR_INVALID_LOCATION: ("location_pct", "must be in (0, 100)"),
    _k.ERROR_INVALID_SITUATION: ("situation_pct", "must be in (0, 100)"),
    _k.ERROR_INVALID_CONFIDENCE: ("confidence_pct", "must be in (0, 100)"),
    _k.ERROR_INVALID_RELIABILITY: ("reliability_pct", "must be in (0, 100)"),
    _k.ERROR_REFRACTIVITY: ("n_0", "must be in [250, 400] N-units"),
    _k.ERROR_FREQUENCY: ("f_mhz", "must be in [20, 20000] MHz"),
    _k.ERROR_POLARIZATION: ("pol", "must be 0 (horizontal) or 1 (vertical)"),
    _k.ERROR_EPSILON: ("epsilon", "must be > 1"),
    _k.ERROR_SIGMA: ("sigma", "must be > 0 S/m"),
    _k.ERROR_MDVAR: ("mdvar", "must be 0..3, plus 10 and/or 20"),
    _k.ERROR_PATH_DISTANCE: ("d_km", "must be > 0 km"),
    _k.ERROR_DELTA_H: ("delta_h_m", "must be >= 0 m"),
    _k.ERROR_TX_SITING_CRITERIA: (
        "tx_siting",
        "must be 0 (random), 1 (careful) or 2 (very careful)",
    ),
    _k.ERROR_RX_SITING_CRITERIA: (
        "rx_siting",
        "must be 0 (random), 1 (careful) or 2 (very careful)",
    ),
}


def _pct(v: float) -> bool:
    return 0.0 < v < 100.0


#: Accepted values of each input, field -> (test, what is expected).  The kernels apply the same
#: limits (a test checks the two agree at every boundary); this table lets a file reader report
#: every bad field of a file, with its line, in one go.
FIELD_RULES = {
    "h_tx_m": (lambda v: 0.5 <= v <= 3000.0, "must be in [0.5, 3000] m"),
    "h_rx_m": (lambda v: 0.5 <= v <= 3000.0, "must be in [0.5, 3000] m"),
    "climate": (lambda v: v in CLIMATES, "must be an integer 1..7"),
    "n_0": (lambda v: 250.0 <= v <= 400.0, "must be in [250, 400] N-units"),
    "f_mhz": (lambda v: 20.0 <= v <= 20000.0, "must be in [20, 20000] MHz"),
    "pol": (lambda v: v in POLARIZATIONS, "must be 0 (horizontal) or 1 (vertical)"),
    "epsilon": (lambda v: v > 1.0, "must be > 1"),
    "sigma": (lambda v: v > 0.0, "must be > 0 S/m"),
    "mdvar": (
        lambda v: float(v).is_integer() and 0 <= v <= 33 and v % 10 <= 3,
        "must be 0..3, plus 10 and/or 20",
    ),
    "time_pct": (_pct, "must be in (0, 100)"),
    "location_pct": (_pct, "must be in (0, 100)"),
    "situation_pct": (_pct, "must be in (0, 100)"),
    "confidence_pct": (_pct, "must be in (0, 100)"),
    "reliability_pct": (_pct, "must be in (0, 100)"),
    "d_km": (lambda v: v > 0.0, "must be > 0 km"),
    "delta_h_m": (lambda v: v >= 0.0, "must be >= 0 m"),
    "tx_siting": (
        lambda v: v in SITING_CRITERIA,
        "must be 0 (random), 1 (careful) or 2 (very careful)",
    ),
    "rx_siting": (
        lambda v: v in SITING_CRITERIA,
        "must be 0 (random), 1 (careful) or 2 (very careful)",
    ),
}


def field_problem(field: str, value: float) -> str | None:
    """What is wrong with ``value`` for input ``field`` (a :data:`FIELD_RULES` key), or None."""
    test, expected = FIELD_RULES[field]
    if not test(value):
        return expected
    return None


@dataclass(frozen=True, slots=True)
class ItmRadio:
    """The inputs shared by every ITM prediction (both modes, both kinds of variability)."""

    h_tx_m: float
    h_rx_m: float
    climate: int
    n_0: float
    f_mhz: float
    pol: int
    epsilon: float
    sigma: float
    mdvar: int


@dataclass(frozen=True, slots=True)
class ItmIntermediates:
    """Intermediate values of one prediction, as NTIA's ``_Ex`` functions report them."""

    theta_hzn_tx_rad: float
    theta_hzn_rx_rad: float
    d_hzn_tx_m: float
    d_hzn_rx_m: float
    h_e_tx_m: float
    h_e_rx_m: float
    n_s: float
    delta_h_m: float
    a_ref_db: float
    a_fs_db: float
    d_km: float
    mode: int

    @property
    def mode_name(self) -> str:
        return PROPAGATION_MODES.get(self.mode, "Unknown")


@dataclass(frozen=True, slots=True)
class ItmResult:
    """Basic transmission loss with warning flags and intermediate values."""

    loss_db: float
    warnings: int
    intermediates: ItmIntermediates

    @property
    def return_code(self) -> int:
        """0 success, 1 success with warnings (NTIA's codes; errors raise instead)."""
        return _k.SUCCESS_WITH_WARNINGS if self.warnings else _k.SUCCESS

    @property
    def warning_names(self) -> tuple[str, ...]:
        return warning_names(self.warnings)


def warning_names(flags: int) -> tuple[str, ...]:
    """NTIA constant names of the bits set in ``flags``, lowest bit first."""
    return tuple(name for bit, (name, _) in sorted(WARNINGS.items()) if flags & bit)


def make_pfl(elev_m: Sequence[float] | np.ndarray, spacing_m: float) -> np.ndarray:
    """An NTIA PFL array ``[n_intervals, spacing_m, z_0, ..., z_n]`` from elevations (tx first)."""
    z = np.asarray(elev_m, dtype=np.float64).ravel()
    out = np.empty(z.size + 2)
    out[0] = z.size - 1
    out[1] = spacing_m
    out[2:] = z
    return out


def _as_pfl(pfl: Sequence[float] | np.ndarray, source: str) -> np.ndarray:
    arr = np.array(pfl, dtype=np.float64).ravel()  # a copy: the kernel may keep a view
    problems: list[str] = []
    if arr.size < 4:
        raise InvalidInputError(
            f"{source}: pfl has {arr.size} values, need at least 4 (n_intervals, spacing_m and 2+ "
            "elevations)"
        )
    n = arr[0]
    if not (math.isfinite(n) and n >= 1 and n == math.floor(n)):
        problems.append(f"pfl[0] (n_intervals)={arr[0]!r}, must be an integer >= 1")
    elif int(n) + 3 != arr.size:
        problems.append(
            f"pfl[0] (n_intervals)={int(n)} needs {int(n) + 1} elevations, got {arr.size - 2}"
        )
    if not (math.isfinite(arr[1]) and arr[1] > 0):
        problems.append(f"pfl[1] (spacing_m)={arr[1]!r}, must be > 0")
    bad = np.flatnonzero(~np.isfinite(arr[2:]))
    for i in bad[:5]:
        problems.append(f"pfl[{i + 2}] (elevation {i})={arr[i + 2]!r}, must be finite")
    if problems:
        raise InvalidInputError.from_problems(source, problems)
    return arr


def _check_rc(rc: int, values: dict[str, float], source: str, n_s: float = math.nan) -> None:
    if rc in (_k.SUCCESS, _k.SUCCESS_WITH_WARNINGS):
        return
    if rc in _ERRORS:
        field, expected = _ERRORS[rc]
        raise InvalidInputError(f"{source}: {field}={values.get(field)!r}, {expected}")
    if rc == _k.ERROR_GROUND_IMPEDANCE:
        raise InvalidInputError(
            f"{source}: epsilon={values['epsilon']!r}, sigma={values['sigma']!r} at "
            f"f_mhz={values['f_mhz']!r}, pol={values['pol']!r}: the ground impedance has an "
            "imaginary part larger than its real part (ITM error 1013)"
        )
    if rc in (_k.ERROR_SURFACE_REFRACTIVITY_LARGE, _k.ERROR_EFFECTIVE_EARTH):
        raise InvalidInputError(
            f"{source}: surface refractivity N_s={n_s:.1f} from n_0={values['n_0']!r}, must be "
            f"<= 400 N-units (ITM error {rc})"
        )
    raise InvalidInputError(f"{source}: ITM rejected the inputs with return code {rc}")


def _radio_values(radio: ItmRadio) -> dict[str, float]:
    return {
        "h_tx_m": radio.h_tx_m,
        "h_rx_m": radio.h_rx_m,
        "climate": radio.climate,
        "n_0": radio.n_0,
        "f_mhz": radio.f_mhz,
        "pol": radio.pol,
        "epsilon": radio.epsilon,
        "sigma": radio.sigma,
        "mdvar": radio.mdvar,
    }


def _check_ints(values: dict[str, float], names: Sequence[str], source: str) -> None:
    # Every value must be a real number; those in ``names`` must also be whole.
    for name, v in values.items():
        try:
            float(v)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{source}: {name}={v!r}, must be a number") from None
    for name in names:
        v = values[name]
        try:
            ok = not isinstance(v, bool) and float(v).is_integer()
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidInputError(f"{source}: {name}={v!r}, must be an integer")


def _radio_args(radio: ItmRadio) -> tuple:
    return (
        float(radio.h_tx_m),
        float(radio.h_rx_m),
        int(radio.climate),
        float(radio.n_0),
        float(radio.f_mhz),
        int(radio.pol),
        float(radio.epsilon),
        float(radio.sigma),
        int(radio.mdvar),
    )


def _result(a_db: float, warnings: int, iv: np.ndarray) -> ItmResult:
    return ItmResult(
        loss_db=float(a_db),
        warnings=int(warnings),
        intermediates=ItmIntermediates(
            theta_hzn_tx_rad=float(iv[_k.IV_THETA_HZN_TX]),
            theta_hzn_rx_rad=float(iv[_k.IV_THETA_HZN_RX]),
            d_hzn_tx_m=float(iv[_k.IV_D_HZN_TX_M]),
            d_hzn_rx_m=float(iv[_k.IV_D_HZN_RX_M]),
            h_e_tx_m=float(iv[_k.IV_H_E_TX_M]),
            h_e_rx_m=float(iv[_k.IV_H_E_RX_M]),
            n_s=float(iv[_k.IV_N_S]),
            delta_h_m=float(iv[_k.IV_DELTA_H_M]),
            a_ref_db=float(iv[_k.IV_A_REF_DB]),
            a_fs_db=float(iv[_k.IV_A_FS_DB]),
            d_km=float(iv[_k.IV_D_KM]),
            mode=int(iv[_k.IV_MODE]),
        ),
    )


def p2p_tls(
    pfl: Sequence[float] | np.ndarray,
    radio: ItmRadio,
    *,
    time_pct: float,
    location_pct: float,
    situation_pct: float,
    source: str = "ITM input",
) -> ItmResult:
    """Point-to-point prediction over a PFL terrain profile (tx first), time/location/situation.

    ``source`` names the input in error messages (a file name, a request).
    """
    values = _radio_values(radio) | {
        "time_pct": time_pct,
        "location_pct": location_pct,
        "situation_pct": situation_pct,
    }
    _check_ints(values, ("climate", "pol", "mdvar"), source)
    arr = _as_pfl(pfl, source)
    a_db, warn, rc, iv = _k.itm_p2p_tls_ex(
        arr, *_radio_args(radio), float(time_pct), float(location_pct), float(situation_pct)
    )
    _check_rc(rc, values, source, float(iv[_k.IV_N_S]))
    return _result(a_db, warn, iv)


def _cr_as_tls(
    values: dict[str, float], confidence_pct: float, reliability_pct: float, source: str
) -> dict[str, float]:
    """Confidence / reliability, checked, as the time / location / situation they stand for.

    Reliability is the time percentage, confidence the situation percentage, location held at
    50 % (Hufford's two-parameter use of the variability routine, :func:`_k.cr_to_tls`).
    """
    values = values | {"confidence_pct": confidence_pct, "reliability_pct": reliability_pct}
    _check_ints(values, (), source)
    _check_rc(_k.validate_cr(float(confidence_pct), float(reliability_pct)), values, source)
    t, loc, s = _k.cr_to_tls(float(confidence_pct), float(reliability_pct))
    return {"time_pct": t, "location_pct": loc, "situation_pct": s}


def p2p_cr(
    pfl: Sequence[float] | np.ndarray,
    radio: ItmRadio,
    *,
    confidence_pct: float,
    reliability_pct: float,
    source: str = "ITM input",
) -> ItmResult:
    """Point-to-point prediction with confidence / reliability (see :func:`_cr_as_tls`)."""
    tls = _cr_as_tls(_radio_values(radio), confidence_pct, reliability_pct, source)
    return p2p_tls(pfl, radio, source=source, **tls)


def _area_values(
    radio: ItmRadio, d_km: float, delta_h_m: float, tx_siting: int, rx_siting: int
) -> dict[str, float]:
    return _radio_values(radio) | {
        "d_km": d_km,
        "delta_h_m": delta_h_m,
        "tx_siting": tx_siting,
        "rx_siting": rx_siting,
    }


def area_tls(
    radio: ItmRadio,
    *,
    d_km: float,
    delta_h_m: float,
    tx_siting: int,
    rx_siting: int,
    time_pct: float,
    location_pct: float,
    situation_pct: float,
    source: str = "ITM input",
) -> ItmResult:
    """Area-mode prediction (no profile: terrain irregularity ``delta_h_m`` and siting)."""
    values = _area_values(radio, d_km, delta_h_m, tx_siting, rx_siting) | {
        "time_pct": time_pct,
        "location_pct": location_pct,
        "situation_pct": situation_pct,
    }
    _check_ints(values, ("climate", "pol", "mdvar", "tx_siting", "rx_siting"), source)
    r = _radio_args(radio)
    a_db, warn, rc, iv = _k.itm_area_tls_ex(
        r[0],
        r[1],
        int(tx_siting),
        int(rx_siting),
        float(d_km),
        float(delta_h_m),
        *r[2:],
        float(time_pct),
        float(location_pct),
        float(situation_pct),
    )
    _check_rc(rc, values, source, float(radio.n_0))
    return _result(a_db, warn, iv)


def area_cr(
    radio: ItmRadio,
    *,
    d_km: float,
    delta_h_m: float,
    tx_siting: int,
    rx_siting: int,
    confidence_pct: float,
    reliability_pct: float,
    source: str = "ITM input",
) -> ItmResult:
    """Area-mode prediction with confidence / reliability (mapped as in :func:`p2p_cr`)."""
    tls = _cr_as_tls(_area_values(radio, d_km, delta_h_m, tx_siting, rx_siting),
                     confidence_pct, reliability_pct, source)
    return area_tls(radio, d_km=d_km, delta_h_m=delta_h_m, tx_siting=tx_siting,
                    rx_siting=rx_siting, source=source, **tls)


# ---------------------------------------------------------------------------------------------
# ITM as a path loss model along radials (``--model itm``); see the module docstring
# ---------------------------------------------------------------------------------------------
#: Options of the ``itm`` model and their defaults for Thái Nguyên (module docstring: why).
ITM_MAP_DEFAULTS: dict[str, float] = {
    "climate": 2,
    "n_0": 340.0,
    "epsilon": 15.0,
    "sigma": 0.005,
    "polarization": 1,
    "mdvar": 12,
    "time_pct": 50.0,
    "location_pct": 50.0,
    "situation_pct": 50.0,
}
#: Names accepted for ``climate`` (lower case, underscores), by code.
CLIMATE_NAMES = {name.lower().replace(" ", "_"): code for code, name in CLIMATES.items()}
#: Names accepted for ``polarization``.
POLARIZATION_NAMES = {"horizontal": 0, "vertical": 1}
#: Names accepted for the base mode of ``mdvar`` (0..3; add 10 / 20 by number).
MDVAR_NAMES = {name.lower().replace(" mode", "").replace(" ", "_"): code
               for code, name in MDVAR_MODES.items()}

# option -> (field of FIELD_RULES that checks it, names accepted instead of a number)
_ITM_OPTIONS: dict[str, tuple[str, dict[str, int]]] = {
    "climate": ("climate", CLIMATE_NAMES),
    "n_0": ("n_0", {}),
    "epsilon": ("epsilon", {}),
    "sigma": ("sigma", {}),
    "polarization": ("pol", POLARIZATION_NAMES),
    "mdvar": ("mdvar", MDVAR_NAMES),
    "time_pct": ("time_pct", {}),
    "location_pct": ("location_pct", {}),
    "situation_pct": ("situation_pct", {}),
}


def _option_value(key: str, value: object) -> tuple[float | None, str | None]:
    # (number, None) when acceptable, else (None, what is expected).
    field, names = _ITM_OPTIONS[key]
    _, expected = FIELD_RULES[field]
    if names:
        expected += f", or one of {', '.join(names)}"
    if isinstance(value, str) and value.strip().lower() in names:
        return float(names[value.strip().lower()]), None
    if isinstance(value, bool):
        return None, expected
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, expected
    if not math.isfinite(v) or field_problem(field, v) is not None:
        return None, expected
    return v, None


def itm_params(**options: object) -> np.ndarray:
    """The ``params`` array of the ``itm`` ray model from keyword options (defaults above).

    Every bad option is reported at once, naming the option, its value and what is accepted.

    Raises
    ------
    InvalidInputError
        An unknown option, or a value outside ITM's range.
    """
    extra = sorted(set(options) - set(ITM_MAP_DEFAULTS))
    if extra:
        raise InvalidInputError(
            f"model itm: unknown option(s) {', '.join(extra)}; accepted: "
            f"{', '.join(ITM_MAP_DEFAULTS)}"
        )
    values = dict(ITM_MAP_DEFAULTS)
    problems = []
    for key, raw in options.items():
        v, expected = _option_value(key, raw)
        if v is None:
            problems.append(f"{key}={raw!r}, {expected}")
        else:
            values[key] = v
    if problems:
        raise InvalidInputError.from_problems("model itm", problems)
    out = np.empty(_kr.N_PARAMS)
    out[_kr.P_CLIMATE] = values["climate"]
    out[_kr.P_N_0] = values["n_0"]
    out[_kr.P_EPSILON] = values["epsilon"]
    out[_kr.P_SIGMA] = values["sigma"]
    out[_kr.P_POLARIZATION] = values["polarization"]
    out[_kr.P_MDVAR] = values["mdvar"]
    out[_kr.P_TIME_PCT] = values["time_pct"]
    out[_kr.P_LOCATION_PCT] = values["location_pct"]
    out[_kr.P_SITUATION_PCT] = values["situation_pct"]
    return out


#: The ``itm`` path loss model (registered on import).
ITM_MODEL = _pl.PathLossModel(
    name="itm",
    description="Longley-Rice ITM (point-to-point) over the terrain profile of each ray",
    ray_fn=_kr.itm_ray_loss_db,
    ray_fn_need=_kr.itm_ray_loss_db_need,
    rays_fn_need=_kr.itm_rays_need,
    nearest_sample=True,
    build_params=itm_params,
    frequency_mhz=(20.0, 20000.0),
    tx_height_m=(0.5, 3000.0),
    rx_height_m=(0.5, 3000.0),
    distance_m=(1000.0, 2_000_000.0),
    source="Hufford, The ITS Irregular Terrain Model v1.2.2: the Algorithm; NTIA ITM v1.4",
    options=tuple(ITM_MAP_DEFAULTS),
)
_pl.register_model(ITM_MODEL)
