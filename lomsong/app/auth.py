"""Who is asking: API keys (``X-API-Key``) and planners' browser sessions; what each may see.

Roles:

* ``planner`` sees everything: every carrier's results and towers, the map.
* ``carrier`` (bound to one carrier) sees its own gap lists, its own towers and results, and the
  list of villages no carrier covers (lõm sóng) without other carriers' columns; it may upload
  towers only for itself.  Never another carrier's towers or per-carrier results.

No credentials: 401.  Credentials that may not do this: 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from lomsong.app.errors import AuthError, ForbiddenError
from lomsong.app.store import ApiKey, Store

SESSION_COOKIE = "lomsong_session"

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKey",
    description="A key made with `lomsong keys add`: a planner's, or a carrier's.")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    key_id: str
    role: str
    carrier: str | None
    via: str  # "key" or "session"

    @property
    def is_planner(self) -> bool:
        return self.role == "planner"

    @property
    def scope(self) -> tuple[str, ...] | None:
        """Carriers whose per-carrier results this caller may see (None = all)."""
        return None if self.is_planner else (self.carrier or "",)

    def may_see(self, carrier: str) -> bool:
        return self.is_planner or carrier == self.carrier

    def require_carrier(self, carrier: str) -> None:
        if not self.may_see(carrier):
            raise ForbiddenError(f"this key belongs to {self.carrier}; it may not see or change "
                                 f"{carrier}'s towers or results")


def principal_of(key: ApiKey, via: str) -> Principal:
    return Principal(key_id=key.key_id, role=key.role, carrier=key.carrier, via=via)


def _store(request: Request) -> Store:
    return request.app.state.store


def optional_principal(request: Request, api_key: str | None) -> Principal | None:
    """From the ``X-API-Key`` header, else from a session cookie; None if neither is valid.

    A header that is present but wrong is an error (401), not a fallback to the cookie.
    """
    store = _store(request)
    if api_key is not None:
        key = store.authenticate(api_key)
        if key is None:
            raise AuthError("X-API-Key: not a valid key (unknown, revoked or mistyped)")
        return principal_of(key, "key")
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        key = store.session_key(token)
        if key is not None:
            return principal_of(key, "session")
    return None


def require_principal(request: Request,
                      api_key: Annotated[str | None, Security(api_key_header)] = None
                      ) -> Principal:
    """Dependency for API endpoints: a valid ``X-API-Key`` (401 otherwise).

    A planner's browser session (from ``/signin``) also works for reads (GET), so a page served
    to a signed-in planner can call the API; never for writes, which need the header (with the
    SameSite=Strict cookie that already rules out cross-site requests, this is belt and braces
    against CSRF).  Plain ``def``: it reads SQLite, so FastAPI runs it in the thread pool.
    """
    if api_key is None and request.method in ("GET", "HEAD"):
        p = optional_principal(request, None)
        if p is not None:
            return p
    if api_key is None:
        raise AuthError("missing X-API-Key header; ask the service operator for a key")
    key = _store(request).authenticate(api_key)
    if key is None:
        raise AuthError("X-API-Key: not a valid key (unknown, revoked or mistyped)")
    return principal_of(key, "key")


def require_planner(request: Request,
                    api_key: Annotated[str | None, Security(api_key_header)] = None
                    ) -> Principal:
    p = require_principal(request, api_key)
    if not p.is_planner:
        raise ForbiddenError("this needs a planner's key")
    return p
