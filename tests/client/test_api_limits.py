"""Every API request has a total deadline, headers included, and a size cap that holds
after decoding. A server on 127.0.0.1 sends its status line and then one header byte
every half second (so no read ever times out), or a gzip bomb as a task's detail, an
answer of exactly the cap, one declared larger, or one whose compression is damaged;
another never finishes a TLS handshake, a third serves the API over TLS."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from kitta_notebook import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncKittaClient,
    KittaClient,
)
from kitta_notebook._attempt import BodyReader, _DeadlineBackend, attempt_deadline
from kitta_notebook._core import ATTEMPT_DEADLINE_FACTOR, MAX_RESPONSE_BYTES, ClientConfig
from tests.support import self_signed_certificate, serving

READ_TIMEOUT = 1.0
DEADLINE = ATTEMPT_DEADLINE_FACTOR * READ_TIMEOUT
BOUND = 2 * DEADLINE
"""A bound, not a timing: without a total deadline the trickle holds a request for 60 s."""
TOKEN = "tok-deadline-3c9e"
BOMB_DECODED = 256 * 1024 * 1024
MEMORY_BOUND = 48 * 1024 * 1024
"""The cap is 16 MiB; decoding one network read of the bomb whole costs 64 MiB more."""
MEDIA = "https://media.example.com/"
"""Never fetched: the creates below run without preflight."""
CREATES_SENT: list[str] = []
"""The path of every create `trickling_api` received (list.append is atomic)."""


def task_of_exactly(size: int) -> bytes:
    head, tail = b'{"taskId": "lip_task_exact", "status": "pending", "pad": "', b'"}'
    return head + b"0" * (size - len(head) - len(tail)) + tail


def gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(b'{"taskId": "lip_task_bomb", "pad": "')]
    zeros = b"0" * (1024 * 1024)
    parts += [packer.compress(zeros) for _ in range(BOMB_DECODED // len(zeros))]
    return b"".join([*parts, packer.compress(b'"}'), packer.flush()])


@pytest.fixture(scope="module")
def trickling_api() -> Iterator[str]:
    """`.../lip_task_bomb` answers a gzip bomb, `.../lip_task_exact` a task of exactly the
    cap, `.../lip_task_quick` a small task at once, `.../lip_task_moved` a redirect to it,
    `.../lip_task_silent` nothing for 30 s, `.../lip_task_fast` a header byte every 10 ms;
    under `/oversized/` an answer declares
    more than the cap (and then stalls), under `/damaged/` it is gzip that is not; any
    other path trickles its headers, a byte every 0.5 s. Creates (POST) are listed in
    `CREATES_SENT`, by path."""
    stopping = threading.Event()
    bomb = gzip_bomb()
    exact = task_of_exactly(MAX_RESPONSE_BYTES)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            CREATES_SENT.append(self.path)
            self.do_GET()

        def do_GET(self) -> None:
            if self.path.startswith("/oversized/"):
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(MAX_RESPONSE_BYTES + 1))
                self.send_header("X-Request-Id", "req_oversized")
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(b'{"taskId": "lip_task_big", "pad": "')
                    self.wfile.flush()
                    stopping.wait(30)  # the rest never comes: only the header can refuse it
                self.close_connection = True
                return
            if self.path.startswith("/damaged/"):
                body = b"this was never gzip"
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path.endswith("/lip_task_quick"):
                body = b'{"taskId": "lip_task_quick", "status": "pending"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path.endswith("/lip_task_moved"):
                self.send_response(302)
                self.send_header("Location", self.path.replace("_moved", "_quick"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.endswith("/lip_task_silent"):
                stopping.wait(30)
                self.close_connection = True
                return
            if self.path.endswith("/lip_task_exact"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(exact)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(exact)
                return
            if self.path.endswith("/lip_task_bomb"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(bomb)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(bomb)
                return
            interval = 0.01 if self.path.endswith("/lip_task_fast") else 0.5
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                self.wfile.flush()
                for _ in range(round(60 / interval)):  # at most 60 s, then it closes
                    if stopping.wait(interval):
                        break
                    self.wfile.write(b"a")
                    self.wfile.flush()
            self.close_connection = True

    with serving(Handler) as base:
        try:
            yield f"{base}/api"
        finally:
            stopping.set()  # before the server stops: the trickle ends at once


def test_the_sync_client_gives_up_on_trickling_headers_at_its_deadline(
    trickling_api: str,
) -> None:
    timeout = httpx.Timeout(READ_TIMEOUT)
    with KittaClient(TOKEN, base_url=trickling_api, timeout=timeout, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.lip_sync.get("lip_task_1")
        elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed < BOUND  # every byte came in time: only the deadline ends it


def test_a_silent_answer_ends_at_the_read_timeout_before_the_deadline(trickling_api: str) -> None:
    timeout = httpx.Timeout(2.0)  # a deadline of 4 s
    with KittaClient(TOKEN, base_url=trickling_api, timeout=timeout, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.lip_sync.get("lip_task_silent")
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 3.9  # the read timeout, not the deadline (4 s)


def test_a_deadline_spent_before_connecting_is_a_connect_timeout(trickling_api: str) -> None:
    """Nothing was sent, so a create may be sent again; and never a raw error."""
    timeout = httpx.Timeout(1e-9)  # spent before the connection is opened
    with (
        KittaClient(TOKEN, base_url=trickling_api, timeout=timeout, max_retries=0) as client,
        pytest.raises(APITimeoutError) as caught,
    ):
        client.lip_sync.get("lip_task_quick")
    assert "Timed out connecting" in str(caught.value)
    assert str(caught.value.__cause__) == "the answer took longer than its total deadline"


def test_a_client_without_per_read_timeouts_still_reads_an_answer(trickling_api: str) -> None:
    timeout = httpx.Timeout(None)  # the attempt's deadline still holds (60 s)
    with KittaClient(TOKEN, base_url=trickling_api, timeout=timeout, max_retries=0) as client:
        assert client.lip_sync.get("lip_task_quick").task_id == "lip_task_quick"


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
        with pytest.raises(APITimeoutError) as caught:
            client.lip_sync.get("lip_task_1")
        elapsed = time.monotonic() - started
        # The abandoned attempt still reads; it is named in a thread dump and never
        # holds the kernel's exit.
        abandoned = [t for t in threading.enumerate() if t.name == "kitta-api-request"]
        assert abandoned and all(t.daemon for t in abandoned)
    assert elapsed < BOUND
    assert http.event_hooks == {"request": [], "response": []}
    assert str(caught.value.__cause__) == "the response took longer than its total deadline"


def test_a_users_http_client_keeps_a_deadline_shorter_than_a_second(trickling_api: str) -> None:
    """The wait for a user's client's attempt ends at the deadline, not a moment later
    (the header trickles faster than the read timeout: the attempt never ends by itself)."""
    timeout = httpx.Timeout(0.05)  # a deadline of 0.1 s
    with (
        httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT)) as http,
        KittaClient(
            TOKEN, base_url=trickling_api, timeout=timeout, http_client=http, max_retries=0
        ) as client,
    ):
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.lip_sync.get("lip_task_fast")
        elapsed = time.monotonic() - started
    assert elapsed < 0.95  # a bound: one second more would be a wait past the deadline


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


def test_an_answer_of_exactly_the_cap_is_read_whole(trickling_api: str) -> None:
    with KittaClient(TOKEN, base_url=trickling_api, max_retries=0, journal=False) as client:
        task = client.lip_sync.get("lip_task_exact")
    assert task.task_id == "lip_task_exact"


def test_a_create_answered_larger_than_the_cap_is_refused_at_its_headers_and_may_have_created(
    trickling_api: str,
) -> None:
    """The declared length alone refuses the answer (the rest never comes). The create
    reached the server: it is sent once, and the error says a task may exist."""
    base = trickling_api.replace("/api", "/oversized/api")
    before = len(CREATES_SENT)
    timeout = httpx.Timeout(READ_TIMEOUT)
    with KittaClient(TOKEN, base_url=base, timeout=timeout, max_retries=3, journal=False) as c:
        with pytest.raises(APIStatusError) as created:
            c.lip_sync.create(audio_url=MEDIA + "a.mp3", video_url=MEDIA + "v.mp4", preflight=False)
        with pytest.raises(APIStatusError) as read:
            c.lip_sync.get("lip_task_big")
    error = created.value
    assert CREATES_SENT[before:] == ["/oversized/api/v1/lip-sync/tasks"]
    assert (error.status_code, error.code, error.request_id) == (
        201,
        "response_too_large",
        "req_oversized",
    )
    assert error.message == (
        "the server's answer is larger than 16 MiB; refused to protect this kernel's memory"
    )
    assert error.may_have_created is True
    assert read.value.code == "response_too_large" and read.value.may_have_created is False


def test_a_create_whose_answer_cannot_be_decoded_is_sent_once_and_may_have_created(
    trickling_api: str,
) -> None:
    base = trickling_api.replace("/api", "/damaged/api")
    before = len(CREATES_SENT)
    with (
        KittaClient(TOKEN, base_url=base, max_retries=3, journal=False) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.lip_sync.create(
            audio_url=MEDIA + "a.mp3", video_url=MEDIA + "v.mp4", preflight=False
        )
    assert CREATES_SENT[before:] == ["/damaged/api/v1/lip-sync/tasks"]
    assert caught.value.may_have_created and not isinstance(caught.value, APITimeoutError)
    assert str(caught.value.__cause__).startswith(
        "the answer cannot be read: the compressed body is damaged"
    )


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word (for 30 s at most):
    a TLS handshake with it never ends."""
    stopping = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def hold(conn: socket.socket) -> None:
        with conn:
            stopping.wait(30)

    def serve() -> None:
        with suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=hold, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def tls_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The API over TLS on 127.0.0.1 with a certificate `openssl` made for it; yields the
    base URL and the certificate (the one authority to trust)."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"taskId": self.path.rsplit("/", 1)[-1], "status": "pending"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

    with serving(Handler, (cert, key)) as base:
        yield f"{base}/api", cert


