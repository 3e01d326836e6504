"""Builders and fixtures' helpers shared by every test folder (`from tests.support import ...`)."""

from __future__ import annotations

import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kitta_notebook.models import TASK_FIELDS


def dto(**overrides: Any) -> dict[str, Any]:
    """A full task DTO as the contract's create/get answer it; `overrides` win.

    Built from the client's own field table, so a field added to the DTO
    shows up here too.
    """
    body: dict[str, Any] = dict.fromkeys(TASK_FIELDS)
    body.update(
        id="row_1",
        taskId="lip_task_1",
        type="lip_sync",
        status="pending",
        model="kitta-lip-sync-v1",
        inputMode="video",
        creditsCharged=1200,
        createdAt="2026-07-01T08:00:00.000Z",
    )
    body.update(overrides)
    return body


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that `openssl` signs itself, and its key: trusted by
    nobody unless a test names it (SSL_CERT_FILE)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """`handler` on 127.0.0.1 (over TLS with `tls`'s certificate and key); yields the
    base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def media_host(
    body: bytes, content_type: str = "video/mp4", tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """A result or media host on 127.0.0.1 serving `body` at any path (over TLS with
    `tls`'s certificate and key); yields its base URL.

    Media fetches use their own HTTP client (never the API's, which carries the
    token), so tests serve media over real HTTP rather than a mock transport.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler, tls) as base:
        yield base


def shown_at(filename: str, caller: str) -> str:
    """Where a warning is shown, as a test compares it: `caller` stands for mutmut's
    trampoline too (under `make mutate` it sits between every call and the package)."""
    return caller if f"{os.sep}mutmut{os.sep}" in filename else filename
