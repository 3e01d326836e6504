"""Many tasks at once: `create_many`, `watch_many`, `wait_many` (sync and async).

Every decision lives in `_batch_core` (creating) and `_watch_core` (watching);
this module only does the I/O they ask for: threads or asyncio tasks that send
creates, the list and detail queries of a watch cycle, sleeps, and progress.
The normal entry points are the client's methods:

>>> batch = client.lip_sync.create_many(
...     [{"audio_url": a, "video_url": v, "key": f"clip-{i}"} for i, (a, v) in enumerate(pairs)]
... )
>>> done = client.lip_sync.wait_many(batch.tasks)      # or: for task in watch_many(...)

A 429 pauses the whole batch (its workers share one gate, fed by response
hooks on the client's HTTP pool that are inert outside a batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
)
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ._batch_core import (
    ACTIVE_GATE,
    BatchError,
    BatchItem,
    BatchResult,
    BatchValidationError,
    CreateRun,
    Outcome,
    PreparedItem,
    ProgressMode,
    ProgressSnapshot,
    RateGate,
    check_concurrency,
    check_progress,
    may_resend,
    outcome_of,
    prepare_batch,
)
from ._core import retry_after_seconds
from ._watch_core import (
    DEFAULT_WAIT_MANY_TIMEOUT,
    Emit,
    FetchTasks,
    ListPage,
    Sleep,
    TaskList,
    WaitManyTimeoutError,
    WatchCore,
    WatchOp,
    WatchStats,
    collect_tasks,
)
from .errors import RateLimitError
from .models import LipSyncTask

if TYPE_CHECKING:
    from ._async_client import AsyncLipSync
    from ._client import LipSync
    from ._progress import ProgressView

__all__ = [
    "DEFAULT_WAIT_MANY_TIMEOUT",
    "AsyncTaskWatch",
    "BatchError",
    "BatchItem",
    "BatchResult",
    "BatchValidationError",
    "ProgressMode",
    "TaskList",
    "TaskWatch",
    "WaitManyTimeoutError",
    "WatchStats",
    "acreate_many",
    "await_many",
    "awatch_many",
    "create_many",
    "wait_many",
    "watch_many",
]

CREATE_TITLE = "Creating tasks"
WATCH_TITLE = "Waiting for tasks"
DETAIL_CONCURRENCY = 16
"""Detail queries sent at once when several tasks finish in the same cycle."""

_T = TypeVar("_T")


# --- progress ------------------------------------------------------------------------------
def _open_progress(mode: ProgressMode, title: str, total: int) -> ProgressView | None:
    if mode is False or total == 0:
        return None
    from ._progress import progress_view  # imported only when progress is shown

    return progress_view(mode, title=title, total=total)


def _reporter(view: ProgressView | None) -> Callable[[ProgressSnapshot], None] | None:
    if view is None:
        return None
    return view.update


# --- the batch gate, seen by every request the batch sends ------------------------------------
_HOOK_LOCK = threading.Lock()


def _sync_request_hook(request: httpx.Request) -> None:
    gate = ACTIVE_GATE.get()
    while gate is not None and (delay := gate.wait_time()) > 0:
        time.sleep(delay)


def _sync_response_hook(response: httpx.Response) -> None:
    gate = ACTIVE_GATE.get()
    if gate is not None:
        gate.on_response(response.status_code, retry_after_seconds(response))


async def _async_request_hook(request: httpx.Request) -> None:
    gate = ACTIVE_GATE.get()
    while gate is not None and (delay := gate.wait_time()) > 0:
        await asyncio.sleep(delay)


async def _async_response_hook(response: httpx.Response) -> None:
    _sync_response_hook(response)


def _install_hooks(http: httpx.Client | httpx.AsyncClient) -> None:
    """Let the batch gate see every attempt, including the core's own 429 retries.

    Installed once per HTTP client; they do nothing for a request sent
    outside a batch (the context variable is unset there).
    """
    if isinstance(http, httpx.AsyncClient):
        on_request: Any = _async_request_hook
        on_response: Any = _async_response_hook
    else:
        on_request, on_response = _sync_request_hook, _sync_response_hook
    with _HOOK_LOCK:
        hooks = http.event_hooks
        if on_request in hooks.get("request", []):
            return
        http.event_hooks = {
            "request": [*hooks.get("request", []), on_request],
            "response": [*hooks.get("response", []), on_response],
        }


# --- create_many (sync) -----------------------------------------------------------------
class _Stopped(Exception):
    """The batch was interrupted before this item was sent."""


def _lookup_key(lip_sync: LipSync | AsyncLipSync, item: PreparedItem) -> str | None:
    if item.key is None:
        return None
    return lip_sync._client.recorder.task_id_for_key(item.key)


def _placeholder(task_id: str, lip_sync: LipSync | AsyncLipSync) -> LipSyncTask:
    return LipSyncTask({"taskId": task_id}, client=lip_sync._client)


def _failed(item: PreparedItem, error: Exception, attempts: int) -> BatchItem:
    outcome: Outcome = outcome_of(error)
    return BatchItem(item.index, item.key, outcome, error=error, attempts=attempts)


def _create_one(
    lip_sync: LipSync,
    item: PreparedItem,
    gate: RateGate,
    slots: threading.Condition,
    stop: threading.Event,
) -> BatchItem:
    """One item on a worker thread: reuse its key's task, or create it exactly once."""
    try:
        known = _lookup_key(lip_sync, item)
    except Exception as exc:  # without the answer we cannot know it is safe to create
        return BatchItem(item.index, item.key, "rejected", error=exc)
    if known is not None:
        try:
            return BatchItem(item.index, item.key, "existing", task=lip_sync.get(known))
        except Exception as exc:
            task = _placeholder(known, lip_sync)
            return BatchItem(item.index, item.key, "existing", task=task, error=exc)
    attempts = 0
    while True:
        with slots:
            while (wait := gate.try_enter()) is not None:
                if stop.is_set():
                    raise _Stopped
                slots.wait(timeout=wait if wait > 0 else 1.0)
        try:
            if stop.is_set():
                raise _Stopped
            attempts += 1
            task = lip_sync._create_checked(item.request, item.key)
        except RateLimitError as exc:
            if may_resend(exc, attempts):
                continue
            return _failed(item, exc, attempts)
        except _Stopped:
            raise
        except Exception as exc:
            return _failed(item, exc, attempts)
        finally:
            gate.leave()
            with slots:
                slots.notify_all()
        return BatchItem(item.index, item.key, "created", task=task, attempts=attempts)


