"""Client-side checks, run before any request so that no credits are spent
on a request that cannot succeed.

Each check collects every problem it finds (field, message) and raises one
`ValidationError`, so a form can show all of them at once.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import ValidationError
from .models import TaskStatus

DEFAULT_MODEL = "kitta-lip-sync-v1"
INPUT_MODES = ("video", "image")
MAX_PAGE_SIZE = 100

# Field names shared by the validators, the request body and the widgets.
URL_FIELDS: Mapping[str, str] = {
    "video_url": "videoUrl",
    "image_url": "imageUrl",
    "audio_url": "audioUrl",
    "reference_image_url": "referenceImageUrl",
}


def is_public_host(host: str) -> bool:
    """False for hosts a cloud service cannot fetch from: loopback, private, link-local.

    Only literal addresses and well-known local names are judged; names are
    never resolved (that would be network traffic of its own).
    """
    name = host.strip("[]").lower().rstrip(".")
    if name in {"localhost", "localhost.localdomain"} or name.endswith(
        (".localhost", ".local", ".internal", ".lan")
    ):
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return "." in name  # a bare intranet name ("fileserver") is not public either
    return address.is_global


def check_url(value: object, *, require_public: bool) -> tuple[str | None, str | None]:
    """(normalised URL, problem) for one media URL."""
    if not isinstance(value, str):
        return None, f"must be a URL string, got {type(value).__name__}"
    url = value.strip()
    if not url:
        return None, "is empty"
    if any(ch.isspace() for ch in url):
        return None, "contains whitespace; percent-encode spaces as %20"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        return None, "is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if not scheme:
            return None, (
                "must be an absolute http(s) URL (got a relative path); the service "
                "fetches media by URL and has no upload endpoint"
            )
        return None, f"must use http or https, not {scheme}:"
    try:
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return None, "has an invalid host or port"
    if not host:
        return None, "has no host name"
    if require_public and not is_public_host(host):
        return None, (
            f"points at {host}, which the service cannot reach: it fetches media from the "
            "public internet. Host the file at a public URL (object storage, CDN)."
        )
    return url, None


@dataclass(frozen=True)
class CreateRequest:
    """A create request that passed every check; `body` is what goes on the wire."""

    model: str
    input_mode: str
    audio_url: str
    video_url: str | None = None
    image_url: str | None = None
    reference_image_url: str | None = None
    duration_seconds: float | None = None

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "inputMode": self.input_mode}
        for attr, json_name in URL_FIELDS.items():
            value = getattr(self, attr)
            if value is not None:
                body[json_name] = value
        if self.duration_seconds is not None:
            body["durationSeconds"] = self.duration_seconds
        return body


def validate_create(
    *,
    audio_url: object,
    video_url: object = None,
    image_url: object = None,
    reference_image_url: object = None,
    model: object = DEFAULT_MODEL,
    input_mode: object = None,
    duration_seconds: object = None,
    require_public_urls: bool = False,
) -> CreateRequest:
    """Check a create request; raise `ValidationError` listing every problem.

    `input_mode` is inferred when not given: `image` when only an image URL
    is given, otherwise `video` (the documented default). An explicit mode wins.
    """
    problems: list[tuple[str, str]] = []

    clean_model = model.strip() if isinstance(model, str) else None
    if not clean_model:
        problems.append(("model", "is required (for example 'kitta-lip-sync-v1')"))

    if input_mode is None:
        mode = "image" if image_url is not None and video_url is None else "video"
    elif isinstance(input_mode, str) and input_mode.strip().lower() in INPUT_MODES:
        mode = input_mode.strip().lower()
    else:
        mode = "video"
        problems.append(("input_mode", f"must be 'video' or 'image', got {input_mode!r}"))

    urls: dict[str, str | None] = {}
    given = {
        "audio_url": audio_url,
        "video_url": video_url,
        "image_url": image_url,
        "reference_image_url": reference_image_url,
    }
    for name, value in given.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            urls[name] = None
            continue
        url, problem = check_url(value, require_public=require_public_urls)
        urls[name] = url
        if problem:
            problems.append((name, problem))

    def missing(name: str) -> bool:
        value = given[name]
        return value is None or (isinstance(value, str) and not value.strip())

    if missing("audio_url"):
        problems.append(("audio_url", "is required: the audio that drives the mouth"))
    if mode == "video" and missing("video_url"):
        problems.append(
            ("video_url", "is required in video mode (or pass image_url for image mode)")
        )
    if mode == "image" and missing("image_url"):
        problems.append(("image_url", "is required in image mode: the person's picture"))
    if mode == "video" and not missing("reference_image_url"):
        problems.append(
            ("reference_image_url", "is only used in image mode; drop it or set input_mode='image'")
        )

    duration: float | None = None
    if duration_seconds is not None:
        if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, (int, float)):
            problems.append(("duration_seconds", "must be a number of seconds"))
        elif not _finite(duration_seconds) or duration_seconds <= 0:
            problems.append(("duration_seconds", "must be a finite number greater than 0"))
        else:
            duration = duration_seconds

    if problems:
        raise ValidationError(problems)
    assert clean_model is not None and urls["audio_url"] is not None
    return CreateRequest(
        model=clean_model,
        input_mode=mode,
        audio_url=urls["audio_url"],
        video_url=urls["video_url"],
        image_url=urls["image_url"],
        reference_image_url=urls["reference_image_url"],
        duration_seconds=duration,
    )


def _finite(number: float) -> bool:
    """math.isfinite, False for an int too large to be a float (10**400 overflows)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def validate_list_params(
    limit: object = 20, offset: object = 0, status: object = None
) -> dict[str, str | int]:
    """Query parameters for the list endpoint, checked against the contract's ranges."""
    problems: list[tuple[str, str]] = []
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        problems.append(
            ("limit", f"must be a whole number from 1 to {MAX_PAGE_SIZE}, got {limit!r}")
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        problems.append(("offset", f"must be a whole number ≥ 0, got {offset!r}"))
    status_value = validate_status(status, problems)
    if problems:
        raise ValidationError(problems)
    params: dict[str, str | int] = {"limit": limit, "offset": offset}  # type: ignore[dict-item]
    if status_value is not None:
        params["status"] = status_value
    return params


def validate_status(status: object, problems: list[tuple[str, str]] | None = None) -> str | None:
    """The wire value of a status filter; unknown values are refused."""
    if status is None:
        return None
    text = status.value if isinstance(status, TaskStatus) else status
    allowed = [s.value for s in TaskStatus]
    if isinstance(text, str) and text in allowed:
        return text
    message = f"must be one of {', '.join(allowed)}, got {status!r}"
    if problems is None:
        raise ValidationError([("status", message)])
    problems.append(("status", message))
    return None


def task_path(task_id: object) -> str:
    """The detail path for a task id, escaped so an id can never leave the tasks route."""
    if not isinstance(task_id, str) or not task_id.strip():
        raise ValidationError([("task_id", "must be a non-empty task id such as 'lip_task_123'")])
    clean = task_id.strip()
    if not clean.strip("."):  # "." and ".." are path segments URL normalisation resolves
        raise ValidationError([("task_id", "is not a task id (only dots)")])
    return "/v1/lip-sync/tasks/" + quote(clean, safe="")