def test_the_api_is_read_over_tls_through_the_deadline_bound_pool(
    tls_api: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real service is HTTPS: the pool's deadline-bound streams must carry TLS."""
    base, authority = tls_api
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))
    with KittaClient(TOKEN, base_url=base, max_retries=0, journal=False) as client:
        assert client._pool_keeps_deadline  # the bounded pool, not the worker-thread fallback
        task = client.lip_sync.get("lip_task_tls")
    assert task.task_id == "lip_task_tls"


@pytest.fixture
def full_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose queue of connections is full: a new connection never opens."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10):  # the one place
            yield port


@pytest.mark.parametrize(
    ("timeout", "bound"),
    [
        (httpx.Timeout(READ_TIMEOUT, connect=30.0), BOUND),  # the attempt's deadline ends it
        (httpx.Timeout(5.0, connect=0.5), 5.0),  # its own connect timeout, when that is sooner
    ],
)
@pytest.mark.parametrize(
    ("scheme", "listener"),
    [("https", "silent_port"), ("http", "full_port")],  # a TLS handshake that never ends
    ids=["tls-handshake-never-ends", "connection-never-opens"],
)
def test_a_connection_that_never_opens_stops_at_the_first_limit(
    request: pytest.FixtureRequest, scheme: str, listener: str, timeout: httpx.Timeout, bound: float
) -> None:
    base = f"{scheme}://127.0.0.1:{request.getfixturevalue(listener)}/api"
    with KittaClient(TOKEN, base_url=base, timeout=timeout, max_retries=0, journal=False) as c:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            c.lip_sync.get("lip_task_1")
        elapsed = time.monotonic() - started
    assert elapsed < bound
    assert "Timed out connecting" in str(caught.value)  # no request left: a create may resend


