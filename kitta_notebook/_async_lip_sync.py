"""`client.lip_sync` of `AsyncKittaClient`: the twin of `_lip_sync`, awaitable.

Every decision (validation, retries, parsing, when a task is finished) comes
from `_core`; this module only sends with `httpx.AsyncClient` and sleeps
with `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import _bridge, _core, _responses
from ._base import recorder_extras
from ._kept import keep_finished
from .errors import TaskFailedError, WaitTimeoutError
from .models import LipSyncTask, MediaInput, Page, PollCallback, TaskStatus
from .server_info import ServerInfo
from .validation import DEFAULT_MODEL, CreateRequest, task_path, validate_list_params

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._async_client import AsyncKittaClient
    from .batch import AsyncBatchWatch, BatchResult, ProgressMode, TaskList
    from .display.live import LiveTaskView
    from .history.keys import KeyClaim
    from .media import Preflight


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
        # One short write, on the loop: a claim made in a thread after a cancel would be lost.
        claim = self._client._claim_key(key, planned)
        if claim is not None and claim.task_id is not None:
            return await self.get(claim.task_id)
        try:
            info = self._client._server_info or ServerInfo()
            if _inputs.needs_server_info(config, planned):
                info = await self._client.server_info()
            ready = await _bridge.run_sync(
                _inputs.prepare, config, info, planned, preflight=preflight
            )
            published = {name: item.record() for name, item in ready.published.items()}
            return await self._create_checked(ready.request, key, published, claim=claim)
        finally:
            self._client._release_keys([claim])  # one short write, even when cancelled

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
        journal = await asyncio.to_thread(getattr, self._client, "journal")
        return await _bridge.run_sync(_inputs.check, self._client._config, info, planned, journal)

    async def _create_checked(
        self,
        request: CreateRequest,
        key: str | None = None,
        published: dict[str, Any] | None = None,
        *,
        claim: KeyClaim | None = None,
    ) -> LipSyncTask:
        """Send a create that already passed validation, recording it before and after."""
        client = self._client
        extra = recorder_extras(published, claim)
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
        await _bridge.run_sync(keep_finished, self._client, task)  # when keeping results is on
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
        return await _bridge.run_sync(
            self._client.as_sync().lip_sync.create_many,
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
        concurrency: int = 8,
    ) -> AsyncBatchWatch:
        """`async for task in ...watch_many(tasks)`: each task as it finishes.

        See `LipSync.watch_many`.
        """
        from .batch import AsyncBatchWatch

        sync = self._client.as_sync().lip_sync.watch_many(
            tasks,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            concurrency=concurrency,
        )
        return AsyncBatchWatch(sync)

    async def wait_many(
        self,
        tasks: Iterable[object],
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        progress: ProgressMode = "auto",
        concurrency: int = 8,
    ) -> TaskList:
        """Wait until every task finishes; see `LipSync.wait_many`."""
        return await _bridge.run_sync(
            self._client.as_sync().lip_sync.wait_many,
            tasks,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            concurrency=concurrency,
        )
