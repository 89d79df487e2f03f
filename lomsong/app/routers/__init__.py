"""Routers, one per resource; the JSON API lives under ``/api/v1``, the map pages at the root."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from lomsong.app.errors import NotReadyError
from lomsong.app.schemas import ErrorOut
from lomsong.app.store import LoadedVersion

API_PREFIX = "/api/v1"
VERSION_HEADER = "X-Lomsong-Version"


NOT_READY = ("no results are published yet: the first computation has not finished "
             "(lomsong serve computes the bundled sample first)")


def current_version_sync(request: Request) -> LoadedVersion:
    """The served version, from a plain ``def`` (on the thread pool)."""
    v = request.app.state.versions.get()
    if v is None:
        raise NotReadyError(NOT_READY)
    return v


async def current_version(request: Request) -> LoadedVersion:
    """Dependency: the served version (503 while nothing is published).

    Async on purpose: the usual case is one ``stat`` of ``current``; only when it changed is
    the new version read, on the thread pool.
    """
    cache = request.app.state.versions
    v = cache.peek()
    if v is None:
        v = await run_in_threadpool(cache.get)
    if v is None:
        raise NotReadyError(NOT_READY)
    return v


AUTH_RESPONSES: dict = {
    401: {"model": ErrorOut, "description": "No X-API-Key, or a key that is not valid."},
    403: {"model": ErrorOut, "description": "The key may not see or do this (another "
          "carrier's data)."},
    503: {"model": ErrorOut, "description": "Nothing is published yet."},
}
