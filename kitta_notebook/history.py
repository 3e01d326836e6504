"""`client.history`: the local journal merged with the server's task list, and `resume()`.

The journal knows what this machine sent (inputs, labels, downloads, creates
of unknown outcome); the server knows every task of the account, including
ones created elsewhere. History reads the journal in SQL pages and pulls the
server's list in page by page, only when asked (`sync()`, or iterating past
the journal), so a large history never has to be loaded at once.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .errors import KittaError, NotFoundError
from .journal import (
    STATES,
    Journal,
    JournalEntry,
    JournalError,
    JournalSummary,
    Query,
    ReconcileReport,
)
from .models import LipSyncTask, Page, TaskStatus

if TYPE_CHECKING:
    from ._async_client import AsyncKittaClient
    from ._base import ClientBase
    from ._client import KittaClient

__all__ = [
    "AsyncHistory",
    "History",
    "ResumedTasks",
    "SyncReport",
    "entry_record",
    "resume",
]

DateLike = datetime | date | str | float | None
StatusFilter = str | TaskStatus | Iterable[str | TaskStatus] | None
PAGE_SIZE = 100
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class SyncReport:
    """What one walk of the server's list brought in."""

    pages: int
    seen: int
    new: int


def _journal_of(client: ClientBase) -> Journal:
    journal = client.journal
    if journal is None:
        reason = "it was turned off (journal=False)" if client.has_token else "no API token is set"
        raise JournalError(f"this client has no task journal: {reason}.")
    return journal


def _query(
    status: StatusFilter,
    mode: str | None,
    since: DateLike,
    until: DateLike,
    label: str | Iterable[str] | None,
    search: str | None,
    source: str | None,
) -> Query:
    return Query.build(
        status=status,
        mode=mode,
        since=since,
        until=until,
        label=label,
        search=search,
        source=source,
    )


def entry_record(entry: JournalEntry) -> dict[str, Any]:
    """One entry as a flat dict (a `to_pandas()` row)."""
    return {
        "task_id": entry.task_id,
        "state": entry.state,
        "status": entry.status,
        "source": entry.source,
        "outcome": entry.outcome,
        "model": entry.model,
        "input_mode": entry.input_mode,
        "credits": entry.credits,
        "duration_seconds": entry.duration_seconds,
        "created_at": entry.created_at,
        "requested_at": entry.requested_at,
        "completed_at": entry.completed_at,
        "labels": list(entry.labels),
        "note": entry.note,
        "key": entry.key,
        "video_url": entry.video_url,
        "image_url": entry.image_url,
        "audio_url": entry.audio_url,
        "reference_image_url": entry.reference_image_url,
        "download_path": entry.download_path,
        "error_code": entry.error_code,
        "error_message": entry.error_message,
        "outcome_error": entry.outcome_error,
        "entry_id": entry.entry_id,
    }


def _pandas() -> Any:
    import importlib

    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        raise ImportError(
            "to_pandas() needs pandas, which is an optional extra: "
            "pip install 'kitta-notebook[pandas]'"
        ) from None
    return pandas


_EMPTY_COLUMNS = (
    "task_id",
    "state",
    "status",
    "source",
    "outcome",
    "model",
    "input_mode",
    "credits",
    "duration_seconds",
    "created_at",
    "requested_at",
    "completed_at",
    "labels",
    "note",
    "key",
    "video_url",
    "image_url",
    "audio_url",
    "reference_image_url",
    "download_path",
    "error_code",
    "error_message",
    "outcome_error",
    "entry_id",
)
JOURNAL_BATCH = 500

# The filters of `items()`, `count()`, `summary()` and `to_pandas()`, in `_query`'s order.
_Filters = tuple[
    StatusFilter,
    str | None,
    DateLike,
    DateLike,
    str | Iterable[str] | None,
    str | None,
    str | None,
]
Ref = JournalEntry | LipSyncTask | str


