"""HTTP schemas (pydantic), for validation and the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Rat = Literal["3g", "4g", "5g"]
GapKind = Literal["mobile", "fiber"]
TableFormat = Literal["json", "csv", "geojson"]
Status = Literal["covered", "marginal", "gap"]


class ErrorOut(BaseModel):
    detail: str = Field(description="What was wrong, naming the field, row or value.")
    problems: list[str] | None = Field(
        None, description="Every problem of a rejected input, one line each (row and column).")


class HealthOut(BaseModel):
    status: Literal["ok", "empty"] = Field(description="'empty': nothing published yet.")
    version_id: str | None = Field(description="The served version.")
    jobs_waiting: int = Field(description="Jobs queued or running.")
    lomsong: str = Field(description="Package version.")


class CarrierOut(BaseModel):
    name: str
    key: str = Field(description="Lower-case form used in column and file names.")
    visible: bool = Field(description="Whether this key may see the carrier's results.")
    towers: dict[str, int] | None = Field(
        None, description="Cells per technology in the version (only where visible).")


class CarriersOut(BaseModel):
    version_id: str
    carriers: list[CarrierOut]


class GapListOut(BaseModel):
    version_id: str
    kind: GapKind
    carrier: str | None
    rat: Rat | None
    commune: str | None
    count: int
    villages: list[dict[str, Any]] = Field(
        description="One flat row per village (GapRecord.flat): base fields, then "
                    "<carrier>_<rat>_status|best_dbm|p_cov|share_above|serving_site.")


class ServiceOut(BaseModel):
    carrier: str
    rat: str
    status: Status
    best_dbm: float | None = Field(description="Strongest signal over the footprint (dBm).")
    p_cov: float = Field(description="Probability of service at a random place in the village.")
    share_above: float = Field(description="Share of footprint cells at or above the threshold.")
    serving_site: str | None


class VillageOut(BaseModel):
    version_id: str
    id: str
    name: str
    commune: str | None
    commune_code: str | None
    population: int | None
    households: int | None
    lon: float
    lat: float
    no_mobile: bool = Field(description="Lõm sóng: no carrier has 3G/4G/5G better than gap.")
    weak_mobile: bool
    no_fiber: bool | None = Field(description="None when the version has no fiber layer.")
    fiber_distance_m: float | None
    footprint_cells: int
    services: list[ServiceOut]


class TowersOut(BaseModel):
    version_id: str
    count: int
    towers: list[dict[str, Any]]


class JobAcceptedOut(BaseModel):
    job_id: str
    state: str
    status_url: str


class JobOut(BaseModel):
    job_id: str
    kind: str
    state: Literal["queued", "running", "succeeded", "failed"]
    step: str
    progress: float = Field(ge=0.0, le=1.0)
    error: str | None
    problems: list[str]
    carrier: str | None
    base_version: str | None
    version_id: str | None = Field(description="The version this job published (succeeded).")
    created_at: float
    started_at: float | None
    finished_at: float | None
