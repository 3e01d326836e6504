"""Media hosts on 127.0.0.1 that misbehave on purpose: they trickle, compress a bomb,
or refuse a Range that reaches past the end of a small object.

Each misbehaviour is bounded (a trickle stops after `TRICKLE_LIMIT` bytes or when the
host stops), so a client that waits for it still ends, and a test can fail.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRICKLE_SECONDS = 0.5
TRICKLE_LIMIT = 120
"""A trickle sends at most this many bytes (60 s), then closes the connection."""
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
BOMB_DECODED = 128 * 1024 * 1024


def gzip_bomb(decoded: int = BOMB_DECODED) -> bytes:
    """`decoded` bytes (an MP4 head, then zeros) gzip-compressed: about 1/1000 of that."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(MP4_HEAD)]
    zeros = bytes(1024 * 1024)
    for _ in range(decoded // len(zeros)):
        parts.append(packer.compress(zeros))
    parts.append(packer.flush())
    return b"".join(parts)


@dataclass
class HostileHost:
    origin: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)
    strict_file: bytes = b""
    strict_status: int = 400
    bomb: bytes = b""
    seen: list[dict[str, str]] = field(default_factory=list)
    """The headers of every request, in arrival order."""

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"


def _handler(host: HostileHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def handle(self) -> None:
            with suppress(BrokenPipeError, ConnectionResetError):  # a client that hung up
                super().handle()

        def do_GET(self) -> None:
            host.seen.append({k.lower(): v for k, v in self.headers.items()})
            route = {
                "/trickle-body.mp4": self.trickle_body,
                "/trickle-headers.mp4": self.trickle_headers,
                "/bomb.mp4": self.send_bomb,
                "/strict.mp4": self.strict_range,
            }.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404)
                return
            with suppress(BrokenPipeError, ConnectionResetError):
                route()

        def trickle(self) -> None:
            for _ in range(TRICKLE_LIMIT):
                if host.stopping.wait(TRICKLE_SECONDS):
                    break
                self.wfile.write(b"\x00")
                self.wfile.flush()
            self.close_connection = True

        def trickle_body(self) -> None:
            """Honest headers, then one byte every half second."""
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(MP4_HEAD) + 100_000))
            self.end_headers()
            self.wfile.write(MP4_HEAD)
            self.wfile.flush()
            self.trickle()

        def trickle_headers(self) -> None:
            """The status line, then a header that never ends, a byte at a time."""
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self.wfile.flush()
            self.trickle()

        def send_bomb(self) -> None:
            """A gzip body, whatever the request asked for (Range and Accept-Encoding ignored)."""
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(host.bomb)))
            self.end_headers()
            self.wfile.write(host.bomb)

        def strict_range(self) -> None:
            """Like strict S3-compatible stores: a Range past the object's end is an error."""
            data = host.strict_file
            wanted = self.headers.get("Range", "")
            if not wanted:
                self.answer(200, data, {})
                return
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start, end = int(first), int(last)
            if end >= len(data):
                self.answer(host.strict_status, b"<Error><Code>InvalidRange</Code></Error>", {})
                return
            part = data[start : end + 1]
            self.answer(206, part, {"Content-Range": f"bytes {start}-{end}/{len(data)}"})

        def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def hostile_host() -> Iterator[HostileHost]:
    host = HostileHost()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host))
    server.daemon_threads = True
    host.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
