"""The FastAPI application factory.

``create_app(settings)`` builds everything from its arguments (nothing at import), so tests pass
their own settings and store.  The lifespan opens the store, marks jobs an earlier process left
unfinished as failed, starts the single compute thread and warms the Numba kernels on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lomsong.app.errors import add_exception_handlers
from lomsong.app.settings import Settings
from lomsong.coverage.errors import LomsongError

log = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
#: Room for the multipart envelope around the file (boundaries, part headers, other fields).
MULTIPART_SLACK_BYTES = 64 * 1024

DESCRIPTION = """
Gap lists of mobile coverage (lõm sóng) and fiber for Thái Nguyên, for planners and carriers.

Send your key as `X-API-Key`. A **planner** key sees everything; a **carrier** key sees its own
gap lists, towers and results, and the list of villages no carrier covers, and may upload
its own towers (`POST /api/v1/towers`), which recomputes in the background and publishes a new
version only when it has fully succeeded.
"""


class SecurityHeaders:
    """Adds ``X-Content-Type-Options: nosniff`` to every response (pure ASGI: no per-request
    task, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, *, run: Callable[..., Any] | None = None) -> FastAPI:
    """Build the service.

    ``settings`` default to the environment (``LOMSONG_*``).  ``run`` replaces
    ``lomsong.pipeline.run_pipeline`` for recomputation jobs (tests inject failures with it).
    """
    import lomsong
    from lomsong.app.jobs import JobRunner
    from lomsong.app.routers import API_PREFIX, gaps, jobs, meta, towers, web
    from lomsong.app.store import Store, VersionCache

    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = Store(settings.store).open()
        stale = store.fail_unfinished_jobs("interrupted: the service stopped before this job "
                                           "ended; upload the file again")
        if stale:
            log.warning("%d job(s) left unfinished by an earlier process marked failed", stale)
        versions = VersionCache(store, settings.cache_entries)
        runner = JobRunner(store, run=run, keep_versions=settings.keep_versions,
                           current=versions.get)
        app.state.store, app.state.versions, app.state.runner = store, versions, runner
        current = versions.get()
        if current is None:
            log.warning("store %s has no published version yet", store.root)
        if settings.warm_kernels:
            model = "p526"
            if current is not None:
                try:
                    model = store.version_config(current.version_id).model
                except LomsongError:
                    log.info("version %s has no recorded config; warming %s",
                             current.version_id, model)
            runner.warm(model)  # on the compute thread; a job queued meanwhile waits for it
        try:
            yield
        finally:
            # A running job finishes (and publishes) before the process exits; queued ones
            # are dropped and marked failed at the next start.
            runner.shutdown(wait=False)

    app = FastAPI(
        title="lomsong",
        version=getattr(lomsong, "__version__", "0"),
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=settings.max_upload_bytes + MULTIPART_SLACK_BYTES,
    )
    app.state.settings = settings
    add_exception_handlers(app)
    app.add_middleware(SecurityHeaders)
    for r in (meta.router, gaps.router, towers.router, jobs.router):
        app.include_router(r, prefix=API_PREFIX)
    app.include_router(web.router)
    if VENDOR_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")
    else:
        log.warning("%s is missing: the served map cannot load its scripts", VENDOR_DIR)
    return app
