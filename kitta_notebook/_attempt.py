"""One API attempt: the whole answer read within a wall-clock deadline and a size cap.

Split from `_core` (the client's shared facts and decisions): this is the part that
holds a slow or huge answer in check, for the sync driver on reused worker threads.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable

import httpx

from ._core import ATTEMPT_DEADLINE_FACTOR, MAX_RESPONSE_BYTES, ClientConfig
from ._fetch import DECODABLE, UnreadableBody
from ._responses import request_id_of
from .errors import APIStatusError

__all__ = ["BodyReader", "within_deadline"]


class BodyReader:
    """Reads one streamed response within a total deadline and a size cap.

    Past the deadline it raises `httpx.ReadTimeout` (so the usual retry rules
    apply: a create is not resent); past the cap, an `APIStatusError`. The
    deadline is checked between chunks here; the drivers also hold the whole
    attempt (headers included) to it, whatever the byte rate.
    """

    def __init__(self, config: ClientConfig, request: httpx.Request) -> None:
        read = config.timeout.read if config.timeout.read is not None else 30.0
        self.deadline = time.monotonic() + ATTEMPT_DEADLINE_FACTOR * read
        self.request = request
        self.buffer = bytearray()
        # Only encodings the drivers decode a bounded piece at a time (`_fetch.BodyDecoder`):
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


def within_deadline(reader: BodyReader, attempt: Callable[[], httpx.Response]) -> httpx.Response:
    """Run one blocking attempt on a worker thread and give up at the reader's deadline.

    httpx's sync timeouts restart with every byte, so a server trickling its headers would
    hold the caller for hours. The abandoned worker ends at its next chunk (`feed` raises
    once the deadline passed) or at its next read timeout, then serves the next attempt.
    """
    job = _Job(contextvars.copy_context(), attempt)  # a batch's rate gate is in a ContextVar
    _WORKERS.submit(job)
    if not job.done.wait(reader.remaining()):
        raise reader.timed_out()
    if job.error is not None:
        raise job.error
    assert job.value is not None
    return job.value


class _Job:
    def __init__(self, context: contextvars.Context, attempt: Callable[[], httpx.Response]):
        self.context = context
        self.attempt = attempt
        self.done = threading.Event()
        self.value: httpx.Response | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.context.run(self.attempt)
        except BaseException as exc:  # handed to the caller
            self.error = exc
        finally:
            self.done.set()


class _Workers:
    """Daemon threads reused across attempts (a thread per request costs ~0.1 ms); daemon,
    so a worker still stuck on a trickling server never holds up the kernel's exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, job: _Job) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                threading.Thread(target=self._serve, name="kitta-api-request", daemon=True).start()
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            self._jobs.get().run()
            with self._lock:
                self._idle += 1


_WORKERS = _Workers()
