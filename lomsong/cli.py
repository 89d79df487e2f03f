"""The ``lomsong`` command: a thin Typer app; the work lives in ``lomsong.commands``.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (a flag, a file, a row),
3 output exists without ``--overwrite``.

``lomsong viewshed`` is dispatched before Typer is imported: it is the command that runs many
times in scripts and is benchmarked process for process against ``gdal_viewshed``, and Typer's
import and option handling cost ~0.3 s of each start.  It parses its own options (argparse); the
Typer app lists it and passes arguments through, so both routes share one parser.
"""

from __future__ import annotations

import logging
import os
import sys

#: Commands, in ``--help`` order; each module in ``lomsong.commands`` has ``register(app)``.
COMMANDS = ("viewshed", "pathloss", "itm", "run", "serve", "keys", "sample")
#: Commands that run without Typer (they parse their own arguments:
#: ``run(argv, prog, own_process)``).
FAST_COMMANDS = ("viewshed",)


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Libraries' INFO chatter (pyogrio's "Created N records", numba) is not the user's business.
    for noisy in ("pyogrio", "numba", "fiona", "rasterio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _build_app():
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
        configure_logging(verbose, quiet)

    import importlib

    for name in COMMANDS:
        importlib.import_module(f"lomsong.commands.{name}").register(app)
    return app


_app = None


def __getattr__(name: str):
    """``lomsong.cli.app``: the Typer app, built on first use (PEP 562)."""
    global _app
    if name == "app":
        if _app is None:
            _app = _build_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _click_module():
    """The click that typer uses: typer >= 0.20 vendors its own copy as ``typer._click``."""
    try:
        import typer._click as click  # type: ignore[import-not-found]
    except ImportError:  # older typer: the real click
        import click
    return click


def _abort_types(click) -> tuple[type[BaseException], ...]:
    """click's Abort where this click has one (typer's vendored copy does not)."""
    abort = getattr(click.exceptions, "Abort", None) or getattr(click, "Abort", None)
    return (abort,) if abort is not None else ()


def _fast_command(argv: list[str]):
    """``(name, verbose, quiet, rest)`` when argv names a fast command after global flags."""
    verbose, quiet = 0, False
    for k, arg in enumerate(argv):
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--verbose":
            verbose += 1
        elif len(arg) > 1 and arg[0] == "-" and set(arg[1:]) == {"v"}:
            verbose += len(arg) - 1
        elif arg in FAST_COMMANDS:
            return arg, verbose, quiet, argv[k + 1:]
        else:
            return None
    return None


def _exit_code(run) -> int:
    """Run ``run()`` and map lomsong errors to exit codes (messages on stderr)."""
    from lomsong.coverage.errors import InvalidInputError, LomsongError, OutputExistsError

    try:
        run()
    except OutputExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (InvalidInputError, LomsongError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    return 0


def _run_typer() -> int:
    import typer

    click = _click_module()
    app = __getattr__("app")
    code = 0

    def run() -> None:
        nonlocal code
        try:
            app(standalone_mode=False)
        except typer.Exit as exc:
            code = exc.exit_code
        except click.exceptions.ClickException as exc:  # bad flag, missing argument
            exc.show()
            code = exc.exit_code
        except _abort_types(click):  # Ctrl-C at a prompt
            code = 1

    return _exit_code(run) or code


def main() -> None:
    """Console entry point: run the command and map lomsong errors to exit codes."""
    fast = _fast_command(sys.argv[1:])
    if fast is not None:
        name, verbose, quiet, rest = fast
        configure_logging(verbose, quiet)
        import importlib

        module = importlib.import_module(f"lomsong.commands.{name}")
        code = _exit_code(lambda: module.run(rest, prog=f"lomsong {name}", own_process=True))
    else:
        code = _run_typer()
    # Skip the interpreter's slow teardown (0.25-0.45 s of module finalisation with numba,
    # rasterio and GDAL loaded): everything is written and closed by now; flush and leave.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
