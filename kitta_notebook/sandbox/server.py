"""``Sandbox``: the local Kitta API server's lifecycle, run in a background thread.

uvicorn serves on a socket bound here (port 0 by default, so the real port is
known before serving starts) from a daemon thread with its own event loop, so
it works inside a Jupyter kernel whose loop is already running (with or without
nest_asyncio). FastAPI and uvicorn are imported only when a sandbox starts.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import math
import os
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .faults import FaultConfig, FaultInjector
from .stats import SandboxStats

if TYPE_CHECKING:
    import uvicorn

    from kitta_notebook import AsyncKittaClient, KittaClient  # type: ignore[attr-defined]

    from .app import Samples
    from .store import Store
    from .worker import Engine

__all__ = ["DEFAULT_CREDITS", "DEFAULT_TOKEN", "Sandbox"]

DEFAULT_TOKEN = "sandbox-token"
"""The account created when ``Sandbox()`` is given no accounts (and its database has none)."""
DEFAULT_CREDITS = 1_000_000
"""Credits of the default account, and of a ``pro_tokens`` entry missing from ``accounts``."""
STARTUP_TIMEOUT = 20.0
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


_running: weakref.WeakSet[Sandbox] = weakref.WeakSet()
_atexit_registered = False


def _stop_all_at_exit() -> None:
    """Stop sandboxes a script forgot to stop, so their temp files go too."""
    for sandbox in list(_running):
        sandbox.stop()


def _track(sandbox: Sandbox) -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_stop_all_at_exit)
        _atexit_registered = True
    _running.add(sandbox)


def _url_host(host: str) -> str:
    """The host to put in URLs for a bind address (wildcards -> loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def load_samples() -> Samples:
    """The committed samples, described by ``samples/manifest.json``."""
    from .app import Samples

    manifest: dict[str, dict[str, Any]] = json.loads(
        (SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8")
    )
    return Samples(
        directory=SAMPLES_DIR,
        files={k: str(v["file"]) for k, v in manifest.items()},
        content_types={k: str(v["contentType"]) for k, v in manifest.items()},
        durations={
            k: float(v["durationSeconds"]) for k, v in manifest.items() if "durationSeconds" in v
        },
    )


class Sandbox:
    """A local server that behaves like the Kitta lip-sync API.

    ``accounts`` maps API tokens to starting credits (default: one account
    ``sandbox-token`` with 1,000,000 credits). With a ``db`` file, accounts that
    already exist keep their stored balance. ``pro_tokens`` may use
    ``kitta-lip-sync-pro`` (default: nobody). ``time_scale`` multiplies every
    simulated delay (1.0: ~1 s pending, >= 3 s processing). Use as a context
    manager or call ``start()``/``stop()``.
    """

    def __init__(
        self,
        accounts: Mapping[str, int] | None = None,
        *,
        time_scale: float = 1.0,
        pro_tokens: Iterable[str] | None = None,
        db: str | os.PathLike[str] | None = None,
        faults: FaultConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        reconcile_credits: bool = True,
        log_level: str = "warning",
    ) -> None:
        if not math.isfinite(time_scale) or time_scale < 0:
            raise ValueError("time_scale must be a finite number >= 0")
        self._accounts = dict(accounts) if accounts is not None else None
        for token, credits in (self._accounts or {}).items():
            self._check_account(token, credits)
        self._pro = set(pro_tokens or ())
        self.time_scale = float(time_scale)
        self.db = None if db is None else Path(db)
        self.host = host
        self._requested_port = int(port)
        self.reconcile_credits = reconcile_credits
        self.log_level = log_level
        self._stats = SandboxStats()
        self._injector = FaultInjector(faults)
        self._lock = threading.RLock()
        self._store: Store | None = None
        self._engine: Engine | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._server_error: BaseException | None = None
        self._renders_dir: Path | None = None
        self._temp_renders = False
        self._port: int | None = None
        self._token: str | None = None
        self._sample_files: dict[str, str] = {}

    @staticmethod
    def _check_account(token: str, credits: int) -> None:
        if not isinstance(token, str) or not token or token != token.strip() or " " in token:
            raise ValueError(f"invalid token {token!r}")
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
            raise ValueError(f"credits for {token!r} must be an int >= 0")

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Start serving (no-op when running). Returns ``self``."""
        with self._lock:
            if self._thread is not None:
                return self
            try:
                self._start()
            except BaseException:
                self._teardown()
                raise
            _track(self)
            return self

    def _start(self) -> None:
        try:
            import imageio_ffmpeg  # noqa: F401 - checked here for a clear message
            import uvicorn

            from .app import AppContext, build_app
        except ImportError as exc:
            raise ImportError(
                f"the Kitta sandbox needs FastAPI, uvicorn and imageio-ffmpeg ({exc}); "
                "install them with: pip install 'kitta-notebook[sandbox]'"
            ) from exc
        from .connections import ConnectionRegistry
        from .store import Store
        from .worker import Engine

        store = self._store = Store(self.db)
        for token, credits in (self._accounts or {}).items():
            store.ensure_account(token, credits)
        for token in sorted(self._pro):
            store.ensure_account(token, DEFAULT_CREDITS)
        if not store.tokens():
            store.ensure_account(DEFAULT_TOKEN, DEFAULT_CREDITS)
        ordered = [*(self._accounts or {}), *sorted(self._pro), *store.tokens()]
        self._token = ordered[0]

        if self.db is not None:
            self._renders_dir = self.db.with_name(self.db.name + ".renders")
            self._temp_renders = False
        else:
            self._renders_dir = Path(tempfile.mkdtemp(prefix="kitta-sandbox-renders-"))
            self._temp_renders = True
        samples = load_samples()
        self._sample_files = dict(samples.files)
        engine = self._engine = Engine(
            store,
            self._renders_dir,
            self._injector,
            time_scale=self.time_scale,
            reconcile_credits=self.reconcile_credits,
            stats=self._stats,
        )
        connections = ConnectionRegistry()
        app = build_app(
            AppContext(
                store=store,
                engine=engine,
                samples=samples,
                renders_dir=self._renders_dir,
                stats=self._stats,
                faults=self._injector,
                connections=connections,
                pro_tokens=self._pro,
            )
        )
        sock = self._bind()
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_level=self.log_level,
            log_config=None,
            access_log=False,
            http=connections.protocol_class(),
            lifespan="off",
            timeout_graceful_shutdown=2,
            # Longer than clients keep idle connections, so that a client never sends a
            # request on a connection the server is just closing (a spurious error that
            # a create must not retry). stop() closes idle connections at once anyway.
            timeout_keep_alive=75,
        )
        server = self._server = uvicorn.Server(config)
        engine.start()
        self._server_error = None
        thread = self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name="kitta-sandbox-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the sandbox server did not start: {self._server_error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start in time")
            thread.join(0.005)  # a bounded wait that also returns if the thread dies

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP (not 0) so asyncio sets TCP_NODELAY on accepted connections; without
        # it, headers and body go out in two segments and each response waits ~40 ms.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            if os.name != "nt":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        return sock

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start()
            self._server_error = exc
        finally:
            sock.close()
            loop.close()

    def stop(self) -> None:
        """Stop serving and release everything (no-op when stopped). Fast: in-flight
        renders are killed; with a ``db`` file, unfinished tasks resume on next start."""
        with self._lock:
            self._teardown()

    def _teardown(self) -> None:
        _running.discard(self)
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(10)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(5)
        if self._engine is not None:
            self._engine.stop()
        if self._store is not None:
            self._store.close()
        if self._temp_renders and self._renders_dir is not None:
            shutil.rmtree(self._renders_dir, ignore_errors=True)
        self._server = self._thread = None
        self._engine = None
        self._store = None
        self._renders_dir = None
        self._port = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # addresses ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._port

    @property
    def origin(self) -> str:
        """``http://host:port`` (media URLs live here: /samples, /results)."""
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base, like ``https://kittaaudio.com/api``: routes are ``/v1/...`` below it."""
        return f"{self.origin}/api"

    @property
    def openapi_url(self) -> str:
        return f"{self.base_url}/v1/openapi.json"

    @property
    def samples(self) -> dict[str, str]:
        """Sample media URLs: video, audio, audio_zh, image, reference_image, not_media
        (undecodable, for ``media_invalid``) and missing (a 404, for ``media_unreachable``)."""
        origin = self.origin
        urls = {key: f"{origin}/samples/{file}" for key, file in self._sample_files.items()}
        urls["missing"] = f"{origin}/samples/missing.mp4"
        return urls

    # accounts -------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """The first account's token."""
        if self._token is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._token

    @property
    def tokens(self) -> list[str]:
        """Every account token (oldest first)."""
        return self._running_store().tokens()

    def _running_store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._store

    def balance(self, token: str | None = None) -> int:
        """Current credits of ``token`` (default: ``self.token``)."""
        token = token or self.token
        value = self._running_store().balance(token)
        if value is None:
            raise KeyError(token)
        return value

    def set_balance(self, token: str, credits: int) -> None:
        """Overwrite an account's credits (e.g. to provoke a 402)."""
        self._check_account(token, credits)
        self._running_store().set_balance(token, credits)

    def add_account(self, token: str, credits: int = DEFAULT_CREDITS, *, pro: bool = False) -> None:
        """Create an account at runtime (kept as is if it exists); ``pro`` grants the pro model."""
        self._check_account(token, credits)
        self._running_store().ensure_account(token, credits)
        if pro:
            self._pro.add(token)

    @property
    def pro_tokens(self) -> frozenset[str]:
        return frozenset(self._pro)

    # observability and faults ---------------------------------------------------------

    @property
    def stats(self) -> SandboxStats:
        """Request counters (kept across restarts of this object; ``reset()`` them)."""
        return self._stats

    @property
    def faults(self) -> FaultConfig:
        return self._injector.config

    @faults.setter
    def faults(self, config: FaultConfig | None) -> None:
        """Applies to the next request; ``None`` turns faults off."""
        self._injector.configure(config)

    # clients --------------------------------------------------------------------------

    def client(self, token: str | None = None, **kwargs: Any) -> KittaClient:
        """A ``KittaClient`` for this sandbox (kwargs are forwarded)."""
        from kitta_notebook import KittaClient  # type: ignore[attr-defined]

        return KittaClient(token or self.token, base_url=self.base_url, **kwargs)

    def async_client(self, token: str | None = None, **kwargs: Any) -> AsyncKittaClient:
        """An ``AsyncKittaClient`` for this sandbox (kwargs are forwarded)."""
        from kitta_notebook import AsyncKittaClient  # type: ignore[attr-defined]

        return AsyncKittaClient(token or self.token, base_url=self.base_url, **kwargs)

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<Sandbox {where} time_scale={self.time_scale}>"