def _journal_entries(journal: Journal, known_tasks: set[str]) -> Iterator[JournalEntry]:
    """The journal half of iterating a history: every entry once, newest first.

    Adds each entry's task id to `known_tasks`, so the server half skips them.
    """
    seen_ids: set[str] = set()
    offset = 0
    while True:
        batch = journal.entries(limit=JOURNAL_BATCH, offset=offset)
        for entry in batch:
            if entry.entry_id not in seen_ids:
                seen_ids.add(entry.entry_id)
                if entry.task_id:
                    known_tasks.add(entry.task_id)
                yield entry
        if len(batch) < JOURNAL_BATCH:
            return
        offset += JOURNAL_BATCH


def _server_only(
    journal: Journal, tasks: Iterable[LipSyncTask], known_tasks: set[str]
) -> Iterator[JournalEntry]:
    """The entries of a server page's tasks not yet in `known_tasks` (already recorded)."""
    for task in tasks:
        if task.task_id in known_tasks:
            continue
        known_tasks.add(task.task_id)
        found = journal.get(task.task_id)
        if found is not None:
            yield found


@dataclass
class _ServerWalk:
    """Where a walk of the server's list stands; the twins only fetch the pages.

    >>> walk = _ServerWalk(journal)
    >>> while walk.more:
    ...     walk.take(client.lip_sync.list(limit=PAGE_SIZE, offset=walk.offset))
    """

    journal: Journal
    max_pages: int | None = None
    offset: int = 0
    pages: int = 0
    seen: int = 0
    new: int = 0
    done: bool = False

    @property
    def more(self) -> bool:
        return not self.done and (self.max_pages is None or self.pages < self.max_pages)

    def take(self, page: Page) -> list[LipSyncTask]:
        """Record one page's tasks in the journal and step on; returns them."""
        self.pages += 1
        self.seen += len(page.data)
        self.new += self.journal.record_seen_many(page.data)
        next_offset = page.next_offset
        if next_offset is None:
            self.done = True
        else:
            self.offset = next_offset
        return page.data

    def report(self) -> SyncReport:
        return SyncReport(pages=self.pages, seen=self.seen, new=self.new)


