"""Outermost ASGI layer: request ids, the ``Date`` header, counters, faults, last resort.

It sits outside FastAPI so that a fault can answer (or drop) a request before
any route runs, and so that every response, errors included, carries the
``X-Request-Id`` that also appears in the error envelope and a ``Date`` on the
sandbox's (possibly shifted) clock. It is also the catch-all: an exception that
escapes the app never reaches uvicorn, which would close the kept-alive
connection under the client's next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .clock import SandboxClock
from .connections import ConnectionRegistry
from .envelope import REQUEST_ID_SCOPE_KEY, envelope_bytes, new_request_id
from .faults import FaultDecision, FaultInjector
from .stats import SandboxStats

__all__ = ["SandboxMiddleware", "classify"]

log = logging.getLogger(__name__)

_TASK = re.compile(r"^/api/v1/lip-sync/tasks/[^/]+$")


def classify(method: str, path: str) -> str:
    """Route name of a request, for counters and fault targeting."""
    if path == "/api/v1/lip-sync/tasks":
        return {"POST": "create", "GET": "list"}.get(method, "api_other")
    if _TASK.match(path):
        return "get" if method == "GET" else "api_other"
    if path == "/api/v1/usage":
        return "usage" if method == "GET" else "api_other"
    if path == "/api/v1/openapi.json":
        return "openapi"
    if path.startswith("/api/") or path == "/api":
        return "api_other"
    if path.startswith("/samples/"):
        return "samples"
    if path.startswith("/results/"):
        return "results"
    if path.startswith("/_sandbox/media/"):
        return "upload" if method == "PUT" else "uploaded"
    return "other"


def _fault_route(route: str) -> str:
    return "media" if route in ("samples", "results", "uploaded") else route


def _retry_after_value(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class SandboxMiddleware:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        stats: SandboxStats,
        faults: FaultInjector,
        connections: ConnectionRegistry,
        clock: SandboxClock | None = None,
    ) -> None:
        self.app = app
        self.stats = stats
        self.faults = faults
        self.connections = connections
        self.clock = clock or SandboxClock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope["method"])
        route = classify(method, str(scope["path"]))
        request_id = new_request_id()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        self.stats.record_request(route, method)

        started = False

        async def send_tagged(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers.append("X-Request-Id", request_id)
                headers["Date"] = self.clock.http_date()
                status = int(message["status"])
                self.stats.record_status(route, status)
                if route == "create" and status == 202:
                    self.stats.record_create_accepted()
            await send(message)

        try:
            await self._dispatch(scope, receive, send_tagged, route, request_id)
        except Exception:
            # FastAPI already answered the 500 envelope and re-raised; if nothing was
            # sent yet, answer it here. Either way the connection stays usable.
            log.exception("sandbox: unhandled error on %s %s", method, scope.get("path"))
            if not started:
                body = envelope_bytes("internal_error", "internal server error", request_id)
                await send_tagged(_json_start(500, body))
                await send_tagged({"type": "http.response.body", "body": body})

    async def _dispatch(
        self, scope: Scope, receive: Receive, send_tagged: Send, route: str, request_id: str
    ) -> None:
        decision = self.faults.decide(_fault_route(route))
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.kind == "none":
            await self.app(scope, receive, send_tagged)
        elif not decision.after_commit:
            self.stats.record_fault(decision.kind)
            if decision.kind == "drop":
                await self._drop(scope, receive, drain=True)
            else:
                await self._answer_fault(decision, request_id, send_tagged)
        else:
            await self._after_commit(scope, receive, send_tagged, decision, request_id)

    async def _after_commit(
        self,
        scope: Scope,
        receive: Receive,
        send_tagged: Send,
        decision: FaultDecision,
        request_id: str,
    ) -> None:
        """Run the create for real; if it made a task, answer with the fault instead."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        created = bool(held) and held[0].get("status") == 202
        if not created:
            for message in held:
                await send_tagged(message)
            return
        self.stats.record_create_accepted()
        self.stats.record_fault(decision.kind)
        if decision.kind == "drop":
            await self._drop(scope, receive, drain=False)
        else:
            await self._answer_fault(decision, request_id, send_tagged)

    async def _answer_fault(self, decision: FaultDecision, request_id: str, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]
        if decision.kind == "rate_limit":
            status = 429
            wait = _retry_after_value(decision.retry_after)
            headers.append((b"retry-after", wait.encode()))
            body = envelope_bytes(
                "rate_limited", f"too many requests; retry after {wait} s", request_id
            )
        else:
            status = 500
            body = envelope_bytes("internal_error", "internal server error", request_id)
        start = _json_start(status, body)
        start["headers"] += headers[1:]
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _drop(self, scope: Scope, receive: Receive, *, drain: bool) -> None:
        """Close the connection with no response at all.

        The request body is read first so that the close is a clean FIN (a client
        sees "server disconnected without sending a response"), not a reset.
        Then wait for uvicorn to notice the disconnect, so it sends nothing either.
        """
        if drain:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_drain_body(receive), timeout=5)
        if not self.connections.close(scope.get("client")):
            raise RuntimeError("sandbox: cannot drop this connection")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_until_disconnect(receive), timeout=2)


def _json_start(status: int, body: bytes) -> Message:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _drain_body(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
