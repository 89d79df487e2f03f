"""``GET /jobs/{id}``: state, progress and error of a recomputation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from lomsong.app.auth import Principal, require_principal
from lomsong.app.errors import ForbiddenError
from lomsong.app.routers import AUTH_RESPONSES
from lomsong.app.schemas import ErrorOut, JobOut
from lomsong.app.store import JOB_RE

router = APIRouter(tags=["towers"])


@router.get("/jobs/{job_id}", response_model=JobOut,
            responses={**AUTH_RESPONSES, 404: {"model": ErrorOut, "description": "No such job."}})
def get_job(
    request: Request,
    job_id: Annotated[str, Path(pattern=JOB_RE.pattern,
                                description="The id POST /towers returned.")],
    principal: Annotated[Principal, Depends(require_principal)],
) -> JobOut:
    """A job's state (queued, running, succeeded, failed), progress (0..1), step and error.

    A carrier's key sees only its own carrier's jobs; a planner sees all.
    """
    job = request.app.state.store.get_job(job_id)
    if not principal.is_planner and job.carrier != principal.carrier:
        raise ForbiddenError(f"job {job_id} belongs to another carrier")
    return JobOut(job_id=job.job_id, kind=job.kind, state=job.state, step=job.step,
                  progress=job.progress, error=job.error, problems=list(job.problems),
                  carrier=job.carrier, base_version=job.base_version, version_id=job.version_id,
                  created_at=job.created_at, started_at=job.started_at,
                  finished_at=job.finished_at)