def create_many(
    lip_sync: LipSync,
    requests: Iterable[object],
    *,
    concurrency: int = 8,
    progress: ProgressMode = "auto",
) -> BatchResult:
    """See `LipSync.create_many`."""
    client = lip_sync._client
    limit = check_concurrency(concurrency)
    mode = check_progress(progress)
    prepared = prepare_batch(requests, client._prepare_create)
    run = CreateRun(prepared, len(prepared), RateGate(limit, client._config))
    if not prepared:
        return run.result()
    _install_hooks(client._http)
    view = _open_progress(mode, CREATE_TITLE, len(prepared))
    slots = threading.Condition()
    stop = threading.Event()

    def work(item: PreparedItem) -> BatchItem:
        token = ACTIVE_GATE.set(run.gate)
        try:
            return _create_one(lip_sync, item, run.gate, slots, stop)
        finally:
            ACTIVE_GATE.reset(token)

    pool = ThreadPoolExecutor(max_workers=min(limit, len(prepared)), thread_name_prefix="kitta")
    try:
        futures: list[Future[BatchItem]] = [pool.submit(work, item) for item in prepared]
        for future in as_completed(futures):
            run.record(future.result())
            if view is not None:
                view.update(run.snapshot(CREATE_TITLE))
    except BaseException:
        # An interrupt: send nothing more, let the creates in flight finish (each
        # is recorded by the client's recorder), then stop.
        stop.set()
        with slots:
            slots.notify_all()
        pool.shutdown(wait=True, cancel_futures=True)
        if view is not None:
            view.close(run.snapshot(CREATE_TITLE, finished=True))
        raise
    pool.shutdown(wait=True)
    if view is not None:
        view.close(run.snapshot(CREATE_TITLE, finished=True))
    return run.result()


