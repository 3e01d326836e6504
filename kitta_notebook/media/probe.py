"""Probe one media input (a URL or a local blob): what it really is, how long, how big.

A URL is read as a seekable file over HTTP Range requests (`RangeFile`), so a header
reader that skips a 100 MB `mdat` box costs a few KB. Every request of one probe shares
one total deadline and one byte budget; a host that ignores Range gets a single GET,
cut off at the budget. Each request is a `_fetch.get_capped`: no token, a wall-clock
deadline at any byte rate, decoded bytes capped, every redirect hop checked.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from dataclasses import dataclass, field, replace
from typing import IO, cast

import httpx

from .._fetch import (
    Answer,
    DeadlineExceeded,
    RedirectRefused,
    UnreadableBody,
    get_capped,
    url_for_errors,
)
from ..i18n import Finding
from .formats import (
    SNIFF_BYTES,
    MediaFacts,
    ReadStopped,
    Sniffed,
    UndecodableError,
    read_facts,
    sniff,
)
from .local import LocalBlob

__all__ = ["DEFAULT_BYTE_BUDGET", "DEFAULT_DEADLINE", "ProbeResult", "probe_blob", "probe_url"]

DEFAULT_DEADLINE = 20.0
DEFAULT_BYTE_BUDGET = 4 * 1024 * 1024
FIRST_BYTES = 64 * 1024
"""The first request's size: files this small are read whole, in one request."""

BLOCK_BYTES = 16 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(?:\d+-\d+|\*)/(\d+|\*)")


class BudgetExceeded(ReadStopped):
    """The byte budget or the deadline ran out (`reason` says which)."""

    def __init__(self, reason: Finding) -> None:
        super().__init__(reason)
        self.reason = reason


BYTE_BUDGET = Finding("reason_byte_budget")
DEADLINE = Finding("reason_deadline")
TIMED_OUT = Finding("reason_timed_out")


