"""The clients: `KittaClient`, the one engine, and `AsyncKittaClient`, its awaitable face.

`KittaClient` holds every rule (the request loop, retries, the journal); it
needs no event loop, so it works the same in a script, a notebook cell and a
kernel where `nest_asyncio.apply()` was called. `AsyncKittaClient` holds no
logic: each method awaits the sync client's on a worker thread (`_bridge`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from . import _attempt, _bridge, _core, _responses
from ._core import MAX_KEY_LENGTH, ClientConfig, Secret
from ._fetch import UnreadableBody, decoded_pieces
from ._lip_sync import AsyncLipSync, LipSync
from ._written import result_file_name
from .errors import DownloadError, KittaError, ValidationError
from .models import LipSyncTask
from .server_info import ServerInfo, parse_openapi

if TYPE_CHECKING:
    from .history import AsyncHistory, History
    from .history.keys import KeyClaim
    from .history.recorder import JournalRecorder
    from .history.store import JournalStore as Journal
    from .media import MediaStore


class _ClientFacts:
    """What both clients take (one constructor: the same options, made into one
    configuration) and read from that configuration (`_config`)."""

    _config: ClientConfig

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
        journal: Journal | bool | str | None = None,
        keep_results: bool | str | os.PathLike[str] | None = None,
        media_store: MediaStore | None = None,
        _config: ClientConfig | None = None,
    ) -> None:
        config = _config or ClientConfig.create(token, base_url, timeout, max_retries)
        if keep_results is not None:  # else KITTA_KEEP_RESULTS (on for the embedded sandbox)
            config.keep_results = keep_results
        if media_store is not None:  # else the sandbox's own store, or KITTA_MEDIA_STORE
            config.media_store = media_store
        # The journal is on by default (`journal=False` turns it off); the choice lives on
        # the configuration, which live views share. Its file opens at the first create or get.
        if journal is not None:
            config.journal = journal
        self._start(config, http_client)

    def _start(self, config: ClientConfig, http_client: httpx.Client | None) -> None:
        """Build the client over its configuration (each client its own way)."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def is_official(self) -> bool:
        """True when this client talks to the real service (media must be public URLs)."""
        return self._config.is_official

    @property
    def has_token(self) -> bool:
        return self._config.token is not None

    @property
    def media_store(self) -> MediaStore | None:
        """The store local media files are published to, as given with `media_store=`;
        None: the sandbox's own store for a sandbox, else the one KITTA_MEDIA_STORE names."""
        store: MediaStore | None = self._config.media_store
        return store

    def result_file_name(self, task: LipSyncTask) -> str:
        """The name `download()` gives a task's result when no path is given: the task id
        made safe for any file system, with the result URL's extension (default `.mp4`)."""
        return result_file_name(task.task_id, task.result_video_url or "")

    def set_token(self, token: str) -> None:
        """Replace the API token (for example after a password prompt); never echoed."""
        clean = token.strip() if isinstance(token, str) else ""
        if not clean:
            raise ValueError("the API token is empty")
        self._config.token = Secret(clean)
        self._config.token_source = "entered"


