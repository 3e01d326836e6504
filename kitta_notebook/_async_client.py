"""The asynchronous twin of `KittaClient`: the same names, awaitable.

Every decision (validation, retries, parsing, when a task is finished) comes
from `_core`; this module only sends with `httpx.AsyncClient` and sleeps
with `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from . import _core, _responses
from ._base import (
    ClientBase,
)
from ._kept import keep_finished_async
from .errors import DownloadError, KittaError, TaskFailedError, WaitTimeoutError
from .models import LipSyncTask, MediaInput, Page, PollCallback, TaskStatus
from .server_info import ServerInfo, parse_openapi
from .validation import DEFAULT_MODEL, CreateRequest, task_path, validate_list_params

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from ._client import KittaClient
    from .batch import AsyncBatchWatch, BatchResult, ProgressMode, TaskList
    from .display.live import LiveTaskView
    from .history import AsyncHistory
    from .history.journal import Journal
    from .media import MediaStore, Preflight


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
                    raise _responses.api_error(response)
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
        from ._fetch import FetchLimits, fetch_async

        try:
            fetched = await fetch_async(url, FetchLimits(timeout, max_bytes), expect="any")
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
        overwrite: bool = True,
        timeout: float | None = None,
    ) -> Path:
        """Save a task's result video; see `KittaClient.download`."""
        from ._download import download_async

        return await download_async(self, task, path, overwrite=overwrite, timeout=timeout)


class AsyncLipSync:
    """`client.lip_sync` for `AsyncKittaClient`."""

    def __init__(self, client: AsyncKittaClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        audio_url: MediaInput,
        video_url: MediaInput | None = None,
        image_url: MediaInput | None = None,
        reference_image_url: MediaInput | None = None,
        model: str = DEFAULT_MODEL,
        input_mode: str | None = None,
        duration_seconds: float | None = None,
        key: str | None = None,
        preflight: bool = True,
    ) -> LipSyncTask:
        """Create a task (spends credits); see `LipSync.create`."""
        existing = self._client._task_id_for_key(key)
        if existing is not None:
            return await self.get(existing)
        fields = dict(
            audio_url=audio_url,
            video_url=video_url,
            image_url=image_url,
            reference_image_url=reference_image_url,
            model=model,
            input_mode=input_mode,
            duration_seconds=duration_seconds,
        )
        config = self._client._config
        from . import _inputs  # media probing loads on the first create

        planned = await asyncio.to_thread(_inputs.plan, config, fields)  # reads and hashes files
        info = self._client._server_info or ServerInfo()
        if _inputs.needs_server_info(config, planned):
            info = await self._client.server_info()
        ready = await _inputs.prepare_async(config, info, planned, preflight=preflight)
        published = {name: item.record() for name, item in ready.published.items()}
        return await self._create_checked(ready.request, key, published)

    async def check(
        self,
        *,
        audio_url: MediaInput,
        video_url: MediaInput | None = None,
        image_url: MediaInput | None = None,
        reference_image_url: MediaInput | None = None,
        model: str = DEFAULT_MODEL,
        input_mode: str | None = None,
        duration_seconds: float | None = None,
    ) -> Preflight:
        """Check a create's inputs without creating anything; see `LipSync.check`."""
        fields = dict(
            audio_url=audio_url,
            video_url=video_url,
            image_url=image_url,
            reference_image_url=reference_image_url,
            model=model,
            input_mode=input_mode,
            duration_seconds=duration_seconds,
        )
        from . import _inputs  # media probing loads on the first create

        planned = await asyncio.to_thread(_inputs.plan, self._client._config, fields)
        info = await self._client.server_info()
        return await _inputs.check_async(self._client._config, info, planned)

    async def _create_checked(
        self,
        request: CreateRequest,
        key: str | None = None,
        published: dict[str, Any] | None = None,
    ) -> LipSyncTask:
        """Send a create that already passed validation, recording it before and after."""
        client = self._client
        # `published` only when there is any: a recorder written before it existed still works.
        extra = {"published": published} if published else {}
        handle = client.recorder.before_create(client._config.origin, request.body, key, **extra)
        try:
            response = await client._request("POST", _core.TASKS_PATH, body=request.body)
        except BaseException as error:
            client._record_outcome(handle, error)
            raise
        try:
            task = _responses.parse_task(response, client)
        except BaseException as error:
            client.recorder.outcome_unknown(handle, error)
            raise
        client.recorder.created(handle, task)
        return task

    async def get(self, task_or_id: LipSyncTask | str) -> LipSyncTask:
        path = task_path(_core.task_id_of(task_or_id))
        task = _responses.parse_task(await self._client._request("GET", path), self._client)
        self._client.recorder.seen(task)
        return task

    async def list(
        self, *, limit: int = 20, offset: int = 0, status: TaskStatus | str | None = None
    ) -> Page:
        params = validate_list_params(limit, offset, status)
        response = await self._client._request("GET", _core.TASKS_PATH, params=params)
        return _responses.parse_page(response, self._client, limit, offset)

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
        await keep_finished_async(self._client, task)  # when keeping results is on
        if raise_on_failure and task.failed:
            raise TaskFailedError(task)
        return task

    async def watch(
        self,
        task_or_id: LipSyncTask | str,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        embed: bool | None = None,
        lang: str = "en",
    ) -> LiveTaskView:
        """Show the task in the notebook and update it live; returns at once (see `task.watch`)."""
        task = task_or_id if isinstance(task_or_id, LipSyncTask) else await self.get(task_or_id)
        return task.watch(poll_interval=poll_interval, timeout=timeout, embed=embed, lang=lang)

    # --- many tasks at once (logic in kitta_notebook.batch) ------------------------------
    async def create_many(
        self,
        requests: Iterable[object],
        *,
        concurrency: int = 8,
        progress: ProgressMode = "auto",
        preflight: bool = True,
        skip_invalid: bool = False,
        max_credits: float | None = None,
    ) -> BatchResult:
        """Check, then create many tasks, `concurrency` at a time; see `LipSync.create_many`."""
        from .batch.async_create import create_many

        return await create_many(
            self,
            requests,
            concurrency=concurrency,
            progress=progress,
            preflight=preflight,
            skip_invalid=skip_invalid,
            max_credits=max_credits,
        )

    def watch_many(
        self,
        tasks: Iterable[object],
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        progress: ProgressMode = "auto",
    ) -> AsyncBatchWatch:
        """`async for task in ...watch_many(tasks)`: each task as it finishes.

        See `LipSync.watch_many`.
        """
        from .batch.async_watch import watch_many

        return watch_many(
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
        from .batch.async_watch import wait_many

        return await wait_many(
            self, tasks, timeout=timeout, poll_interval=poll_interval, progress=progress
        )
