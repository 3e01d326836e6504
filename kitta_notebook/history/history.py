"""`client.history`: the local journal merged with the server's task list.

The journal knows what this machine sent (inputs, labels, downloads, kept
files, creates of unknown outcome); the server knows every task of the
account, including ones created elsewhere. History reads the journal in SQL
pages and pulls the server's list page by page only when asked (`sync()`,
`reconcile()`, or iterating past the journal). `History` and `AsyncHistory`
own that I/O; `AsyncHistory` runs all journal work in a worker thread, so
SQLite (and its busy waits) never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .. import _core
from ..errors import KittaError, NotFoundError
from ..models import LipSyncTask
from .base import (
    DateLike,
    Filters,
    ReconcileRun,
    ServerWalk,
    StatusFilter,
    SyncReport,
    frame,
    journal_entries,
    journal_of,
    list_params,
    make_query,
    page_of,
    server_only,
)
from .entry import JournalEntry, JournalSummary, KeptResult, now
from .journal import Journal
from .reconcile import ReconcileReport
from .schema import STATE_UNKNOWN_STATUS

if TYPE_CHECKING:
    from .._async_client import AsyncKittaClient
    from .._base import ClientBase
    from .._client import KittaClient

__all__ = ["AsyncHistory", "History", "areconcile_journal", "reconcile_journal"]

P = ParamSpec("P")
R = TypeVar("R")
Ref = JournalEntry | LipSyncTask | str
# The states of a task that exists and has not finished (what `refresh()` fetches).
_ACTIVE = ("pending", "processing", STATE_UNKNOWN_STATUS)


def _task_id(ref: Ref) -> str:
    if isinstance(ref, JournalEntry):
        return ref.task_id or ref.entry_id
    return ref.task_id if isinstance(ref, LipSyncTask) else str(ref)


class _HistoryBase:
    """The journal side, shared by the twins (free of network I/O)."""

    def __init__(self, client: ClientBase) -> None:
        self._client = client

    @property
    def journal(self) -> Journal:
        return journal_of(self._client)

    def _bound_tasks(self, entries: Iterable[JournalEntry]) -> list[LipSyncTask]:
        """The entries that have a task, as `LipSyncTask`s bound to this client."""
        return [t for t in (e.task(self._client) for e in entries) if t is not None]

    def _active_task_ids(self, filters: Filters) -> list[str]:
        """The task ids of the unfinished entries matching the filters, for `refresh()`."""
        _status, *rest = filters
        query = make_query(_ACTIVE, *rest)
        return [e.task_id for e in self.journal.entries(query) if e.task_id is not None]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        try:
            journal = self.journal
            entries = journal.entries(limit=20)
            summary = journal.summary()
        except KittaError as exc:
            return {"text/plain": f"History unavailable: {exc}"}
        from ..display.history_html import history_mimebundle  # imported when shown

        return history_mimebundle(entries, summary)


class History(_HistoryBase):
    """`client.history` of a `KittaClient`.

    >>> h = client.history
    >>> h.sync()                                  # pull in tasks created elsewhere
    >>> h.items(status="failed", search="promo")  # newest first, from the journal
    >>> h.to_pandas(since="2026-07-01")
    """

    def __init__(self, client: KittaClient) -> None:
        super().__init__(client)
        self._sync_client = client

    # --- reading ---------------------------------------------------------------------
    def items(
        self,
        *,
        status: StatusFilter = None,
        mode: str | None = None,
        since: DateLike = None,
        until: DateLike = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
        source: str | None = None,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JournalEntry]:
        """Journal entries matching every filter given, sorted, one page at a time.

        `status` takes task statuses and `outcome_unknown`, `rejected`,
        `not_created`; `search` looks in the input URLs and task ids; `source`
        is `local` (sent from here) or `server` (created elsewhere). Call
        `sync()` first to include tasks created elsewhere.
        """
        query = make_query(status, mode, since, until, label, search, source)
        return self.journal.entries(
            query, sort=sort, descending=descending, limit=limit, offset=offset
        )

    def count(
        self,
        *,
        status: StatusFilter = None,
        mode: str | None = None,
        since: DateLike = None,
        until: DateLike = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
        source: str | None = None,
    ) -> int:
        return self.journal.count(make_query(status, mode, since, until, label, search, source))

    def summary(
        self,
        *,
        status: StatusFilter = None,
        mode: str | None = None,
        since: DateLike = None,
        until: DateLike = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
        source: str | None = None,
    ) -> JournalSummary:
        """Counts by state and credits charged over the filtered set, and kept bytes."""
        query = make_query(status, mode, since, until, label, search, source)
        return self.journal.summary(query)

    def get(self, ref: Ref) -> JournalEntry | None:
        return self.journal.get(ref)

    def unresolved(self) -> list[JournalEntry]:
        """Creates whose outcome is unknown: they may have made a task (see `reconcile`)."""
        return self.journal.unresolved()

    def tasks(self, **filters: Any) -> list[LipSyncTask]:
        """The matching entries that have a task, as `LipSyncTask`s bound to this client."""
        return self._bound_tasks(self.items(**filters))

    def to_pandas(
        self,
        *,
        status: StatusFilter = None,
        mode: str | None = None,
        since: DateLike = None,
        until: DateLike = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
        source: str | None = None,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
    ) -> Any:
        """A pandas DataFrame, one row per entry (needs the `[pandas]` extra)."""
        frame([])  # fail on a missing pandas before reading anything
        query = make_query(status, mode, since, until, label, search, source)
        return frame(self.journal.entries(query, sort=sort, descending=descending, limit=limit))

    # --- kept results ----------------------------------------------------------------
    def kept(self, ref: Ref) -> KeptResult | None:
        """The locally kept copy of a task's result (path, size, sha256), if any."""
        return self.journal.kept(_task_id(ref))

    def record_kept(self, ref: Ref, path: str, size: int, sha256: str) -> None:
        self.journal.record_kept(_task_id(ref), path, size, sha256)

    def forget_kept(self, ref: Ref) -> None:
        self.journal.forget_kept(_task_id(ref))

    def kept_total_bytes(self) -> int:
        return self.journal.kept_total_bytes()

    def kept_oldest(self, n: int) -> list[KeptResult]:
        """The `n` oldest kept copies, for an oldest-first clean-up."""
        return self.journal.kept_oldest(n)

    # --- writing -----------------------------------------------------------------------
    def label(self, ref: Ref, *labels: str) -> None:
        """Add labels to a task (by task id, task or entry)."""
        self.journal.add_labels(ref, *labels)

    def unlabel(self, ref: Ref, *labels: str) -> None:
        self.journal.remove_labels(ref, *labels)

    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        self.journal.set_labels(ref, labels)

    def note(self, ref: Ref, text: str | None) -> None:
        self.journal.set_note(ref, text)

    # --- talking to the server -----------------------------------------------------------
    def __iter__(self) -> Iterator[JournalEntry]:
        """Every entry, newest first, then tasks only the server knows (pages fetched lazily)."""
        journal = self.journal
        known_tasks: set[str] = set()
        for batch in journal_entries(journal, known_tasks):
            yield from batch
        walk = ServerWalk(journal)
        while walk.more:
            page = self._sync_client.lip_sync.list(limit=100, offset=walk.offset)
            yield from server_only(journal, walk.take(page), known_tasks)

    def sync(self, *, max_pages: int | None = None) -> SyncReport:
        """Walk the server's list page by page and record every task in the journal."""
        walk = ServerWalk(self.journal, max_pages)
        while walk.more:
            walk.take(self._sync_client.lip_sync.list(limit=100, offset=walk.offset))
        for task_id in walk.to_detail():  # the client records each detail it fetches
            try:
                self._sync_client.lip_sync.get(task_id)
            except NotFoundError:
                continue
            walk.detailed += 1
        return walk.report()

    def refresh(
        self,
        *,
        mode: str | None = None,
        since: DateLike = None,
        until: DateLike = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
    ) -> list[LipSyncTask]:
        """Fetch every unfinished task again (the detail is the truth); returns them."""
        found: list[LipSyncTask] = []
        for task_id in self._active_task_ids((None, mode, since, until, label, search, None)):
            try:
                found.append(self._sync_client.lip_sync.get(task_id))
            except NotFoundError:
                continue
        return found

    def reconcile(self, **options: Any) -> ReconcileReport:
        """Match creates of unknown outcome to server tasks.

        A server task no other entry claimed matches when its model and input
        mode agree and its createdAt fits the request time under the server
        clock's measured offset; a create is marked `not_created` only after
        the whole list was read and no task could be it under any offset the
        evidence allows. Options: `window`, `skew`, `settle`, `max_pages`,
        `max_skew` (see `ReconcileRun`).
        """
        return reconcile_journal(self.journal, self._sync_client, **options)


