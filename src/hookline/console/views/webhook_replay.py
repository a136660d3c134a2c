"""A webhook's page, its bulk replay: the form that starts one, and a task's progress.

The form starts the task through ``TaskService.start_replay``, as ``POST …/replay`` does; the
service's refusals (a 422 naming the field, a 409 when a replay is queued or running already,
or the webhook is disabled) are shown beside the form. A task's page, and the webhook's page
for its latest task, show its progress; htmx polls the panel while the task is queued or
running, and the panel it gets back once the task is done polls no more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.console import forms
from hookline.console.render import redirect, render
from hookline.console.views import webhook_health, webhooks
from hookline.console.visit import Visit, page, services_of
from hookline.core.errors import Conflict, NotFound, ValidationFailed
from hookline.core.models import Subscription
from hookline.core.tasks import Task
from hookline.core.timefmt import ms_from_datetime


def routes() -> list[Route]:
    get, post = ["GET"], ["POST"]
    return [
        Route("/webhooks/{id}/replay", page(start), methods=post),
        Route("/webhooks/{id}/tasks/{task_id}", page(task_page), methods=get),
        Route("/webhooks/{id}/tasks/{task_id}/progress", page(progress), methods=get),
    ]


def _when(field: str, raw: str) -> int | None:
    """A ``datetime-local`` value, read as UTC (the form says so); None when left empty."""
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(field, "give a date and time, as 2026-01-31T09:30") from None
    return ms_from_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))


def _values(form: FormData) -> dict[str, Any]:
    """What was sent, to fill the form again beside its errors."""
    return {
        "status": forms.text(form, "status"),
        "since": forms.text(form, "since"),
        "until": forms.text(form, "until"),
        "event_types": [str(v) for v in form.getlist("event_types")],
    }


async def start(request: Request, visit: Visit) -> Response:
    """Start a bulk replay, then show its progress (its own page)."""
    form = await request.form()
    sub_id = request.path_params["id"]
    values = _values(form)
    services = services_of(request)
    try:
        since = _when("since", values["since"])
        if since is None:
            raise ValidationFailed("since", "give the time to replay from")
        task = await services.tasks.start_replay(
            visit.principal,
            sub_id,
            since_ms=since,
            until_ms=_when("until", values["until"]),
            status=values["status"],
            # none ticked: every type the webhook takes
            event_types=values["event_types"] or None,
        )
    except ValidationFailed as exc:
        # event_types[2] → event_types: the error goes beside the group of checkboxes
        field = exc.field.split("[", 1)[0]
        return await webhooks.detail(
            request,
            visit,
            replay_values=values,
            replay_errors={field: exc.reason},
            status_code=422,
        )
    except Conflict as exc:
        sub = await services.subscriptions.get(visit.principal, sub_id)
        running = await webhook_health.latest_task(request, visit, sub)
        ctx: dict[str, Any] = {"replay_values": values, "status_code": 409}
        if running is not None and not running.finished:
            ctx["replay_running"] = running
        elif not sub.enabled:
            ctx["replay_conflict"] = (
                "This webhook is disabled: enable it first (its replayed deliveries would "
                "only be held again)."
            )
        else:
            ctx["replay_conflict"] = exc.message
        return await webhooks.detail(request, visit, **ctx)
    return redirect(f"/webhooks/{sub_id}/tasks/{task.id}")


async def _task_of(request: Request, visit: Visit) -> tuple[Subscription | None, Task]:
    """The task named in the path, and its webhook: None once deleted (its task then failed,
    and says so). 404 when the task is not the caller's to see, or another webhook's."""
    services = services_of(request)
    task_id = request.path_params["task_id"]
    task = await services.tasks.get(visit.principal, task_id)
    if task.subscription_id != request.path_params["id"]:
        raise NotFound("task", task_id)
    try:
        sub = await services.subscriptions.get(visit.principal, task.subscription_id)
    except NotFound:
        sub = None
    return sub, task


async def task_page(request: Request, visit: Visit) -> Response:
    sub, task = await _task_of(request, visit)
    return render(request, "webhooks/task.html", visit=visit, webhook=sub, task=task)


async def progress(request: Request, visit: Visit) -> Response:
    """The progress panel alone: what htmx polls while the task is queued or running."""
    _, task = await _task_of(request, visit)
    return render(request, "webhooks/_task_progress.html", visit=visit, task=task)
