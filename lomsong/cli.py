"""The ``lomsong`` command: a thin Typer app; the work lives in ``lomsong.commands``.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (a flag, a file, a row),
3 output exists without ``--overwrite``.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

app = typer.Typer(
    name="lomsong",
    help="Mobile-coverage gap mapper (lõm sóng): viewshed, path loss, gap lists, maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More log output."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only warnings and errors."),
) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Libraries' INFO chatter (pyogrio's "Created N records", numba) is not the user's business.
    for noisy in ("pyogrio", "numba", "fiona", "rasterio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _register() -> None:
    # Each command module exposes ``register(app)``; a module that is not there yet is skipped
    # so that the CLI works while parts of the package are being built.
    import importlib

    for name in ("viewshed", "pathloss", "itm", "run", "serve", "keys", "sample"):
        try:
            mod = importlib.import_module(f"lomsong.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"lomsong.commands.{name}":
                continue
            raise
        mod.register(app)


_register()


def _click_module():
    """The click that typer uses: typer >= 0.20 vendors its own copy as ``typer._click``."""
    try:
        import typer._click as click  # type: ignore[import-not-found]
    except ImportError:  # older typer: the real click
        import click
    return click


def main() -> None:
    """Console entry point: run the app and map lomsong errors to exit codes."""
    from lomsong.coverage.errors import InvalidInputError, LomsongError, OutputExistsError

    click = _click_module()
    code = 0
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except OutputExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 3
    except (InvalidInputError, LomsongError) as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 2
    except click.exceptions.ClickException as exc:  # usage errors: bad flag, missing argument
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        code = 1
    # Skip the interpreter's slow teardown (0.25-0.45 s of module finalisation with numba,
    # rasterio and GDAL loaded): everything is written and closed by now; flush and leave.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