def test_a_deadline_spent_before_a_reused_connection_writes_is_a_timeout(
    trickling_api: str,
) -> None:
    """The second call reuses the first one's connection, so writing is its first wait."""
    with KittaClient(TOKEN, base_url=trickling_api, max_retries=0, journal=False) as client:
        client.lip_sync.get("lip_task_quick")
        client._config.timeout = httpx.Timeout(1e-9)  # spent before the request is written
        with pytest.raises(APITimeoutError) as caught:
            client.lip_sync.get("lip_task_quick")
    assert str(caught.value.__cause__) == "the answer took longer than its total deadline"


@pytest.fixture
def closing_api() -> Iterator[tuple[str, threading.Event, list[str]]]:
    """An API that closes each connection right after its answer, without saying so
    (HTTP/1.1 keeps it open by default); yields its base URL, an event set once a
    connection is closed, and the methods it received."""
    closed = threading.Event()
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def answer(self, status: int) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(self.command)
            body = b'{"taskId": "lip_task_kept", "status": "pending"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def do_GET(self) -> None:
            self.answer(200)

        def do_POST(self) -> None:
            self.answer(201)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
            super().shutdown_request(request)
            closed.set()

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api", closed, received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_create_after_the_server_dropped_an_idle_connection_goes_on_a_new_one(
    closing_api: tuple[str, threading.Event, list[str]],
) -> None:
    """The pool sees the dropped connection through the bounded stream, so the create is
    not written into it (where it would fail as 'may have been created')."""
    base, closed, received = closing_api
    with KittaClient(TOKEN, base_url=base, max_retries=0, journal=False) as client:
        client.lip_sync.get("lip_task_kept")
        assert closed.wait(10)
        task = client.lip_sync.create(
            audio_url=MEDIA + "a.mp3", video_url=MEDIA + "v.mp4", preflight=False
        )
    assert task.task_id == "lip_task_kept" and received == ["GET", "POST"]


