"""Operational endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hookline.api.deps import ServicesDep
from hookline.api.openapi import errors
from hookline.core.errors import StorageUnavailable

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", response_model=None, responses=errors(503))
async def readyz(services: ServicesDep) -> dict[str, str] | JSONResponse:
    """Readiness: the database answers and takes writes (on SQLite, a write rolled back; on
    PostgreSQL, not read-only). 503 with why, and ``Retry-After``, when it does not."""
    try:
        await services.storage.ping()
    except StorageUnavailable as exc:
        return JSONResponse(
            {"status": "unavailable", "detail": exc.message, "errors": []},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    except Exception as exc:  # any other failure means not ready too; say which
        return JSONResponse(
            {"status": "unavailable", "detail": type(exc).__name__, "errors": []},
            status_code=503,
        )
    return {"status": "ready"}


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics of this process (text exposition format)."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
