"""``lomsong serve``: the web service (API and planners' map) on uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def bootstrap_sample(store, keep_versions: int) -> str:
    """Compute the bundled sample into an empty store, with a progress bar; return its id."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from lomsong.pipeline import sample_config

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("computing the bundled sample", total=1.0)

        def progress(step: str, fraction: float) -> None:
            bar.update(task, completed=fraction, description=f"sample: {step}")

        return store.compute_version(sample_config(), progress=progress,
                                     keep_versions=keep_versions)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
        store: Annotated[Path | None, typer.Option(
            "--store", envvar="LOMSONG_STORE", help="Store folder (created if missing).")] = None,
        sample: Annotated[bool, typer.Option(
            "--sample/--no-sample",
            help="Compute the bundled sample first if the store is empty.")] = True,
    ) -> None:
        """Serve the API (/api/v1, docs at /docs) and the planners' map (/map).

        With an empty store, the bundled Thái Nguyên sample is computed first, so there is a
        map to look at straight away.  One process: recomputation runs on its own thread.
        """
        import uvicorn

        from lomsong.app.main import create_app
        from lomsong.app.settings import Settings
        from lomsong.app.store import Store

        settings = Settings(store=store) if store is not None else Settings()
        st = Store(settings.store).open()
        if st.current_id() is None and sample:
            typer.echo(f"{st.root}: empty store; computing the bundled sample first", err=True)
            vid = bootstrap_sample(st, settings.keep_versions)
            typer.echo(f"published version {vid}", err=True)
        if not any(k.role == "planner" and not k.revoked_at for k in st.list_keys()):
            # A new user must be able to open the map at once: make the first planner key here
            # and show it once (only its hash is kept).
            _, key = st.add_key("planner", label="created by the first `lomsong serve`")
            typer.echo(f"\nFirst start: created a planner API key (shown only now, keep it):\n"
                       f"  {key}\nOpen http://{host}:{port}/signin and paste it to see the map; "
                       f"send it as X-API-Key to use the API. More keys: lomsong keys add.\n",
                       err=True)
        st.close()
        if host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("listening on %s: put HTTPS in front and set LOMSONG_COOKIE_SECURE=1", host)
        level = logging.getLogger().getEffectiveLevel()
        uvicorn.run(create_app(settings), host=host, port=port, workers=1,
                    log_level=logging.getLevelName(level).lower(), proxy_headers=False)
