"""Public media: the committed samples and the rendered results (Range requests)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from ..deps import Context
from ..handlers import error_response

__all__ = ["MEDIA_HEADERS", "router"]

router = APIRouter(include_in_schema=False)

MEDIA_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=3600"}
_RESULT_NAME = re.compile(r"^(lip_task_[0-9a-f]+)\.mp4$")


@router.api_route("/samples/{name}", methods=["GET", "HEAD"])
def sample(name: str, ctx: Context, request: Request) -> Response:
    key = ctx.samples.key_of(name)
    if key is None:
        return error_response(request, 404, "not_found", f"no sample named {name}")
    return FileResponse(
        ctx.samples.directory / name,
        media_type=ctx.samples.content_types.get(key, "application/octet-stream"),
        headers=MEDIA_HEADERS,
    )


@router.api_route("/results/{name}", methods=["GET", "HEAD"])
def result(name: str, ctx: Context, request: Request) -> Response:
    found = _RESULT_NAME.match(name)
    task = ctx.store.get_task(found.group(1)) if found else None
    render = None
    if task is not None and task.status == "succeeded" and task.render_key:
        render = ctx.store.get_render(task.render_key)
    path = ctx.renders_dir / render.filename if render else None
    if path is None or not path.is_file():
        return error_response(request, 404, "not_found", f"no result named {name}")
    return FileResponse(path, media_type="video/mp4", headers=MEDIA_HEADERS)
