"""`AsyncLipSync.watch_many` / `wait_many`: the async twin of `watch.py`.

The same `WatchCore.steps()` drives it; requests run as asyncio tasks (at
most `concurrency` at once, those named `ahead` started early, as in
the sync driver) and sleeps are `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import TYPE_CHECKING

from .. import _bridge
from .._kept import keep_finished
from ..models import LipSyncTask
from .progress import ProgressMode, ProgressView, check_progress
from .progress_choice import open_progress
from .results import ItemTags, TaskList
from .watch import (
    DEFAULT_WATCH_CONCURRENCY,
    WATCH_TITLE,
    Request,
    RequestKey,
    WatchFacts,
    answer_of,
    make_core,
    stale,
    wanted,
)
from .watch_core import LIST_PAGE_SIZE, Emit, FetchTasks, ListPage, Sleep, WatchCore, WatchOp

if TYPE_CHECKING:
    from .._async_lip_sync import AsyncLipSync


class AsyncBatchWatch(WatchFacts, AsyncIterator[LipSyncTask]):
    """`async for task in client.lip_sync.watch_many(tasks)`: each task as it finishes."""

    def __init__(
        self,
        lip_sync: AsyncLipSync,
        core: WatchCore,
        progress: ProgressMode,
        tags: dict[str, ItemTags] | None = None,
        concurrency: int = DEFAULT_WATCH_CONCURRENCY,
    ) -> None:
        self._lip_sync = lip_sync
        self._core = core
        self._progress = progress
        self.tags = tags or {}
        self._concurrency = concurrency
        self._view: ProgressView | None = None
        self._started: dict[RequestKey, asyncio.Task[object]] = {}
        self._limit: asyncio.Semaphore | None = None
        self._steps = self._run()

    def __aiter__(self) -> AsyncBatchWatch:
        return self

    async def __anext__(self) -> LipSyncTask:
        return await self._steps.__anext__()

    async def aclose(self) -> None:
        """Stop watching (the tasks keep running on the server)."""
        await self._steps.aclose()

    async def _send(self, key: RequestKey, limit: asyncio.Semaphore) -> object:
        """One request; its exception is an answer too (the core decides what it means)."""
        kind, name, offset, _ = key
        async with limit:
            try:
                if kind == "list":
                    return await self._lip_sync.list(
                        limit=LIST_PAGE_SIZE, offset=offset, status=name
                    )
                return await self._lip_sync.get(name)
            except Exception as exc:
                return exc

    async def _request(self, op: Request) -> object:
        now, ahead = wanted(op)
        for key in stale(op, self._started):
            self._started.pop(key).cancel()
        if self._limit is None:
            self._limit = asyncio.Semaphore(self._concurrency)
        for key in now + ahead:
            if key not in self._started:
                self._started[key] = asyncio.ensure_future(self._send(key, self._limit))
        answers: dict[RequestKey, object] = {}
        for key in now:
            answers[key] = await self._started[key]
            del self._started[key]
        return answer_of(op, answers)

    async def _perform(self, op: WatchOp) -> object:
        if isinstance(op, (ListPage, FetchTasks)):
            return await self._request(op)
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
        return None

    async def _run(self) -> AsyncGenerator[LipSyncTask, None]:
        self._view = open_progress(self._progress, WATCH_TITLE, self._core.total)
        self._core.on_progress = None if self._view is None else self._view.update
        steps = self._core.steps()
        answer: object = None
        try:
            while True:
                try:
                    op = steps.send(answer)
                except StopIteration:
                    return
                if isinstance(op, Emit):
                    answer = None
                    for task in op.tasks:
                        client = self._lip_sync._client
                        await _bridge.run_sync(keep_finished, client, task)  # when keeping is on
                        yield task
                else:
                    answer = await self._perform(op)
        finally:
            steps.close()
            for started in self._started.values():
                started.cancel()
            if self._started:
                await asyncio.gather(*self._started.values(), return_exceptions=True)
            if self._view is not None:
                self._view.close(self._core.snapshot(finished=True))


def watch_many(
    lip_sync: AsyncLipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    progress: ProgressMode = "auto",
    concurrency: int = DEFAULT_WATCH_CONCURRENCY,
) -> AsyncBatchWatch:
    """See `AsyncLipSync.watch_many`."""
    core, tags = make_core(lip_sync, tasks, timeout, poll_interval, concurrency)
    return AsyncBatchWatch(lip_sync, core, check_progress(progress), tags, concurrency)


async def wait_many(
    lip_sync: AsyncLipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    progress: ProgressMode = "auto",
    concurrency: int = DEFAULT_WATCH_CONCURRENCY,
) -> TaskList:
    """See `AsyncLipSync.wait_many`."""
    watch = watch_many(
        lip_sync,
        tasks,
        timeout=timeout,
        poll_interval=poll_interval,
        progress=progress,
        concurrency=concurrency,
    )
    async for _ in watch:
        pass
    return watch.task_list()