def reconcile_journal(journal: Journal, client: KittaClient, **options: Any) -> ReconcileReport:
    """The sync driver of a `ReconcileRun`: it only fetches."""
    run = ReconcileRun(journal, **options)
    if not run.start():
        return run.finish()
    while run.walk.more:
        sent = now()
        response = client._request("GET", _core.TASKS_PATH, params=list_params(run.walk.offset))
        run.walk.take(*page_of(response, client, run.walk.offset, sent))
    for task_id in run.undated():
        try:
            client.lip_sync.get(task_id)  # the detail has createdAt; `seen` records it
        except KittaError:
            continue
    return run.finish()


async def areconcile_journal(
    journal: Journal, client: AsyncKittaClient, **options: Any
) -> ReconcileReport:
    """The async driver of a `ReconcileRun`: journal steps in a worker thread."""
    run = ReconcileRun(journal, **options)
    if not await asyncio.to_thread(run.start):
        return await asyncio.to_thread(run.finish)
    while run.walk.more:
        sent = now()
        params = list_params(run.walk.offset)
        response = await client._request("GET", _core.TASKS_PATH, params=params)
        page, sample = page_of(response, client, run.walk.offset, sent)
        await asyncio.to_thread(run.walk.take, page, sample)
    for task_id in await asyncio.to_thread(run.undated):
        try:
            await client.lip_sync.get(task_id)
        except KittaError:
            continue
    return await asyncio.to_thread(run.finish)


