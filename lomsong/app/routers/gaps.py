"""``/gaps`` (gap lists as JSON, CSV or GeoJSON) and ``/villages/{id}``.

Every row is ``GapRecord.flat(carriers=...)``, the same dict the pipeline's files are written from.
A carrier's key only ever gets its own ``<carrier>_<rat>_*`` columns.

CSV: UTF-8 with a BOM (Excel shows Vietnamese names right), ``\\r\\n`` line ends, and a *text*
cell that starts with ``= + - @`` (or tab/CR) gets a leading ``'`` so a spreadsheet never runs it
as a formula.  Numbers, negative dBm included, are written as plain numbers, not escaped: a
spreadsheet reads ``-97.5`` as a number, never as a formula, and escaping it would turn it into
text that no longer sorts or sums (``lomsong.geodata.outputs.csv_bytes``, shared with the files).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from lomsong.app.auth import Principal, require_principal
from lomsong.app.routers import AUTH_RESPONSES, VERSION_HEADER, current_version
from lomsong.app.schemas import (
    ErrorOut,
    GapKind,
    GapListOut,
    Rat,
    ServiceOut,
    TableFormat,
    VillageOut,
)
from lomsong.app.store import LoadedVersion, canonical_carrier
from lomsong.coverage.errors import NotFoundError

router = APIRouter(tags=["results"])

#: Village ids in URLs: word characters (any script), dot, colon, dash; no slash, no spaces.
VILLAGE_ID_PATTERN = r"^[\w.:\-]{1,100}$"
MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8",
         "geojson": "application/geo+json"}


def _norm(text: str | None) -> str:
    return unicodedata.normalize("NFC", (text or "").strip()).casefold()


def resolve_carrier(version: LoadedVersion, principal: Principal, carrier: str | None) -> str | None:
    """The canonical carrier asked for; 403 if this key may not see it, 404 if not in the run."""
    if carrier is None or not carrier.strip():
        return None
    name = canonical_carrier(carrier, "carrier")
    principal.require_carrier(name)
    if name not in version.carriers:
        raise NotFoundError(f"carrier={carrier}: not in version {version.version_id} "
                            f"(carriers: {', '.join(version.carriers)})")
    return name


def select_gaps(version: LoadedVersion, kind: str, carrier: str | None, rat: str | None,
                commune: str | None) -> list:
    """The records of a gap list, in the order of the pipeline's files (see :func:`gaps`)."""
    from lomsong.coverage.models import BROADBAND_RATS

    recs = list(version.records)
    if commune is not None and commune.strip():
        want = _norm(commune)
        recs = [r for r in recs if _norm(r.commune) == want or _norm(r.commune_code) == want]
        if not recs:
            raise NotFoundError(f"commune={commune!r}: no village of version "
                                f"{version.version_id} is in a commune of that name or code")
    if kind == "fiber":
        if not version.has_fiber:
            raise NotFoundError(f"kind=fiber: version {version.version_id} was computed without "
                                "a fiber layer")
        return [r for r in recs if r.no_fiber]
    if rat is not None and rat.upper() not in version.rats:
        raise NotFoundError(f"rat={rat}: no tower of version {version.version_id} has it "
                            f"(technologies: {', '.join(r.lower() for r in version.rats)})")
    rats = (rat.upper(),) if rat else BROADBAND_RATS
    if carrier is not None:
        out = [r for r in recs if r.carrier_status(carrier, rats) != "covered"]
        # As gaps/<carrier>.csv: gaps before marginal, then most people first, then id.
        out.sort(key=lambda r: (r.carrier_status(carrier, rats) != "gap", -(r.population or 0),
                                r.village_id))
        return out
    if rat is None:
        return [r for r in recs if r.no_mobile]
    return [r for r in recs if all(r.carrier_status(c, rats) == "gap" for c in version.carriers)]


def gap_rows(recs: list, carrier: str | None, rat: str | None,
             columns_for: tuple[str, ...] | None) -> list[dict]:
    """Flat rows; a carrier's list adds ``status`` (its best of the technologies asked)."""
    from lomsong.coverage.models import BROADBAND_RATS

    if carrier is None:
        return [r.flat(columns_for) for r in recs]
    rats = (rat.upper(),) if rat else BROADBAND_RATS
    return [r.flat(columns_for) | {"status": r.carrier_status(carrier, rats)} for r in recs]


