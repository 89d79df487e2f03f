"""``lomsong itm p2p`` / ``lomsong itm area``: run ITM on NTIA driver files.

Same input, terrain and report formats as NTIA's ``ITMDrvr`` (see
:mod:`lomsong.geodata.itm_io`), so a path can be checked against the reference tool directly::

    lomsong itm p2p -i i_p2ptls.txt -t pfl.txt -o o_p2ptls.txt
    lomsong itm area -i i_areacr_tbl.txt -o o_areacr_tbl.txt
"""

from __future__ import annotations

from pathlib import Path

import typer

_INPUT = typer.Option(..., "-i", "--input", help="Driver input file (key,value lines).")
_OUTPUT = typer.Option(..., "-o", "--output", help="Report file to write.")
_DBG = typer.Option(
    True, "--dbg/--no-dbg", help="Write the intermediate values (NTIA's -dbg; on by default)."
)
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace the report if it exists.")
_TERRAIN = typer.Option(..., "-t", "--terrain", help="Terrain profile in PFL format (tx first).")


def _arguments(mode: str, inp: Path, out: Path, terrain: Path | None, dbg: bool) -> str:
    parts = ["-i", inp.name]
    if terrain is not None:
        parts += ["-t", terrain.name]
    parts += ["-o", out.name, "-mode", mode]
    if dbg:
        parts.append("-dbg")
    return " ".join(parts)


def _run_p2p(inp, pfl):  # type: ignore[no-untyped-def]
    from lomsong.coverage import itm
    from lomsong.geodata.itm_io import DriverRun

    if inp.variability == "tls":
        r = itm.p2p_tls(
            pfl,
            inp.radio,
            time_pct=inp.time_pct,
            location_pct=inp.location_pct,
            situation_pct=inp.situation_pct,
            source=inp.source,
        )
        return DriverRun(results=((r,),), row_values=(), col_values=())
    rows = tuple(
        tuple(
            itm.p2p_cr(pfl, inp.radio, confidence_pct=c, reliability_pct=rel, source=inp.source)
            for c in inp.confidence_pct
        )
        for rel in inp.reliability_pct
    )
    return DriverRun(results=rows, row_values=inp.reliability_pct, col_values=inp.confidence_pct)


def _run_area(inp):  # type: ignore[no-untyped-def]
    from lomsong.coverage import itm
    from lomsong.geodata.itm_io import DriverRun

    common = dict(
        delta_h_m=inp.delta_h_m,
        tx_siting=inp.tx_siting,
        rx_siting=inp.rx_siting,
        source=inp.source,
    )
    if inp.variability == "tls":
        r = itm.area_tls(
            inp.radio,
            d_km=inp.d_km[0],
            time_pct=inp.time_pct,
            location_pct=inp.location_pct,
            situation_pct=inp.situation_pct,
            **common,
        )
        return DriverRun(results=((r,),), row_values=inp.d_km, col_values=())
    rel = inp.reliability_pct[0]
    rows = tuple(
        tuple(
            itm.area_cr(inp.radio, d_km=d, confidence_pct=c, reliability_pct=rel, **common)
            for c in inp.confidence_pct
        )
        for d in inp.d_km
    )
    return DriverRun(results=rows, row_values=inp.d_km, col_values=inp.confidence_pct)


def register(app: typer.Typer) -> None:
    """Add the ``itm`` command group to ``app``."""
    itm_app = typer.Typer(
        name="itm",
        help="Longley-Rice ITM on NTIA driver files (same formats as NTIA's ITMDrvr).",
        no_args_is_help=True,
    )

    @itm_app.command("p2p")
    def p2p(
        input_path: Path = _INPUT,
        terrain: Path = _TERRAIN,
        output: Path = _OUTPUT,
        dbg: bool = _DBG,
        overwrite: bool = _OVERWRITE,
    ) -> None:
        """Point-to-point prediction over a terrain profile."""
        from lomsong import __version__ as version
        from lomsong.geodata import itm_io

        if output.exists() and not overwrite:
            # Fail before the (possibly long) computation; checked again when writing.
            itm_io.write_text_output(output, "", overwrite=False)
        inp = itm_io.read_driver_input(input_path, "p2p")
        pfl = itm_io.read_pfl(terrain)
        run = _run_p2p(inp, pfl)
        text = itm_io.format_driver_output(
            inp,
            run,
            arguments=_arguments("p2p", input_path, output, terrain, dbg),
            terrain_name=terrain.name,
            dbg=dbg,
            version=version,
        )
        itm_io.write_text_output(output, text, overwrite=overwrite)
        typer.echo(f"wrote {output}")

    @itm_app.command("area")
    def area(
        input_path: Path = _INPUT,
        output: Path = _OUTPUT,
        dbg: bool = _DBG,
        overwrite: bool = _OVERWRITE,
    ) -> None:
        """Area prediction (terrain irregularity delta_h instead of a profile)."""
        from lomsong import __version__ as version
        from lomsong.geodata import itm_io

        if output.exists() and not overwrite:
            itm_io.write_text_output(output, "", overwrite=False)
        inp = itm_io.read_driver_input(input_path, "area")
        run = _run_area(inp)
        text = itm_io.format_driver_output(
            inp,
            run,
            arguments=_arguments("area", input_path, output, None, dbg),
            dbg=dbg,
            version=version,
        )
        itm_io.write_text_output(output, text, overwrite=overwrite)
        typer.echo(f"wrote {output}")

    app.add_typer(itm_app, name="itm")
