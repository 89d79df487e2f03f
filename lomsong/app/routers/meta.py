"""``/health``, ``/carriers`` and ``/summary``."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from lomsong.app.auth import Principal, require_principal
from lomsong.app.routers import AUTH_RESPONSES, VERSION_HEADER, current_version
from lomsong.app.schemas import CarrierOut, CarriersOut, HealthOut
from lomsong.app.store import LoadedVersion

router = APIRouter(tags=["results"])


@router.get("/health", response_model=HealthOut, tags=["service"])
def health(request: Request) -> HealthOut:
    """Liveness and the served version; no key needed."""
    import lomsong

    v = request.app.state.versions.get()
    waiting = request.app.state.store.count_jobs("queued", "running")
    return HealthOut(status="ok" if v is not None else "empty",
                     version_id=v.version_id if v is not None else None,
                     jobs_waiting=waiting, lomsong=getattr(lomsong, "__version__", "0"))


@router.get("/carriers", response_model=CarriersOut, responses=AUTH_RESPONSES)
def carriers(
    response: Response,
    principal: Annotated[Principal, Depends(require_principal)],
    version: Annotated[LoadedVersion, Depends(current_version)],
) -> CarriersOut:
    """The carriers of the served version; tower counts only for those this key may see."""
    from lomsong.coverage.gaps import column_key

    counts: dict[str, Counter] = {}
    for t in version.towers:
        counts.setdefault(str(t.get("carrier")), Counter())[str(t.get("rat"))] += 1
    out = []
    for c in version.carriers:
        visible = principal.may_see(c)
        out.append(CarrierOut(name=c, key=column_key(c), visible=visible,
                              towers=dict(sorted(counts.get(c, Counter()).items()))
                              if visible else None))
    response.headers[VERSION_HEADER] = version.version_id
    return CarriersOut(version_id=version.version_id, carriers=out)


def scoped_summary(summary: dict, scope: tuple[str, ...] | None) -> dict:
    """``summary.json`` with per-carrier blocks limited to ``scope`` (None = all)."""
    if scope is None:
        return summary

    def block(b: dict) -> dict:
        b = dict(b)
        if isinstance(b.get("carriers"), dict):
            b["carriers"] = {k: v for k, v in b["carriers"].items() if k in scope}
        return b

    out = block(summary)
    if isinstance(out.get("communes"), dict):
        out["communes"] = {name: block(b) for name, b in out["communes"].items()}
    return out


@router.get(
    "/summary", responses={**AUTH_RESPONSES, 200: {
        "description": "summary.json of the served version: village totals, lõm sóng counts, "
                       "per carrier and technology status counts, and the same per commune. "
                       "A carrier's key sees only its own carrier block.",
        "content": {"application/json": {}}}},
)
def summary(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
    version: Annotated[LoadedVersion, Depends(current_version)],
) -> Response:
    """The headline counts, per carrier and per commune."""
    from lomsong.geodata.outputs import json_bytes

    body = request.app.state.versions.memo(
        version, ("summary", principal.scope),
        lambda: json_bytes(scoped_summary(version.summary, principal.scope)))
    return Response(body, media_type="application/json",
                    headers={VERSION_HEADER: version.version_id})