def _in_thread(
    method: Callable[Concatenate[Any, P], R],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """A journal-only `History` method as an `AsyncHistory` one, run in a worker thread."""

    async def in_thread(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, self, *args, **kwargs)

    functools.update_wrapper(in_thread, method)
    in_thread.__qualname__ = f"AsyncHistory.{method.__name__}"
    return in_thread


class AsyncHistory(_HistoryBase):
    """`client.history` of an `AsyncKittaClient`: the same methods, awaitable.

    The journal-only methods are `History`'s own, run in a worker thread;
    only the ones that talk to the server are written again, with `await`.
    """

    def __init__(self, client: AsyncKittaClient) -> None:
        super().__init__(client)
        self._async_client = client

    items = _in_thread(History.items)
    count = _in_thread(History.count)
    summary = _in_thread(History.summary)
    get = _in_thread(History.get)
    unresolved = _in_thread(History.unresolved)
    to_pandas = _in_thread(History.to_pandas)
    kept = _in_thread(History.kept)
    record_kept = _in_thread(History.record_kept)
    forget_kept = _in_thread(History.forget_kept)
    kept_total_bytes = _in_thread(History.kept_total_bytes)
    kept_oldest = _in_thread(History.kept_oldest)
    label = _in_thread(History.label)
    unlabel = _in_thread(History.unlabel)
    set_labels = _in_thread(History.set_labels)
    note = _in_thread(History.note)

    async def tasks(self, **filters: Any) -> list[LipSyncTask]:
        return self._bound_tasks(await self.items(**filters))

    async def __aiter__(self) -> AsyncIterator[JournalEntry]:
        """See `History.__iter__`."""
        journal = self.journal
        known_tasks: set[str] = set()
        batches = journal_entries(journal, known_tasks)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            for entry in batch:
                yield entry
        walk = ServerWalk(journal)
        while walk.more:
            page = await self._async_client.lip_sync.list(limit=100, offset=walk.offset)
            tasks = await asyncio.to_thread(walk.take, page)
            for found in await asyncio.to_thread(server_only, journal, tasks, known_tasks):
                yield found

    async def sync(self, *, max_pages: int | None = None) -> SyncReport:
        """See `History.sync`."""
        walk = ServerWalk(self.journal, max_pages)
        while walk.more:
            page = await self._async_client.lip_sync.list(limit=100, offset=walk.offset)
            await asyncio.to_thread(walk.take, page)
        for task_id in walk.to_detail():
            try:
                await self._async_client.lip_sync.get(task_id)
            except NotFoundError:
                continue
            walk.detailed += 1
        return walk.report()

    async def refresh(
        self,
        *,
        mode: str | None = None,
        since: DateLike = None,
        until: DateLike = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
    ) -> list[LipSyncTask]:
        """See `History.refresh`."""
        filters = (None, mode, since, until, label, search, None)
        found: list[LipSyncTask] = []
        for task_id in await asyncio.to_thread(self._active_task_ids, filters):
            try:
                found.append(await self._async_client.lip_sync.get(task_id))
            except NotFoundError:
                continue
        return found

    async def reconcile(self, **options: Any) -> ReconcileReport:
        """See `History.reconcile`."""
        return await areconcile_journal(self.journal, self._async_client, **options)
