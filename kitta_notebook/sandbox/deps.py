"""FastAPI dependencies: the shared context, the caller's account, the request origin.

``current_account`` answers a token it has seen before from memory; only a new
token is looked up in SQLite, in the threadpool, so the blocking lookup never
runs on the event loop. The others do no I/O and are ``async`` to spare a
threadpool hop (every route that reads the store is a sync ``def`` already).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from .context import AppContext
from .envelope import ApiError

__all__ = ["Account", "Context", "CurrentAccount", "Origin", "RawBody", "get_context"]


async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.sandbox
    return ctx


Context = Annotated[AppContext, Depends(get_context)]


@dataclass(frozen=True)
class Account:
    """The authenticated caller."""

    token: str
    pro: bool


async def current_account(request: Request, ctx: Context) -> Account:
    """The Bearer token's account, or 401 (checked before anything else on a route)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header:
        raise ApiError(401, "missing API token: send Authorization: Bearer <token>")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "invalid API token")
    if token not in ctx.known_tokens:
        if await run_in_threadpool(ctx.store.balance, token) is None:
            raise ApiError(401, "invalid API token")
        ctx.known_tokens.add(token)
    return Account(token, token in ctx.pro_tokens)


CurrentAccount = Annotated[Account, Depends(current_account)]


async def request_origin(request: Request) -> str:
    """``http://host:port`` as the client reached us (media URLs are built from it)."""
    return str(request.base_url).rstrip("/")


Origin = Annotated[str, Depends(request_origin)]


async def raw_body(request: Request) -> bytes:
    """The request body as bytes (validated by hand in ``parsing``, never a 422)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
