"""NTIA ITM driver formats and the ``lomsong itm`` CLI, round-tripped on NTIA's own examples."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lomsong.cli import app
from lomsong.coverage.errors import InvalidInputError, OutputExistsError
from lomsong.geodata import itm_io

DATA = Path(__file__).resolve().parents[1] / "data" / "itm"
EXAMPLES = DATA / "cmd_examples"
SHARED_ITM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "itm"
STEMS = ["p2ptls", "p2pcr", "p2pcr_tbl", "areatls", "areacr", "areacr_tbl"]


def _mode(stem: str) -> str:
    return "p2p" if stem.startswith("p2p") else "area"


def _run_cli(stem: str, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    args = ["itm", _mode(stem), "-i", str(EXAMPLES / f"i_{stem}.txt")]
    if _mode(stem) == "p2p":
        args += ["-t", str(EXAMPLES / "pfl.txt")]
    return CliRunner().invoke(app, [*args, "-o", str(out), *extra])


# ---------------------------------------------------------------------------------------------
# Readers on NTIA's files
# ---------------------------------------------------------------------------------------------
def test_read_p2p_tls_input() -> None:
    inp = itm_io.read_driver_input(EXAMPLES / "i_p2ptls.txt", "p2p")
    r = inp.radio
    assert (r.h_tx_m, r.h_rx_m, r.climate, r.n_0, r.f_mhz) == (15.0, 3.0, 5, 301.0, 3500.0)
    assert (r.pol, r.epsilon, r.sigma, r.mdvar) == (1, 15.0, 0.005, 1)
    assert inp.variability == "tls"
    assert (inp.time_pct, inp.location_pct, inp.situation_pct) == (50.0, 50.0, 50.0)
    assert not inp.is_table
    assert inp.source == "i_p2ptls.txt"


def test_read_area_table_input_expands_distance_segments() -> None:
    inp = itm_io.read_driver_input(EXAMPLES / "i_areacr_tbl.txt", "area")
    assert inp.d_km == tuple(range(10, 101, 10)) + tuple(range(200, 1001, 100))
    assert inp.confidence_pct == (50.0, 75.0, 90.0)
    assert inp.reliability_pct == (90.0,)
    assert (inp.tx_siting, inp.rx_siting, inp.delta_h_m) == (0, 0, 0.0)
    assert inp.variability == "cr" and inp.is_table


@pytest.mark.parametrize("stem", STEMS)
def test_every_ntia_input_parses(stem: str) -> None:
    inp = itm_io.read_driver_input(EXAMPLES / f"i_{stem}.txt", _mode(stem))
    assert inp.variability == ("cr" if "cr" in stem else "tls")
    assert inp.is_table == stem.endswith("_tbl")


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ((5.0,), (5.0,)),
        ((1.0, 2.0, 0.5), (1.0, 1.5, 2.0)),
        ((0.1, 0.5, 0.1), (0.1, 0.2, 0.3, 0.4, 0.5)),
        ((10.0, 25.0, 10.0), (10.0, 20.0)),  # stop off the grid: last step short of it
    ],
)
def test_expand_distances(spec: tuple, want: tuple) -> None:
    assert itm_io.expand_distances(spec) == pytest.approx(want)


@pytest.mark.parametrize("spec", [(1.0, 2.0), (10.0, 5.0, 1.0), (1.0, 5.0, 0.0), (1.0, 5.0, -1.0)])
def test_expand_distances_rejects_malformed_lists(spec: tuple) -> None:
    assert isinstance(itm_io.expand_distances(spec), str)


def test_read_pfl() -> None:
    pfl = itm_io.read_pfl(EXAMPLES / "pfl.txt")
    assert pfl[0] == 142 and pfl[1] == 25.6
    assert pfl.size == 145
    assert pfl[2] == 1692 and pfl[-1] == 1709


def test_read_pfl_rows() -> None:
    rows = itm_io.read_pfl_rows(DATA / "pfls.csv")
    assert [int(r[0]) for r in rows] == [3679, 78, 280, 286, 255]
    assert all(r.size == int(r[0]) + 3 for r in rows)
    assert rows[1][1] == pytest.approx(99.708992)


def test_read_pfl_accepts_whitespace_and_a_trailing_comma(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("2 30.0\n 1 2 3\n")
    (tmp_path / "b.txt").write_text("2,30.0,1,2,3,\n")
    for name in ("a.txt", "b.txt"):
        np.testing.assert_array_equal(itm_io.read_pfl(tmp_path / name), [2, 30, 1, 2, 3])


@pytest.mark.parametrize("stem", STEMS)
def test_read_ntia_report(stem: str) -> None:
    out = itm_io.read_driver_output(EXAMPLES / f"o_{stem}.txt")
    assert out.warnings == 0 and out.return_code == 0
    assert out.inputs["h_tx__meter"] in ("3", "15")
    if stem.endswith("_tbl"):
        assert out.loss_db is None and out.table_rows
        assert out.table_kind == _mode(stem)
    else:
        assert out.loss_db is not None and not out.table_rows
        assert out.intermediates["Mode of Propagation"] == 1


# ---------------------------------------------------------------------------------------------
# Round trip: our CLI on NTIA's inputs reproduces NTIA's reports
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stem", STEMS)
def test_cli_reproduces_ntia_report_values(stem: str, tmp_path: Path) -> None:
    out = tmp_path / f"o_{stem}.txt"
    result = _run_cli(stem, out)
    assert result.exit_code == 0, result.output
    ours = itm_io.read_driver_output(out)
    ntia = itm_io.read_driver_output(EXAMPLES / f"o_{stem}.txt")
    assert ours.inputs == ntia.inputs
    assert (ours.warnings, ours.return_code) == (ntia.warnings, ntia.return_code)
    assert ours.loss_db == ntia.loss_db
    assert ours.table_kind == ntia.table_kind
    assert ours.table_cols == ntia.table_cols
    assert ours.table_rows == ntia.table_rows
    assert ours.intermediates == ntia.intermediates


@pytest.mark.parametrize("stem", STEMS)
def test_cli_report_is_byte_identical_below_the_header(stem: str, tmp_path: Path) -> None:
    # Everything below the version and date lines is NTIA's text, padding and all, so `diff`
    # against the reference tool's report shows only real differences.
    out = tmp_path / f"o_{stem}.txt"
    assert _run_cli(stem, out).exit_code == 0
    ours = out.read_text().splitlines()
    ntia = (EXAMPLES / f"o_{stem}.txt").read_text().splitlines()
    assert ours[4:] == ntia[4:]
    assert ours[3].split() == ntia[3].split()  # Input Arguments


def test_no_dbg_leaves_out_intermediate_values(tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    assert _run_cli("p2ptls", out, "--no-dbg").exit_code == 0
    text = out.read_text()
    assert "Basic Transmission Loss  114.5" in text
    assert "Intermediate Values" not in text
    assert "-dbg" not in text


def test_cli_does_not_overwrite_without_flag(tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    out.write_text("keep me")
    result = _run_cli("areatls", out)
    assert isinstance(result.exception, OutputExistsError)
    assert out.read_text() == "keep me"
    assert _run_cli("areatls", out, "--overwrite").exit_code == 0
    assert "Basic Transmission Loss  134.5" in out.read_text()


def test_cli_lists_its_commands() -> None:
    result = CliRunner().invoke(app, ["itm", "--help"])
    assert result.exit_code == 0
    assert "p2p" in result.output and "area" in result.output


def test_console_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "i.txt"
    bad.write_text((EXAMPLES / "i_areatls.txt").read_text().replace("d__km,10", "d__km,-3"))
    cmd = [sys.executable, "-m", "lomsong.cli", "itm", "area", "-i", str(bad), "-o"]
    proc = subprocess.run([*cmd, str(tmp_path / "o.txt")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "i.txt" in proc.stderr and "line 5: d__km=-3, must be > 0 km" in proc.stderr
    assert not (tmp_path / "o.txt").exists()
    (tmp_path / "exists.txt").write_text("")
    good = [
        sys.executable,
        "-m",
        "lomsong.cli",
        "itm",
        "area",
        "-i",
        str(EXAMPLES / "i_areatls.txt"),
    ]
    proc = subprocess.run([*good, "-o", str(tmp_path / "exists.txt")], capture_output=True)
    assert proc.returncode == 3


# ---------------------------------------------------------------------------------------------
# Bad input files: every problem named with file, line, field and value
# ---------------------------------------------------------------------------------------------
def _edit(tmp_path: Path, stem: str, old: str, new: str) -> Path:
    text = (EXAMPLES / f"i_{stem}.txt").read_text()
    assert old in text
    path = tmp_path / f"bad_{stem}.txt"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("stem", "old", "new", "message"),
    [
        (
            "p2ptls",
            "h_tx__meter,15",
            "h_tx__meter,fifteen",
            "line 1: h_tx__meter='fifteen', not a number",
        ),
        (
            "p2ptls",
            "h_rx__meter,3",
            "h_rx__meter,0.1",
            "line 2: h_rx__meter=0.1, must be in [0.5, 3000] m",
        ),
        ("p2ptls", "climate,5", "climate,5.5", "line 3: climate='5.5', must be an integer"),
        ("p2ptls", "climate,5", "climate,0", "line 3: climate=0, must be an integer 1..7"),
        ("p2ptls", "N_0,301", "N_0,inf", "line 4: n_0='inf', not a number"),
        ("p2ptls", "pol,1", "polarisation,1", "line 6: unknown key 'polarisation'"),
        ("p2ptls", "pol,1", "pol,1,0", "line 6: pol='1,0', takes one value"),
        ("p2ptls", "mdvar,1", "mdvar,5", "line 9: mdvar=5, must be 0..3, plus 10 and/or 20"),
        ("p2ptls", "time,50", "time,100", "line 10: time=100, must be in (0, 100)"),
        (
            "p2ptls",
            "sigma,0.005",
            "sigma,0.005\nsigma,0.01",
            "line 9: sigma given again (first on line 8)",
        ),
        ("p2ptls", "epsilon,15", "d__km,10", "line 7: d__km is not an input of p2p mode"),
        ("p2ptls", "epsilon,15\n", "", "missing key 'epsilon' (p2p mode needs it)"),
        ("p2ptls", "situation,50", "confidence,50", "gives both time, location"),
        ("p2ptls", "situation,50", "", "missing key 'situation' (with time)"),
        (
            "p2pcr",
            "confidence,50",
            "confidence,50,100",
            "line 10: confidence=100, must be in (0, 100)",
        ),
        ("p2pcr", "reliability,50", "", "missing key 'reliability' (with confidence)"),
        ("areatls", "d__km,10", "d__km,10,20", "line 5: d__km='10,20' has 2 values"),
        ("areatls", "d__km,10", "d__km,10,30,10", "several distances need confidence/reliability"),
        (
            "areatls",
            "tx_site_criteria,0",
            "tx_site_criteria,3",
            "line 3: tx_site_criteria=3, must be 0",
        ),
        (
            "areatls",
            "delta_h__meter,20",
            "delta_h__meter,-1",
            "line 6: delta_h__meter=-1, must be >= 0 m",
        ),
        ("areacr_tbl", "reliability,90", "reliability,90,95", "reliability has several values"),
        (
            "areatls",
            "h_tx__meter,15",
            "h_tx__meter 15",
            "line 1: 'h_tx__meter 15' is not a 'key,value' line",
        ),
    ],
)
def test_bad_input_file_names_file_line_field_value(
    tmp_path: Path, stem: str, old: str, new: str, message: str
) -> None:
    path = _edit(tmp_path, stem, old, new)
    with pytest.raises(InvalidInputError) as info:
        itm_io.read_driver_input(path, _mode(stem))
    text = str(info.value)
    assert text.startswith(path.name)
    assert message in text, text


def test_all_problems_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "i.txt"
    path.write_text("h_tx__meter,x\nh_rx__meter,0\nclimate,9\nfoo,1\n")
    with pytest.raises(InvalidInputError) as info:
        itm_io.read_driver_input(path, "p2p")
    problems = info.value.problems
    assert any("line 1" in p for p in problems)
    assert any("line 2" in p for p in problems)
    assert any("line 3" in p for p in problems)
    assert any("line 4: unknown key 'foo'" in p for p in problems)
    assert any("missing key 'mdvar'" in p for p in problems)


def test_keys_are_case_insensitive_and_readme_spelling_is_accepted(tmp_path: Path) -> None:
    text = (EXAMPLES / "i_areatls.txt").read_text()
    text = text.replace("tx_site_criteria", "TX_SITING_CRITERIA").replace("N_0", "n_0")
    path = tmp_path / "i.txt"
    path.write_text(text)
    assert itm_io.read_driver_input(path, "area").tx_siting == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("3,25.6,1,2,3", "value 1 (n_intervals)=3 needs 4 elevations, found 3"),
        ("2.5,25.6,1,2,3", "value 1 (n_intervals)='2.5', must be an integer >= 1"),
        ("2,0,1,2,3", "value 2 (spacing_m)='0', must be > 0"),
        ("2,25.6,1,x,3", "value 4 (elevation 1)='x', not a number"),
        ("2,25.6,1,,3", "value 4 (elevation 1)='', not a number"),
        ("2,25.6,1,nan,3", "value 4 (elevation 1)='nan', not a number"),
        ("1,25.6,1", "3 values, a profile needs"),
    ],
)
def test_bad_pfl_names_file_and_value(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pfl_bad.txt"
    path.write_text(content)
    with pytest.raises(InvalidInputError) as info:
        itm_io.read_pfl(path)
    assert str(info.value).startswith("pfl_bad.txt")
    assert message in str(info.value)


def test_bad_pfls_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pfls.csv"
    path.write_text("2,10,1,2,3\n2,10,1,2\n")
    with pytest.raises(InvalidInputError, match="line 2 value 1 \\(n_intervals\\)=2 needs 3"):
        itm_io.read_pfl_rows(path)


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="nope.txt: cannot read"):
        itm_io.read_driver_input(tmp_path / "nope.txt", "p2p")


def test_write_text_output_is_atomic_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    itm_io.write_text_output(out, "one\n")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        itm_io.write_text_output(out, "two\n")
    itm_io.write_text_output(out, "two\n", overwrite=True)
    assert out.read_text() == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["o.txt"]  # no temporary left behind


# ---------------------------------------------------------------------------------------------
# Provenance: the bundled copy is NTIA's data byte for byte
# ---------------------------------------------------------------------------------------------
@pytest.mark.shared
def test_bundled_ntia_files_equal_the_shared_copy() -> None:
    if not SHARED_ITM.exists():
        pytest.skip("../shared/data/itm not present")
    names = ["p2p.csv", "pfls.csv", "area.csv"] + [
        f"cmd_examples/{p.name}" for p in (SHARED_ITM / "cmd_examples").iterdir()
    ]
    for name in names:
        assert filecmp.cmp(DATA / name, SHARED_ITM / name, shallow=False), name
