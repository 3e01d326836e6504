"""The asynchronous twin of `KittaClient`: the same names, awaitable.

Every decision (validation, retries, parsing, when a task is finished) comes
from `_core`; this module only sends with `httpx.AsyncClient` and sleeps
with `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from . import _core
from ._base import (
    ClientBase,
    download_target,
    media_client_options,
    refreshable_download_status,
)
from .errors import KittaError, TaskFailedError, WaitTimeoutError
from .models import LipSyncTask, Page, PollCallback, TaskStatus
from .server_info import ServerInfo, parse_openapi
from .validation import DEFAULT_MODEL, CreateRequest, task_path, validate_list_params

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._client import KittaClient
    from .batch import AsyncTaskWatch, BatchResult, ProgressMode, TaskList
    from .history import AsyncHistory
    from .journal import Journal


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
        _config: _core.ClientConfig | None = None,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            journal=journal,
            _config=_config,
        )
        self._http = http_client or httpx.AsyncClient(follow_redirects=False)
        self._server_info: ServerInfo | None = None
        self._media_http: httpx.AsyncClient | None = None
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
        if self._media_http is not None:
            await self._media_http.aclose()
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
                    raise _core.api_error(response)
            await asyncio.sleep(decision.delay)
            attempt += 1

    async def _receive(self, request: httpx.Request) -> httpx.Response:
        """Send once and read the whole answer within the attempt's deadline and size cap."""
        reader = _core.BodyReader(self._config, request)
        response = await self._http.send(request, stream=True)
        try:
            reader.check_declared(response)
            async for chunk in response.aiter_bytes():
                reader.feed(response, chunk)
        finally:
            await response.aclose()
        return reader.finish(response)

    async def server_info(self, *, refresh: bool = False) -> ServerInfo:
        """Model ids (and prices, where the server publishes them) from its OpenAPI schema.

        Cached per client. When the schema cannot be fetched, the documented
        default model is returned and prices are unknown (`problem` says why).
        """
        if self._server_info is None or refresh:
            try:
                response = await self._request("GET", _core.OPENAPI_PATH)
                document = _core._json_or_none(response)
            except KittaError as exc:
                self._server_info = ServerInfo(problem=type(exc).__name__)
            else:
                self._server_info = parse_openapi(document, self.base_url)
        return self._server_info

    async def usage(self) -> dict[str, Any]:
        """`GET /v1/usage` as received; the reference does not document its shape."""
        return _core.json_body(await self._request("GET", _core.USAGE_PATH))

    # --- result videos ------------------------------------------------------------
    def _media(self) -> httpx.AsyncClient:
        if self._media_http is None:
            self._media_http = httpx.AsyncClient(**media_client_options())
        return self._media_http

    async def fetch_bytes(self, url: str, *, max_bytes: int) -> bytes | None:
        """Media bytes without the token; None when larger than `max_bytes`."""
        async with self._media().stream("GET", url) as response:
            response.raise_for_status()
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                return None
            chunks = bytearray()
            async for chunk in response.aiter_bytes():
                chunks.extend(chunk)
                if len(chunks) > max_bytes:
                    return None
            return bytes(chunks)

    async def download(
        self, task: LipSyncTask | str, path: str | Path | None = None, *, overwrite: bool = True
    ) -> Path:
        """Save a task's result video; see `KittaClient.download`."""
        snapshot = task if isinstance(task, LipSyncTask) else await self.lip_sync.get(task)
        for attempt in range(2):
            url, target = download_target(snapshot, path)
            if target.exists() and not overwrite:
                raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
            partial = target.with_name(target.name + ".part")
            async with self._media().stream("GET", url) as response:
                if attempt == 0 and refreshable_download_status(response.status_code):
                    snapshot = await self.lip_sync.get(snapshot.task_id)
                    continue
                _core.raise_for_download(response)
                with partial.open("wb") as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)
            os.replace(partial, target)
            self._record_download(snapshot, target)
            if isinstance(task, LipSyncTask) and snapshot is not task:
                task._update_from(snapshot)
            return target
        raise RuntimeError("unreachable")


