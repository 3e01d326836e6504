"""The public OpenAPI document and the JSON index at ``/``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..deps import Context, Origin
from ..openapi import build_openapi

__all__ = ["router"]

router = APIRouter()


@router.get("/api/v1/openapi.json", summary="This OpenAPI document (public)", response_model=None)
def openapi_document(ctx: Context, origin: Origin, request: Request) -> Response:
    return JSONResponse(build_openapi(request.app, origin, publish_prices=ctx.publish_prices))


@router.get("/", include_in_schema=False)
def index(ctx: Context, origin: Origin) -> Response:
    return JSONResponse(
        {
            "service": "Kitta lip-sync API sandbox",
            "baseUrl": f"{origin}/api",
            "openapi": f"{origin}/api/v1/openapi.json",
            "samples": {k: f"{origin}/samples/{f}" for k, f in ctx.samples.files.items()},
            "mediaStore": f"{origin}/_sandbox/media/{{sha256}}.{{ext}}",
        }
    )
