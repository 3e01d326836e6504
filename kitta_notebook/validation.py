"""Client-side checks, run before any request so that no credits are spent
on a request that cannot succeed.

Each check collects every problem it finds (field, message) and raises one
`ValidationError`, so a form can show all of them at once.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import ValidationError
from .i18n import Finding
from .models import TaskStatus

DEFAULT_MODEL = "kitta-lip-sync-v1"
INPUT_MODES = ("video", "image")
MAX_PAGE_SIZE = 100
# A host that can never resolve (RFC 2606): a local file stands in as a URL under it while
# a create is validated (by the client before publishing, by the panel's form as it is typed).
LOCAL_STAND_IN = "local-file.invalid"

# Field names shared by the validators, the request body and the widgets.
URL_FIELDS: Mapping[str, str] = {
    "video_url": "videoUrl",
    "image_url": "imageUrl",
    "audio_url": "audioUrl",
    "reference_image_url": "referenceImageUrl",
}


_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_EXAMPLE_URL = "https://example.com/speech.mp3"
NOT_A_NUMBER = Finding("val_not_number")
"""A duration that is no number (the form says it of text typed into its field too)."""


def _numeric_ipv4(name: str) -> ipaddress.IPv4Address | None:
    """The address a numeric host means to a resolver, short forms included.

    `127.1`, `0x7f.1`, `0177.0.0.1` and `2130706433` all mean 127.0.0.1 to
    `inet_aton` (and so to most HTTP clients); `ipaddress` reads none of them.
    """
    if not _NUMERIC_HOST.fullmatch(name):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def is_public_host(host: str) -> bool:
    """False for hosts a cloud service cannot fetch from: loopback, private, link-local.

    Only literal addresses (short IPv4 forms included) and well-known local
    names are judged; names are never resolved (that would be network traffic
    of its own).
    """
    name = host.strip("[]").lower().rstrip(".")
    if name in {"localhost", "localhost.localdomain"} or name.endswith(
        (".localhost", ".local", ".internal", ".lan")
    ):
        return False
    if _NUMERIC_HOST.fullmatch(name):
        numeric = _numeric_ipv4(name)
        return numeric is not None and numeric.is_global
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return "." in name  # a bare intranet name ("fileserver") is not public either
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1, on every Python version
    return address.is_global


def _is_file_path(url: str) -> bool:
    return url.startswith(("/", "./", "../", "~", "\\")) or bool(re.match(r"[A-Za-z]:[\\/]", url))


def _not_a_url(url: str) -> Finding:
    """The message for text without a scheme: a file path, a bare host, or no URL at all."""
    if _is_file_path(url):
        return Finding("val_file_path")
    head = url.split("/", 1)[0]
    looks_like_host = "." in head or re.fullmatch(r"[\w.-]+:\d+", head) is not None
    if looks_like_host and not any(ch.isspace() for ch in url):
        return Finding("val_no_scheme", url=url)
    return Finding("val_not_url", example=_EXAMPLE_URL)


def check_url(value: object, *, require_public: bool) -> tuple[str | None, Finding | None]:
    """(normalised URL, problem) for one media URL; a problem is one full sentence."""
    if not isinstance(value, str):
        return None, Finding("val_not_text", type=type(value).__name__)
    url = value.strip()
    if not url:
        return None, Finding("val_required")
    scheme_match = _SCHEME.match(url)
    host_and_port = re.match(r"[\w.-]+:\d", url)  # "host:8080/...", never "scheme://"
    if scheme_match is None or host_and_port or _is_file_path(url):
        return None, _not_a_url(url)
    scheme = scheme_match.group(0)[:-1].lower()
    if scheme not in ("http", "https"):
        return None, Finding("val_scheme", scheme=scheme[:20])
    if any(ch.isspace() for ch in url):
        return None, Finding("val_whitespace")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 bracket) or a bad port
        return None, Finding("val_bad_host")
    if not host:
        return None, Finding("val_no_host")
    if require_public and not is_public_host(host):
        return None, Finding("val_not_public", host=host)
    return url, None


def check_poll_interval(value: object) -> float | None:
    """A poll interval in seconds (None: the default); a `ValidationError` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(
            [("poll_interval", f"The poll interval must be a number of seconds, not {value!r}.")]
        )
    if not _finite(value) or value < 0:
        raise ValidationError(
            [("poll_interval", f"The poll interval must be a finite number ≥ 0, not {value!r}.")]
        )
    return float(value)


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


CREATE_FIELDS = tuple(field.name for field in dataclasses.fields(CreateRequest))
"""A create's fields: the keywords `create` and `check` take, and a batch item's."""


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
        problems.append(("model", Finding("val_model_required", model=DEFAULT_MODEL)))

    if input_mode is None:
        mode = "image" if image_url is not None and video_url is None else "video"
    elif isinstance(input_mode, str) and input_mode.strip().lower() in INPUT_MODES:
        mode = input_mode.strip().lower()
    else:
        mode = "video"
        problems.append(("input_mode", Finding("val_input_mode", mode=input_mode)))

    urls: dict[str, str | None] = {}
    given = {
        "audio_url": audio_url,
        "video_url": video_url,
        "image_url": image_url,
        "reference_image_url": reference_image_url,
    }
    missing = {name for name, value in given.items() if _blank(value)}
    for name, value in given.items():
        urls[name] = None
        if name not in missing:
            urls[name], problem = check_url(value, require_public=require_public_urls)
            if problem:
                problems.append((name, problem))

    if "audio_url" in missing:
        problems.append(("audio_url", Finding("val_audio_required")))
    if mode == "video" and "video_url" in missing:
        problems.append(("video_url", Finding("val_video_required")))
    if mode == "image" and "image_url" in missing:
        problems.append(("image_url", Finding("val_image_required")))
    if mode == "video" and "reference_image_url" not in missing:
        problems.append(("reference_image_url", Finding("val_reference_video_mode")))

    duration: float | None = None
    if duration_seconds is not None:
        if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, (int, float)):
            problems.append(("duration_seconds", NOT_A_NUMBER))
        elif not _finite(duration_seconds) or duration_seconds <= 0:
            problems.append(("duration_seconds", Finding("val_positive")))
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


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


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
            ("limit", f"The limit must be a whole number from 1 to {MAX_PAGE_SIZE}, not {limit!r}.")
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        problems.append(("offset", f"The offset must be a whole number ≥ 0, not {offset!r}."))
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
    message = f"The status must be one of {', '.join(allowed)}, not {status!r}."
    if problems is None:
        raise ValidationError([("status", message)])
    problems.append(("status", message))
    return None


def task_path(task_id: object) -> str:
    """The detail path for a task id, escaped so an id can never leave the tasks route."""
    if not isinstance(task_id, str) or not task_id.strip():
        raise ValidationError(
            [("task_id", "A task id must be a non-empty string such as 'lip_task_123'.")]
        )
    clean = task_id.strip()
    if not clean.strip("."):  # "." and ".." are path segments URL normalisation resolves
        raise ValidationError([("task_id", "This is not a task id: it is only dots.")])
    return "/v1/lip-sync/tasks/" + quote(clean, safe="")
