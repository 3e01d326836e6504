"""Sandbox-only routes under ``/_sandbox/``: NOT part of the real Kitta API.

``/_sandbox/media/<key>`` is the sandbox's media store: ``PUT`` the raw bytes
(no Kitta token; the key is ``<sha256 of the body>.<ext>``), then ``HEAD``/``GET``
them back (Range requests, the stored Content-Type). The URL it answers can be
given to a task as an input, like any public URL.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from ..deps import Context, Origin
from ..handlers import error_response
from .files import MEDIA_HEADERS

__all__ = ["router"]

router = APIRouter(prefix="/_sandbox", include_in_schema=False)


@router.put("/media/{key}")
async def put_media(key: str, ctx: Context, origin: Origin, request: Request) -> Response:
    declared = request.headers.get("content-length", "")
    record = await ctx.uploads.receive(
        key,
        request.stream(),
        content_type=request.headers.get("content-type"),
        declared_size=int(declared) if declared.isascii() and declared.isdigit() else None,
        now=ctx.clock.now(),
    )
    ctx.stats.record_upload(record.size)
    body = {
        "url": f"{origin}/_sandbox/media/{record.key}",
        "key": record.key,
        "size": record.size,
        "contentType": record.content_type,
    }
    return JSONResponse(body, status_code=201)


@router.api_route("/media/{key}", methods=["GET", "HEAD"])
def get_media(key: str, ctx: Context, request: Request) -> Response:
    found = ctx.uploads.find(key)
    if found is None:
        return error_response(request, 404, "not_found", f"no media stored under {key}")
    record, path = found
    return FileResponse(path, media_type=record.content_type, headers=MEDIA_HEADERS)
