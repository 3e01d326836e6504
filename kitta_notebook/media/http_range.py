"""A read-only, seekable file over HTTP Range requests, for header readers like mutagen.

Reads are served from aligned blocks fetched on demand, so a reader that skips a 100 MB
`mdat` box costs a few KB. Every request shares one total deadline and one byte budget;
a host that ignores Range gets a single streamed GET, cut off at the budget. Each request
is a `_fetch.get_capped`: a wall-clock deadline at any byte rate, decoded bytes capped,
no compression asked for, every redirect hop checked against the first URL's policy.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field

import httpx

from .._fetch import Answer, DeadlineExceeded, get_capped

__all__ = ["Budget", "RangeFile"]

BLOCK_BYTES = 16 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(?:\d+-\d+|\*)/(\d+|\*)")


class BudgetExceeded(Exception):
    """The byte budget or the deadline ran out (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HttpStatusError(Exception):
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
        self.ranges_supported = True
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
        self.ranges_supported = False
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