def test_the_clients_own_pool_does_not_follow_a_redirect(trickling_api: str) -> None:
    """A redirect could carry the token's request elsewhere: it is an error, not followed."""
    with (
        KittaClient(TOKEN, base_url=trickling_api, max_retries=0, journal=False) as client,
        pytest.raises(APIStatusError) as caught,
    ):
        client.lip_sync.get("lip_task_moved")
    assert caught.value.status_code == 302


class RecordedNetwork:
    """Stands for httpcore's backend and stream: what each wait was given. A wait that
    starts after the deadline is a race no server can be made to produce on cue."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None, **options: Any) -> Any:
        self.calls.append(("connect", host, port, timeout, options))
        return self

    def start_tls(self, context: object, host: str | None, timeout: float | None) -> Any:
        self.calls.append(("tls", context, host, timeout))
        return self

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        self.calls.append(("read", max_bytes, timeout))
        return b"x"

    def write(self, buffer: bytes, timeout: float | None) -> None:
        self.calls.append(("write", buffer, timeout))


def reader_until(deadline: float) -> BodyReader:
    reader = BodyReader.__new__(BodyReader)
    reader.deadline = deadline
    return reader


def test_a_wait_that_starts_past_the_deadline_fails_as_its_own_kind_of_timeout() -> None:
    """A connect or TLS handshake past the deadline is a connect timeout (never sent: may be
    retried), a read past it a read timeout (a create may have been made: never resent)."""
    network = RecordedNetwork()
    backend = _DeadlineBackend(network)
    stream = backend.connect_tcp("api.test", 443, 5.0)
    with attempt_deadline(reader_until(time.monotonic() - 0.001)):
        with pytest.raises(httpcore.ConnectTimeout, match="total deadline"):
            backend.connect_tcp("api.test", 443, 5.0)
        with pytest.raises(httpcore.ConnectTimeout, match="total deadline"):
            stream.start_tls("tls-context", "api.test", 5.0)
        with pytest.raises(httpcore.ReadTimeout, match="total deadline"):
            stream.read(1024, 5.0)
        with pytest.raises(httpcore.WriteTimeout, match="total deadline"):
            stream.write(b"body", 5.0)
    assert network.calls == [("connect", "api.test", 443, 5.0, {})]  # nothing else waited


def test_each_network_wait_is_cut_to_what_is_left_of_the_attempt() -> None:
    network = RecordedNetwork()
    with attempt_deadline(reader_until(time.monotonic() + 5.0)):
        stream = _DeadlineBackend(network).connect_tcp("api.test", 443, 30.0, local_address=None)
        tls = stream.start_tls("tls-context", "api.test", 30.0)
        assert tls.read(1024, 0.5) == b"x" and stream.read(1024, None) == b"x"
    (connect, handshake, short, unbounded) = network.calls
    assert connect[:3] == ("connect", "api.test", 443) and connect[4] == {"local_address": None}
    assert handshake[:3] == ("tls", "tls-context", "api.test")
    waits = [connect[3], handshake[3], unbounded[2]]
    assert all(isinstance(w, float) and 0 < w <= 5.0 for w in waits), waits
    assert short == ("read", 1024, 0.5)


@pytest.mark.parametrize(("read", "deadline"), [(None, 60.0), (4.0, 8.0)])
def test_an_attempts_deadline_is_twice_its_read_timeout_or_a_minute(
    read: float | None, deadline: float
) -> None:
    config = ClientConfig("http://127.0.0.1:9/api", None, httpx.Timeout(10.0, read=read), 0)
    before = time.monotonic()
    reader = BodyReader(config, httpx.Request("GET", "http://127.0.0.1:9/api/v1/lip-sync/tasks"))
    assert before + deadline <= reader.deadline <= time.monotonic() + deadline
