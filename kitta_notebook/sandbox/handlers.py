"""Every error leaves as the contract's envelope.

FastAPI's 422 becomes a 400, Starlette's plain-text 404/405 become envelopes
(405 with an ``Allow`` listing every method of the path). Unexpected exceptions
get the 500 envelope here; ``SandboxMiddleware`` then swallows the re-raise so
that the server never closes a kept-alive connection over it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from .envelope import REQUEST_ID_SCOPE_KEY, ApiError, envelope, new_request_id

__all__ = ["error_response", "install_handlers"]


def _request_id(request: Request) -> str:
    value = request.scope.get(REQUEST_ID_SCOPE_KEY)
    return value if isinstance(value, str) else new_request_id()


def error_response(
    request: Request, status: int, code: str, message: str, **headers: str
) -> JSONResponse:
    return JSONResponse(envelope(code, message, _request_id(request)), status, headers=headers)


def _allowed_methods(routers: Sequence[APIRouter], path: str) -> list[str]:
    """Every method some route accepts on this path (Starlette names only the first)."""
    methods: set[str] = set()
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path_regex.match(path):
                methods |= route.methods or set()
    return sorted(methods)


def install_handlers(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Map every error to the envelope; ``routers`` are the app's (for ``Allow``)."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.code, exc.message, **exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        path = request.url.path
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(routers, path))
            message = f"{request.method} is not allowed on {path}"
            return error_response(request, 405, "method_not_allowed", message, **headers)
        if exc.status_code == 404:
            return error_response(request, 404, "not_found", f"no route for {path}", **headers)
        return error_response(request, exc.status_code, "error", str(exc.detail), **headers)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return error_response(request, 400, "invalid_request", "invalid request")

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return error_response(request, 500, "internal_error", "internal server error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
