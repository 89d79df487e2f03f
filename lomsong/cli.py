"""The ``lomsong`` command: a thin Typer app; the work lives in ``lomsong.commands``.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (a flag, a file, a row),
3 output exists without ``--overwrite``.
"""

from __future__ import annotations

import logging
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


def main() -> None:
    """Console entry point: run the app and map lomsong errors to exit codes."""
    from lomsong.coverage.errors import InvalidInputError, LomsongError, OutputExistsError

    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OutputExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(3)
    except InvalidInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except LomsongError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
