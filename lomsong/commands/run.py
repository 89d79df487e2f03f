"""``lomsong run``: the main job, on the bundled sample or on the user's own data."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lomsong"


def run(
    config: Path = typer.Option(None, "--config", help="A lomsong.toml (see `lomsong sample export`)."),
    dem: Path = typer.Option(None, "--dem", help="DEM: GeoTIFF (any CRS) or SRTM .hgt."),
    towers: list[Path] = typer.Option(None, "--towers", help="Tower CSV (repeatable)."),
    villages: Path = typer.Option(None, "--villages", help="Villages: GeoJSON/GPKG/SHP or CSV with lon,lat."),
    communes: Path = typer.Option(None, "--communes", help="Commune polygons."),
    fiber: list[Path] = typer.Option(None, "--fiber", help="Fiber lines/nodes (repeatable)."),
    model: str = typer.Option(None, "--model", help="Path loss model: p526 (default), fspl, hata, cost231, rma, itm."),
    resolution: float = typer.Option(None, "--resolution", help="Metric grid cell size (m); default the DEM's own."),
    out: Path = typer.Option(Path("lomsong-out"), "-o", "--out", help="Output folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Reuse unchanged coverage from here (default ~/.cache/lomsong)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute everything."),
) -> None:
    """Compute the gap map: villages without 3G/4G/5G per carrier, lõm sóng, no fiber."""
    from lomsong.coverage.errors import InvalidInputError
    from lomsong.pipeline import load_config, run_pipeline, sample_dir
    overrides = {
        "dem": dem.resolve() if dem else None,
        "towers": tuple(t.resolve() for t in towers) if towers else None,
        "villages": villages.resolve() if villages else None,
        "communes": communes.resolve() if communes else None,
        "fiber": tuple(f.resolve() for f in fiber) if fiber else None,
        "model": model, "resolution_m": resolution,
    }
    own_data = any(overrides[k] is not None for k in ("dem", "towers", "villages"))
    if config is not None:
        cfg = load_config(config, overrides)
    elif own_data:
        missing = [k for k in ("dem", "towers", "villages") if overrides[k] is None]
        if missing:
            raise InvalidInputError(f"--{missing[0]} is needed with your own data "
                                    "(or give --config FILE)")
        from lomsong.pipeline import RunConfig

        cfg = RunConfig(**{k: v for k, v in overrides.items() if v is not None})
        cfg.validate()
    else:
        cfg = load_config(sample_dir() / "lomsong.toml", overrides)
        typer.echo("No input flags: running the bundled Thái Nguyên sample "
                   "(real terrain, communes and places; ILLUSTRATIVE towers; fiber = road/rail proxy).")

    cache = None if no_cache else (cache_dir or default_cache_dir())
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<28}"), BarColumn(), TimeElapsedColumn(),
                  transient=True, disable=not os.isatty(2)) as bar:
        task = bar.add_task("start", total=1.0)

        def progress(step: str, frac: float) -> None:
            bar.update(task, description=step, completed=frac)

        result = run_pipeline(cfg, out, overwrite=overwrite, progress=progress, cache_dir=cache)
    print_headline(result)


def print_headline(result) -> None:
    s = result.summary
    typer.echo("")
    if s.get("towers_illustrative"):
        typer.echo("NOTE: towers are illustrative, not real carrier data.")
    typer.echo(f"Villages analysed:                         {s['villages_total']}")
    typer.echo(f"Villages with no 3G/4G/5G (lõm sóng):      {s['villages_no_mobile']}")
    typer.echo(f"Villages with only weak 3G/4G/5G:          {s['villages_weak_mobile']}")
    if "villages_no_fiber" in s:
        proxy = " (fiber = road/rail proxy)" if s.get("fiber_is_proxy") else ""
        typer.echo(f"Villages without fiber{proxy}: {s['villages_no_fiber']}")
    typer.echo("Villages without broadband (3G/4G/5G) per carrier: "
               + ", ".join(f"{c} {d['broadband_gap']}" for c, d in s["carriers"].items()))
    typer.echo(f"Results in {result.out_dir}/ (map.html, summary.json, gaps/*.csv, villages.gpkg)"
               f" in {result.timings_s.get('total_s', 0):.1f} s")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
