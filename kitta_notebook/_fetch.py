"""Bounded fetches of media: a result video, an input before a create, a probe's read.

Every fetch has a connect and a read timeout, a size cap and a *total*
deadline. httpx's read timeout is per chunk, so a host that sends one byte a
second would never trip it: the transfer runs on a worker thread and the
caller gives up on it at the deadline, at any byte rate (`within`). The cap
counts decoded bytes, decoded a bounded piece at a time (a gzip bomb stops at
the cap), and every redirect hop passes the first URL's address policy. The
request carries no Kitta token (media hosts are not the API); every failure
of `fetch` is one `DownloadError` naming what arrived, the status and the URL
without its credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from . import _bridge
from ._redact import redact_text
from ._version import __version__
from .errors import DownloadError
from .validation import is_public_host

T = TypeVar("T")

# A result host answers these when a signed link has expired or was revoked.
EXPIRED_STATUSES = frozenset({401, 403, 404, 410})
HEAD_BYTES = 64
MAX_REDIRECTS = 5
DECODED_PIECE_BYTES = 64 * 1024
"""The most one step of decoding may produce: what a compression bomb costs before the cap."""
DECODABLE = "gzip, deflate"
"""The encodings `BodyDecoder` reads, for a client that accepts compression (the API)."""
_WAKE_SECONDS = 0.1
"""How often a waiting caller looks whether its async caller was cancelled."""

Expect = Literal["video", "any"]
Sink = Callable[[bytes], object]


@dataclass(frozen=True)
class FetchLimits:
    """How long and how much one fetch may take."""

    deadline: float
    max_bytes: int
    connect_timeout: float = 10.0
    read_timeout: float = 30.0

    def timeout(self) -> httpx.Timeout:
        read = min(self.read_timeout, self.deadline)
        return httpx.Timeout(read, connect=min(self.connect_timeout, self.deadline))


@dataclass(frozen=True)
class Fetched:
    """What one finished fetch received (the bytes when no sink was given)."""

    url: str
    size: int
    sha256: str
    data: bytes | None = None


def url_for_errors(url: object) -> str:
    """The URL as an error message shows it: no user:password, query or fragment.

    Stricter than `_redact.redact_url` (which keeps harmless query values for
    the journal): an error text may be pasted anywhere, so the query goes.
    """
    try:
        parts = urlsplit(str(url))
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "<unreadable URL>"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --- what arrived ---------------------------------------------------------------------
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def video_kind(head: bytes) -> str | None:
    """The container a file starts like ('mp4', 'webm', ...), or None when not a video."""
    if len(head) >= 8 and head[4:8] in _ISO_BOXES:
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV"):
        return "flv"
    if head[:1] == b"\x47" and (len(head) < 189 or head[188:189] == b"\x47"):
        return "mpeg-ts"
    return None


def describe_content(head: bytes, content_type: str) -> str:
    """A few words for what a body looks like, for an error message."""
    kind = video_kind(head)
    if kind:
        return f"a {kind} video"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    ctype = content_type.split(";")[0].strip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or ctype == "text/html":
        return "an HTML page (often a login or error page)"
    if start.startswith((b"{", b"[")) or ctype.endswith("json"):
        return "a JSON document"
    if start.startswith(b"<?xml") or ctype.endswith("xml"):
        return "an XML document (often a storage error)"
    if start.startswith(b"\x89png"):
        return "a PNG image"
    if start.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if not head:
        return "an empty body"
    if ctype.startswith("text/"):
        return f"text ({ctype})"
    return f"data of type {ctype or 'unknown'} that is not a video"


class MediaCheck:
    """The I/O-free rules of one fetch: status, declared length, size cap, content, hash."""

    def __init__(
        self, url: str, limits: FetchLimits, expect: Expect = "video", signed_now: bool = False
    ) -> None:
        self.url = url_for_errors(url)
        self.limits = limits
        self.expect = expect
        self.signed_now = signed_now
        self.status_code = 0
        self.content_type = ""
        self.declared: int | None = None
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()

    def error(self, message: str, reason: str, *, arrived: str | None = None) -> DownloadError:
        return DownloadError(
            f"Could not fetch the media: {message} ({self.url}).",
            url=self.url,
            status_code=self.status_code or None,
            arrived=arrived,
            expired=reason == "expired",
            reason=reason,
        )

    def on_response(
        self, status_code: int, headers: Mapping[str, str], error_body: bytes = b""
    ) -> None:
        """`error_body`: the start of a refusal's body, where a storage names its error."""
        self.status_code = status_code
        self.content_type = headers.get("content-type", "")
        if not 200 <= status_code < 300:
            self._refused(status_code, *storage_error(error_body))
        declared = headers.get("content-length", "").strip()
        if declared.isdigit():
            self.declared = int(declared)
            if self.declared > self.limits.max_bytes:
                raise self.error(self._too_large_text(self.declared), "too_large")

    def _refused(self, status_code: int, code: str, message: str) -> None:
        """A link signed just now (`signed_now`) that a storage refuses is either denied
        (a wrong key, a bucket policy) or refused as expired (the signer's clock): its
        error code tells which. An older link may simply have expired."""
        said = f" ({code}: {message})" if message else f" ({code})" if code else ""
        arrived = f"a storage error ({code})" if code else None
        if self.signed_now and status_code == 403 and code:
            if not link_expired(code, message):
                raise self.error(f"the storage refused access{said}", "denied", arrived=arrived)
            raise self.error(
                f"the storage refused the link as expired{said} although it was signed just "
                "now: check this machine's clock",
                "expired",
                arrived=arrived,
            )
        expired = status_code in EXPIRED_STATUSES
        hint = "; the link may have expired, call task.refresh() for a fresh URL"
        raise self.error(
            f"the media host answered HTTP {status_code}{said}{hint if expired else ''}",
            "expired" if expired else "failed",
            arrived=arrived,
        )

    def _too_large_text(self, size: int) -> str:
        return (
            f"the media is larger than the {_size(self.limits.max_bytes)} cap "
            f"({_size(size)} or more)"
        )

    def on_chunk(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limits.max_bytes:
            raise self.error(self._too_large_text(self.size), "too_large")
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + chunk)[:HEAD_BYTES]
            if len(self.head) >= 12:
                self._check_content()
        self._hash.update(chunk)

    def _check_content(self) -> None:
        if self.expect == "video" and video_kind(self.head) is None:
            arrived = describe_content(self.head, self.content_type)
            raise self.error(
                f"expected a video but {arrived} arrived", "not_media", arrived=arrived
            )

    def finish(self, wire_bytes: int) -> Fetched:
        """Check the whole body arrived; `wire_bytes` is the count before decoding."""
        if self.declared is not None and wire_bytes != self.declared:
            raise self.error(
                f"the connection ended after {wire_bytes} of the {self.declared} bytes "
                "the host announced",
                "incomplete",
            )
        self._check_content()
        return Fetched(url=self.url, size=self.size, sha256=self._hash.hexdigest())

    def timed_out(self) -> DownloadError:
        return self.error(
            f"the media host did not deliver within {self.limits.deadline:.3g} s "
            f"({self.size} bytes arrived)",
            "timeout",
        )

    def broken(self, exc: BaseException) -> DownloadError:
        return self.error(
            f"the connection failed after {self.size} bytes ({type(exc).__name__}: "
            f"{_exception_text(exc)})",
            "failed",
        )


