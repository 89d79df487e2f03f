"""``GET /towers`` (a carrier sees only its own) and ``POST /towers`` (upload, 202 + job)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from lomsong.app.auth import Principal, require_principal
from lomsong.app.errors import PayloadTooLargeError, TooManyJobsError
from lomsong.app.routers import API_PREFIX, AUTH_RESPONSES, VERSION_HEADER, current_version
from lomsong.app.routers.gaps import MEDIA, resolve_carrier
from lomsong.app.schemas import ErrorOut, JobAcceptedOut, TowersOut
from lomsong.app.store import LoadedVersion, canonical_carrier
from lomsong.coverage.errors import InvalidInputError

router = APIRouter(tags=["towers"])

_UNSAFE_NAME = re.compile(r"[^\w .()-]")


def display_name(filename: str | None) -> str:
    """The upload's file name for messages only (never a path): last part, tame characters."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .")[:80]
    return base or "towers.csv"


@router.get("/towers", response_model=TowersOut,
            responses={**AUTH_RESPONSES, 200: {"content": {"text/csv": {}}}})
def list_towers(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
    version: Annotated[LoadedVersion, Depends(current_version)],
    carrier: Annotated[str | None, Query(max_length=40,
                                         description="Only this carrier's cells.")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """The resolved towers (cells) of the served version: a carrier's key sees only its own."""
    import json

    from lomsong.geodata.outputs import csv_bytes

    name = resolve_carrier(version, principal, carrier) or principal.carrier

    def build() -> bytes:
        rows = [t for t in version.towers if name is None or t.get("carrier") == name]
        if format == "csv":
            cols = list(version.towers[0]) if version.towers else ["cell_id"]
            return csv_bytes(rows, cols)
        return json.dumps({"version_id": version.version_id, "count": len(rows), "towers": rows},
                          ensure_ascii=False).encode("utf-8")

    body = request.app.state.versions.memo(version, ("towers", name, format), build)
    return Response(body, media_type=MEDIA[format], headers={VERSION_HEADER: version.version_id})


@router.post(
    "/towers", status_code=202, response_model=JobAcceptedOut,
    responses={**AUTH_RESPONSES,
               413: {"model": ErrorOut, "description": "The file is over the size limit."},
               429: {"model": ErrorOut, "description": "Too many uploads are waiting."},
               422: {"model": ErrorOut, "description": "The file is not valid: every problem, "
                     "naming row and column, in 'problems'. Nothing was queued."}},
)
def upload_towers(
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File(description="Tower CSV (OpenCelliD columns plus "
                                     "optional site columns), UTF-8.")],
    principal: Annotated[Principal, Depends(require_principal)],
    version: Annotated[LoadedVersion, Depends(current_version)],
    carrier: Annotated[str | None, Form(
        max_length=40, description="Whose rows the file replaces. A carrier's key: its own "
        "(may be left out); a planner: required.")] = None,
) -> JobAcceptedOut:
    """Replace one carrier's towers and recompute.

    The whole file is checked first; if anything is wrong the answer is 422 listing every
    problem and nothing changes.  Otherwise 202 with a job id: the job recomputes in the
    background and publishes a new version only when it has fully succeeded.
    """
    from lomsong.app.jobs import combine_towers

    settings = request.app.state.settings
    if carrier is None or not carrier.strip():
        if principal.carrier is None:
            raise InvalidInputError("carrier: a planner must say whose towers the file holds "
                                    "(form field 'carrier')")
        name = principal.carrier
    else:
        name = canonical_carrier(carrier, "carrier")
    principal.require_carrier(name)

    store = request.app.state.store
    waiting = store.count_jobs("queued", "running")
    if waiting >= settings.max_pending_jobs:
        raise TooManyJobsError(f"{waiting} recomputations are already waiting; try again when "
                               "they are done (GET /api/v1/health shows jobs_waiting)")
    limit = settings.max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(f"file: over the {limit}-byte upload limit")
    shown = display_name(file.filename)
    combine_towers(version, data, name, shown)  # 422 with every problem, before any job

    runner = request.app.state.runner
    job_id = runner.submit_upload(carrier=name, upload=data, name=shown,
                                  key_id=principal.key_id, base_version=version.version_id)
    url = f"{API_PREFIX}/jobs/{job_id}"
    response.headers["Location"] = url
    return JobAcceptedOut(job_id=job_id, state="queued", status_url=url)
