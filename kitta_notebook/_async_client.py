"""The asynchronous twin of `KittaClient`: the same names, awaitable.

Every decision (validation, retries, parsing, when a task is finished) comes
from `_core`; this module only sends with `httpx.AsyncClient` and sleeps
with `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from . import _attempt, _bridge, _core, _responses
from ._async_lip_sync import AsyncLipSync
from ._base import (
    ClientBase,
)
from ._fetch import BodyDecoder, UnreadableBody
from .errors import DownloadError, KittaError
from .models import LipSyncTask
from .server_info import ServerInfo, parse_openapi

if TYPE_CHECKING:
    import os

    from ._client import KittaClient
    from .history import AsyncHistory
    from .history.journal import Journal
    from .media import MediaStore


class AsyncKittaClient(ClientBase):
    """Talks to the Kitta API (or the sandbox) with `await`.

    >>> async with AsyncKittaClient() as client:
    ...     task = await client.lip_sync.create(audio_url=..., video_url=...)
    ...     task = await client.lip_sync.wait(task)
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
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
        self._http = http_client or httpx.AsyncClient(follow_redirects=False)
        self._server_info: ServerInfo | None = None
        self._twin: KittaClient | None = None
        self.lip_sync = AsyncLipSync(self)

    @property
    def history(self) -> AsyncHistory:
        """Every task of this account: the local journal merged with the server's list."""
        from .history import AsyncHistory

        return AsyncHistory(self)

    # --- lifecycle ------------------------------------------------------------
    async def aclose(self) -> None:
        await self._http.aclose()
        self._close_resources()
        if self._twin is not None:
            twin, self._twin = self._twin, None
            twin._twin = None
            twin.close()

    async def __aenter__(self) -> AsyncKittaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _async_client(self) -> AsyncKittaClient:
        return self

    def _sync_client(self) -> KittaClient:
        if self._twin is None:
            from ._client import KittaClient

            self._twin = KittaClient(_config=self._config)
            self._twin._twin = self
        return self._twin

    # --- the request loop ---------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        request = self._config.build_request(self._http, method, path, params=params, body=body)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = await self._receive(request)
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
            await asyncio.sleep(decision.delay)
            attempt += 1

    async def _receive(self, request: httpx.Request) -> httpx.Response:
        """Send once and read the whole answer within the attempt's deadline and size cap."""
        reader = _attempt.BodyReader(self._config, request)

        async def attempt() -> httpx.Response:
            response = await self._http.send(request, stream=True)
            try:
                reader.check_declared(response)
                if response.is_stream_consumed:  # built in memory by a mock transport
                    reader.feed(response, response.content)
                else:
                    decoder = BodyDecoder(response.headers.get("content-encoding", ""))
                    async for raw in response.aiter_raw():
                        for chunk in decoder.pieces(raw):
                            reader.feed(response, chunk)
            except UnreadableBody as exc:
                raise reader.unreadable(exc) from None
            finally:
                await response.aclose()
            return reader.finish(response)

        try:  # the whole attempt, headers included, whatever the byte rate
            return await asyncio.wait_for(attempt(), reader.remaining())
        except asyncio.TimeoutError:
            raise reader.timed_out() from None

    async def server_info(self, *, refresh: bool = False) -> ServerInfo:
        """Model ids (and prices, where the server publishes them) from its OpenAPI schema.

        Cached per client. When the schema cannot be fetched, the documented
        default model is returned and prices are unknown (`problem` says why).
        """
        if self._server_info is None or refresh:
            try:
                response = await self._request("GET", _core.OPENAPI_PATH)
                document = _responses._json_or_none(response)
            except KittaError as exc:
                self._server_info = ServerInfo(problem=type(exc).__name__)
            else:
                self._server_info = parse_openapi(document, self.base_url)
        return self._server_info

    async def usage(self) -> dict[str, Any]:
        """`GET /v1/usage` as received; the reference does not document its shape."""
        return _responses.json_body(await self._request("GET", _core.USAGE_PATH))

    # --- result videos ------------------------------------------------------------
    async def fetch_bytes(self, url: str, *, max_bytes: int, timeout: float = 60.0) -> bytes | None:
        """Media bytes, fetched without the token within `timeout` seconds in all;
        None when larger than `max_bytes`. Other failures raise `DownloadError`."""
        from ._fetch import FetchLimits, fetch

        try:
            limits = FetchLimits(timeout, max_bytes)
            fetched = await _bridge.run_sync(fetch, url, limits, expect="any")
        except DownloadError as error:
            if error.reason == "too_large":
                return None
            raise
        return fetched.data

    async def download(
        self,
        task: LipSyncTask | str,
        path: str | Path | None = None,
        *,
        overwrite: bool | None = None,
        timeout: float | None = None,
    ) -> Path:
        """Save a task's result video; see `KittaClient.download`."""
        sync = self.as_sync()
        return await _bridge.run_sync(
            sync.download, task, path, overwrite=overwrite, timeout=timeout
        )
