"""``lomsong sample export DIR``: copy the bundled sample's inputs and a lomsong.toml out."""

from __future__ import annotations

from pathlib import Path

import typer

sample_app = typer.Typer(help="The bundled Thái Nguyên sample.", no_args_is_help=True)


@sample_app.command("export")
def export(
    directory: Path = typer.Argument(..., help="Folder to write the sample's inputs into."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace files that exist."),
) -> None:
    """Write the sample's input files and a lomsong.toml that points at them."""
    import shutil

    from lomsong.coverage.errors import OutputExistsError
    from lomsong.pipeline import sample_dir

    src = sample_dir()
    files = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
    clash = [p.name for p in files if (directory / p.name).exists()]
    if clash and not overwrite:
        raise OutputExistsError(f"{directory}: {', '.join(clash)} exist(s); use --overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for p in files:
        shutil.copyfile(p, directory / p.name)
    typer.echo(f"Wrote {len(files)} files to {directory}/. Edit them, then run:\n"
               f"  lomsong run --config {directory / 'lomsong.toml'} -o OUT")


def register(app: typer.Typer) -> None:
    app.add_typer(sample_app, name="sample")