_XML_FIELD = re.compile(rb"<(Code|Message)>([^<]{1,300})</(?:Code|Message)>")
ERROR_BODY_BYTES = 2048
"""How much of a refusal is read: an S3 error document names its code in the first lines."""


def storage_error(body: bytes) -> tuple[str, str]:
    """(code, message) of an S3-style ``<Error>`` document, redacted; ("", "") if none."""
    found = {name.decode(): value for name, value in _XML_FIELD.findall(body[:ERROR_BODY_BYTES])}
    code = redact_text(found.get("Code", b"").decode("utf-8", "replace").strip())[:80]
    message = redact_text(found.get("Message", b"").decode("utf-8", "replace").strip())[:200]
    return code, message


def link_expired(code: str, message: str) -> bool:
    """Whether a storage's refusal says the signed link (or its signer's token) expired:
    S3 answers AccessDenied "Request has expired"; a wrong key or a policy says otherwise."""
    return code in ("ExpiredToken", "RequestTimeTooSkewed") or "expired" in message.lower()


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB" if count >= 1024 * 1024 else f"{count} bytes"


_QUERY = re.compile(r"\?[^\s'\"<>]*")


def _exception_text(exc: BaseException) -> str:
    """An exception's text, redacted (`redact_text`), and with every URL's query cut."""
    cleaned = _QUERY.sub("", redact_text(str(exc)))
    return " ".join(cleaned.split())[:200] or "no detail"


