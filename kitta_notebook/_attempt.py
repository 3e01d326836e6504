"""One API attempt: the whole answer read within a wall-clock deadline and a size cap.

httpx's timeouts restart with every byte, so a server trickling its headers would
hold the caller for hours. The client's own HTTP pool therefore runs on a network
backend whose every connect, read and write waits at most until the attempt's
deadline (taken from a context variable the request loop sets): no thread hop.
A user's `http_client=` is not altered; its attempts run on a worker thread that
is abandoned at the deadline instead.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ._core import ATTEMPT_DEADLINE_FACTOR, MAX_RESPONSE_BYTES, ClientConfig
from ._fetch import DECODABLE, UnreadableBody
from ._responses import request_id_of
from .errors import APIStatusError

__all__ = ["BodyReader", "deadline_client", "within_deadline"]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "kitta_attempt_deadline", default=None
)


class BodyReader:
    """Reads one streamed response within a total deadline and a size cap.

    Past the deadline it raises `httpx.ReadTimeout` (so the usual retry rules
    apply: a create is not resent); past the cap, an `APIStatusError`.
    """

    def __init__(self, config: ClientConfig, request: httpx.Request) -> None:
        read = config.timeout.read if config.timeout.read is not None else 30.0
        self.deadline = time.monotonic() + ATTEMPT_DEADLINE_FACTOR * read
        self.request = request
        self.buffer = bytearray()
        # Only encodings decoded a bounded piece at a time (`_fetch.decoded_pieces`):
        # a compressed answer meets the size cap after decoding, not after filling memory.
        request.headers["Accept-Encoding"] = DECODABLE

    def unreadable(self, exc: UnreadableBody) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(f"the answer cannot be read: {exc}", request=self.request)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def timed_out(self) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(
            "the response took longer than its total deadline", request=self.request
        )

    def check_declared(self, response: httpx.Response) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise self._too_large(response)

    def feed(self, response: httpx.Response, chunk: bytes) -> None:
        self.buffer.extend(chunk)
        if len(self.buffer) > MAX_RESPONSE_BYTES:
            raise self._too_large(response)
        if time.monotonic() > self.deadline:
            raise self.timed_out()

    def finish(self, response: httpx.Response) -> httpx.Response:
        """The response with the (already decoded) bytes read, as `response.read()` leaves it."""
        response._content = bytes(self.buffer)
        return response

    def _too_large(self, response: httpx.Response) -> APIStatusError:
        return APIStatusError(
            response.status_code,
            "response_too_large",
            f"the server's answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB; "
            "refused to protect this kernel's memory",
            request_id_of(response),
            may_have_created=self.request.method == "POST",
        )


@contextmanager
def attempt_deadline(reader: BodyReader) -> Iterator[None]:
    """Every network wait of the client's own pool, in this block, ends at `reader`'s deadline."""
    token = _DEADLINE.set(reader.deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, error: str) -> float | None:
    """`timeout`, cut to what is left of the current attempt's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        import httpcore  # loaded already: the pool this runs in is httpcore's

        raise getattr(httpcore, error)("the answer took longer than its total deadline")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """An httpcore network stream whose waits end at the attempt's deadline."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, "ReadTimeout"))  # type: ignore[no-any-return]

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, "WriteTimeout"))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        bounded = _bounded(timeout, "ConnectTimeout")
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend:
    """httpcore's network backend, its connects bounded by the attempt's deadline too."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, **options: Any
    ) -> _DeadlineStream:
        bounded = _bounded(timeout, "ConnectTimeout")
        return _DeadlineStream(self._backend.connect_tcp(host, port, bounded, **options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_client() -> tuple[httpx.Client, bool]:
    """The client's own HTTP pool, and whether it enforces the attempt deadline itself.

    httpx has no setting for the network backend, so it is swapped into each pool
    (the direct one and any proxy's); should a future httpx lay its pools out
    otherwise, the worker-thread fallback keeps the deadline.
    """
    http = httpx.Client(follow_redirects=False)
    transports = [http._transport, *http._mounts.values()]
    pools = [getattr(transport, "_pool", None) for transport in transports if transport is not None]
    if not all(hasattr(pool, "_network_backend") for pool in pools):
        return http, False
    for pool in pools:
        assert pool is not None
        pool._network_backend = _DeadlineBackend(pool._network_backend)
    return http, True


def within_deadline(reader: BodyReader, attempt: Callable[[], httpx.Response]) -> httpx.Response:
    """Run one attempt over a user's HTTP client on a worker thread; give up at the deadline.

    The abandoned worker ends at its next chunk (`feed` raises once the deadline
    passed) or at its next read timeout.
    """
    outcome: list[Any] = []
    done = threading.Event()
    context = contextvars.copy_context()

    def work() -> None:
        try:
            outcome.append((context.run(attempt), None))
        except BaseException as exc:  # handed to the caller
            outcome.append((None, exc))
        finally:
            done.set()

    threading.Thread(target=work, name="kitta-api-request", daemon=True).start()
    if not done.wait(reader.remaining()):
        raise reader.timed_out()
    value, error = outcome[0]
    if error is not None:
        raise error
    return value  # type: ignore[no-any-return]
