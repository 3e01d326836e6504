"""The one follower: `follow` (behind `wait`, `watch_many`, `wait_many`) drives `WatchCore`.

`BatchWatch` performs each operation the core yields: requests on a small thread
pool (those named `ahead` started at once, so up to `concurrency` are in flight
while the core works through them), sleeps through `_bridge.pause` (a cancelled
async caller stops at once), and yields the tasks the core emits. The async
`watch_many` iterates the same `BatchWatch` on a worker thread (`AsyncBatchWatch`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from .. import _bridge
from .._kept import keep_finished
from ..models import LipSyncTask
from .plan import check_concurrency
from .progress import ProgressMode, ProgressView, check_progress, open_progress
from .results import BatchItem, BatchResult, ItemTags, TaskList, tags_of
from .watch import (
    DEFAULT_WATCH_CONCURRENCY,
    LIST_PAGE_SIZE,
    WATCH_TITLE,
    Emit,
    FetchTasks,
    ListPage,
    Report,
    Sleep,
    WatchCore,
    WatchStats,
    collect_tasks,
)

if TYPE_CHECKING:
    from .._lip_sync import LipSync

RequestKey = tuple[str, str, int, int]
"""`("get", task_id, 0, 0)` or `("list", status, offset, cycle)`: one request a watch sends."""


def _wanted(op: ListPage | FetchTasks) -> tuple[list[RequestKey], list[RequestKey]]:
    """(the requests this operation needs answered now, those it says come next)."""
    if isinstance(op, ListPage):
        now: list[RequestKey] = [("list", op.status, op.offset, op.cycle)]
        return now, [("list", status, offset, op.cycle) for status, offset in op.ahead]
    return [("get", i, 0, 0) for i in op.task_ids], [("get", i, 0, 0) for i in op.ahead]


def _send(lip_sync: LipSync, key: RequestKey) -> object:
    """One request; its exception is an answer too (the core decides what it means)."""
    kind, name, offset, _ = key
    try:
        if kind == "list":
            return lip_sync.list(limit=LIST_PAGE_SIZE, offset=offset, status=name)
        return lip_sync._detail(name)  # written to the journal with the round's others
    except Exception as exc:
        return exc


class _WatchFacts:
    """What a watch tells about itself (the sync and the async iterator alike)."""

    _core: WatchCore
    tags: dict[str, ItemTags]

    @property
    def stats(self) -> WatchStats:
        """Requests and cycles the watch cost so far."""
        return self._core.stats

    @property
    def tasks(self) -> list[LipSyncTask]:
        """Every watched task, in input order."""
        return self._core.tasks

    @property
    def finished(self) -> list[LipSyncTask]:
        return self._core.finished_tasks

    @property
    def unfinished(self) -> list[LipSyncTask]:
        return self._core.unfinished_tasks

    def task_list(self) -> TaskList:
        """The watched tasks as a `TaskList` (with the batch's keys and labels, if any)."""
        return TaskList(self._core.tasks, self.tags)


class BatchWatch(_WatchFacts, Iterator[LipSyncTask]):
    """Yields each watched task as it finishes (succeeded or failed), like `as_completed`,
    or as `follow`'s `report` says; raises `WaitManyTimeoutError` at the deadline."""

    def __init__(self, lip_sync: LipSync, core: WatchCore, concurrency: int) -> None:
        self._lip_sync = lip_sync
        self._core = core
        self._progress: ProgressMode = False  # `follow` sets these two
        self.tags: dict[str, ItemTags] = {}
        self._concurrency = concurrency
        self._view: ProgressView | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._started: dict[RequestKey, Future[object]] = {}
        self._steps = self._run()

    def __iter__(self) -> BatchWatch:
        return self

    def __next__(self) -> LipSyncTask:
        return next(self._steps)

    def close(self) -> None:
        """Stop watching (the tasks keep running on the server)."""
        self._steps.close()

    def _request(self, op: ListPage | FetchTasks) -> object:
        now, ahead = _wanted(op)
        if isinstance(op, ListPage):  # pages started ahead in an earlier cycle: never reused
            for key in [k for k in self._started if k[0] == "list" and k[3] < op.cycle]:
                self._started.pop(key).cancel()
        if len(now) == 1 and not ahead and not self._started:
            answers = {now[0]: _send(self._lip_sync, now[0])}  # no thread needed
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="kitta")
            for key in now + ahead:
                if key not in self._started:
                    self._started[key] = self._pool.submit(_send, self._lip_sync, key)
            answers = {key: self._started.pop(key).result() for key in now}
        if isinstance(op, ListPage):
            return answers[now[0]]
        tasks = [answer for answer in answers.values() if isinstance(answer, LipSyncTask)]
        self._lip_sync._client.recorder.seen_many(tasks)
        return {key[1]: answer for key, answer in answers.items()}

    def _run(self) -> Generator[LipSyncTask, None, None]:
        # The view appears when watching starts, not when the watch object is made.
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
                answer = None
                if isinstance(op, Emit):
                    for task in op.tasks:
                        if op.finished:
                            keep_finished(self._lip_sync._client, task)  # when keeping is on
                        yield task
                elif isinstance(op, Sleep):
                    _bridge.pause(op.seconds)
                else:
                    answer = self._request(op)
        finally:
            steps.close()
            for future in self._started.values():
                future.cancel()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            if self._view is not None:
                self._view.close(self._core.snapshot(finished=True))


class AsyncBatchWatch(_WatchFacts, AsyncIterator[LipSyncTask]):
    """`async for task in client.lip_sync.watch_many(tasks)`: each task as it finishes.

    The same `BatchWatch`, iterated on a worker thread; `aclose()` (or cancelling the
    loop) stops it at its next request or sleep.
    """

    def __init__(self, watch: BatchWatch) -> None:
        self._core, self.tags = watch._core, watch.tags
        self._items = _bridge.iterate_sync(lambda: watch)

    def __aiter__(self) -> AsyncBatchWatch:
        return self

    async def __anext__(self) -> LipSyncTask:
        return await self._items.__anext__()

    async def aclose(self) -> None:
        """Stop watching (the tasks keep running on the server)."""
        await self._items.aclose()  # type: ignore[attr-defined]


def follow(
    lip_sync: LipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    report: Report = "changes",
    progress: ProgressMode = False,
    concurrency: int = DEFAULT_WATCH_CONCURRENCY,
) -> BatchWatch:
    """Poll `tasks` (tasks or ids, updated in place) until each has finished: the one
    polling engine, behind `wait()`, `watch_many` and `follow_active`.

    A task is yielded once it finished (tasks already finished at once), and before
    that as `report` says (`Report`); passing errors are polled through and counted in
    `stats.errors` (`stats.last_error`). A `BatchResult` or `TaskList` hands on its keys
    and labels.
    """
    core = WatchCore(
        collect_tasks(tasks, lip_sync._client),
        config=lip_sync._client._config,
        timeout=timeout,
        poll_interval=poll_interval,
        report=report,
    )
    watch = BatchWatch(lip_sync, core, check_concurrency(concurrency))
    watch._progress = check_progress(progress)
    items = tasks if isinstance(tasks, (BatchResult, list, tuple)) else ()
    watch.tags = dict(tasks.tags) if isinstance(tasks, TaskList) else {}
    watch.tags.update(tags_of(item for item in items if isinstance(item, BatchItem)))
    return watch
