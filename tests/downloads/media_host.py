"""A small hostile media host on 127.0.0.1: what a result host can do wrong, by path.

    /ok.mp4        a small valid MP4 head plus padding, honest Content-Length
    /drop.mp4      chunked, breaks the connection in the middle of the body
    /lie.mp4       announces 50,000 bytes, sends 10,000 and closes
    /trickle.mp4   a valid head, then one byte a second (for up to 60 s)
    /stall.mp4     headers, then nothing at all (for up to 60 s)
    /login.mp4     200 with an HTML login page
    /json.mp4      200 with a JSON error document
    /expired.mp4   403 (an expired signed link)
    /big.mp4       announces 5 GB
    /redirect.mp4  302 to /ok.mp4
    /denied.mp4    200 with a plain-text refusal
    /bare.mp4      200 with bytes of no known kind and no Content-Type
    /choices.mp4   300 (not a success, though the body is a video)
    /stub.mp4      200 with a 12-byte HTML start, then nothing (for up to 60 s)

Every request's headers are recorded (a test checks no token ever arrives).
Slow answers stop as soon as the client goes away or the host is stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
OK_BODY = MP4_HEAD + b"\x00" * 4000
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
    b"<body><form action='/login'><input name=user></form></body></html>"
)


class MediaHost:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                host.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                handler = getattr(host, "serve_" + name.replace(".mp4", ""), None)
                if handler is None:
                    self._simple(404, b"not found", "text/plain")
                    return
                with suppress(BrokenPipeError, ConnectionResetError):
                    handler(self)

            def _simple(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    # --- scenarios -----------------------------------------------------------
    def serve_ok(self, h: Any) -> None:
        h._simple(200, OK_BODY, "video/mp4")

    def serve_login(self, h: Any) -> None:
        h._simple(200, LOGIN_PAGE, "text/html; charset=utf-8")

    def serve_json(self, h: Any) -> None:
        h._simple(200, b'{"error": "AccessDenied"}', "application/json")

    def serve_expired(self, h: Any) -> None:
        h._simple(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")

    def serve_big(self, h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", str(5 * 1024**3))
        h.end_headers()
        h.wfile.write(MP4_HEAD)
        h.close_connection = True

    def serve_redirect(self, h: Any) -> None:
        h.send_response(302)
        h.send_header("Location", "/ok.mp4")
        h.send_header("Content-Length", "0")
        h.end_headers()

    def serve_lie(self, h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", "50000")
        h.end_headers()
        h.wfile.write((MP4_HEAD + b"\x00" * 10000)[:10000])
        h.wfile.flush()
        h.close_connection = True

    def serve_drop(self, h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for chunk in (OK_BODY[:2000], OK_BODY[2000:3000]):
            h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        h.wfile.flush()
        h.close_connection = True  # no terminating chunk: the body breaks off

    def serve_trickle(self, h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", str(len(MP4_HEAD) + 60))
        h.end_headers()
        h.wfile.write(MP4_HEAD)
        h.wfile.flush()
        for _ in range(60):
            if self.stopping.wait(1.0):
                break
            h.wfile.write(b"\x00")
            h.wfile.flush()
        h.close_connection = True

    def serve_stall(self, h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.wfile.flush()
        self.stopping.wait(60.0)
        h.close_connection = True

    def serve_denied(self, h: Any) -> None:
        h._simple(200, b"Access denied for this link.", "text/plain; charset=utf-8")

    def serve_bare(self, h: Any) -> None:
        body = bytes(range(1, 65))
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def serve_choices(self, h: Any) -> None:
        h._simple(300, OK_BODY, "video/mp4")

    def serve_stub(self, h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.wfile.write(b"<html><head>")
        h.wfile.flush()
        self.stopping.wait(60.0)
        h.close_connection = True

    # --- lifecycle --------------------------------------------------------------
    def start(self) -> MediaHost:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def media_host() -> Iterator[MediaHost]:
    host = MediaHost().start()
    try:
        yield host
    finally:
        host.stop()


def elapsed(start: float) -> float:
    return time.monotonic() - start
