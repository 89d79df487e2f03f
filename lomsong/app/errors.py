"""Exceptions to HTTP: one table, and JSON error bodies.

Core code raises the :mod:`lomsong.coverage.errors` classes and never ``HTTPException``; this
table (like titiler's ``DEFAULT_STATUS_CODES``) says what each becomes.  The most specific class
in an exception's MRO wins.  Every error body is ``{"detail": "...", "problems": [...]}``, with
``problems`` listing every fault of a rejected input (each naming its row and column).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lomsong.coverage.errors import (
    DemReadError,
    InvalidInputError,
    LomsongError,
    NotFoundError,
    OutputExistsError,
)

log = logging.getLogger(__name__)


class AuthError(LomsongError):
    """No credentials, or credentials that match no live key (401)."""


class ForbiddenError(LomsongError, PermissionError):
    """Valid credentials, but this key may not see or do that (403)."""


class PayloadTooLargeError(LomsongError, ValueError):
    """An upload over the configured size limit (413)."""


class TooManyJobsError(LomsongError):
    """Too many recomputations are waiting; try again later (429)."""


class NotReadyError(LomsongError):
    """No version has been published yet, or it lacks what was asked for (503)."""


DEFAULT_STATUS_CODES: dict[type[BaseException], int] = {
    AuthError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    OutputExistsError: 409,
    PayloadTooLargeError: 413,
    InvalidInputError: 422,
    TooManyJobsError: 429,
    NotReadyError: 503,
    DemReadError: 500,
    LomsongError: 500,
}


def status_for(exc: BaseException, table: dict[type[BaseException], int] | None = None) -> int:
    """The HTTP status of ``exc``: the table entry of the nearest class in its MRO, else 500."""
    table = DEFAULT_STATUS_CODES if table is None else table
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return 500


def error_body(exc: BaseException) -> dict:
    body: dict = {"detail": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    problems = getattr(exc, "problems", None)
    if problems:
        body["problems"] = list(problems)
    return body


def add_exception_handlers(app: FastAPI,
                           table: dict[type[BaseException], int] | None = None) -> None:
    """Register one handler that answers every :class:`LomsongError` from ``table``."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        code = status_for(exc, table)
        if code >= 500 and code != 503:  # 503 says "not yet", which the caller may know
            log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
            body = {"detail": "internal error; see the server log"}
        else:
            body = error_body(exc)
        headers = None
        if code == 401:
            headers = {"WWW-Authenticate": 'APIKey header="X-API-Key"'}
        elif code in (429, 503):
            headers = {"Retry-After": "30"}
        return JSONResponse(body, status_code=code, headers=headers)

    app.add_exception_handler(LomsongError, handle)
