"""Every API request has a total deadline, headers included, and a size cap that holds
after decoding. A server on 127.0.0.1 sends its status line and then one header byte
every half second (so no read ever times out), or a gzip bomb as a task's detail."""

from __future__ import annotations

import asyncio
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kitta_notebook import APIStatusError, APITimeoutError, AsyncKittaClient, KittaClient
from kitta_notebook._core import ATTEMPT_DEADLINE_FACTOR, MAX_RESPONSE_BYTES

READ_TIMEOUT = 1.0
DEADLINE = ATTEMPT_DEADLINE_FACTOR * READ_TIMEOUT
BOUND = 2 * DEADLINE
"""A bound, not a timing: without a total deadline the trickle holds a request for 60 s."""
TOKEN = "tok-deadline-3c9e"
BOMB_DECODED = 256 * 1024 * 1024
MEMORY_BOUND = 48 * 1024 * 1024
"""The cap is 16 MiB; decoding one network read of the bomb whole costs 64 MiB more."""


def gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(b'{"taskId": "lip_task_bomb", "pad": "')]
    zeros = b"0" * (1024 * 1024)
    parts += [packer.compress(zeros) for _ in range(BOMB_DECODED // len(zeros))]
    return b"".join([*parts, packer.compress(b'"}'), packer.flush()])


@pytest.fixture(scope="module")
def trickling_api() -> Iterator[str]:
    """`.../lip_task_bomb` answers a gzip bomb; any other path trickles its headers."""
    stopping = threading.Event()
    bomb = gzip_bomb()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.endswith("/lip_task_bomb"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(bomb)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(bomb)
                return
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                self.wfile.flush()
                for _ in range(120):  # at most 60 s, then the connection closes
                    if stopping.wait(0.5):
                        break
                    self.wfile.write(b"a")
                    self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_sync_client_gives_up_on_trickling_headers_at_its_deadline(
    trickling_api: str,
) -> None:
    timeout = httpx.Timeout(READ_TIMEOUT)
    with KittaClient(TOKEN, base_url=trickling_api, timeout=timeout, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.lip_sync.get("lip_task_1")
        elapsed = time.monotonic() - started
    assert elapsed < BOUND


def test_a_users_http_client_also_gives_up_on_trickling_headers_at_its_deadline(
    trickling_api: str,
) -> None:
    """A user's `http_client=` is not altered; its attempts are still held to the deadline."""
    timeout = httpx.Timeout(READ_TIMEOUT)
    with (
        httpx.Client(timeout=timeout) as http,
        KittaClient(
            TOKEN, base_url=trickling_api, timeout=timeout, http_client=http, max_retries=0
        ) as client,
    ):
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.lip_sync.get("lip_task_1")
        elapsed = time.monotonic() - started
    assert elapsed < BOUND
    assert http.event_hooks == {"request": [], "response": []}


def test_the_async_client_gives_up_on_trickling_headers_at_its_deadline(
    trickling_api: str,
) -> None:
    timeout = httpx.Timeout(READ_TIMEOUT)

    async def main() -> float:
        async with AsyncKittaClient(
            TOKEN, base_url=trickling_api, timeout=timeout, max_retries=0
        ) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await client.lip_sync.get("lip_task_1")
            return time.monotonic() - started

    assert asyncio.run(main()) < BOUND


def peak_memory(action: Callable[[], BaseException]) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        error = action()
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_sync_client_stops_a_gzip_bomb_at_the_size_cap(trickling_api: str) -> None:
    def get() -> BaseException:
        with (
            KittaClient(TOKEN, base_url=trickling_api, max_retries=0) as client,
            pytest.raises(APIStatusError) as caught,
        ):
            client.lip_sync.get("lip_task_bomb")
        return caught.value

    error, peak = peak_memory(get)
    assert error.code == "response_too_large"  # type: ignore[attr-defined]
    assert peak < MEMORY_BOUND
    assert MAX_RESPONSE_BYTES < MEMORY_BOUND


def test_the_async_client_stops_a_gzip_bomb_at_the_size_cap(trickling_api: str) -> None:
    async def main() -> BaseException:
        async with AsyncKittaClient(TOKEN, base_url=trickling_api, max_retries=0) as client:
            with pytest.raises(APIStatusError) as caught:
                await client.lip_sync.get("lip_task_bomb")
        return caught.value

    error, peak = peak_memory(lambda: asyncio.run(main()))
    assert error.code == "response_too_large"  # type: ignore[attr-defined]
    assert peak < MEMORY_BOUND