# --- what every fetch shares ----------------------------------------------------------
class RedirectRefused(Exception):
    """A redirect led to an address the first URL's policy forbids (a private host)."""

    def __init__(self, url: httpx.URL) -> None:
        self.host = url.host
        super().__init__(f"a redirect led to {url.host}, a private address")


def hop_guard(first_url: str) -> Callable[[httpx.Request], None]:
    """An httpx request hook: every hop must pass the address policy of the first URL.

    A public first host (the only kind the real service accepts) may only lead to
    public hosts, so a redirect cannot reach 169.254.169.254 or the LAN from this
    machine; a loopback first URL (the sandbox) may go anywhere.
    """
    public_only = is_public_host(httpx.URL(first_url).host)

    def check(request: httpx.Request) -> None:
        if public_only and not is_public_host(request.url.host):
            raise RedirectRefused(request.url)

    return check


class UnreadableBody(ValueError):
    """A body in an encoding that is not read, or a damaged compressed body."""


class BodyDecoder:
    """Undoes a Content-Encoding one bounded piece at a time, so a compression bomb
    meets the byte cap after one piece instead of after filling memory.

    Fetches ask for `identity`; a host that compresses anyway gets gzip and deflate
    decoded, any other encoding refused (`UnreadableBody`).
    """

    def __init__(self, encoding: str) -> None:
        name = encoding.strip().lower()
        self._zlib: Any = None
        if name in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header
        elif name not in ("", "identity"):
            raise UnreadableBody(f"the host sent a body encoded as {name[:20]!r}")

    def pieces(self, raw: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            if raw:
                yield raw
            return
        data = raw
        while True:
            try:
                piece = self._zlib.decompress(data, DECODED_PIECE_BYTES)
            except zlib.error as exc:
                raise UnreadableBody(f"the compressed body is damaged ({exc})") from None
            data = self._zlib.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) < DECODED_PIECE_BYTES:
                return