class AsyncLipSync:
    """`client.lip_sync` for `AsyncKittaClient`."""

    def __init__(self, client: AsyncKittaClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        audio_url: str,
        video_url: str | None = None,
        image_url: str | None = None,
        reference_image_url: str | None = None,
        model: str = DEFAULT_MODEL,
        input_mode: str | None = None,
        duration_seconds: float | None = None,
    ) -> LipSyncTask:
        """Create a task (spends credits); see `LipSync.create`."""
        request = self._client._prepare_create(
            audio_url=audio_url,
            video_url=video_url,
            image_url=image_url,
            reference_image_url=reference_image_url,
            model=model,
            input_mode=input_mode,
            duration_seconds=duration_seconds,
        )
        return await self._create_checked(request)

    async def _create_checked(self, request: CreateRequest, key: str | None = None) -> LipSyncTask:
        """Send a create that already passed validation, recording it before and after."""
        client = self._client
        handle = client.recorder.before_create(client._config.origin, request.body, key)
        try:
            response = await client._request("POST", _core.TASKS_PATH, body=request.body)
        except BaseException as error:
            client._record_outcome(handle, error)
            raise
        try:
            task = _core.parse_task(response, client)
        except BaseException as error:
            client.recorder.outcome_unknown(handle, error)
            raise
        client.recorder.created(handle, task)
        return task

    async def get(self, task_or_id: LipSyncTask | str) -> LipSyncTask:
        path = task_path(_core.task_id_of(task_or_id))
        task = _core.parse_task(await self._client._request("GET", path), self._client)
        self._client.recorder.seen(task)
        return task

    async def list(
        self, *, limit: int = 20, offset: int = 0, status: TaskStatus | str | None = None
    ) -> Page:
        params = validate_list_params(limit, offset, status)
        response = await self._client._request("GET", _core.TASKS_PATH, params=params)
        return _core.parse_page(response, self._client, limit, offset)

    async def iter(
        self, *, status: TaskStatus | str | None = None, page_size: int = 100
    ) -> AsyncIterator[LipSyncTask]:
        """Every task, page by page; use with `async for`."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = await self.list(limit=page_size, offset=offset, status=status)
            fresh = [task for task in page.data if task.task_id not in seen]
            for task in fresh:
                seen.add(task.task_id)
                yield task
            next_offset = page.next_offset
            if next_offset is None or not fresh:  # a page of repeats: the server is looping
                return
            offset = next_offset

    async def wait(
        self,
        task_or_id: LipSyncTask | str,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        raise_on_failure: bool = True,
        on_poll: PollCallback | None = None,
    ) -> LipSyncTask:
        """Poll until the task finishes; see `LipSync.wait`."""
        plan = _core.WaitPlan(
            self._client._config,
            _core.DEFAULT_WAIT_TIMEOUT if timeout is None else timeout,
            poll_interval,
        )
        task = task_or_id if isinstance(task_or_id, LipSyncTask) else await self.get(task_or_id)
        while not task.is_terminal:
            pause = plan.next_sleep()
            if pause is None:
                raise WaitTimeoutError(task, plan.timeout)
            await asyncio.sleep(pause)
            try:
                task._update_from(await self.get(task.task_id))
            except Exception as exc:
                if not _core.is_transient(exc):
                    raise
                if on_poll is not None:
                    on_poll(task, exc)
            else:
                if on_poll is not None:
                    on_poll(task, None)
        if task._client is None:
            task._client = self._client
        if raise_on_failure and task.failed:
            raise TaskFailedError(task)
        return task

    async def watch(self, task_or_id: LipSyncTask | str, **kwargs: Any) -> Any:
        task = task_or_id if isinstance(task_or_id, LipSyncTask) else await self.get(task_or_id)
        return task.watch(**kwargs)

    # --- many tasks at once (logic in kitta_notebook.batch) ------------------------------
    async def create_many(
        self,
        requests: Iterable[object],
        *,
        concurrency: int = 8,
        progress: ProgressMode = "auto",
    ) -> BatchResult:
        """Create many tasks, `concurrency` at a time; see `LipSync.create_many`."""
        from .batch import acreate_many

        return await acreate_many(self, requests, concurrency=concurrency, progress=progress)

    def watch_many(
        self,
        tasks: Iterable[object],
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        progress: ProgressMode = "auto",
    ) -> AsyncTaskWatch:
        """`async for task in ...watch_many(tasks)`: each task as it finishes.

        See `LipSync.watch_many`.
        """
        from .batch import awatch_many

        return awatch_many(
            self, tasks, timeout=timeout, poll_interval=poll_interval, progress=progress
        )

    async def wait_many(
        self,
        tasks: Iterable[object],
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        progress: ProgressMode = "auto",
    ) -> TaskList:
        """Wait until every task finishes; see `LipSync.wait_many`."""
        from .batch import await_many

        return await await_many(
            self, tasks, timeout=timeout, poll_interval=poll_interval, progress=progress
        )