class KittaClient(_ClientFacts):
    """Talks to the Kitta API (or the sandbox) synchronously.

    >>> client = KittaClient()                  # token from KITTA_API_TOKEN
    >>> task = client.lip_sync.create(audio_url=..., video_url=...)
    >>> task.wait().download("result.mp4")

    `journal`: True (the default) records every task in this machine's journal under
    KITTA_HOME, or in the team database KITTA_JOURNAL_URL names; a `postgresql://` URL
    records in that database; False records nothing; a `JournalStore` is used as is.
    """

    def _start(self, config: ClientConfig, http_client: httpx.Client | None) -> None:
        self._config = config
        from .history.recorder import JournalRecorder  # the journal opens on first use

        self.recorder: JournalRecorder = JournalRecorder(self._config)
        if http_client is None:
            self._http, self._pool_keeps_deadline = _attempt.deadline_client()
        elif not isinstance(http_client, httpx.Client):  # e.g. an httpx.AsyncClient
            raise ValidationError(
                [("http_client", "must be an httpx.Client (the async client runs it on a thread)")]
            )
        else:
            self._http, self._pool_keeps_deadline = http_client, False
        self._server_info: ServerInfo | None = None
        self._async: AsyncKittaClient | None = None
        self.lip_sync = LipSync(self)

    def __repr__(self) -> str:
        config = getattr(self, "_config", None)  # a half-built client must still repr
        if config is None:
            return f"{type(self).__name__}(<not configured>)"
        token = "set" if config.token is not None else "missing"
        return f"{type(self).__name__}(base_url={config.base_url!r}, token={token})"

    @property
    def journal(self) -> Journal | None:
        """The local journal this client records its tasks in (None when turned off)."""
        return self.recorder.journal()

    @property
    def history(self) -> History:
        """Every task of this account: the local journal merged with the server's list."""
        from .history import History

        return History(self)

    # --- lifecycle ------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP pool and what the configuration opened on first use (the
        prober's and the media store's connections, the journal's database; each
        reopens if used again), so nothing is left to warn about at exit."""
        self._http.close()
        for resource in (self._config.prober, self._config.media_store):
            close = getattr(resource, "close", None)
            if callable(close):
                close()
        self.recorder.close()

    def __enter__(self) -> KittaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def as_sync(self) -> KittaClient:
        """This client (for code that accepts either flavour)."""
        return self

    def as_async(self) -> AsyncKittaClient:
        """The asynchronous client over this one: the same settings, token, journal and pool."""
        if self._async is None:  # this client attached, not a second one built
            self._async = AsyncKittaClient.__new__(AsyncKittaClient)
            self._async._attach(self)
        return self._async

    def without_token(self) -> KittaClient:
        """A new client with this one's settings (API origin, timeouts, journal and media
        choices) but no token, for someone who must give their own (`set_token`): a panel
        served to visitors never spends the operator's token. Nothing is shared but the
        settings: its own connection pool and media prober."""
        config = dataclasses.replace(self._config, token=None, prober=None, _header_cache={})
        return KittaClient(_config=config)

    # --- the request loop ---------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        request = self._config.build_request(self._http, method, path, params=params, body=body)
        gate = _core.REQUEST_GATE.get()  # set by a batch's worker
        attempt = 0
        while True:
            if gate is not None:
                gate.before_send(request)  # a batch paused by a 429 waits here
            started = time.monotonic()
            try:
                response = self._receive(request)
            except httpx.TransportError as exc:
                decision = _core.decide_after_exception(self._config, request, exc, attempt)
                if not decision.retry:
                    raise _core.transport_error(request, exc) from exc
            else:
                _core.log_response(request, response, started)
                if gate is not None:
                    gate.after_response(response)  # a 429 pauses the whole batch
                if response.is_success:
                    return response
                decision = _core.decide_after_response(self._config, request, response, attempt)
                if not decision.retry:
                    raise _responses.api_error(response, self._config.token_source)
            _bridge.pause(decision.delay)
            attempt += 1

    def _receive(self, request: httpx.Request) -> httpx.Response:
        """Send once and read the whole answer within the attempt's deadline and size cap."""
        reader = _attempt.BodyReader(self._config, request)

        def attempt() -> httpx.Response:
            response = self._http.send(request, stream=True)
            try:
                reader.check_declared(response)
                for chunk in decoded_pieces(response):
                    reader.feed(response, chunk)
            except UnreadableBody as exc:
                raise reader.unreadable(exc) from None
            finally:
                response.close()
            return reader.finish(response)

        if not self._pool_keeps_deadline:
            return _attempt.within_deadline(reader, attempt)
        with _attempt.attempt_deadline(reader):
            return attempt()

    # --- the journal around a create ---------------------------------------------
    def _claim_key(self, key: str | None, planned: Mapping[str, Any]) -> KeyClaim | None:
        """Reserve `key` for this create before anything is published, probed or sent.

        `planned` are the create's arguments with local files read. Returns None
        without a key; else the task made earlier under it from the same inputs,
        or a claim to send with (give it back with `_release_keys`). Raises
        `KeyReusedError` for other inputs, `KeyInUseError` while a create under
        the key runs, and `UnresolvedCreateError` while an earlier one may or
        may not have reached the server, so it is never paid twice.
        """
        if key is None:
            return None
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
            limit = f"The key must be a non-empty text of at most {MAX_KEY_LENGTH} characters."
            raise ValidationError([("key", limit)])
        from .history.entry import text_problem

        if (problem := text_problem(key)) is not None:
            raise ValidationError([("key", f"The key {problem}.")])
        if self.journal is None:
            raise ValidationError(
                [("key", "A key needs the local journal, which this client has turned off.")]
            )
        from .history.keys import request_inputs

        return self.recorder.claim_key(key, request_inputs(planned))

    def _release_keys(self, claims: Iterable[KeyClaim | None]) -> None:
        """Give back the keys of creates that were sent, or will not be. A claim the
        journal could not take back (it was unreachable) may then be taken over."""
        from .history.keys import HELD_KEYS

        held = [claim for claim in claims if claim is not None and claim.token is not None]
        HELD_KEYS.difference_update(claim.key for claim in held)
        if held:
            self.recorder.release_keys(held)

    def _record_outcome(self, handle: object, error: BaseException) -> None:
        """Record whether a failed create may still have made a task (`nothing_created`)."""
        if _responses.nothing_created(error):
            self.recorder.rejected(handle, error)
        else:
            self.recorder.outcome_unknown(handle, error)

    # --- server facts ---------------------------------------------------------------
    def server_info(self, *, refresh: bool = False) -> ServerInfo:
        """Model ids (and prices, where the server publishes them) from its OpenAPI schema.

        Cached per client. When the schema cannot be fetched, the documented
        default model is returned and prices are unknown (`problem` says why).
        """
        if self._server_info is None or refresh:
            try:
                response = self._request("GET", _core.OPENAPI_PATH)
                document = _responses._json_or_none(response)
            except KittaError as exc:
                self._server_info = ServerInfo(problem=type(exc).__name__)
            else:
                self._server_info = parse_openapi(document)
        return self._server_info

    def usage(self) -> dict[str, Any]:
        """`GET /v1/usage` as received; the reference does not document its shape."""
        return _responses.json_body(self._request("GET", _core.USAGE_PATH))

    # --- result videos ------------------------------------------------------------
    def fetch_bytes(self, url: str, *, max_bytes: int, timeout: float = 60.0) -> bytes | None:
        """Media bytes, fetched without the token within `timeout` seconds in all;
        None when larger than `max_bytes`. Other failures raise `DownloadError`."""
        from ._fetch import FetchLimits, fetch

        try:
            fetched = fetch(url, FetchLimits(timeout, max_bytes), expect="any")
        except DownloadError as error:
            if error.reason == "too_large":
                return None
            raise
        return fetched.data

    def download(
        self,
        task: LipSyncTask | str,
        path: str | Path | None = None,
        *,
        overwrite: bool | None = None,
        timeout: float | None = None,
    ) -> Path:
        """Save a task's result video; returns the path written.

        `path` may be a file or a folder (default: `<task_id>.mp4` here). An
        existing file is replaced only when kitta-notebook wrote it and it is
        unchanged, so a re-run cell works and a file of yours is never lost
        (`overwrite=True` replaces any file, `overwrite=False` none). `timeout`
        is the total time allowed (default 600 s,
        `kitta_notebook._kept.DEFAULT_DOWNLOAD_TIMEOUT`). What arrives must
        be a video of the announced length, else `DownloadError` and no file
        is left. When the result host refuses an old link, the task is
        fetched once more for a fresh URL.
        """
        from ._kept import download

        return download(self, task, path, overwrite=overwrite, timeout=timeout)


