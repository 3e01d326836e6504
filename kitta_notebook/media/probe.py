"""Probe one media input (a URL or a local blob): what it really is, how long, how big.

A URL is read as a seekable file over HTTP Range requests (`RangeFile`), so a header
reader that skips a 100 MB `mdat` box costs a few KB. Every request of one probe shares
one total deadline and one byte budget; a host that ignores Range gets a single GET,
cut off at the budget. Each request is a `_fetch.get_capped`: no token, a wall-clock
deadline at any byte rate, decoded bytes capped, every redirect hop checked.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field, replace
from typing import IO, cast
from urllib.parse import urlsplit

import httpx

from .._fetch import Answer, DeadlineExceeded, RedirectRefused, UnreadableBody, get_capped
from .formats import (
    SNIFF_BYTES,
    MediaFacts,
    ReadStopped,
    Sniffed,
    UndecodableError,
    read_facts,
    sniff,
)
from .sources import LocalBlob

__all__ = ["DEFAULT_BYTE_BUDGET", "DEFAULT_DEADLINE", "ProbeResult", "probe_blob", "probe_url"]

DEFAULT_DEADLINE = 20.0
DEFAULT_BYTE_BUDGET = 4 * 1024 * 1024
FIRST_BYTES = 64 * 1024
"""The first request's size: files this small are read whole, in one request."""

BLOCK_BYTES = 16 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(?:\d+-\d+|\*)/(\d+|\*)")


class BudgetExceeded(ReadStopped):
    """The byte budget or the deadline ran out (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HttpStatusError(ReadStopped):
    """The host answered the first request with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass
class Budget:
    """Shared limits of one probe: bytes that may still be read, and when to stop."""

    byte_budget: int
    deadline: float
    """`time.monotonic()` value after which no request is started or continued."""
    bytes_read: int = 0
    requests: int = 0
    started: float = field(default_factory=time.monotonic)

    def remaining_time(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BudgetExceeded("deadline")
        return left

    def take(self, count: int) -> None:
        self.bytes_read += count
        if self.bytes_read > self.byte_budget:
            raise BudgetExceeded("byte budget")


class RangeFile(io.RawIOBase):
    """`read`/`seek`/`tell` over a URL. Opening fetches the first block and learns the size,
    status, ETag and Last-Modified; `headers` are sent with every request."""

    def __init__(
        self,
        url: str,
        budget: Budget,
        *,
        block: int = BLOCK_BYTES,
        first_bytes: int = BLOCK_BYTES,
        trust_env: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.name = url.split("?", 1)[0]  # mutagen looks at a name's extension
        self._budget = budget
        self._block = block
        self._trust_env = trust_env
        self._transport = transport
        self._blocks: dict[int, bytes] = {}
        self._whole: bytes | None = None
        self._pos = 0
        self.size: int | None = None
        self.status: int | None = None
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.truncated = False
        self._open(max(first_bytes, block))

    def _get(self, headers: dict[str, str], cap: int) -> Answer:
        """One GET within the budget's time left; an error status reads no body."""
        self._budget.requests += 1
        try:
            return get_capped(
                self.url,
                deadline=self._budget.remaining_time(),
                cap=lambda status: 0 if status >= 400 else cap,
                headers=headers,
                trust_env=self._trust_env,
                transport=self._transport,
            )
        except DeadlineExceeded:
            raise BudgetExceeded("deadline") from None

    def _stream(self, start: int, end: int) -> Answer:
        """GET bytes start..end (inclusive). A 206 keeps at most that many bytes; a 200 (the
        host ignored Range) keeps one byte past the budget, so a cut body shows."""
        want = end - start + 1
        cap = max(want, self._budget.byte_budget + 1)
        answer = self._get({"Range": f"bytes={start}-{end}"}, cap)
        if answer.status == 206:
            body = answer.body[:want]
            self._budget.take(len(body))  # a 200 is charged by its caller, once cut
            return Answer(answer.status, answer.headers, body)
        return answer

    def _open(self, first: int) -> None:
        answer = self._stream(0, first - 1)
        if answer.status in (400, 416) and first > 1:
            # A strict store refuses a Range past the end of a small object: a plain GET.
            answer = self._get({}, self._budget.byte_budget + 1)
        status = answer.status
        data = answer.body
        self.status = status
        self.etag = answer.headers.get("etag")
        self.last_modified = answer.headers.get("last-modified")
        if status == 416:  # an empty file has no byte 0
            self.size = 0
            self._whole = b""
            return
        if status >= 400:
            raise HttpStatusError(status)
        if status == 206:
            match = _CONTENT_RANGE.match(answer.headers.get("content-range", ""))
            total = match.group(1) if match else "*"
            self.size = int(total) if total.isdigit() else None
            for index in range(0, len(data), self._block):
                self._blocks[index // self._block] = data[index : index + self._block]
            if self.size is not None and self.size <= len(data):
                self._whole = data[: self.size]
            return
        # 200: the host ignored Range and sent the body from the start.
        length = answer.headers.get("content-length")
        encoded = answer.headers.get("content-encoding", "identity").lower() != "identity"
        self.size = int(length) if length and length.isdigit() and not encoded else None
        self._budget.take(min(len(data), self._budget.byte_budget))
        self.truncated = len(data) > self._budget.byte_budget or (
            self.size is not None and len(data) < self.size
        )
        self._whole = data[: self._budget.byte_budget]
        if self.size is None and not self.truncated:
            self.size = len(self._whole)

    def head(self, count: int) -> bytes:
        """The first `count` bytes (fewer when the file is shorter)."""
        self.seek(0)
        return self.read(count)

    # io.RawIOBase ---------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        else:
            if self.size is None:
                raise OSError("size unknown: cannot seek from the end")
            target = self.size + offset
        if target < 0:
            raise OSError("negative seek position")
        self._pos = target
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if self.size is not None else None
        if size is None or size < 0:
            if end is None:
                raise OSError("size unknown: cannot read to the end")
            size = end - self._pos
        if end is not None:
            size = max(0, min(size, end - self._pos))
        if size == 0:
            return b""
        data = self._read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read_at(self, offset: int, size: int) -> bytes:
        if self._whole is not None:
            if self.truncated and offset + size > len(self._whole):
                raise BudgetExceeded("byte budget")
            return self._whole[offset : offset + size]
        first = offset // self._block
        last = (offset + size - 1) // self._block
        missing = [i for i in range(first, last + 1) if i not in self._blocks]
        if missing:
            self._fetch(missing[0], missing[-1])
        data = b"".join(self._blocks.get(i, b"") for i in range(first, last + 1))
        skip = offset - first * self._block
        return data[skip : skip + size]

    def _fetch(self, first: int, last: int) -> None:
        start = first * self._block
        end = (last + 1) * self._block - 1
        if self.size is not None:
            end = min(end, self.size - 1)
        answer = self._stream(start, end)
        data = answer.body
        if answer.status != 206:
            raise HttpStatusError(answer.status)
        for index in range(first, last + 1):
            offset = (index - first) * self._block
            self._blocks[index] = data[offset : offset + self._block]


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
            except (ReadStopped, RedirectRefused, UnreadableBody, httpx.HTTPError):
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
