"""POST (or GET) /cart/generate/events starts a generation job; /cart/generate/status tracks it.

Both change data, so they need the X-API-Key header when CARTSIM_API_KEY is set.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from cartsim.api.deps import GeneratorDep
from cartsim.api.jobs import JobBusyError
from cartsim.api.schemas import GenerationStatus, Problem, Responses
from cartsim.api.security import ApiKeyDep
from cartsim.producer.journeys import new_seed

router = APIRouter(prefix="/cart/generate", tags=["generate"])

_UNAUTHORIZED: Responses = {401: {"model": Problem, "description": "X-API-Key missing or wrong."}}
_STARTED: Responses = {
    **_UNAUTHORIZED,
    409: {"model": Problem, "description": "A job is running already."},
}
_NO_JOB: Responses = {
    404: {"model": Problem, "description": "No job has run (or none is running)."}
}


_START: dict[str, Any] = {
    "status_code": 202,
    "response_model": GenerationStatus,
    "responses": _STARTED,
    "dependencies": [ApiKeyDep],
}


@router.post("/events", operation_id="generate_events", **_START)
@router.get("/events", operation_id="generate_events_get", **_START)
async def generate_events(
    generator: GeneratorDep,
    count: Annotated[int, Query(ge=100, le=1_000_000, description="Events to generate.")],
    method: Annotated[
        Literal["new", "replace"],
        Query(description="new appends to the stored events; replace (default) replaces them."),
    ] = "replace",
    seed: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Same seed, same events.")
    ] = None,
) -> GenerationStatus:
    """Start a background job that sends simulated events through the pipeline."""
    try:
        job = generator.start(count, method, new_seed() if seed is None else seed)
    except JobBusyError as exc:
        raise HTTPException(409, str(exc)) from exc
    return job.status()


@router.get("/status", response_model=GenerationStatus, responses=_NO_JOB)
async def generation_status(generator: GeneratorDep) -> GenerationStatus:
    """Progress of the running job, or the outcome of the last one."""
    if generator.job is None:
        raise HTTPException(404, "no generation job has run since the API started")
    return generator.job.status()


@router.delete(
    "/status",
    response_model=GenerationStatus,
    responses={**_NO_JOB, **_UNAUTHORIZED},
    dependencies=[ApiKeyDep],
)
async def cancel_generation(generator: GeneratorDep) -> GenerationStatus:
    """Cancel the running job after the chunk it is sending."""
    job = generator.cancel()
    if job is None:
        raise HTTPException(404, "no generation job is running")
    return job.status()
