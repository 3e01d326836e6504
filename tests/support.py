"""Builders and fixtures' helpers shared by every test folder (`from tests.support import ...`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@contextmanager
def media_host(body: bytes, content_type: str = "video/mp4") -> Iterator[str]:
    """A result or media host on 127.0.0.1 serving `body` at any path; yields its base URL.

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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
