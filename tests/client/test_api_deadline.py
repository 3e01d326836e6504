"""Every API request has a total deadline, headers included: a server on 127.0.0.1 that
sends its status line and then one header byte every half second (so no read ever
times out) is cut off at the attempt's deadline, by the sync and the async client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kitta_notebook import APITimeoutError, AsyncKittaClient, KittaClient
from kitta_notebook._core import ATTEMPT_DEADLINE_FACTOR

READ_TIMEOUT = 1.0
DEADLINE = ATTEMPT_DEADLINE_FACTOR * READ_TIMEOUT
BOUND = 2 * DEADLINE
"""A bound, not a timing: without a total deadline the trickle holds a request for 60 s."""
TOKEN = "tok-deadline-3c9e"


@pytest.fixture(scope="module")
def trickling_api() -> Iterator[str]:
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
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
