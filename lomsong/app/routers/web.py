"""The planners' map page and a small sign-in page that turns a key into a browser session.

``GET /map`` takes the ``X-API-Key`` header or the session cookie; a browser with neither is
redirected to ``/signin``.  The session cookie is HttpOnly (no script can read it),
SameSite=Strict (no other site's page can make the browser send it), expires with the server-side
session (a random token whose sha256 is kept in SQLite, so sign-out and key revocation end it at
once), and Secure when the service is told it runs behind HTTPS.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form, Request, Security
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lomsong.app.auth import SESSION_COOKIE, api_key_header, optional_principal
from lomsong.app.errors import AuthError, ForbiddenError, NotReadyError
from lomsong.app.routers import VERSION_HEADER, current_version_sync
from lomsong.app.store import LoadedVersion

router = APIRouter(tags=["map"])

#: Pages that hold results or a key form: never cached, never framed by another site.
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN",
                "Referrer-Policy": "no-referrer"}

_SIGNIN = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lomsong: đăng nhập / sign in</title>
<style>
body {{ font: 16px/1.4 system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; }}
input {{ width: 100%; padding: .5rem; font: inherit; box-sizing: border-box; }}
button {{ margin-top: .8rem; padding: .5rem 1.2rem; font: inherit; }}
.msg {{ color: #a40000; }}
</style></head>
<body>
<h1>lomsong</h1>
<p>Bản đồ lõm sóng dành cho cán bộ quy hoạch. Nhập khóa API của bạn.<br>
The coverage-gap map is for planners. Enter your API key.</p>
{message}
<form method="post" action="/signin">
<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="off" required autofocus>
<button type="submit">Đăng nhập / Sign in</button>
</form>
</body></html>
"""


def signin_page(message: str = "", status_code: int = 200) -> HTMLResponse:
    msg = f'<p class="msg" role="alert">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(_SIGNIN.format(message=msg), status_code=status_code,
                        headers=PAGE_HEADERS)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/map", status_code=307)


@router.get("/map", response_class=HTMLResponse,
            responses={303: {"description": "A browser without credentials: to /signin."},
                       401: {"description": "No credentials (not a browser)."},
                       403: {"description": "Not a planner's key."}})
def map_page(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> Response:
    """The current version's map, for planners (``X-API-Key`` header or a /signin session)."""
    principal = optional_principal(request, api_key)
    if principal is None:
        if _wants_html(request):
            return RedirectResponse("/signin", status_code=303, headers=PAGE_HEADERS)
        raise AuthError("the map needs a planner's X-API-Key header or a session from /signin")
    if not principal.is_planner:
        raise ForbiddenError("the map is for planners; a carrier's key reads the API instead")
    version: LoadedVersion = current_version_sync(request)
    if version.map_html is None:
        raise NotReadyError(f"version {version.version_id} has no map_served.html")
    return HTMLResponse(version.map_html,
                        headers={**PAGE_HEADERS, VERSION_HEADER: version.version_id})


@router.get("/signin", response_class=HTMLResponse)
def signin_form() -> HTMLResponse:
    """The sign-in form."""
    return signin_page()


@router.post("/signin", response_class=HTMLResponse,
             responses={303: {"description": "Signed in: to /map, with the session cookie."},
                        401: {"description": "Not a valid key (the form again)."},
                        403: {"description": "Not a planner's key (the form again)."}})
def signin(request: Request, key: Annotated[str, Form(max_length=200)]) -> Response:
    """Exchange a planner's key for an HttpOnly, SameSite=Strict session cookie."""
    store = request.app.state.store
    settings = request.app.state.settings
    found = store.authenticate(key)
    if found is None:
        return signin_page("Khóa không hợp lệ. / That key is not valid.", 401)
    if found.role != "planner":
        return signin_page("Bản đồ chỉ dành cho cán bộ quy hoạch. / The map is for planners; "
                           "this is a carrier's key.", 403)
    token = store.create_session(found.key_id, settings.session_ttl_s)
    resp = RedirectResponse("/map", status_code=303, headers=PAGE_HEADERS)
    resp.set_cookie(SESSION_COOKIE, token, max_age=settings.session_ttl_s, httponly=True,
                    samesite="strict", secure=settings.cookie_secure, path="/")
    return resp


@router.post("/signout", status_code=303)
def signout(request: Request) -> Response:
    """End the browser session (server-side too)."""
    request.app.state.store.delete_session(request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/signin", status_code=303, headers=PAGE_HEADERS)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                       secure=request.app.state.settings.cookie_secure)
    return resp