class HttpStatusError(ReadStopped):
    """The host answered the first request with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class RangeFile:
    """`read`/`seek`/`tell` over a URL (all a header reader needs), in blocks of Range
    requests sharing one probe's byte budget and deadline. `open()` fetches the first
    block and learns the size, status, ETag and Last-Modified."""

    def __init__(
        self,
        url: str,
        *,
        byte_budget: int,
        deadline: float,
        trust_env: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.name = url.split("?", 1)[0]  # mutagen looks at a name's extension
        self.byte_budget = byte_budget
        self.started = time.monotonic()
        self._ends = self.started + deadline
        self._trust_env = trust_env
        self._transport = transport
        self.bytes_read = 0
        self.requests = 0
        self._blocks: dict[int, bytes] = {}
        self._sent_whole: int | None = None
        """Bytes kept of a body sent whole (Range ignored): reading past them is past the budget."""
        self._pos = 0
        self.size: int | None = None
        self.status: int | None = None
        self.etag: str | None = None
        self.last_modified: str | None = None

    def _take(self, count: int) -> None:
        self.bytes_read += count
        if self.bytes_read > self.byte_budget:
            raise BudgetExceeded(BYTE_BUDGET)

    def _get(self, headers: dict[str, str], cap: int) -> Answer:
        """One GET within the time left; an error status reads no body."""
        self.requests += 1
        left = self._ends - time.monotonic()
        if left <= 0:
            raise BudgetExceeded(DEADLINE)
        try:
            return get_capped(
                self.url,
                deadline=left,
                cap=lambda status: 0 if status >= 400 else cap,
                headers=headers,
                trust_env=self._trust_env,
                transport=self._transport,
            )
        except DeadlineExceeded:
            raise BudgetExceeded(DEADLINE) from None

    def _range(self, start: int, end: int) -> Answer:
        """GET bytes start..end (inclusive). A 206 keeps at most that many bytes; a 200 (the
        host ignored Range) keeps one byte past the budget, so a cut body shows."""
        want = end - start + 1
        answer = self._get({"Range": f"bytes={start}-{end}"}, max(want, self.byte_budget + 1))
        if answer.status == 206:
            answer = replace(answer, body=answer.body[:want])
            self._take(len(answer.body))  # a 200 is charged by its caller, once cut
        return answer

    def _keep(self, first: int, last: int, data: bytes) -> None:
        """Blocks first..last from `data` (a block past its end is kept empty: the file ends)."""
        for index in range(first, last + 1):
            offset = (index - first) * BLOCK_BYTES
            self._blocks[index] = data[offset : offset + BLOCK_BYTES]

    def open(self, first_bytes: int) -> None:
        answer = self._range(0, max(first_bytes, BLOCK_BYTES) - 1)
        if answer.status in (400, 416):
            # A strict store refuses a Range past the end of a small object: a plain GET.
            answer = self._get({}, self.byte_budget + 1)
        self.status = answer.status
        if self.status >= 400 and self.status != 416:
            raise HttpStatusError(self.status)
        self.etag = answer.headers.get("etag")
        self.last_modified = answer.headers.get("last-modified")
        data = answer.body
        if self.status == 416:  # an empty file has no byte 0
            self.size = 0
        elif self.status == 206:
            found = _CONTENT_RANGE.match(answer.headers.get("content-range", ""))
            total = found.group(1) if found else "*"
            self.size = int(total) if total.isdigit() else None
            self._keep(0, (len(data) - 1) // BLOCK_BYTES, data)
        else:  # 200: the host ignored Range and sent the body from the start.
            length = answer.headers.get("content-length", "")
            encoded = answer.headers.get("content-encoding", "identity").lower() != "identity"
            self.size = int(length) if length.isdigit() and not encoded else None
            kept = data[: self.byte_budget]
            self._take(len(kept))
            if self.size is None and len(data) <= self.byte_budget:
                self.size = len(data)
            self._keep(0, (len(kept) - 1) // BLOCK_BYTES, kept)
            self._sent_whole = len(kept)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if self.size is None:
                raise OSError("size unknown: cannot seek from the end")
            offset += self.size
        if offset < 0:
            raise OSError("negative seek position")
        self._pos = offset
        return offset

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            if self.size is None:
                raise OSError("size unknown: cannot read to the end")
            size = self.size - self._pos
        if self.size is not None:
            size = max(0, min(size, self.size - self._pos))
        if size == 0:
            return b""
        if self._sent_whole is not None and self._pos + size > self._sent_whole:
            raise BudgetExceeded(BYTE_BUDGET)
        first, last = self._pos // BLOCK_BYTES, (self._pos + size - 1) // BLOCK_BYTES
        missing = [i for i in range(first, last + 1) if i not in self._blocks]
        if missing:
            end = (missing[-1] + 1) * BLOCK_BYTES - 1
            end = end if self.size is None else min(end, self.size - 1)
            answer = self._range(missing[0] * BLOCK_BYTES, end)
            if answer.status != 206:
                raise HttpStatusError(answer.status)
            self._keep(missing[0], missing[-1], answer.body)
        data = b"".join(self._blocks.get(i, b"") for i in range(first, last + 1))
        skip = self._pos - first * BLOCK_BYTES
        data = data[skip : skip + size]
        self._pos += len(data)
        return data


@dataclass(frozen=True)
class ProbeResult:
    """What a probe learnt. `reachable` is None when this machine could not tell."""

    source: str
    """The URL without credentials or query (no presigned signature), or a file name."""
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
        from ..display.preflight import probe_summary  # the view's line (see `.importlinter`)

        return probe_summary(self, "en")


def _uncertain_reason(error: httpx.HTTPError) -> Finding:
    if isinstance(error, httpx.TimeoutException):
        return TIMED_OUT
    text = str(error).lower()
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        return Finding("reason_dns")
    cause: BaseException | None = error
    while cause is not None:  # async connects wrap each attempt's error
        if "refused" in str(cause).lower() or isinstance(cause, ConnectionRefusedError):
            return Finding("reason_refused")
        cause = cause.__cause__ or cause.__context__
    return Finding("reason_network", error=type(error).__name__)


def _facts_of(handle: IO[bytes], size: int | None) -> dict[str, object]:
    """`sniffed`, `facts` and `undecodable` of a readable, seekable binary file."""
    handle.seek(0)
    sniffed = sniff(handle.read(SNIFF_BYTES))
    if not sniffed.is_media or size == 0:
        return {"sniffed": sniffed}
    try:
        return {"sniffed": sniffed, "facts": read_facts(handle, sniffed, size)}
    except UndecodableError as error:
        return {"sniffed": sniffed, "undecodable": str(error)}


def _read_url(handle: RangeFile, first_bytes: int) -> dict[str, object]:
    """What `handle` shows as ProbeResult fields; reading stops at the first failure."""
    try:
        handle.open(first_bytes)
        # A readable, seekable binary file as far as the readers go.
        return _facts_of(cast(IO[bytes], handle), handle.size)
    except HttpStatusError:
        return {}  # the status is the handle's
    except BudgetExceeded as error:
        if error.reason == DEADLINE and handle.status is None:
            return {"reachable": None, "uncertain": TIMED_OUT}
        found: dict[str, object] = {"stopped": error.reason}
        if handle.size != 0 and handle.status is not None:  # what the bytes read show
            with contextlib.suppress(ReadStopped, RedirectRefused, UnreadableBody, httpx.HTTPError):
                handle.seek(0)
                found["sniffed"] = sniff(handle.read(SNIFF_BYTES))
        return found
    except RedirectRefused as error:
        return {"reachable": False, "refused_redirect": error.host}
    except UnreadableBody as error:
        return {"reachable": None, "uncertain": str(error)}
    except httpx.HTTPError as error:
        return {"reachable": None, "uncertain": _uncertain_reason(error)}


def probe_url(
    url: str,
    *,
    deadline: float = DEFAULT_DEADLINE,
    byte_budget: int = DEFAULT_BYTE_BUDGET,
    trust_env: bool = True,
    transport: httpx.BaseTransport | None = None,
) -> ProbeResult:
    """Probe a URL (no token is sent) within the limits; `transport` is for tests."""
    handle = RangeFile(
        url, byte_budget=byte_budget, deadline=deadline, trust_env=trust_env, transport=transport
    )
    found = {"reachable": True, **_read_url(handle, min(FIRST_BYTES, byte_budget))}
    return ProbeResult(
        source=url_for_errors(url),
        status=handle.status,
        size=handle.size,
        bytes_read=handle.bytes_read,
        requests=handle.requests,
        elapsed=time.monotonic() - handle.started,
        etag=handle.etag,
        last_modified=handle.last_modified,
        **found,  # type: ignore[arg-type]
    )


def probe_blob(blob: LocalBlob) -> ProbeResult:
    """Probe a local input the same way, before it is uploaded anywhere."""
    started = time.monotonic()
    with blob.open() as handle:
        found = _facts_of(handle, blob.size)
    return ProbeResult(
        source=blob.name,
        reachable=True,
        size=blob.size,
        elapsed=time.monotonic() - started,
        **found,  # type: ignore[arg-type]
    )
