"""The synchronous client: `KittaClient`.

It needs no event loop, so it works the same in a script, a notebook cell
and a kernel where `nest_asyncio.apply()` was called.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from . import _attempt, _core, _responses
from ._base import (
    ClientBase,
)
from ._fetch import UnreadableBody, decoded_pieces
from ._lip_sync import LipSync
from .errors import DownloadError, KittaError
from .models import LipSyncTask
from .server_info import ServerInfo, parse_openapi

if TYPE_CHECKING:
    import os

    from ._async_client import AsyncKittaClient
    from .history import History
    from .history.journal import Journal
    from .media import MediaStore


class KittaClient(ClientBase):
    """Talks to the Kitta API (or the sandbox) synchronously.

    >>> client = KittaClient()                  # token from KITTA_API_TOKEN
    >>> task = client.lip_sync.create(audio_url=..., video_url=...)
    >>> task.wait().download("result.mp4")
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
        journal: Journal | bool | None = None,
        keep_results: bool | str | os.PathLike[str] | None = None,
        media_store: MediaStore | None = None,
        _config: _core.ClientConfig | None = None,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            journal=journal,
            keep_results=keep_results,
            media_store=media_store,
            _config=_config,
        )
        self._http = http_client or httpx.Client(follow_redirects=False)
        self._server_info: ServerInfo | None = None
        self._twin: AsyncKittaClient | None = None
        self.lip_sync = LipSync(self)

    @property
    def history(self) -> History:
        """Every task of this account: the local journal merged with the server's list."""
        from .history import History

        return History(self)

    # --- lifecycle ------------------------------------------------------------
    def close(self) -> None:
        self._http.close()
        self._close_resources()
        if self._twin is not None:
            _close_async_twin(self._twin)
            self._twin = None

    def __enter__(self) -> KittaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _sync_client(self) -> KittaClient:
        return self

    def _async_client(self) -> AsyncKittaClient:
        if self._twin is None:
            from ._async_client import AsyncKittaClient

            self._twin = AsyncKittaClient(_config=self._config)
            self._twin._twin = self
        return self._twin

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
        attempt = 0
        gate = _core.REQUEST_GATE.get()
        while True:
            if gate is not None:
                gate.before_send(request)  # a batch paused by a 429 waits here
            started = time.monotonic()
            try:
                response = self._receive(request)
                if gate is not None:
                    gate.after_response(response)
            except httpx.TransportError as exc:
                decision = _core.decide_after_exception(self._config, request, exc, attempt)
                if not decision.retry:
                    raise _core.transport_error(request, exc) from exc
            else:
                _core.log_response(request, response, started)
                if response.is_success:
                    return response
                decision = _core.decide_after_response(self._config, request, response, attempt)
                if not decision.retry:
                    raise _responses.api_error(response, self._config.token_source)
            time.sleep(decision.delay)
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

        return _attempt.within_deadline(reader, attempt)

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
                self._server_info = parse_openapi(document, self.base_url)
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


def _close_async_twin(twin: AsyncKittaClient) -> None:
    """Close an async client from sync code, with or without a running loop."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    twin._twin = None
    if loop is not None:
        task = loop.create_task(twin.aclose())
        _PENDING_CLOSES.add(task)
        task.add_done_callback(_PENDING_CLOSES.discard)
    else:
        asyncio.run(twin.aclose())


_PENDING_CLOSES: set[Any] = set()
