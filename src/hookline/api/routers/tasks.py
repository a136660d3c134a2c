"""Background tasks: a bulk replay's progress and result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookline.api.deps import Offset, PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.tasks import TaskList, TaskOut

router = APIRouter(prefix=API_PREFIX + "/tasks", tags=["tasks"])


@router.get("", operation_id="list_tasks", responses=errors(401, 422))
async def list_tasks(
    principal: PrincipalDep,
    services: ServicesDep,
    subscription_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> TaskList:
    """The tasks this key may see (those of its subscriptions), newest first; of one
    subscription with `subscription_id`."""
    page = await services.tasks.list(principal, subscription_id, limit, offset)
    return TaskList(tasks=[TaskOut.of(t) for t in page.items], has_more=page.has_more)


@router.get("/{task_id}", operation_id="get_task", responses=errors(401, 404))
async def get_task(task_id: str, principal: PrincipalDep, services: ServicesDep) -> TaskOut:
    """One task: its state, progress and, once finished, its result or error."""
    return TaskOut.of(await services.tasks.get(principal, task_id))
