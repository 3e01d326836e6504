"""``GET /api/v1/usage``: balance, spending and the models this account may use
(a sandbox-only shape; the contract does not document this route's body)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ..deps import Context, CurrentAccount
from ..openapi import Usage, error_responses
from ..pricing import PRICES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")


@router.get(
    "/usage",
    summary="Credits and task counts (sandbox-only shape)",
    response_model=None,
    responses={200: {"model": Usage, "description": "Usage"}, **error_responses(401)},
)
def usage(account: CurrentAccount, ctx: Context) -> Response:
    body: dict[str, Any] = ctx.store.usage(account.token)
    body["models"] = {
        p.model: {
            **({"creditsPerSecond": p.credits_per_second} if ctx.publish_prices else {}),
            "allowed": not p.requires_grant or account.pro,
        }
        for p in PRICES.values()
    }
    body["sandbox"] = True
    return JSONResponse(body)
