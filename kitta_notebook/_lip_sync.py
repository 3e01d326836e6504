"""`client.lip_sync`: create, get, list, wait for and watch tasks.

`LipSync` holds the logic; `AsyncLipSync` (the async client's) awaits the
same methods on a worker thread (`_bridge`) and holds none of its own.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from . import _bridge, _core, _responses
from .errors import TaskFailedError, WaitManyTimeoutError, WaitTimeoutError
from .models import LipSyncTask, MediaInput, Page, PollCallback, TaskStatus
from .server_info import ServerInfo
from .validation import (
    CREATE_FIELDS,
    DEFAULT_MODEL,
    CreateRequest,
    task_path,
    validate_list_params,
)

P = ParamSpec("P")

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._client import KittaClient
    from .batch import AsyncBatchWatch, BatchResult, BatchWatch, ProgressMode, TaskList
    from .display.follow import LiveTaskView
    from .history.keys import KeyClaim
    from .media import Preflight


class LipSync:
    """`client.lip_sync`: create, get, list, iterate, wait for and watch tasks."""

    def __init__(self, client: KittaClient) -> None:
        self._client = client

    def create(
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
        """Create a task (spends credits). Returns at once with the `pending` task.

        Media may be URLs or local files (a path, bytes, an open binary file):
        local ones are published first (the sandbox's own store, or the one set
        by `media_store=` / `KITTA_MEDIA_STORE`). Inputs are checked first: a
        bad argument raises `ValidationError` and nothing is sent; with
        `preflight` (the default) every medium is also probed, without your
        token, and a definite problem (a web page given as the video, an empty
        file, a 404) is refused before any credit is spent. A create is never
        resent once it may have reached the server: after a 5xx or a read
        timeout the error says so.

        With a `key`, re-running the same call (in this process, after a
        restart, or in another kernel sharing the journal) returns the task
        created under that key instead of paying again. The key is reserved in
        the local journal before anything is published or sent, so one key
        makes at most one task: the same key with other inputs (another file's
        content, URL, model, mode or duration) raises `KeyReusedError` naming
        the earlier task (use a new key for a new task), and while a create
        under the key runs elsewhere, `KeyInUseError`.
        """
        fields = {name: value for name, value in locals().items() if name in CREATE_FIELDS}
        config = self._client._config
        from . import media  # media probing loads on the first create

        planned = media.plan(config, fields)  # no network: local files read, all validated
        claim = self._client._claim_key(key, planned)
        if claim is not None and claim.task_id is not None:
            return self.get(claim.task_id)
        try:
            info = self._client._server_info or ServerInfo()
            if media.needs_server_info(config, planned):
                info = self._client.server_info()
            ready = media.prepare(config, info, planned, preflight=preflight)
            published = {name: item.record() for name, item in ready.published.items()}
            return self._create_checked(ready.request, key, published, claim=claim)
        finally:
            self._client._release_keys([claim])

    def check(
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
        """Check a create's inputs without creating anything (no credits spent).

        Takes the same arguments as `create`. Each medium is probed from this
        machine without your token: reachable, status, size, the real format,
        duration, dimensions. The returned `Preflight` lists definite problems
        (a create would be refused) and warnings, the duration and, where the
        server publishes its price, the estimated credits.
        """
        fields = {name: value for name, value in locals().items() if name in CREATE_FIELDS}
        from . import media  # media probing loads on the first create

        planned = media.plan(self._client._config, fields)
        info = self._client.server_info()
        return media.check(self._client._config, info, planned, self._client.journal)

    def _create_checked(
        self,
        request: CreateRequest,
        key: str | None = None,
        published: dict[str, Any] | None = None,
        *,
        claim: KeyClaim | None = None,
    ) -> LipSyncTask:
        """Send a create that already passed validation, recording it before and after."""
        client = self._client
        handle = client.recorder.before_create(
            client._config.origin,
            request.body,
            key,
            published=published or None,
            claim=None if claim is None else claim.token,
        )
        try:
            response = client._request("POST", _core.TASKS_PATH, body=request.body)
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

    def get(self, task_or_id: LipSyncTask | str) -> LipSyncTask:
        """The task's current state (the detail endpoint is the source of truth)."""
        task = self._detail(task_or_id)
        self._client.recorder.seen(task)
        return task

    def _detail(self, task_or_id: LipSyncTask | str) -> LipSyncTask:
        """`get` without writing the journal: a watch writes a round's answers at once."""
        path = task_path(_core.task_id_of(task_or_id))
        return _responses.parse_task(self._client._request("GET", path), self._client)

    def list(
        self, *, limit: int = 20, offset: int = 0, status: TaskStatus | str | None = None
    ) -> Page:
        """One page of this account's tasks (list items carry a subset of the fields)."""
        params = validate_list_params(limit, offset, status)
        response = self._client._request("GET", _core.TASKS_PATH, params=params)
        return _responses.parse_page(response, self._client, limit, offset)

    def iter(
        self, *, status: TaskStatus | str | None = None, page_size: int = 100
    ) -> Iterator[LipSyncTask]:
        """Every task, page by page, fetched lazily; a task seen twice is yielded once."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.list(limit=page_size, offset=offset, status=status)
            fresh = [task for task in page.data if task.task_id not in seen]
            for task in fresh:
                seen.add(task.task_id)
                yield task
            next_offset = page.next_offset
            if next_offset is None or not fresh:  # a page of repeats: the server is looping
                return
            offset = next_offset

    def wait(
        self,
        task_or_id: LipSyncTask | str,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        raise_on_failure: bool = True,
        on_poll: PollCallback | None = None,
    ) -> LipSyncTask:
        """Poll until the task is `succeeded` or `failed`.

        Polls every `poll_interval` seconds (default 3, jittered; 3–5 s against
        the real service). Raises `WaitTimeoutError` after `timeout` seconds
        (default 600) with the last snapshot, and `TaskFailedError` for a
        failed task unless `raise_on_failure=False`. A `LipSyncTask` passed in
        is updated in place. Passing network hiccups are polled through;
        `on_poll(task, error)` is called after every poll (error is the
        transient error that poll met, or None), e.g. to update a view.
        """
        from .batch.follow import follow  # the one polling engine

        if not isinstance(task_or_id, LipSyncTask):
            task_path(task_or_id)  # a bad id is refused as `get` refuses it
        timeout = _core.DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        watch = follow(
            self, [task_or_id], timeout=timeout, poll_interval=poll_interval, report="polls"
        )
        task, errors = watch.tasks[0], 0  # an id: filled in by the first poll, sent at once
        try:
            for _ in watch:  # after each poll; a finished task's result is kept when keeping is on
                if on_poll is not None and watch.stats.cycles:  # not for a task already finished
                    met = watch.stats.last_error if watch.stats.errors > errors else None
                    errors = watch.stats.errors
                    on_poll(task, met)
        except WaitManyTimeoutError as exc:
            raise WaitTimeoutError(task, exc.timeout) from None
        if task._client is None:
            task._client = self._client
        if raise_on_failure and task.failed:
            raise TaskFailedError(task)
        return task

    def watch(
        self,
        task_or_id: LipSyncTask | str,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        embed: bool | None = None,
        lang: str = "en",
    ) -> LiveTaskView:
        """Show the task in the notebook and update it live; returns at once (see `task.watch`)."""
        task = task_or_id if isinstance(task_or_id, LipSyncTask) else self.get(task_or_id)
        return task.watch(poll_interval=poll_interval, timeout=timeout, embed=embed, lang=lang)

    # --- many tasks at once (logic in kitta_notebook.batch) ------------------------------
    def create_many(
        self,
        requests: Iterable[object],
        *,
        concurrency: int = 8,
        progress: ProgressMode = "auto",
        preflight: bool = True,
        skip_invalid: bool = False,
        max_credits: float | None = None,
    ) -> BatchResult:
        """Create many tasks, `concurrency` at a time; one failure never stops the batch.

        `requests` are dicts of `create()` arguments (plus an optional `key`
        and `labels`, e.g. the language of a dubbed track, shown on gallery
        cards and kept in the journal) or `CreateRequest`s; media may be URLs
        or local files, as in `create()` (each distinct file is published once).

        Everything is checked before the first create. Any invalid item, or
        with `preflight` (the default) any medium with a definite problem (a
        web page given as the video, an empty file, a 404; each input probed
        once however many items share it), raises one `BatchValidationError`
        naming every item and input, and nothing is sent. `skip_invalid=True`
        creates the valid items instead; the others are `skipped` in the
        result, with their `problems`. Inputs that could not be checked for
        certain give one `MediaWarning`; the batch goes on.

        `max_credits=N` promises the batch spends at most N credits: it is
        refused before any create (`CreditLimitError`) when the estimate by the
        server's published price exceeds N, or cannot be made (the real service
        publishes no price: keep `max_credits=None` there); and it stops sending
        once the credits charged would pass N (the rest are `not_sent`,
        `result.credit_stop` says so). When `usage()` reports a balance below the
        estimate, a `CreditWarning` comes first.

        Each item's result is in the returned `BatchResult`, in order: a task,
        or an error with its outcome (`rejected`: nothing created; `unknown`: a
        5xx or timeout after sending, so a task may exist; it is never resent).
        A 429 pauses the whole batch for its `Retry-After`. An item whose `key`
        the client's journal already knows is fetched instead of created, so
        re-running a batch does not create (or pay) twice; keys are claimed as
        in `create()`, so an item whose key is in use by another kernel, or was
        used with other inputs, is `rejected` with that error and not sent.
        """
        from .batch.create import create_many
        from .batch.plan import BatchOptions

        options = BatchOptions(
            concurrency=concurrency,
            progress=progress,
            preflight=preflight,
            skip_invalid=skip_invalid,
            max_credits=max_credits,
        )
        return create_many(self, requests, options)

    def watch_many(
        self,
        tasks: Iterable[object],
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        progress: ProgressMode = "auto",
        concurrency: int = 8,
    ) -> BatchWatch:
        """Iterate to get each task as it finishes (succeeded or failed), like `as_completed`.

        Polls with list queries (a few requests a cycle for hundreds of tasks)
        and one detail query per finished task; per-task queries when fewer.
        Cycles every `poll_interval` s (jittered; 3–5 s against the real
        service). Raises `WaitManyTimeoutError` after `timeout` s (default
        1800). `tasks`: tasks, task ids, or a `BatchResult`; updated in place.
        `progress`: True, False, "auto" or a view factory (e.g. `WidgetProgress`).
        `concurrency`: requests in flight at once (raise it for a distant server).
        """
        from .batch.follow import follow  # the one polling engine

        return follow(
            self,
            tasks,
            timeout=timeout,
            poll_interval=poll_interval,
            report="finished",
            progress=progress,
            concurrency=concurrency,
        )

    def wait_many(
        self,
        tasks: Iterable[object],
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        progress: ProgressMode = "auto",
        concurrency: int = 8,
    ) -> TaskList:
        """Wait until every task finishes; returns them in input order (see `watch_many`).

        Failed tasks are returned, not raised: check `.failed` on the result.
        """
        watch = self.watch_many(
            tasks,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            concurrency=concurrency,
        )
        for _ in watch:
            pass
        return watch.task_list()


def _iterated_async(
    method: Callable[Concatenate[LipSync, P], BatchWatch],
) -> Callable[Concatenate[AsyncLipSync, P], AsyncBatchWatch]:
    """The async layer's `watch_many`: the sync watch made at once, iterated on a worker
    thread (`async for`). It keeps the sync method's signature, as `_bridge.awaitable`."""

    def call(self: AsyncLipSync, /, *args: P.args, **kwargs: P.kwargs) -> AsyncBatchWatch:
        from .batch import AsyncBatchWatch

        return AsyncBatchWatch(method(self._sync, *args, **kwargs))

    functools.update_wrapper(call, method)
    call.__qualname__ = f"Async{method.__qualname__}"
    return call


class AsyncLipSync:
    """`client.lip_sync` of `AsyncKittaClient`: `LipSync`'s methods, awaitable.

    Each awaits the `LipSync` method on a worker thread: cancelling the await
    stops a wait at once, and a create that was sent is still recorded.
    """

    def __init__(self, lip_sync: LipSync) -> None:
        self._sync = lip_sync

    create = _bridge.awaitable(LipSync.create)
    check = _bridge.awaitable(LipSync.check)
    get = _bridge.awaitable(LipSync.get)
    list = _bridge.awaitable(LipSync.list)
    wait = _bridge.awaitable(LipSync.wait)
    create_many = _bridge.awaitable(LipSync.create_many)
    wait_many = _bridge.awaitable(LipSync.wait_many)

    def iter(
        self, *, status: TaskStatus | str | None = None, page_size: int = 100
    ) -> AsyncIterator[LipSyncTask]:
        """Every task, page by page; use with `async for` (see `LipSync.iter`)."""
        return _bridge.iterate_sync(lambda: self._sync.iter(status=status, page_size=page_size))

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

    watch_many = _iterated_async(LipSync.watch_many)
