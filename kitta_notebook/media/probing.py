"""Probe one media input (a URL or a local blob): what it really is, how long, how big.

URLs are read through HTTP Range requests without any token, under a total deadline
and a byte budget. `judge` turns a result into definite problems (refuse the create)
and uncertain warnings (this machine could not tell; the service may still fetch it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import IO, Literal, cast
from urllib.parse import urlsplit

import httpx

from .._fetch import RedirectRefused, UnreadableBody
from .facts import MediaFacts, UndecodableError, read_facts
from .http_range import Budget, BudgetExceeded, HttpStatusError, RangeFile
from .sniff import SNIFF_BYTES, Sniffed, sniff
from .sources import LocalBlob

__all__ = [
    "DEFAULT_BYTE_BUDGET",
    "DEFAULT_DEADLINE",
    "ProbeResult",
    "Role",
    "judge",
    "probe_blob",
    "probe_url",
]

Role = Literal["video", "audio", "image"]
DEFAULT_DEADLINE = 20.0
DEFAULT_BYTE_BUDGET = 4 * 1024 * 1024
FIRST_BYTES = 64 * 1024
"""The first request's size: files this small are read whole, in one request."""


@dataclass(frozen=True)
class ProbeResult:
    """What a probe learnt. `reachable` is None when this machine could not tell."""

    source: str
    """The URL without its query (a presigned signature is not shown), or a file name."""
    reachable: bool | None
    status: int | None = None
    size: int | None = None
    sniffed: Sniffed | None = None
    facts: MediaFacts | None = None
    uncertain: str | None = None
    """Why the outcome is unknown: "timed out", "DNS lookup failed", "connection refused"."""
    stopped: str | None = None
    """"byte budget" or "deadline" when reading stopped before the facts were complete."""
    undecodable: str | None = None
    refused_redirect: str | None = None
    """The private host a redirect led to (not followed: see `_fetch.hop_guard`)."""
    bytes_read: int = 0
    requests: int = 0
    elapsed: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    checked_at: float = field(default_factory=time.monotonic)

    @property
    def kind(self) -> str | None:
        if self.facts is not None:
            return self.facts.kind
        return self.sniffed.kind if self.sniffed is not None else None

    @property
    def format(self) -> str | None:
        return self.sniffed.extension if self.sniffed is not None else None

    @property
    def duration(self) -> float | None:
        return self.facts.duration if self.facts is not None else None

    @property
    def audio_duration(self) -> float | None:
        return self.facts.audio_duration if self.facts is not None else None

    @property
    def dimensions(self) -> tuple[int, int] | None:
        facts = self.facts
        if facts is None or facts.width is None or facts.height is None:
            return None
        return facts.width, facts.height

    def summary(self) -> str:
        """One line for a table or a form field: "MP4 video · 12.0 s · 1280×720 · 4.1 MB"."""
        if self.uncertain:
            return f"not checked: {self.uncertain}"
        if self.status is not None and self.status >= 400:
            return f"HTTP {self.status}"
        parts = [self.sniffed.label if self.sniffed else "unknown"]
        if self.duration is not None:
            parts.append(f"{self.duration:.1f} s")
        if self.dimensions:
            parts.append(f"{self.dimensions[0]}×{self.dimensions[1]}")
        if self.size is not None:
            parts.append(f"{self.size / 1e6:.1f} MB")
        return " · ".join(parts)


