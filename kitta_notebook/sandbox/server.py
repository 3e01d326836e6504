"""``Sandbox``: the local Kitta API server's lifecycle, accounts and knobs.

It wires the store, the worker engine and the app together and serves them
from a background thread (``serving``). FastAPI and uvicorn are imported only
when a sandbox starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .clock import SandboxClock
from .faults import FaultConfig, FaultInjector
from .samples import SAMPLES_DIR, load_samples
from .serving import ServerThread, bind, stop_at_exit, url_host
from .settings import (
    MAX_UPLOAD_BYTES,
    SandboxConfigError,
    check_clock_offset,
    check_time_scale,
    clock_offset_from_env,
    time_scale_from_env,
)
from .stats import SandboxStats

if TYPE_CHECKING:
    from kitta_notebook import AsyncKittaClient, KittaClient  # type: ignore[attr-defined]

    from .store import Store
    from .worker import Engine

__all__ = ["DEFAULT_CREDITS", "DEFAULT_TOKEN", "SAMPLES_DIR", "Sandbox", "load_samples"]

DEFAULT_TOKEN = "sandbox-token"
"""The account created when ``Sandbox()`` is given no accounts (and its database has none)."""
DEFAULT_CREDITS = 1_000_000
"""Credits of the default account, and of a ``pro_tokens`` entry missing from ``accounts``."""


class Sandbox:
    """A local server that behaves like the Kitta lip-sync API.

    ``accounts`` maps API tokens to starting credits (default: one account
    ``sandbox-token`` with 1,000,000 credits). With a ``db`` file or a
    ``data_dir``, accounts that already exist keep their stored balance, and
    several sandboxes (processes) may share it. ``pro_tokens`` may use
    ``kitta-lip-sync-pro`` (default: nobody). ``time_scale`` multiplies every
    simulated delay (1.0: ~1 s pending, >= 3 s processing; default
    ``KITTA_SANDBOX_TIME_SCALE`` or 1.0). ``clock_offset`` seconds are added to
    every time the sandbox reports (default ``KITTA_SANDBOX_CLOCK_OFFSET`` or 0),
    to play a server whose clock is behind (< 0) or ahead. With
    ``publish_prices=False`` its OpenAPI document gives no price, like the real
    service: a client then learns prices from charges. Use as a context manager or
    call ``start()``/``stop()``.
    """

    def __init__(
        self,
        accounts: Mapping[str, int] | None = None,
        *,
        time_scale: float | None = None,
        pro_tokens: Iterable[str] | None = None,
        db: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        faults: FaultConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        reconcile_credits: bool = True,
        log_level: str = "warning",
        clock_offset: float | None = None,
        lease_seconds: float | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        publish_prices: bool = True,
    ) -> None:
        self.time_scale = (
            time_scale_from_env() if time_scale is None else check_time_scale(time_scale)
        )
        self.clock_offset = (
            clock_offset_from_env() if clock_offset is None else check_clock_offset(clock_offset)
        )
        if db is not None and data_dir is not None:
            raise SandboxConfigError("give either db (a SQLite file) or data_dir, not both.")
        self.data_dir = None if data_dir is None else Path(data_dir)
        if self.data_dir is not None:
            db = self.data_dir / "sandbox.db"
        self._lease_seconds = lease_seconds
        self.max_upload_bytes = int(max_upload_bytes)
        self._accounts = dict(accounts) if accounts is not None else None
        for token, credits in (self._accounts or {}).items():
            self._check_account(token, credits)
        self._pro = set(pro_tokens or ())
        self.db = None if db is None else Path(db)
        self.host = host
        self._requested_port = int(port)
        self.reconcile_credits = reconcile_credits
        self.publish_prices = bool(publish_prices)
        self.log_level = log_level
        self._stats = SandboxStats()
        self._injector = FaultInjector(faults)
        self._lock = threading.RLock()
        self._store: Store | None = None
        self._engine: Engine | None = None
        self._server: ServerThread | None = None
        self._renders_dir: Path | None = None
        self._temp_dir: Path | None = None
        self._port: int | None = None
        self._token: str | None = None
        self._sample_files: dict[str, str] = {}

    @staticmethod
    def _check_account(token: str, credits: int) -> None:
        if not isinstance(token, str) or not token or token != token.strip() or " " in token:
            raise SandboxConfigError(f"invalid token {token!r}")
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
            raise SandboxConfigError(f"credits for {token!r} must be an int >= 0")

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Start serving (no-op when running). Returns ``self``."""
        with self._lock:
            if self._server is not None:
                return self
            try:
                self._start()
            except BaseException:
                self._teardown()
                raise
            stop_at_exit(self)
            return self

    def _start(self) -> None:
        try:
            import imageio_ffmpeg  # noqa: F401 - checked here for a clear message
            import uvicorn  # noqa: F401

            from .app import AppContext, build_app
        except ImportError as exc:
            raise ImportError(
                f"the Kitta sandbox needs FastAPI, uvicorn and imageio-ffmpeg ({exc}); "
                "install them with: pip install 'kitta-notebook[sandbox]'"
            ) from exc
        from .connections import ConnectionRegistry
        from .local_media import LocalMedia
        from .media import Fetcher
        from .store import Store
        from .uploads import UploadStore
        from .worker import LEASE_SECONDS, Engine

        renders_dir, media_dir = self._folders()
        store = self._store = Store(self.db)
        for token, credits in (self._accounts or {}).items():
            store.ensure_account(token, credits)
        for token in sorted(self._pro):
            store.ensure_account(token, DEFAULT_CREDITS)
        if not store.tokens():
            store.ensure_account(DEFAULT_TOKEN, DEFAULT_CREDITS)
        ordered = [*(self._accounts or {}), *sorted(self._pro), *store.tokens()]
        self._token = ordered[0]

        samples = load_samples()
        self._sample_files = dict(samples.files)
        uploads = UploadStore(media_dir, store, self.max_upload_bytes)
        local = LocalMedia(samples, store, renders_dir, uploads, self._injector)
        engine = self._engine = Engine(
            store,
            renders_dir,
            self._injector,
            time_scale=self.time_scale,
            reconcile_credits=self.reconcile_credits,
            stats=self._stats,
            lease_seconds=self._lease_seconds or LEASE_SECONDS,
            fetcher=Fetcher(local=local, own=local.own),
        )
        clock = SandboxClock(self.clock_offset)
        connections = ConnectionRegistry()
        app = build_app(
            AppContext(
                store=store,
                engine=engine,
                samples=samples,
                renders_dir=renders_dir,
                stats=self._stats,
                faults=self._injector,
                connections=connections,
                uploads=uploads,
                clock=clock,
                pro_tokens=self._pro,
                publish_prices=self.publish_prices,
            )
        )
        sock = bind(self.host, self._requested_port)
        self._port = local.port = int(sock.getsockname()[1])
        server = self._server = ServerThread(
            app, sock, http=connections.protocol_class(), log_level=self.log_level
        )
        server.start(before=engine.start)

    def _folders(self) -> tuple[Path, Path]:
        """Where renders and uploaded media live: next to a database file, else in a
        temporary folder removed by ``stop()``."""
        if self.db is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="kitta-sandbox-"))
            renders, media = self._temp_dir / "renders", self._temp_dir / "media"
        elif self.data_dir is not None:
            renders, media = self.data_dir / "renders", self.data_dir / "media"
        else:
            renders = self.db.with_name(self.db.name + ".renders")
            media = self.db.with_name(self.db.name + ".media")
        if self.db is not None:
            self.db.parent.mkdir(parents=True, exist_ok=True)
        renders.mkdir(parents=True, exist_ok=True)
        media.mkdir(parents=True, exist_ok=True)
        self._renders_dir = renders
        return renders, media

    def stop(self) -> None:
        """Stop serving and release everything (no-op when stopped). Fast: in-flight
        renders are killed; with a ``db`` file, unfinished tasks resume on next start."""
        with self._lock:
            self._teardown()

    def _teardown(self) -> None:
        stop_at_exit(self, forget=True)
        if self._server is not None:
            self._server.stop()
        if self._engine is not None:
            self._engine.stop()
        if self._store is not None:
            self._store.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
        self._server = None
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
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._port

    @property
    def origin(self) -> str:
        """``http://host:port`` (media URLs live here: /samples, /results, /_sandbox/media)."""
        return f"http://{url_host(self.host)}:{self.port}"

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

    @property
    def media_store_url(self) -> str:
        """Base of the sandbox-only media store: ``PUT``/``HEAD``/``GET`` ``<this>/<key>``."""
        return f"{self.origin}/_sandbox/media"

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<Sandbox {where} time_scale={self.time_scale}>"