def render_gaps(version: LoadedVersion, recs: list, carrier: str | None, rat: str | None,
                columns_for: tuple[str, ...] | None, fmt: str, meta: dict) -> bytes:
    """Bytes of a gap list.

    CSV has the columns of the pipeline's files: a carrier's list those of
    ``gaps/<carrier>.csv`` (unfiltered, the very same bytes), lõm sóng and fiber lists the base
    columns of ``gaps/lom_song.csv`` and ``gaps/no_fiber.csv``.  JSON and GeoJSON rows hold every
    column this key may see.
    """
    from lomsong.geodata.outputs import csv_bytes, feature_collection
    from lomsong.pipeline import base_columns, gap_columns

    if fmt == "csv":
        rows = gap_rows(recs, carrier, rat, (carrier,) if carrier else ())
        return csv_bytes(rows, gap_columns(carrier, version.rats) if carrier else base_columns())
    if fmt == "geojson":
        fc = feature_collection(recs, columns_for)
        if carrier is not None:
            for f, row in zip(fc["features"], gap_rows(recs, carrier, rat, columns_for),
                              strict=True):
                f["properties"] = row
        fc["lomsong"] = meta
        return json.dumps(fc, ensure_ascii=False).encode("utf-8")
    body = {**meta, "count": len(recs), "villages": gap_rows(recs, carrier, rat, columns_for)}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@router.get(
    "/gaps",
    response_model=GapListOut,
    responses={**AUTH_RESPONSES,
               404: {"model": ErrorOut, "description": "A carrier, technology or commune "
                     "the version does not have, or kind=fiber without a fiber layer."},
               200: {"content": {"text/csv": {}, "application/geo+json": {}},
                     "description": "The gap list in the asked format."}},
)
def gaps(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
    version: Annotated[LoadedVersion, Depends(current_version)],
    carrier: Annotated[str | None, Query(
        max_length=40, description="A carrier (any case); its villages whose status is not "
        "'covered'.")] = None,
    rat: Annotated[Rat | None, Query(
        description="One technology instead of the best of 3G/4G/5G.")] = None,
    kind: Annotated[GapKind, Query(
        description="mobile: signal gaps; fiber: villages with no fiber within the rule's "
        "distance (carrier then only picks columns).")] = "mobile",
    commune: Annotated[str | None, Query(max_length=200,
                                         description="Commune name or code.")] = None,
    format: Annotated[TableFormat, Query(
        description="json, csv (UTF-8 with BOM) or geojson.")] = "json",
) -> Response:
    """A gap list.

    * ``kind=mobile`` with ``carrier``: that carrier's villages whose broadband status (its best
      of 3G/4G/5G, or ``rat``) is not ``covered``: the same rows as ``gaps/<carrier>.csv``.
    * ``kind=mobile`` without ``carrier``: lõm sóng, the villages no carrier covers (status
      ``gap`` for every carrier on every broadband technology, or on ``rat``).  Any key may ask;
      a carrier's key gets only its own per-carrier columns.
    * ``kind=fiber``: villages with no fiber route or node within the rule's distance.
    """
    name = resolve_carrier(version, principal, carrier)
    columns_for = (name,) if name else principal.scope
    key = ("gaps", kind, name, rat, _norm(commune) if commune else None, format, columns_for)

    def build() -> bytes:
        recs = select_gaps(version, kind, name, rat, commune)
        meta = {"version_id": version.version_id, "kind": kind, "carrier": name, "rat": rat,
                "commune": commune}
        return render_gaps(version, recs, name, rat, columns_for, format, meta)

    body = request.app.state.versions.memo(version, key, build)
    headers = {VERSION_HEADER: version.version_id}
    if format == "csv":
        stem = f"{(name or 'lomsong').lower()}-{kind}-gaps"
        headers["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
    return Response(body, media_type=MEDIA[format], headers=headers)


@router.get(
    "/villages/{village_id}",
    response_model=VillageOut,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorOut, "description": "No such village."}},
)
def village(
    response: Response,
    village_id: Annotated[str, Path(pattern=VILLAGE_ID_PATTERN, description="The village's id.")],
    principal: Annotated[Principal, Depends(require_principal)],
    version: Annotated[LoadedVersion, Depends(current_version)],
) -> VillageOut:
    """One village: per carrier and technology signal, probability, serving site; fiber."""
    r = version.by_id.get(village_id)  # looked up in memory: the id never reaches a file path
    if r is None:
        raise NotFoundError(f"village {village_id}: not in version {version.version_id}")
    services = [
        ServiceOut(carrier=m.carrier, rat=m.rat, status=m.status, best_dbm=m.best_dbm,
                   p_cov=m.p_cov, share_above=m.share_above, serving_site=m.serving_site)
        for m in r.marks if principal.may_see(m.carrier)
    ]
    response.headers[VERSION_HEADER] = version.version_id
    return VillageOut(
        version_id=version.version_id, id=r.village_id, name=r.name, commune=r.commune,
        commune_code=r.commune_code, population=r.population, households=r.households,
        lon=r.lon, lat=r.lat, no_mobile=r.no_mobile, weak_mobile=r.weak_mobile,
        no_fiber=r.no_fiber, fiber_distance_m=r.fiber_distance_m,
        footprint_cells=r.footprint_cells, services=services)
