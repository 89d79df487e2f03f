"""NTIA ITM command-line driver file formats: ``key,value`` inputs, PFL terrain, report outputs.

Formats as used by NTIA's ``ITMDrvr`` (github.com/NTIA/itm, ``cmdREADME.md`` and
``cmd_examples/``), so a path can be run through lomsong and through the reference tool with the
same files and the reports compared field by field:

* input (``i_*.txt``): one ``key,value`` per line; ``confidence``, ``reliability`` and (area
  mode) ``d__km`` may hold several comma-separated values, which makes the report a table.
  ``d__km`` with several values is ``start, stop1, step1[, stop2, step2 ...]``.
* terrain (``pfl.txt``): one PFL profile, ``n_intervals, spacing_m, z_0, ..., z_n``; a
  ``pfls.csv`` holds one such profile per line.
* output (``o_*.txt``): a fixed-column report (labels in 25 characters, values in 13).

Every error names the file, the line, the field and the value.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lomsong.coverage.errors import InvalidInputError, OutputExistsError
from lomsong.coverage.itm import (
    CLIMATES,
    MDVAR_MODES,
    POLARIZATIONS,
    PROPAGATION_MODES,
    SITING_CRITERIA,
    ItmRadio,
    ItmResult,
    field_problem,
    warning_names,
)

# Driver key -> (our field name, kind, needed in which modes).  Kinds: "float", "int", "list".
_KEYS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "h_tx__meter": ("h_tx_m", "float", ("p2p", "area")),
    "h_rx__meter": ("h_rx_m", "float", ("p2p", "area")),
    "tx_site_criteria": ("tx_siting", "int", ("area",)),
    "rx_site_criteria": ("rx_siting", "int", ("area",)),
    "d__km": ("d_km", "list", ("area",)),
    "delta_h__meter": ("delta_h_m", "float", ("area",)),
    "climate": ("climate", "int", ("p2p", "area")),
    "n_0": ("n_0", "float", ("p2p", "area")),
    "f__mhz": ("f_mhz", "float", ("p2p", "area")),
    "pol": ("pol", "int", ("p2p", "area")),
    "epsilon": ("epsilon", "float", ("p2p", "area")),
    "sigma": ("sigma", "float", ("p2p", "area")),
    "mdvar": ("mdvar", "int", ("p2p", "area")),
    "time": ("time_pct", "float", ()),
    "location": ("location_pct", "float", ()),
    "situation": ("situation_pct", "float", ()),
    "confidence": ("confidence_pct", "list", ()),
    "reliability": ("reliability_pct", "list", ()),
}
# Spellings seen in NTIA's files and README for the same key.
_ALIASES = {"tx_siting_criteria": "tx_site_criteria", "rx_siting_criteria": "rx_site_criteria"}
# The spelling the report uses for each key (NTIA's, case included).
_REPORT_KEY = {"n_0": "N_0"}
_TLS = ("time", "location", "situation")
_CR = ("confidence", "reliability")


@dataclass(frozen=True, slots=True)
class DriverInput:
    """A parsed driver input file.

    ``variability`` is ``"tls"`` (time / location / situation) or ``"cr"`` (confidence /
    reliability).  ``raw`` keeps each key's value text in file order, for the report's echo.
    """

    source: str
    mode: str
    radio: ItmRadio
    variability: str
    time_pct: float | None = None
    location_pct: float | None = None
    situation_pct: float | None = None
    confidence_pct: tuple[float, ...] = ()
    reliability_pct: tuple[float, ...] = ()
    tx_siting: int | None = None
    rx_siting: int | None = None
    d_km: tuple[float, ...] = ()
    delta_h_m: float | None = None
    raw: tuple[tuple[str, str], ...] = ()

    @property
    def is_table(self) -> bool:
        """Several confidences, reliabilities or distances: the report is a table."""
        return max(len(self.confidence_pct), len(self.reliability_pct), len(self.d_km)) > 1


@dataclass(frozen=True, slots=True)
class DriverRun:
    """Results of one driver input: ``results[row][col]``.

    Rows are reliabilities (p2p table) or distances (area table), columns confidences; a
    single-result input has one row and one column.
    """

    results: tuple[tuple[ItmResult, ...], ...]
    row_values: tuple[float, ...]
    col_values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class DriverOutput:
    """A parsed driver report (NTIA's or ours).

    ``table_rows`` holds ``(row value, free space or None, values)``; ``free space`` is only
    printed in area tables.
    """

    source: str
    inputs: dict[str, str] = field(default_factory=dict)
    warnings: int | None = None
    return_code: int | None = None
    loss_db: float | None = None
    intermediates: dict[str, float] = field(default_factory=dict)
    table_kind: str | None = None
    table_cols: tuple[float, ...] = ()
    table_rows: tuple[tuple[float, float | None, tuple[float, ...]], ...] = ()


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not a text file ({exc.reason})") from exc


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def expand_distances(spec: tuple[float, ...]) -> tuple[float, ...] | str:
    """Distances of a ``d__km`` list ``start[, stop, step]...``; a message if it is malformed."""
    if len(spec) == 1:
        return spec
    if len(spec) % 2 == 0:
        return (
            f"has {len(spec)} values; give one distance, or a start followed by (stop, step) pairs"
        )
    out = [spec[0]]
    prev = spec[0]
    for stop, step in zip(spec[1::2], spec[2::2], strict=True):
        if not step > 0 or stop < prev:
            return f"segment to {stop:g} by {step:g}: need step > 0 and stop >= {prev:g}"
        # Count steps on integers so that 0.1 km steps do not drift.
        n = int(math.floor((stop - prev) / step + 1e-9))
        out.extend(prev + k * step for k in range(1, n + 1))
        prev = stop
    return tuple(out)


def read_driver_input(path: str | os.PathLike[str], mode: str) -> DriverInput:
    """Parse an NTIA driver input file for ``mode`` ``"p2p"`` or ``"area"``.

    Raises :class:`InvalidInputError` listing every problem (line, field, value) at once.
    """
    if mode not in ("p2p", "area"):
        raise ValueError(f"mode={mode!r}, must be 'p2p' or 'area'")
    path = Path(path)
    src = path.name
    text = _read_text(path)
    problems: list[str] = []
    values: dict[str, float | tuple[float, ...]] = {}
    lines: dict[str, int] = {}
    raw: list[tuple[str, str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "," not in line:
            problems.append(f"line {lineno}: {line.strip()!r} is not a 'key,value' line")
            continue
        key_text, value_text = line.split(",", 1)
        key = _ALIASES.get(key_text.strip().lower(), key_text.strip().lower())
        value_text = value_text.strip()
        if key not in _KEYS:
            problems.append(
                f"line {lineno}: unknown key {key_text.strip()!r}; expected one of "
                + ", ".join(_REPORT_KEY.get(k, k) for k in _KEYS)
            )
            continue
        name, kind, modes = _KEYS[key]
        if modes and mode not in modes:
            problems.append(f"line {lineno}: {key_text.strip()} is not an input of {mode} mode")
            continue
        if key in lines:
            problems.append(f"line {lineno}: {key} given again (first on line {lines[key]})")
            continue
        lines[key] = lineno
        raw.append((key, value_text))
        parts = [p.strip() for p in value_text.split(",")]
        if kind != "list" and len(parts) != 1:
            problems.append(f"line {lineno}: {key}={value_text!r}, takes one value")
            continue
        nums = [_number(p) for p in parts]
        bad = [p for p, v in zip(parts, nums, strict=True) if v is None]
        if bad:
            problems.append(f"line {lineno}: {key}={bad[0]!r}, not a number")
            continue
        if kind == "int" and not all(float(v).is_integer() for v in nums):  # type: ignore[arg-type]
            problems.append(f"line {lineno}: {key}={value_text!r}, must be an integer")
            continue
        if key == "d__km":
            expanded = expand_distances(tuple(nums))  # type: ignore[arg-type]
            if isinstance(expanded, str):
                problems.append(f"line {lineno}: d__km={value_text!r} {expanded}")
                continue
            nums = list(expanded)
        for v in nums:
            why = field_problem(name, v)  # type: ignore[arg-type]
            if why:
                problems.append(f"line {lineno}: {key}={v:g}, {why}")
                break
        else:
            if kind == "list":
                values[key] = tuple(nums)  # type: ignore[arg-type]
            elif kind == "int":
                values[key] = int(nums[0])  # type: ignore[arg-type]
            else:
                values[key] = nums[0]  # type: ignore[assignment]

    for key, (_, _, modes) in _KEYS.items():
        if mode in modes and key not in lines:
            problems.append(f"missing key {_REPORT_KEY.get(key, key)!r} ({mode} mode needs it)")
    has_tls = [k for k in _TLS if k in lines]
    has_cr = [k for k in _CR if k in lines]
    variability = "tls"
    if has_tls and has_cr:
        problems.append(
            f"gives both {', '.join(has_tls)} (line {lines[has_tls[0]]}) and "
            f"{', '.join(has_cr)} (line {lines[has_cr[0]]}); use time/location/situation or "
            "confidence/reliability"
        )
    elif has_cr:
        variability = "cr"
        problems += [f"missing key {k!r} (with {has_cr[0]})" for k in _CR if k not in lines]
        if mode == "area" and len(values.get("reliability", ())) > 1:  # type: ignore[arg-type]
            problems.append(
                f"line {lines['reliability']}: reliability has several values; an area table "
                "varies distance and confidence, give one reliability"
            )
    elif has_tls:
        problems += [f"missing key {k!r} (with {has_tls[0]})" for k in _TLS if k not in lines]
        if mode == "area" and len(values.get("d__km", ())) > 1:  # type: ignore[arg-type]
            problems.append(
                f"line {lines['d__km']}: several distances need confidence/reliability, "
                "not time/location/situation"
            )
    else:
        problems.append("needs time, location, situation or confidence, reliability")
    if problems:
        raise InvalidInputError.from_problems(src, problems)

    radio = ItmRadio(
        h_tx_m=float(values["h_tx__meter"]),  # type: ignore[arg-type]
        h_rx_m=float(values["h_rx__meter"]),  # type: ignore[arg-type]
        climate=int(values["climate"]),  # type: ignore[arg-type]
        n_0=float(values["n_0"]),  # type: ignore[arg-type]
        f_mhz=float(values["f__mhz"]),  # type: ignore[arg-type]
        pol=int(values["pol"]),  # type: ignore[arg-type]
        epsilon=float(values["epsilon"]),  # type: ignore[arg-type]
        sigma=float(values["sigma"]),  # type: ignore[arg-type]
        mdvar=int(values["mdvar"]),  # type: ignore[arg-type]
    )
    return DriverInput(
        source=src,
        mode=mode,
        radio=radio,
        variability=variability,
        time_pct=values.get("time"),  # type: ignore[arg-type]
        location_pct=values.get("location"),  # type: ignore[arg-type]
        situation_pct=values.get("situation"),  # type: ignore[arg-type]
        confidence_pct=values.get("confidence", ()),  # type: ignore[arg-type]
        reliability_pct=values.get("reliability", ()),  # type: ignore[arg-type]
        tx_siting=values.get("tx_site_criteria"),  # type: ignore[arg-type]
        rx_siting=values.get("rx_site_criteria"),  # type: ignore[arg-type]
        d_km=values.get("d__km", ()),  # type: ignore[arg-type]
        delta_h_m=values.get("delta_h__meter"),  # type: ignore[arg-type]
        raw=tuple(raw),
    )


def _parse_pfl_tokens(tokens: list[str], where: str) -> tuple[np.ndarray | None, list[str]]:
    problems: list[str] = []
    if tokens and tokens[-1] == "":
        tokens = tokens[:-1]  # one trailing separator, as spreadsheets write
    vals = np.empty(len(tokens))
    for i, tok in enumerate(tokens):
        v = _number(tok)
        if v is None:
            what = ("n_intervals", "spacing_m")[i] if i < 2 else f"elevation {i - 2}"
            problems.append(f"{where} value {i + 1} ({what})={tok!r}, not a number")
            if len(problems) >= 5:
                break
            continue
        vals[i] = v
    if problems:
        return None, problems
    if vals.size < 4:
        return None, [
            f"{where}: {vals.size} values, a profile needs n_intervals, spacing_m and 2+ elevations"
        ]
    n = vals[0]
    if not (n >= 1 and float(n).is_integer()):
        problems.append(f"{where} value 1 (n_intervals)={tokens[0]!r}, must be an integer >= 1")
    elif int(n) + 1 != vals.size - 2:
        problems.append(
            f"{where} value 1 (n_intervals)={int(n)} needs {int(n) + 1} elevations, "
            f"found {vals.size - 2}"
        )
    if not vals[1] > 0:
        problems.append(f"{where} value 2 (spacing_m)={tokens[1]!r}, must be > 0")
    return (None if problems else vals), problems


def _pfl_tokens(text: str) -> list[str]:
    # Commas and/or whitespace separate values; ",," leaves an empty token, reported as missing.
    return re.split(r"\s*,\s*|\s+", text.strip())


def read_pfl(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one PFL terrain profile (NTIA ``pfl.txt``): values separated by commas or spaces.

    Returns the float64 PFL array ``[n_intervals, spacing_m, z_0, ..., z_n]``.
    """
    path = Path(path)
    arr, problems = _parse_pfl_tokens(_pfl_tokens(_read_text(path)), "profile")
    if problems:
        raise InvalidInputError.from_problems(path.name, problems)
    return arr  # type: ignore[return-value]


def read_pfl_rows(path: str | os.PathLike[str]) -> list[np.ndarray]:
    """Read a file of PFL profiles, one per line (NTIA ``pfls.csv``)."""
    path = Path(path)
    out: list[np.ndarray] = []
    problems: list[str] = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        arr, p = _parse_pfl_tokens(_pfl_tokens(line), f"line {lineno}")
        problems += p
        if arr is not None:
            out.append(arr)
    if problems:
        raise InvalidInputError.from_problems(path.name, problems)
    if not out:
        raise InvalidInputError(f"{path.name}: no profiles")
    return out


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def _line(label: str, value: str = "", note: str = "") -> str:
    return f"{label:<25}{value:<13}{note}".rstrip()


def _input_note(key: str, value: str) -> str:
    try:
        v = int(float(value))
    except ValueError:
        v = -1
    if key in ("h_tx__meter", "h_rx__meter", "delta_h__meter"):
        return "(meters)"
    if key == "d__km":
        return "(km)"
    if key in ("tx_site_criteria", "rx_site_criteria"):
        return f"[{SITING_CRITERIA.get(v, '?')}]"
    if key == "climate":
        return f"[{CLIMATES.get(v, '?')}]"
    if key == "n_0":
        return "(N-Units)"
    if key == "f__mhz":
        return "(MHz)"
    if key == "pol":
        return f"[{POLARIZATIONS.get(v, '?')}]"
    if key == "mdvar":
        extra = []
        if v >= 20:
            extra.append("no situation variability")
        if v % 20 >= 10:
            extra.append("no location variability")
        name = MDVAR_MODES.get(v % 10, "?")
        return f"[{name}{''.join(' + ' + e for e in extra)}]"
    return ""


_ORDER = {
    "p2p": (
        "h_tx__meter",
        "h_rx__meter",
        "climate",
        "n_0",
        "f__mhz",
        "pol",
        "epsilon",
        "sigma",
        "mdvar",
        "time",
        "location",
        "situation",
        "confidence",
        "reliability",
    ),
    "area": (
        "h_tx__meter",
        "h_rx__meter",
        "tx_site_criteria",
        "rx_site_criteria",
        "d__km",
        "delta_h__meter",
        "climate",
        "n_0",
        "f__mhz",
        "pol",
        "epsilon",
        "sigma",
        "mdvar",
        "time",
        "location",
        "situation",
        "confidence",
        "reliability",
    ),
}


def _warning_text(flags: int) -> str:
    if not flags:
        return "[No Warnings]"
    return "[" + ", ".join(warning_names(flags)) + "]"


def _intermediate_lines(r: ItmResult) -> list[str]:
    iv = r.intermediates
    return [
        "Intermediate Values",
        _line("Free Space", f"{iv.a_fs_db:.1f}", "(dB)"),
        _line("d__km", f"{iv.d_km:.3f}", "(km)"),
        _line("theta_hzn_tx", f"{iv.theta_hzn_tx_rad * 1000:.3f}", "(mrad)"),
        _line("theta_hzn_rx", f"{iv.theta_hzn_rx_rad * 1000:.3f}", "(mrad)"),
        _line("d_hzn_tx__meter", f"{iv.d_hzn_tx_m:.0f}", "(meters)"),
        _line("d_hzn_rx__meter", f"{iv.d_hzn_rx_m:.0f}", "(meters)"),
        _line("h_e_tx__meter", f"{iv.h_e_tx_m:.1f}", "(meters)"),
        _line("h_e_rx__meter", f"{iv.h_e_rx_m:.1f}", "(meters)"),
        _line("N_s", f"{iv.n_s:.1f}", "(N-Units)"),
        _line("delta_h__meter", f"{iv.delta_h_m:.1f}", "(meters)"),
        _line("A_ref__db", f"{iv.a_ref_db:.1f}", "(dB)"),
        _line("Mode of Propagation", f"{iv.mode}", f"[{PROPAGATION_MODES.get(iv.mode, '?')}]"),
    ]


def format_driver_output(
    inp: DriverInput,
    run: DriverRun,
    *,
    arguments: str,
    terrain_name: str | None = None,
    dbg: bool = True,
    version: str = "",
    generated: str | None = None,
) -> str:
    """The driver report for ``inp`` and its results, in NTIA's layout."""
    raw = dict(inp.raw)
    out = [
        _line("lomsong Version", version or "unknown"),
        _line("ITM Version", "lomsong Numba ITM (NTIA ITM v1.4 behaviour)"),
        _line("Date Generated", generated or time.ctime()),
        _line("Input Arguments", arguments),
        "",
        "Inputs",
    ]
    for key in _ORDER[inp.mode]:
        if key not in raw:
            continue
        text = raw[key]
        if key in ("n_0", "f__mhz"):
            text = f"{float(text):.2f}"
        note = "" if "," in text else _input_note(key, text)  # NTIA prints lists bare
        out.append(_line(_REPORT_KEY.get(key, key), text, note))
    out.append(_line("Mode", "Point-to-Point" if inp.mode == "p2p" else "Area"))
    if terrain_name is not None:
        out.append(_line("Terrain File", terrain_name))
    flags = 0
    for row in run.results:
        for r in row:
            flags |= r.warnings
    out += [
        "",
        "Results",
        _line("ITM Warning Flags", f"0x{flags:04X}", _warning_text(flags)),
        _line(
            "ITM Return Code",
            "1" if flags else "0",
            "[Success - With Warnings]" if flags else "[Success - No Errors]",
        ),
    ]
    if not inp.is_table:
        r = run.results[0][0]
        out.append(_line("Basic Transmission Loss", f"{r.loss_db:.1f}", "(dB)"))
        if dbg:
            out += [""] + _intermediate_lines(r)
        return "\n".join(out) + "\n"

    out += ["", "Basic Transmission Loss Results (dB)"]
    cols = "".join(f"{c:<10g}" for c in run.col_values)
    if inp.mode == "p2p":
        out += [f"{'Reliability':<15}with Confidence", f"{'':<15}{cols}"]
        for rel, row in zip(run.row_values, run.results, strict=True):
            out.append(f"{rel:<15g}" + "".join(f"{r.loss_db:<10.1f}" for r in row))
        if dbg:
            # Intermediate values do not depend on confidence or reliability.
            out += [""] + _intermediate_lines(run.results[0][0])
    else:
        out += [
            f"{'Distance':<13}{'Free':<10}with Confidence",
            f"{'  (km)':<13}{'Space':<10}{cols}",
        ]
        for d, row in zip(run.row_values, run.results, strict=True):
            fs = row[0].intermediates.a_fs_db
            out.append(f"{d:<13g}{fs:<10.1f}" + "".join(f"{r.loss_db:<10.1f}" for r in row))
    # Table lines keep their trailing padding, as NTIA's reports do.
    return "\n".join(out) + "\n"


def write_text_output(path: str | os.PathLike[str], text: str, *, overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` whole or not at all (temporary file, then rename)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_driver_output(path: str | os.PathLike[str]) -> DriverOutput:
    """Parse a driver report (NTIA's ``o_*.txt`` or ours) into its values."""
    path = Path(path)
    src = path.name
    lines = _read_text(path).splitlines()
    section = "header"
    inputs: dict[str, str] = {}
    inter: dict[str, float] = {}
    warnings = rc = None
    loss = None
    kind = None
    cols: tuple[float, ...] = ()
    rows: list[tuple[float, float | None, tuple[float, ...]]] = []
    i = 0
    try:
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            i += 1
            if stripped in ("Inputs", "Results", "Intermediate Values"):
                section = stripped
                continue
            if not stripped or section == "header":
                continue
            label = line[:25].strip()
            rest = line[25:].split()
            if section == "Inputs":
                inputs[label] = rest[0] if rest else ""
            elif section == "Intermediate Values":
                inter[label] = float(rest[0])
            elif label == "ITM Warning Flags":
                warnings = int(rest[0], 16)
            elif label == "ITM Return Code":
                rc = int(rest[0])
            elif stripped.startswith("Basic Transmission Loss Results"):
                head = lines[i].split()
                kind = "p2p" if head[0] == "Reliability" else "area"
                cols = tuple(float(t) for t in lines[i + 1].split()[0 if kind == "p2p" else 2 :])
                i += 2
                while i < len(lines) and lines[i].strip():
                    nums = [float(t) for t in lines[i].split()]
                    if kind == "p2p":
                        rows.append((nums[0], None, tuple(nums[1:])))
                    else:
                        rows.append((nums[0], nums[1], tuple(nums[2:])))
                    i += 1
            elif label == "Basic Transmission Loss":
                loss = float(rest[0])
    except (IndexError, ValueError) as exc:
        raise InvalidInputError(f"{src} line {i}: not a driver report line ({exc})") from exc
    return DriverOutput(
        source=src,
        inputs=inputs,
        warnings=warnings,
        return_code=rc,
        loss_db=loss,
        intermediates=inter,
        table_kind=kind,
        table_cols=cols,
        table_rows=tuple(rows),
    )