# --- create_many (async) ----------------------------------------------------------------
async def _acreate_one(
    lip_sync: AsyncLipSync, item: PreparedItem, gate: RateGate, slots: asyncio.Condition
) -> BatchItem:
    """One item on the event loop: reuse its key's task, or create it exactly once."""
    try:
        known = _lookup_key(lip_sync, item)
    except Exception as exc:
        return BatchItem(item.index, item.key, "rejected", error=exc)
    if known is not None:
        try:
            return BatchItem(item.index, item.key, "existing", task=await lip_sync.get(known))
        except Exception as exc:
            task = _placeholder(known, lip_sync)
            return BatchItem(item.index, item.key, "existing", task=task, error=exc)
    attempts = 0
    while True:
        async with slots:
            while (wait := gate.try_enter()) is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(slots.wait(), timeout=wait if wait > 0 else 1.0)
        try:
            attempts += 1
            task = await lip_sync._create_checked(item.request, item.key)
        except RateLimitError as exc:
            if may_resend(exc, attempts):
                continue
            return _failed(item, exc, attempts)
        except Exception as exc:
            return _failed(item, exc, attempts)
        finally:
            gate.leave()
            async with slots:
                slots.notify_all()
        return BatchItem(item.index, item.key, "created", task=task, attempts=attempts)


async def _gather_or_cancel(coroutines: list[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run all; if one raises (or we are cancelled), cancel the rest and wait for them."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def acreate_many(
    lip_sync: AsyncLipSync,
    requests: Iterable[object],
    *,
    concurrency: int = 8,
    progress: ProgressMode = "auto",
) -> BatchResult:
    """See `AsyncLipSync.create_many`."""
    client = lip_sync._client
    limit = check_concurrency(concurrency)
    mode = check_progress(progress)
    prepared = prepare_batch(requests, client._prepare_create)
    run = CreateRun(prepared, len(prepared), RateGate(limit, client._config))
    if not prepared:
        return run.result()
    _install_hooks(client._http)
    view = _open_progress(mode, CREATE_TITLE, len(prepared))
    slots = asyncio.Condition()
    queue = iter(prepared)

    async def worker() -> None:
        ACTIVE_GATE.set(run.gate)  # this task's own context: never seen outside the batch
        for item in queue:
            run.record(await _acreate_one(lip_sync, item, run.gate, slots))
            if view is not None:
                view.update(run.snapshot(CREATE_TITLE))

    try:
        await _gather_or_cancel([worker() for _ in range(min(limit, len(prepared)))])
    finally:
        if view is not None:
            view.close(run.snapshot(CREATE_TITLE, finished=True))
    return run.result()


# --- watch_many (sync) ------------------------------------------------------------------------
def _get_or_error(lip_sync: LipSync, task_id: str) -> LipSyncTask | Exception:
    try:
        return lip_sync.get(task_id)
    except Exception as exc:
        return exc


class TaskWatch(Iterator[LipSyncTask]):
    """Yields each watched task as it finishes (succeeded or failed), like `as_completed`.

    Tasks are updated in place. Raises `WaitManyTimeoutError` at the deadline;
    `stats` tells how many requests the watch cost.
    """

    def __init__(self, lip_sync: LipSync, core: WatchCore, progress: ProgressMode) -> None:
        self._lip_sync = lip_sync
        self._core = core
        self._progress = progress
        self._view: ProgressView | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._steps = self._run()

    @property
    def stats(self) -> WatchStats:
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

    def __iter__(self) -> TaskWatch:
        return self

    def __next__(self) -> LipSyncTask:
        return next(self._steps)

    def close(self) -> None:
        """Stop watching (the tasks keep running on the server)."""
        self._steps.close()

    def _fetch(self, task_ids: tuple[str, ...]) -> dict[str, LipSyncTask | Exception]:
        if len(task_ids) < 2:
            return {task_id: _get_or_error(self._lip_sync, task_id) for task_id in task_ids}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(DETAIL_CONCURRENCY, thread_name_prefix="kitta")
        answers = self._pool.map(lambda task_id: _get_or_error(self._lip_sync, task_id), task_ids)
        return dict(zip(task_ids, answers, strict=True))

    def _run(self) -> Generator[LipSyncTask, None, None]:
        # The view appears when watching starts, not when the watch object is made.
        self._view = _open_progress(self._progress, WATCH_TITLE, self._core.total)
        self._core.on_progress = _reporter(self._view)
        steps = self._core.steps()
        answer: object = None
        try:
            while True:
                try:
                    op: WatchOp = steps.send(answer)
                except StopIteration:
                    return
                answer = None
                if isinstance(op, ListPage):
                    try:
                        answer = self._lip_sync.list(
                            limit=op.limit, offset=op.offset, status=op.status
                        )
                    except Exception as exc:
                        answer = exc
                elif isinstance(op, FetchTasks):
                    answer = self._fetch(op.task_ids)
                elif isinstance(op, Sleep):
                    time.sleep(op.seconds)
                elif isinstance(op, Emit):
                    yield from op.tasks
        finally:
            steps.close()
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
) -> TaskWatch:
    """See `LipSync.watch_many`."""
    collected = collect_tasks(tasks, lip_sync._client)
    mode = check_progress(progress)
    core = WatchCore(
        collected,
        config=lip_sync._client._config,
        timeout=timeout,
        poll_interval=poll_interval,
        title=WATCH_TITLE,
    )
    return TaskWatch(lip_sync, core, mode)


