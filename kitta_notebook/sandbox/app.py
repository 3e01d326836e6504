"""The HTTP routes: the contract's API under /api/v1, plus public media.

Every API error leaves as the contract's envelope: validation is done by hand
(``parsing``), FastAPI's 422 and Starlette's plain-text 404/405 are mapped to
the envelope, and 401 comes before anything else on authenticated routes.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from .connections import ConnectionRegistry
from .envelope import REQUEST_ID_SCOPE_KEY, ApiError, envelope, new_request_id
from .faults import FaultInjector
from .middleware import SandboxMiddleware
from .openapi import (
    CREATE_EXTRA,
    LIST_EXTRA,
    TaskDTO,
    TaskList,
    Usage,
    build_openapi,
    error_responses,
)
from .parsing import parse_create, parse_list_query
from .pricing import PRICES, estimate_credits
from .stats import SandboxStats
from .store import InsufficientCredits, Store
from .worker import Engine

__all__ = ["AppContext", "Samples", "build_app"]

_RESULT_NAME = re.compile(r"^(lip_task_[0-9a-f]+)\.mp4$")
MEDIA_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=3600"}


@dataclass(frozen=True)
class Samples:
    """The committed sample files: key -> file name, content type, duration."""

    directory: Path
    files: dict[str, str]
    content_types: dict[str, str]
    durations: dict[str, float]


@dataclass
class AppContext:
    """Everything the routes need; owned by ``Sandbox``."""

    store: Store
    engine: Engine
    samples: Samples
    renders_dir: Path
    stats: SandboxStats
    faults: FaultInjector
    connections: ConnectionRegistry
    pro_tokens: set[str] = field(default_factory=set)


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _request_id(request: Request) -> str:
    value = request.scope.get(REQUEST_ID_SCOPE_KEY)
    return value if isinstance(value, str) else new_request_id()


def _error(request: Request, status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(envelope(code, message, _request_id(request)), status, headers=headers)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(ctx: AppContext) -> SandboxMiddleware:
    """The ASGI application (FastAPI wrapped in the sandbox middleware)."""
    app = FastAPI(
        title="Kitta lip-sync API (sandbox)",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )

    def allowed_methods(request: Request) -> list[str]:
        """Every method some route accepts on this path (Starlette names only the first)."""
        methods: set[str] = set()
        for route in app.routes:
            if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
                methods |= route.methods or set()
        return sorted(methods)

    # errors ---------------------------------------------------------------------------

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error(request, exc.status, exc.code, exc.message, **exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
            message = f"{request.method} is not allowed on {request.url.path}"
            return _error(request, 405, "method_not_allowed", message, **headers)
        if exc.status_code == 404:
            return _error(request, 404, "not_found", f"no route for {request.url.path}", **headers)
        return _error(request, exc.status_code, "error", str(exc.detail), **headers)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return _error(request, 400, "invalid_request", "invalid request")

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return _error(request, 500, "internal_error", "internal server error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)

    # helpers --------------------------------------------------------------------------

    def account(request: Request) -> str:
        """The caller's token, or 401."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if not header:
            raise ApiError(401, "missing API token: send Authorization: Bearer <token>")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or ctx.store.balance(token) is None:
            raise ApiError(401, "invalid API token")
        return token

    def known_audio_seconds(url: str, request: Request) -> float | None:
        """Length of audio the sandbox itself serves (samples, results), else None."""
        parts = urlsplit(url)
        server = request.scope.get("server")
        own_port = server[1] if isinstance(server, (tuple, list)) else None
        host = parts.hostname or ""
        if parts.port != own_port or not (_is_local(host) or host == request.url.hostname):
            return None
        if parts.path.startswith("/samples/"):
            name = parts.path.removeprefix("/samples/")
            for key, file in ctx.samples.files.items():
                if file == name:
                    return ctx.samples.durations.get(key)
            return None
        found = _RESULT_NAME.match(parts.path.removeprefix("/results/"))
        if parts.path.startswith("/results/") and found:
            task = ctx.store.get_task(found.group(1))
            if task is not None and task.render_key is not None:
                render = ctx.store.get_render(task.render_key)
                return render.audio_seconds if render else None
        return None

    # API ------------------------------------------------------------------------------

    task_errors = error_responses(400, 401, 402, 403, 500)

    @app.post(
        "/api/v1/lip-sync/tasks",
        status_code=202,
        summary="Create a lip-sync task",
        response_model=None,
        responses={202: {"model": TaskDTO, "description": "Accepted"}, **task_errors},
        openapi_extra=CREATE_EXTRA,
    )
    async def create_task(request: Request) -> Response:
        token = account(request)
        body = parse_create(await request.body())
        if PRICES[body.model].requires_grant and token not in ctx.pro_tokens:
            raise ApiError(403, f"this account may not use model {body.model}")
        seconds = body.duration_seconds
        if seconds is None:
            seconds = known_audio_seconds(body.audio_url, request)
        price = estimate_credits(body.model, seconds)
        try:
            task = ctx.store.create_task(
                token=token,
                model=body.model,
                input_mode=body.input_mode,
                video_url=body.video_url,
                image_url=body.image_url,
                audio_url=body.audio_url,
                reference_image_url=body.reference_image_url,
                duration_seconds=body.duration_seconds,
                price=price,
                now=time.time(),
            )
        except InsufficientCredits as exc:
            raise ApiError(402, str(exc)) from None
        except KeyError:
            raise ApiError(401, "invalid API token") from None
        ctx.engine.schedule(task)
        return JSONResponse(task.dto(_origin(request)), status_code=202)

    @app.get(
        "/api/v1/lip-sync/tasks",
        summary="List the caller's tasks (newest first)",
        response_model=None,
        responses={200: {"model": TaskList, "description": "A page"}, **error_responses(400, 401)},
        openapi_extra=LIST_EXTRA,
    )
    async def list_tasks(request: Request) -> Response:
        token = account(request)
        query = parse_list_query(request.query_params.multi_items())
        tasks, more = ctx.store.list_tasks(
            token, limit=query.limit, offset=query.offset, status=query.status
        )
        origin = _origin(request)
        return JSONResponse(
            {
                "data": [t.list_item(origin) for t in tasks],
                "pagination": {"limit": query.limit, "offset": query.offset, "hasMore": more},
            }
        )

    @app.get(
        "/api/v1/lip-sync/tasks/{taskId}",
        summary="Get one task",
        response_model=None,
        responses={200: {"model": TaskDTO, "description": "The task"}, **error_responses(401, 404)},
    )
    async def get_task(request: Request, taskId: str) -> Response:
        token = account(request)
        task = ctx.store.get_task(taskId, token)
        if task is None:
            raise ApiError(404, f"task {taskId} not found")
        return JSONResponse(task.dto(_origin(request)))

    @app.get(
        "/api/v1/usage",
        summary="Credits and task counts (sandbox-only shape)",
        response_model=None,
        responses={200: {"model": Usage, "description": "Usage"}, **error_responses(401)},
    )
    async def usage(request: Request) -> Response:
        token = account(request)
        body: dict[str, Any] = ctx.store.usage(token)
        body["models"] = {
            p.model: {
                "creditsPerSecond": p.credits_per_second,
                "allowed": not p.requires_grant or token in ctx.pro_tokens,
            }
            for p in PRICES.values()
        }
        body["sandbox"] = True
        return JSONResponse(body)

    @app.get("/api/v1/openapi.json", summary="This OpenAPI document (public)", response_model=None)
    async def openapi_document(request: Request) -> Response:
        return JSONResponse(build_openapi(app, _origin(request)))

    # public media ---------------------------------------------------------------------

    @app.api_route("/samples/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def sample(request: Request, name: str) -> Response:
        for key, file in ctx.samples.files.items():
            if file == name:
                return FileResponse(
                    ctx.samples.directory / file,
                    media_type=ctx.samples.content_types.get(key, "application/octet-stream"),
                    headers=MEDIA_HEADERS,
                )
        return _error(request, 404, "not_found", f"no sample named {name}")

    @app.api_route("/results/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def result(request: Request, name: str) -> Response:
        found = _RESULT_NAME.match(name)
        task = ctx.store.get_task(found.group(1)) if found else None
        render = None
        if task is not None and task.status == "succeeded" and task.render_key:
            render = ctx.store.get_render(task.render_key)
        path = ctx.renders_dir / render.filename if render else None
        if path is None or not path.is_file():
            return _error(request, 404, "not_found", f"no result named {name}")
        return FileResponse(path, media_type="video/mp4", headers=MEDIA_HEADERS)

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        origin = _origin(request)
        return JSONResponse(
            {
                "service": "Kitta lip-sync API sandbox",
                "baseUrl": f"{origin}/api",
                "openapi": f"{origin}/api/v1/openapi.json",
                "samples": {k: f"{origin}/samples/{f}" for k, f in ctx.samples.files.items()},
            }
        )

    return SandboxMiddleware(app, stats=ctx.stats, faults=ctx.faults, connections=ctx.connections)
