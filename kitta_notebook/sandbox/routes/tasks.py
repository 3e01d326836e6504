"""``/api/v1/lip-sync/tasks``: create, list and get (the contract's API).

Sync ``def`` routes: FastAPI runs them in its threadpool, so the blocking
SQLite store never runs on the event loop. The detail route is ``async``: a
finished task comes from memory (``FinishedTasks``), anything else from the
store in the threadpool.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..context import AppContext
from ..deps import Context, CurrentAccount, Origin, RawBody
from ..dto import list_item, task_dto
from ..envelope import ApiError
from ..media import is_loopback
from ..openapi import CREATE_EXTRA, LIST_EXTRA, TaskDTO, TaskList, error_responses
from ..parsing import parse_create, parse_list_query
from ..pricing import PRICES, estimate_credits
from ..store import InsufficientCredits

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/lip-sync")

_RESULT_PATH = re.compile(r"^/results/(lip_task_[0-9a-f]+)\.mp4$")


@router.post(
    "/tasks",
    status_code=202,
    summary="Create a lip-sync task",
    response_model=None,
    responses={
        202: {"model": TaskDTO, "description": "Accepted"},
        **error_responses(400, 401, 402, 403, 500),
    },
    openapi_extra=CREATE_EXTRA,
)
def create_task(
    account: CurrentAccount, raw: RawBody, ctx: Context, origin: Origin, request: Request
) -> Response:
    body = parse_create(raw)
    if PRICES[body.model].requires_grant and not account.pro:
        raise ApiError(403, f"this account may not use model {body.model}")
    seconds = body.duration_seconds
    if seconds is None:
        seconds = _known_audio_seconds(ctx, body.audio_url, request)
    try:
        task = ctx.store.create_task(
            body,
            token=account.token,
            price=estimate_credits(body.model, seconds),
            now=ctx.clock.now(),
            owner=ctx.engine.owner,
            lease_seconds=ctx.engine.lease_seconds,
        )
    except InsufficientCredits as exc:
        raise ApiError(402, str(exc)) from None
    except KeyError:
        raise ApiError(401, "invalid API token") from None
    ctx.engine.schedule(task)
    return JSONResponse(task_dto(task, origin, ctx.clock), status_code=202)


@router.get(
    "/tasks",
    summary="List the caller's tasks (newest first)",
    response_model=None,
    responses={200: {"model": TaskList, "description": "A page"}, **error_responses(400, 401)},
    openapi_extra=LIST_EXTRA,
)
def list_tasks(account: CurrentAccount, ctx: Context, origin: Origin, request: Request) -> Response:
    query = parse_list_query(request.query_params.multi_items())
    tasks, more = ctx.store.list_tasks(
        account.token, limit=query.limit, offset=query.offset, status=query.status
    )
    return JSONResponse(
        {
            "data": [list_item(t, origin, ctx.clock) for t in tasks],
            "pagination": {"limit": query.limit, "offset": query.offset, "hasMore": more},
        }
    )


@router.get(
    "/tasks/{taskId}",
    summary="Get one task",
    response_model=None,
    responses={200: {"model": TaskDTO, "description": "The task"}, **error_responses(401, 404)},
)
async def get_task(taskId: str, account: CurrentAccount, ctx: Context, origin: Origin) -> Response:
    task = ctx.finished.get(taskId)
    if task is None:
        task = await run_in_threadpool(ctx.store.get_task, taskId)
        if task is not None:
            ctx.finished.add(task)
    if task is None or task.token != account.token:
        raise ApiError(404, f"task {taskId} not found")
    return JSONResponse(task_dto(task, origin, ctx.clock))


def _known_audio_seconds(ctx: AppContext, url: str, request: Request) -> float | None:
    """Length of audio this sandbox itself serves (samples, results, uploads), else None:
    it lets a create without ``durationSeconds`` be priced right for the sandbox's media."""
    parts = urlsplit(url)
    server = request.scope.get("server")
    own_port = server[1] if isinstance(server, (tuple, list)) else None
    host = parts.hostname or ""
    if parts.port != own_port or not (is_loopback(url) or host == request.url.hostname):
        return None
    if parts.path.startswith("/samples/"):
        key = ctx.samples.key_of(parts.path.removeprefix("/samples/"))
        return ctx.samples.durations.get(key) if key else None
    if parts.path.startswith("/_sandbox/media/"):
        return ctx.uploads.audio_seconds(parts.path.removeprefix("/_sandbox/media/"), ctx.engine)
    found = _RESULT_PATH.match(parts.path)
    if found:
        task = ctx.store.get_task(found.group(1))
        if task is not None and task.render_key is not None:
            render = ctx.store.get_render(task.render_key)
            return render.audio_seconds if render else None
    return None