class _HistoryBase:
    """The local (journal) side, shared by the sync and async histories.

    Everything here is free of network I/O; `History` and `AsyncHistory` add
    only the calls to the server (`lip_sync.list` / `lip_sync.get`).
    """

    def __init__(self, client: ClientBase) -> None:
        self._client = client

    @property
    def journal(self) -> Journal:
        return _journal_of(self._client)

    def _items(
        self,
        query: Query,
        sort: str,
        descending: bool,
        limit: int | None,
        offset: int,
    ) -> list[JournalEntry]:
        return self.journal.entries(
            query, sort=sort, descending=descending, limit=limit, offset=offset
        )

    def _count(self, filters: _Filters) -> int:
        return self.journal.count(_query(*filters))

    def _summary(self, filters: _Filters) -> JournalSummary:
        return self.journal.summary(_query(*filters))

    def _bound_tasks(self, entries: Iterable[JournalEntry]) -> list[LipSyncTask]:
        """The entries that have a task, as `LipSyncTask`s bound to this client."""
        found = []
        for entry in entries:
            task = entry.task(self._client)
            if task is not None:
                found.append(task)
        return found

    def _table(self, filters: _Filters, sort: str, descending: bool, limit: int | None) -> Any:
        _pandas()
        entries = self._items(_query(*filters), sort, descending, limit, 0)
        return self._frame(entries)

    def _frame(self, entries: list[JournalEntry]) -> Any:
        pandas = _pandas()
        columns = list(entry_record(entries[0])) if entries else list(_EMPTY_COLUMNS)
        return pandas.DataFrame([entry_record(e) for e in entries], columns=columns)

    def _active_task_ids(
        self,
        mode: str | None,
        since: DateLike,
        until: DateLike,
        label: str | Iterable[str] | None,
        search: str | None,
    ) -> list[str]:
        """The task ids of the unfinished entries matching the filters, for `refresh()`."""
        query = _query(None, mode, since, until, label, search, None)
        active_ids = {e.entry_id for e in self.journal.active()}
        return [
            e.task_id
            for e in self.journal.entries(query)
            if e.entry_id in active_ids and e.task_id is not None
        ]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from ._history_html import history_html, history_text

        try:
            journal = self.journal
            entries = journal.entries(limit=20)
            summary = journal.summary()
        except (JournalError, KittaError) as exc:
            message = f"History unavailable: {exc}"
            return {"text/plain": message}
        return {
            "text/plain": history_text(entries, summary),
            "text/html": history_html(entries, summary),
        }


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
        query = _query(status, mode, since, until, label, search, source)
        return self._items(query, sort, descending, limit, offset)

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
        return self._count((status, mode, since, until, label, search, source))

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
        """Counts by state and credits charged over the filtered set."""
        return self._summary((status, mode, since, until, label, search, source))

    def get(self, ref: Ref) -> JournalEntry | None:
        return self.journal.get(ref)

    def unresolved(self) -> list[JournalEntry]:
        """Creates whose outcome is unknown: they may have made a task (see `reconcile`)."""
        return self.journal.unresolved()

    def __iter__(self) -> Iterator[JournalEntry]:
        """Every entry, newest first, then tasks only the server knows (pages fetched lazily)."""
        journal = self.journal
        known_tasks: set[str] = set()
        yield from _journal_entries(journal, known_tasks)
        walk = _ServerWalk(journal)
        while walk.more:
            page = self._sync_client.lip_sync.list(limit=PAGE_SIZE, offset=walk.offset)
            yield from _server_only(journal, walk.take(page), known_tasks)

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
        filters = (status, mode, since, until, label, search, source)
        return self._table(filters, sort, descending, limit)

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
    def sync(self, *, max_pages: int | None = None) -> SyncReport:
        """Walk the server's list page by page and record every task in the journal."""
        walk = _ServerWalk(self.journal, max_pages)
        while walk.more:
            walk.take(self._sync_client.lip_sync.list(limit=PAGE_SIZE, offset=walk.offset))
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
        for task_id in self._active_task_ids(mode, since, until, label, search):
            try:
                found.append(self._sync_client.lip_sync.get(task_id))
            except NotFoundError:
                continue
        return found

    def reconcile(self, **options: Any) -> ReconcileReport:
        """Match creates of unknown outcome to server tasks; see `Journal.reconcile`."""
        return self.journal.reconcile(self._sync_client, **options)


