"""Strict parsing of create bodies and list queries into 400 ``invalid_request``.

Done by hand rather than by FastAPI/pydantic so that every bad input gets the
contract's envelope and a message naming the field, never a 422, and so that
JSON ``true`` is not a number and ``"12"`` is not an integer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .envelope import ApiError
from .pricing import MAX_DURATION_SECONDS, MODELS
from .records import CreateRequest
from .store import STATUSES

__all__ = ["ListQuery", "parse_create", "parse_list_query"]

INPUT_MODES = ("video", "image")
URL_FIELDS = ("videoUrl", "imageUrl", "audioUrl", "referenceImageUrl")
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class ListQuery:
    limit: int
    offset: int
    status: str | None


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _url(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(f"{field} must be a string")
    try:
        parts = urlsplit(value.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError:
        valid = False
    if not valid:
        raise _bad(f"{field} must be an absolute http(s) URL")
    return value.strip()


def parse_create(raw: bytes) -> CreateRequest:
    """Validate a create body. Unknown fields are ignored (forward compatibility)."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _bad("request body must be valid JSON") from None
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")

    model = body.get("model")
    if model is None or model == "":
        raise _bad("model is required")
    if not isinstance(model, str):
        raise _bad("model must be a string")
    if model not in MODELS:
        raise _bad(f"model {model!r} is not supported; supported models: {', '.join(MODELS)}")

    mode = body.get("inputMode")
    if mode is None:
        mode = "video"
    if not isinstance(mode, str) or mode not in INPUT_MODES:
        raise _bad("inputMode must be 'video' or 'image'")

    urls = {field: _url(body, field) for field in URL_FIELDS}
    if urls["audioUrl"] is None and urls["videoUrl"] is None and urls["imageUrl"] is None:
        raise _bad("audioUrl and videoUrl or imageUrl are required")
    if urls["audioUrl"] is None:
        raise _bad("audioUrl is required")
    if urls["videoUrl"] is None and urls["imageUrl"] is None:
        raise _bad("videoUrl or imageUrl is required")
    if mode == "video" and urls["videoUrl"] is None:
        raise _bad("videoUrl is required when inputMode is 'video' (send inputMode 'image')")
    if mode == "image" and urls["imageUrl"] is None:
        raise _bad("imageUrl is required when inputMode is 'image'")

    duration = body.get("durationSeconds")
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            raise _bad("durationSeconds must be a number")
        if isinstance(duration, float) and not math.isfinite(duration):
            raise _bad("durationSeconds must be a finite number")
        if duration <= 0:  # compared before float(): a huge JSON integer overflows a float
            raise _bad("durationSeconds must be greater than 0")
        if duration > MAX_DURATION_SECONDS:
            raise _bad(f"durationSeconds must be at most {MAX_DURATION_SECONDS:g}")
        duration = float(duration)

    return CreateRequest(
        model=model,
        input_mode=mode,
        video_url=urls["videoUrl"],
        image_url=urls["imageUrl"],
        audio_url=urls["audioUrl"],
        reference_image_url=urls["referenceImageUrl"],
        duration_seconds=duration,
    )


MAX_OFFSET = 2**63 - 1
"""SQLite's largest integer: a bigger offset is a 400, never an overflow (a 500)."""


def _integer(name: str, text: str, lowest: int, highest: int) -> int:
    if not text.isascii() or not text.isdigit():
        raise _bad(f"{name} must be an integer")
    # Length first: int() of a huge digit string is slow, then refused by Python itself.
    value = int(text) if len(text.lstrip("0")) <= len(str(highest)) else highest + 1
    if value < lowest or value > highest:
        raise _bad(f"{name} must be an integer from {lowest} to {highest}")
    return value


def parse_list_query(params: Iterable[tuple[str, str]]) -> ListQuery:
    """Validate ``limit`` (1..100, default 20), ``offset`` (>= 0) and ``status``.

    Repeated parameters: the last one wins. Unknown parameters are ignored.
    """
    given = dict(params)
    limit = DEFAULT_LIMIT
    offset = 0
    status = None
    if "limit" in given:
        limit = _integer("limit", given["limit"], 1, MAX_LIMIT)
    if "offset" in given:
        offset = _integer("offset", given["offset"], 0, MAX_OFFSET)
    if "status" in given:
        status = given["status"]
        if status not in STATUSES:
            raise _bad(f"status must be one of {', '.join(STATUSES)}")
    return ListQuery(limit, offset, status)