class AsyncKittaClient(_ClientFacts):
    """`KittaClient` with `await`: the same methods, each run on a worker thread.

    >>> async with AsyncKittaClient() as client:
    ...     task = await client.lip_sync.create(audio_url=..., video_url=...)
    ...     task = await client.lip_sync.wait(task)

    `http_client` is an `httpx.Client` (the engine is synchronous); `journal` is chosen as
    for `KittaClient` (True, False, a `postgresql://` URL or a `JournalStore`).
    """

    def _start(self, config: ClientConfig, http_client: httpx.Client | None) -> None:
        self._attach(KittaClient(http_client=http_client, _config=config))

    def _attach(self, client: KittaClient) -> None:
        self._sync = client
        self._sync._async = self
        self.lip_sync = AsyncLipSync(self._sync.lip_sync)

    @property
    def _config(self) -> ClientConfig:  # type: ignore[override]
        return self._sync._config

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    @property
    def journal(self) -> Journal | None:
        """The local journal this client records its tasks in (None when turned off)."""
        return self._sync.journal

    @property
    def history(self) -> AsyncHistory:
        """Every task of this account: the local journal merged with the server's list."""
        from .history import AsyncHistory

        return AsyncHistory(self)

    aclose = _bridge.awaitable(KittaClient.close)

    async def __aenter__(self) -> AsyncKittaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def as_sync(self) -> KittaClient:
        """The synchronous client this one runs on."""
        return self._sync

    def as_async(self) -> AsyncKittaClient:
        """This client (for code that accepts either flavour)."""
        return self

    def without_token(self) -> AsyncKittaClient:
        """`KittaClient.without_token()`, as an async client."""
        return self._sync.without_token().as_async()

    server_info = _bridge.awaitable(KittaClient.server_info)
    usage = _bridge.awaitable(KittaClient.usage)
    fetch_bytes = _bridge.awaitable(KittaClient.fetch_bytes)
    download = _bridge.awaitable(KittaClient.download)