def display_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _uncertain_reason(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    text = str(error).lower()
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        return "DNS lookup failed"
    cause: BaseException | None = error
    while cause is not None:  # async connects wrap each attempt's error
        if "refused" in str(cause).lower() or isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    return f"network error ({type(error).__name__})"


def _facts_of(handle: IO[bytes], size: int | None) -> tuple[Sniffed, MediaFacts | None, str | None]:
    handle.seek(0)
    sniffed = sniff(handle.read(SNIFF_BYTES))
    if not sniffed.is_media or size == 0:
        return sniffed, None, None
    try:
        return sniffed, read_facts(handle, sniffed, size), None
    except UndecodableError as error:
        return sniffed, None, str(error)


def probe_url(
    url: str,
    *,
    deadline: float = DEFAULT_DEADLINE,
    byte_budget: int = DEFAULT_BYTE_BUDGET,
    trust_env: bool = True,
    transport: httpx.BaseTransport | None = None,
) -> ProbeResult:
    """Probe a URL (no token is sent) within the limits; `transport` is for tests."""
    budget = Budget(byte_budget=byte_budget, deadline=time.monotonic() + deadline)
    shown = display_url(url)
    handle: RangeFile | None = None

    def finish(**values: object) -> ProbeResult:
        base = ProbeResult(
            source=shown,
            reachable=True,
            bytes_read=budget.bytes_read,
            requests=budget.requests,
            elapsed=time.monotonic() - budget.started,
        )
        if handle is not None:
            base = replace(
                base,
                status=handle.status,
                size=handle.size,
                etag=handle.etag,
                last_modified=handle.last_modified,
            )
        return replace(base, **values)  # type: ignore[arg-type]

    try:
        handle = RangeFile(
            url,
            budget,
            first_bytes=min(FIRST_BYTES, byte_budget),
            trust_env=trust_env,
            transport=transport,
        )
        # RangeFile is a RawIOBase: a readable, seekable binary file as far as readers go.
        sniffed, facts, undecodable = _facts_of(cast(IO[bytes], handle), handle.size)
        return finish(sniffed=sniffed, facts=facts, undecodable=undecodable)
    except HttpStatusError as error:
        return finish(status=error.status)
    except BudgetExceeded as error:
        sniffed = None
        if handle is not None and handle.size != 0:
            try:
                sniffed = sniff(handle.head(SNIFF_BYTES))
            except (BudgetExceeded, HttpStatusError, RedirectRefused, UnreadableBody):
                sniffed = None
            except httpx.HTTPError:
                sniffed = None
        if error.reason == "deadline" and handle is None:
            return finish(reachable=None, uncertain="timed out")
        return finish(sniffed=sniffed, stopped=error.reason)
    except RedirectRefused as error:
        return finish(reachable=False, refused_redirect=error.host)
    except UnreadableBody as error:
        return finish(reachable=None, uncertain=str(error))
    except httpx.HTTPError as error:
        return finish(reachable=None, uncertain=_uncertain_reason(error))


def probe_blob(blob: LocalBlob) -> ProbeResult:
    """Probe a local input the same way, before it is uploaded anywhere."""
    started = time.monotonic()
    with blob.open() as handle:
        sniffed, facts, undecodable = _facts_of(handle, blob.size)
    return ProbeResult(
        source=blob.name,
        reachable=True,
        size=blob.size,
        sniffed=sniffed,
        facts=facts,
        undecodable=undecodable,
        elapsed=time.monotonic() - started,
    )


_ROLE_NAMES = {"video": "a video", "audio": "audio", "image": "an image"}


def judge(result: ProbeResult, role: Role) -> tuple[list[str], list[str]]:
    """(definite problems, warnings) of one input expected to be `role`."""
    if result.refused_redirect:
        return [
            f"It redirects to {result.refused_redirect}, a private address the service "
            "cannot fetch from (this machine did not follow it)."
        ], []
    if result.uncertain:
        return [], [f"It could not be checked from this machine ({result.uncertain})."]
    if result.size == 0:  # before the status: an empty file answers a Range GET with 416
        return ["It is an empty file."], []
    status = result.status
    if status is not None and status >= 500:
        return [], [f"The media host answered HTTP {status}; it may be a passing failure."]
    if status is not None and status >= 400:
        return [f"The media host answered HTTP {status}, so the service cannot fetch it."], []
    sniffed = result.sniffed
    if sniffed is None:
        return [], [f"It could not be checked: reading stopped ({result.stopped})."]
    want = _ROLE_NAMES[role]
    if sniffed.kind in ("html", "json", "text"):
        return [
            f"It is {('an ' if sniffed.kind == 'html' else 'a ')}{sniffed.label}, not {want}."
        ], []
    if sniffed.kind == "unknown":
        return [f"It is in a format no decoder knows, not {want}."], []
    if result.undecodable:
        if result.stopped:
            return [], [f"It could not be fully checked: reading stopped ({result.stopped})."]
        return [f"It looks like {sniffed.extension.upper()} but cannot be read as one."], []
    return _judge_media(result, role)


def _judge_media(result: ProbeResult, role: Role) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    kind = result.kind
    label = result.sniffed.label if result.sniffed else "file"
    facts = result.facts
    if role == "video" and kind == "image":
        return [f"It is an image ({label}), not a video: pass it as image_url."], []
    if role == "video" and kind == "audio":
        return [f"It is audio only ({label}), not a video."], []
    if role == "image" and kind != "image":
        return [f"It is {label}, not an image."], []
    if role == "audio" and kind == "image":
        return [f"It is an image ({label}), not audio."], []
    if role == "audio" and facts is not None and facts.has_audio is False:
        return [f"It has no audio stream ({label})."], []
    duration = result.audio_duration if role == "audio" else result.duration
    if role != "image":
        if facts is None:
            warnings.append(f"Its duration was not measured ({label}).")
        elif duration is not None and duration <= 0:
            return ["It has zero duration."], []
        if facts is not None and facts.duration_doubt and facts.has_audio:
            warnings.append(_doubt_warning(facts.duration_doubt, facts.audio_duration))
    return [], warnings


def _doubt_warning(doubt: str, held: float | None) -> str:
    if held is None:
        return (
            f"Its audio length is not trusted: {doubt}. It sets neither the estimate "
            "nor durationSeconds."
        )
    return f"Its header does not match the file: {doubt}. The {held:.2f} s it holds are used."