def decoded_pieces(response: httpx.Response, wire: list[int] | None = None) -> Iterator[bytes]:
    """A streamed body decoded in bounded pieces (see `BodyDecoder`); `wire[0]` counts
    the bytes that arrived before decoding, for the Content-Length check."""
    wire = [0] if wire is None else wire
    if response.is_stream_consumed:  # built in memory by a mock transport
        wire[0] += len(response.content)
        yield response.content
        return
    decoder = BodyDecoder(response.headers.get("content-encoding", ""))
    for raw in response.iter_raw():
        wire[0] += len(raw)
        yield from decoder.pieces(raw)


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One TLS context for every media client: building one costs ~0.1 s of CPU, and each
    probe request opens its own client (SSL_CERT_FILE / SSL_CERT_DIR are honoured)."""
    return httpx.create_ssl_context(trust_env=True)


class DeadlineExceeded(Exception):
    """Bounded work (a GET, a storage call) did not finish within its wall-clock deadline."""


def _get(
    url: str,
    deadline: float,
    timeout: httpx.Timeout,
    read: Callable[[httpx.Response, threading.Event], T],
    *,
    headers: Mapping[str, str] | None = None,
    trust_env: bool = True,
    transport: httpx.BaseTransport | None = None,
) -> T:
    """GET `url` without a token and `read(response, stop)` `within` `deadline` seconds,
    whatever the byte rate. Giving up sets `stop` (the worker then hands nothing more on)
    and closes the connection under the worker's read.
    """
    http = httpx.Client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=timeout,
        headers={"User-Agent": f"kitta-notebook/{__version__}", "Accept-Encoding": "identity"},
        event_hooks={"request": [hop_guard(url)]},
        verify=tls_context(),
        transport=transport,
        trust_env=trust_env,
    )
    stop = threading.Event()

    def run() -> T:
        with http, http.stream("GET", url, headers=dict(headers or {})) as response:
            return read(response, stop)

    def give_up() -> None:
        stop.set()
        with contextlib.suppress(Exception):
            http.close()

    return within(deadline, run, give_up)


def within(deadline: float, work: Callable[[], T], give_up: Callable[[], None]) -> T:
    """`work()` on a worker thread, waited for at most `deadline` seconds (then
    `DeadlineExceeded`): socket timeouts bound each read, never a whole transfer.

    The caller only waits, so an interrupt or a cancelled await (`_bridge`) ends
    the wait at once too; `give_up()` is then called on the caller's thread to
    stop the worker (close its connection, abort what it started).
    """
    ends = time.monotonic() + deadline
    done = threading.Event()
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="kitta-fetch", daemon=True).start()
    try:
        while not done.wait(max(0.0, min(_WAKE_SECONDS, ends - time.monotonic()))):
            _bridge.check_cancelled()
            if time.monotonic() >= ends:
                raise DeadlineExceeded(f"no answer within {deadline:.3g} s")
    except BaseException:
        give_up()
        raise
    if failure:
        raise failure[0]
    return result[0]


@dataclass(frozen=True)
class Answer:
    """A small bounded GET: the status, the headers and at most the capped decoded bytes."""

    status: int
    headers: httpx.Headers
    body: bytes


def get_capped(
    url: str,
    *,
    deadline: float,
    cap: Callable[[int], int],
    headers: Mapping[str, str] | None = None,
    trust_env: bool = True,
    transport: httpx.BaseTransport | None = None,
) -> Answer:
    """GET `url`, keep at most `cap(status)` decoded bytes, all within `deadline` seconds.

    For reads that are small by nature (a probe's Range requests, a revalidation).
    The deadline raises `DeadlineExceeded`; a refused redirect `RedirectRefused`, a
    body that cannot be decoded `UnreadableBody`; transport failures stay httpx errors.
    """

    def read(response: httpx.Response, stop: threading.Event) -> Answer:
        limit = cap(response.status_code)
        body = bytearray()
        if limit > 0:
            for piece in decoded_pieces(response):
                body += piece[: limit - len(body)]
                if len(body) >= limit or stop.is_set():
                    break
        return Answer(response.status_code, response.headers, bytes(body))

    timeout = httpx.Timeout(max(deadline, 0.001))
    return _get(
        url, deadline, timeout, read, headers=headers, trust_env=trust_env, transport=transport
    )


def fetch(
    url: str,
    limits: FetchLimits,
    *,
    sink: Sink | None = None,
    expect: Expect = "video",
    transport: httpx.BaseTransport | None = None,
    signed_now: bool = False,
) -> Fetched:
    """Fetch `url` within `limits`; chunks go to `sink`, or are returned in `data`.
    `signed_now`: the link was signed for this fetch (a kept copy's), see `MediaCheck`.

    `transport` is for tests (an `httpx.MockTransport`); real fetches use the network.
    """
    check = MediaCheck(url, limits, expect, signed_now)
    collected = bytearray()
    write = collected.extend if sink is None else sink

    def read(response: httpx.Response, stop: threading.Event) -> Fetched:
        refusal = b""
        if not 200 <= response.status_code < 300:
            with contextlib.suppress(UnreadableBody):  # then judged by its status alone
                for piece in decoded_pieces(response):
                    refusal += piece
                    if len(refusal) >= ERROR_BODY_BYTES or stop.is_set():
                        break
        check.on_response(response.status_code, response.headers, refusal)
        wire = [0]
        for chunk in decoded_pieces(response, wire):
            check.on_chunk(chunk)
            if stop.is_set():  # the caller gave up: its sink is closed
                raise DeadlineExceeded
            write(chunk)
        return check.finish(wire[0])

    try:
        fetched = _get(url, limits.deadline, limits.timeout(), read, transport=transport)
    except DownloadError:
        raise
    except RedirectRefused as exc:
        raise check.error(
            f"{exc}, which this machine does not fetch for a public link", "refused"
        ) from None
    except (DeadlineExceeded, httpx.TimeoutException) as exc:
        raise check.timed_out() from exc
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        raise check.broken(exc) from exc
    return fetched if sink is not None else replace(fetched, data=bytes(collected))