def wait_many(
    lip_sync: LipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    progress: ProgressMode = "auto",
) -> TaskList:
    """See `LipSync.wait_many`."""
    watch = watch_many(
        lip_sync, tasks, timeout=timeout, poll_interval=poll_interval, progress=progress
    )
    for _ in watch:
        pass
    return TaskList(watch.tasks)


# --- watch_many (async) -----------------------------------------------------------------------
class AsyncTaskWatch(AsyncIterator[LipSyncTask]):
    """`async for task in client.lip_sync.watch_many(tasks)`: each task as it finishes."""

    def __init__(self, lip_sync: AsyncLipSync, core: WatchCore, progress: ProgressMode) -> None:
        self._lip_sync = lip_sync
        self._core = core
        self._progress = progress
        self._view: ProgressView | None = None
        self._steps = self._run()

    @property
    def stats(self) -> WatchStats:
        return self._core.stats

    @property
    def tasks(self) -> list[LipSyncTask]:
        return self._core.tasks

    @property
    def finished(self) -> list[LipSyncTask]:
        return self._core.finished_tasks

    @property
    def unfinished(self) -> list[LipSyncTask]:
        return self._core.unfinished_tasks

    def __aiter__(self) -> AsyncTaskWatch:
        return self

    async def __anext__(self) -> LipSyncTask:
        return await self._steps.__anext__()

    async def aclose(self) -> None:
        await self._steps.aclose()

    async def _get_or_error(
        self, task_id: str, limit: asyncio.Semaphore
    ) -> LipSyncTask | Exception:
        async with limit:
            try:
                return await self._lip_sync.get(task_id)
            except Exception as exc:
                return exc

    async def _fetch(self, task_ids: tuple[str, ...]) -> dict[str, LipSyncTask | Exception]:
        limit = asyncio.Semaphore(DETAIL_CONCURRENCY)
        answers = await _gather_or_cancel([self._get_or_error(i, limit) for i in task_ids])
        return dict(zip(task_ids, answers, strict=True))

    async def _run(self) -> AsyncGenerator[LipSyncTask, None]:
        self._view = _open_progress(self._progress, WATCH_TITLE, self._core.total)
        self._core.on_progress = _reporter(self._view)
        steps = self._core.steps()
        answer: object = None
        try:
            while True:
                try:
                    op: WatchOp = steps.send(answer)
                except StopIteration:
                    return
                answer = None
                if isinstance(op, ListPage):
                    try:
                        answer = await self._lip_sync.list(
                            limit=op.limit, offset=op.offset, status=op.status
                        )
                    except Exception as exc:
                        answer = exc
                elif isinstance(op, FetchTasks):
                    answer = await self._fetch(op.task_ids)
                elif isinstance(op, Sleep):
                    await asyncio.sleep(op.seconds)
                elif isinstance(op, Emit):
                    for task in op.tasks:
                        yield task
        finally:
            steps.close()
            if self._view is not None:
                self._view.close(self._core.snapshot(finished=True))


def awatch_many(
    lip_sync: AsyncLipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    progress: ProgressMode = "auto",
) -> AsyncTaskWatch:
    """See `AsyncLipSync.watch_many`."""
    collected = collect_tasks(tasks, lip_sync._client)
    mode = check_progress(progress)
    core = WatchCore(
        collected,
        config=lip_sync._client._config,
        timeout=timeout,
        poll_interval=poll_interval,
        title=WATCH_TITLE,
    )
    return AsyncTaskWatch(lip_sync, core, mode)


async def await_many(
    lip_sync: AsyncLipSync,
    tasks: Iterable[object],
    *,
    timeout: float | None = None,
    poll_interval: float | None = None,
    progress: ProgressMode = "auto",
) -> TaskList:
    """See `AsyncLipSync.wait_many`."""
    watch = awatch_many(
        lip_sync, tasks, timeout=timeout, poll_interval=poll_interval, progress=progress
    )
    async for _ in watch:
        pass
    return TaskList(watch.tasks)
