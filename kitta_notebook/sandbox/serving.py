"""uvicorn in a daemon thread with its own event loop, on a socket bound up front.

Binding first (port 0 by default) makes the real port known before serving
starts; the own loop lets it run inside a Jupyter kernel whose loop is already
running (with or without nest_asyncio).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

__all__ = ["ServerThread", "bind", "stop_at_exit", "url_host"]

STARTUP_TIMEOUT = 20.0

_running: weakref.WeakSet[Any] = weakref.WeakSet()
_atexit_registered = False


def _stop_all_at_exit() -> None:
    """Stop sandboxes a script forgot to stop, so their temp files go too."""
    for sandbox in list(_running):
        sandbox.stop()


def stop_at_exit(sandbox: Any, *, forget: bool = False) -> None:
    """Remember (or, with ``forget``, drop) a running sandbox to stop at interpreter exit."""
    global _atexit_registered
    if forget:
        _running.discard(sandbox)
        return
    if not _atexit_registered:
        atexit.register(_stop_all_at_exit)
        _atexit_registered = True
    _running.add(sandbox)


def url_host(host: str) -> str:
    """The host to put in URLs for a bind address (wildcards -> loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0) so asyncio sets TCP_NODELAY on accepted connections; without
    # it, headers and body go out in two segments and each response waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class ServerThread:
    """One uvicorn server on one socket; ``start()`` returns once it accepts requests."""

    def __init__(self, app: Any, sock: socket.socket, *, http: type, log_level: str) -> None:
        import uvicorn

        config = uvicorn.Config(
            app,
            log_level=log_level,
            log_config=None,
            access_log=False,
            http=http,
            lifespan="off",
            date_header=False,  # the middleware sends Date on the sandbox's own clock
            timeout_graceful_shutdown=2,
            # Longer than clients keep idle connections, so that a client never sends a
            # request on a connection the server is just closing (a spurious error that
            # a create must not retry). stop() closes idle connections at once anyway.
            timeout_keep_alive=75,
        )
        self.server: uvicorn.Server = uvicorn.Server(config)
        self._sock = sock
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._serve, name="kitta-sandbox-server", daemon=True
        )

    def start(self, before: Callable[[], None] = lambda: None) -> None:
        before()
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the sandbox server did not start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start in time")
            self._thread.join(0.005)  # a bounded wait that also returns if the thread dies

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._sock.close()
            loop.close()

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread.ident is None:
            self._sock.close()
            return
        self._thread.join(10)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(5)