def _awaitable(
    method: Callable[Concatenate[Any, P], R],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """A journal-only `History` method as an `AsyncHistory` one: same signature, awaitable."""

    async def awaitable(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(self, *args, **kwargs)

    functools.update_wrapper(awaitable, method)
    awaitable.__qualname__ = f"AsyncHistory.{method.__name__}"
    return awaitable


class AsyncHistory(_HistoryBase):
    """`client.history` of an `AsyncKittaClient`: the same methods, awaitable.

    The journal-only methods are `History`'s own, made awaitable; only the
    ones that talk to the server are written again, with `await`.
    """

    def __init__(self, client: AsyncKittaClient) -> None:
        super().__init__(client)
        self._async_client = client

    items = _awaitable(History.items)
    count = _awaitable(History.count)
    summary = _awaitable(History.summary)
    get = _awaitable(History.get)
    unresolved = _awaitable(History.unresolved)
    to_pandas = _awaitable(History.to_pandas)
    label = _awaitable(History.label)
    unlabel = _awaitable(History.unlabel)
    set_labels = _awaitable(History.set_labels)
    note = _awaitable(History.note)

    async def __aiter__(self) -> AsyncIterator[JournalEntry]:
        """See `History.__iter__`."""
        journal = self.journal
        known_tasks: set[str] = set()
        for entry in _journal_entries(journal, known_tasks):
            yield entry
        walk = _ServerWalk(journal)
        while walk.more:
            page = await self._async_client.lip_sync.list(limit=PAGE_SIZE, offset=walk.offset)
            for found in _server_only(journal, walk.take(page), known_tasks):
                yield found

    async def tasks(self, **filters: Any) -> list[LipSyncTask]:
        return self._bound_tasks(await self.items(**filters))

    async def sync(self, *, max_pages: int | None = None) -> SyncReport:
        """See `History.sync`."""
        walk = _ServerWalk(self.journal, max_pages)
        while walk.more:
            walk.take(await self._async_client.lip_sync.list(limit=PAGE_SIZE, offset=walk.offset))
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
        found: list[LipSyncTask] = []
        for task_id in self._active_task_ids(mode, since, until, label, search):
            try:
                found.append(await self._async_client.lip_sync.get(task_id))
            except NotFoundError:
                continue
        return found

    async def reconcile(self, **options: Any) -> ReconcileReport:
        return await self.journal.areconcile(self._async_client, **options)


# --- resume ------------------------------------------------------------------------------
class ResumedTasks(list[LipSyncTask]):
    """The tasks `resume()` re-attached to, plus what it could not resolve."""

    def __init__(self, tasks: Iterable[LipSyncTask] = ()) -> None:
        super().__init__(tasks)
        self.watchers: list[Any] = []
        self.unresolved: list[JournalEntry] = []
        self.missing: list[JournalEntry] = []
        self.reconcile_report: ReconcileReport | None = None

    def __repr__(self) -> str:
        states = ", ".join(f"{t.task_id}: {t.status_text}" for t in self)
        extra = f"; {len(self.unresolved)} of unknown outcome" if self.unresolved else ""
        return f"ResumedTasks([{states}]{extra})"


def resume(
    client: KittaClient | None = None,
    *,
    watch: bool = True,
    reconcile: bool = True,
    lang: str = "en",
    poll_interval: float | None = None,
    timeout: float | None = None,
) -> ResumedTasks:
    """Pick up the tasks that were running when the last kernel died.

    Unknown-outcome creates are reconciled against the server's list first;
    then every journalled task that had not finished is fetched again and,
    with `watch=True`, shown with a live view (`task.watch()`). Returns the
    tasks; `.unresolved` lists creates whose outcome is still unknown.
    Without `client`, `connect()` is used (configure `KITTA_API_TOKEN` /
    `KITTA_BASE_URL` so it reaches the same service and account as before).
    """
    if client is None:
        from .connection import connect

        client = connect(quiet=True)
    journal = _journal_of(client)
    result = ResumedTasks()
    if reconcile and journal.unresolved():
        try:
            result.reconcile_report = journal.reconcile(client)
        except KittaError as exc:
            warnings.warn(f"resume(): could not reconcile with the server: {exc}", stacklevel=2)
    result.unresolved = journal.unresolved()
    for entry in journal.active():
        assert entry.task_id is not None
        try:
            task = client.lip_sync.get(entry.task_id)
        except NotFoundError:
            result.missing.append(entry)
            continue
        except KittaError:
            # The server is unreachable right now: keep the last state; the view polls on.
            stale = entry.task(client)
            if stale is None:
                continue
            task = stale
        result.append(task)
    if watch:
        for task in result:
            result.watchers.append(
                task.watch(lang=lang, poll_interval=poll_interval, timeout=timeout)
            )
    if result.unresolved:
        warnings.warn(
            f"resume(): {len(result.unresolved)} create(s) of unknown outcome remain; "
            "see client.history.unresolved() and client.history.reconcile().",
            stacklevel=2,
        )
    return result


def state_names() -> tuple[str, ...]:
    """Every state a status filter may name."""
    return STATES
