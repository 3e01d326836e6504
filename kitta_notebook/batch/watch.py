"""`watch_many` / `wait_many` (sync): the thin driver of `WatchCore.steps()`.

It performs each operation the core yields (a list page, detail queries on a
small thread pool, a sleep) and sends back the answer; `async_watch` is its
twin. Both start the requests an operation names `ahead` at once, so up to
`concurrency` (default `DEFAULT_WATCH_CONCURRENCY`) are in flight while the core
works through them.

`BatchWatch` is what `watch_many` returns: an iterator of tasks as they
finish (not to be confused with a live view of one task, in `display`).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from .._kept import keep_finished
from ..models import LipSyncTask
from .prepare import check_concurrency
from .progress import ProgressMode, ProgressView, check_progress
from .progress_choice import open_progress
from .results import BatchItem, BatchResult, ItemTags, TaskList, tags_of
from .watch_core import (
    LIST_PAGE_SIZE,
    Emit,
    FetchTasks,
    ListPage,
    Sleep,
    WatchCore,
    WatchOp,
    WatchStats,
    collect_tasks,
)

if TYPE_CHECKING:
    from .._lip_sync import LipSync

WATCH_TITLE = "Waiting for tasks"
DEFAULT_WATCH_CONCURRENCY = 8
"""Requests (detail queries, list pages) in flight at once, unless the caller says.

More is not faster on a nearby server: httpx's pool does work per open
connection on every request, and at 10,000 watched tasks on loopback the
client's CPU, not the wire, set the detection lag (p95 4.4 s with 16, 1.9 s
with 8). A distant service with a long round trip may want more."""

RequestKey = tuple[str, str, int, int]
"""`("get", task_id, 0, 0)` or `("list", status, offset, cycle)`: one request a watch sends."""
Request = ListPage | FetchTasks


def wanted(op: Request) -> tuple[list[RequestKey], list[RequestKey]]:
    """(the requests this operation needs answered now, those it says come next)."""
    if isinstance(op, ListPage):
        now: list[RequestKey] = [("list", op.status, op.offset, op.cycle)]
        return now, [("list", status, offset, op.cycle) for status, offset in op.ahead]
    return [("get", i, 0, 0) for i in op.task_ids], [("get", i, 0, 0) for i in op.ahead]


def stale(op: Request, started: Iterable[RequestKey]) -> list[RequestKey]:
    """Pages started ahead in an earlier cycle (e.g. past a list's end): never reused."""
    if not isinstance(op, ListPage):
        return []
    return [key for key in started if key[0] == "list" and key[3] < op.cycle]


def answer_of(op: Request, answers: dict[RequestKey, object]) -> object:
    """The answer the core expects, from the answers to the keys `wanted` named."""
    if isinstance(op, ListPage):
        return answers[("list", op.status, op.offset, op.cycle)]
    return {i: answers[("get", i, 0, 0)] for i in op.task_ids}


class WatchFacts:
    """What both watch iterators tell about their watch (shared by the sync and async twins)."""

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


def make_core(
    lip_sync: LipSync,
    tasks: Iterable[object],
    timeout: float | None,
    poll_interval: float | None,
    concurrency: int,
) -> tuple[WatchCore, dict[str, ItemTags]]:
    check_concurrency(concurrency)
    collected = collect_tasks(tasks, lip_sync._client)
    core = WatchCore(
        collected,
        config=lip_sync._client._config,
        timeout=timeout,
        poll_interval=poll_interval,
        title=WATCH_TITLE,
    )
    items = tasks if isinstance(tasks, (BatchResult, list, tuple)) else ()
    tags = dict(tasks.tags) if isinstance(tasks, TaskList) else {}
    tags.update(tags_of(item for item in items if isinstance(item, BatchItem)))
    return core, tags


def _send(lip_sync: LipSync, key: RequestKey) -> object:
    """One request; its exception is an answer too (the core decides what it means)."""
    kind, name, offset, _ = key
    try:
        if kind == "list":
            return lip_sync.list(limit=LIST_PAGE_SIZE, offset=offset, status=name)
        return lip_sync.get(name)
    except Exception as exc:
        return exc


class BatchWatch(WatchFacts, Iterator[LipSyncTask]):
    """Yields each watched task as it finishes (succeeded or failed), like `as_completed`.

    Tasks are updated in place. Raises `WaitManyTimeoutError` at the deadline;
    `stats` tells how many requests the watch cost.
    """

    def __init__(
        self,
        lip_sync: LipSync,
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

    def _request(self, op: Request) -> object:
        now, ahead = wanted(op)
        for key in stale(op, self._started):
            self._started.pop(key).cancel()
        if len(now) == 1 and not ahead and not self._started:
            return answer_of(op, {now[0]: _send(self._lip_sync, now[0])})  # no thread needed
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="kitta")
        for key in now + ahead:
            if key not in self._started:
                self._started[key] = self._pool.submit(_send, self._lip_sync, key)
        return answer_of(op, {key: self._started.pop(key).result() for key in now})

    def _perform(self, op: WatchOp) -> object:
        """Do one operation; the answer (or the exception) goes back to the core."""
        if isinstance(op, (ListPage, FetchTasks)):
            return self._request(op)
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
        return None

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
                if isinstance(op, Emit):
                    answer = None
                    for task in op.tasks:
                        keep_finished(self._lip_sync._client, task)  # when keeping results is on
                        yield task
                else:
                    answer = self._perform(op)
        finally:
            steps.close()
            for future in self._started.values():
                future.cancel()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            if self._view is not None:
                self._view.close(self._core.snapshot(finished=True))


def watch_many(
    lip_sync: LipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    progress: ProgressMode = "auto",
    concurrency: int = DEFAULT_WATCH_CONCURRENCY,
) -> BatchWatch:
    """See `LipSync.watch_many`."""
    core, tags = make_core(lip_sync, tasks, timeout, poll_interval, concurrency)
    return BatchWatch(lip_sync, core, check_progress(progress), tags, concurrency)


def wait_many(
    lip_sync: LipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    progress: ProgressMode = "auto",
    concurrency: int = DEFAULT_WATCH_CONCURRENCY,
) -> TaskList:
    """See `LipSync.wait_many`."""
    watch = watch_many(
        lip_sync,
        tasks,
        timeout=timeout,
        poll_interval=poll_interval,
        progress=progress,
        concurrency=concurrency,
    )
    for _ in watch:
        pass
    return watch.task_list()
