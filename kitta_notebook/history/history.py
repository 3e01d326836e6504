"""`client.history`: the journal merged with the server's task list, and `resume()`.

The journal knows what this machine sent (inputs, labels, downloads, kept
files, creates of unknown outcome); the server knows every task of the
account, including ones created elsewhere. History reads the journal in
pages and pulls the server's list page by page only when asked (`sync()`,
`reconcile()`, or iterating past the journal). `History` is the one engine;
`AsyncHistory` runs its methods on a worker thread (`_bridge`).
"""

from __future__ import annotations

import email.utils
import functools
import importlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .. import _bridge, _core, _responses
from ..errors import JournalError, KittaError, NotFoundError, ValidationError
from ..models import LipSyncTask
from ..validation import validate_list_params
from .entry import (
    STATE_UNKNOWN_STATUS,
    STATES,
    DateLike,
    Filters,
    JournalEntry,
    JournalSummary,
    KeptResult,
    Query,
    now,
)
from .keys import HOST
from .reconcile import (
    DEFAULT_MAX_SKEW,
    DateSample,
    Pending,
    ReconcileReport,
    estimate_clock,
    plan,
    undated_candidates,
)
from .store import JournalStore, Ref, ref_text

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._client import AsyncKittaClient, KittaClient
    from .._client import KittaClient as ClientBase

__all__ = [
    "PAGE_SIZE",
    "AsyncHistory",
    "History",
    "ResumedTasks",
    "SyncReport",
    "entry_record",
    "state_names",
]

P = ParamSpec("P")
R = TypeVar("R")
PAGE_SIZE = 100
_JOURNAL_BATCH = 500
MAX_DETAILS_PER_SYNC = 50
"""At most this many details are fetched per sync to fill in what list items lack."""
# The states of a task that exists and has not finished (what `refresh()` fetches).
_ACTIVE = ("pending", "processing", STATE_UNKNOWN_STATUS)
# The columns of `to_pandas()`, in order.
_COLUMN_NAMES = (
    "task_id state status source creator account outcome model input_mode credits "
    "duration_seconds created_at requested_at completed_at labels note key video_url image_url "
    "audio_url reference_image_url download_path error_code error_message outcome_error entry_id"
)
COLUMNS = tuple(_COLUMN_NAMES.split())


@dataclass(frozen=True)
class SyncReport:
    """What one walk of the server's list brought in."""

    pages: int
    seen: int
    new: int
    detailed: int = 0
    """Tasks whose detail was fetched for what a list item lacks (model, created time)."""


def entry_record(entry: JournalEntry) -> dict[str, Any]:
    """One entry as a flat dict (a `to_pandas()` row)."""
    return {
        name: list(entry.labels) if name == "labels" else getattr(entry, name) for name in COLUMNS
    }


def _frame(entries: list[JournalEntry]) -> Any:
    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        raise ImportError(
            "to_pandas() needs pandas, which is an optional extra: "
            "pip install 'kitta-notebook[pandas]'"
        ) from None
    return pandas.DataFrame([entry_record(e) for e in entries], columns=list(COLUMNS))


def journal_of(client: ClientBase) -> JournalStore:
    journal = client.journal
    if journal is None:
        reason = "it was turned off (journal=False)" if client.has_token else "no API token is set"
        raise JournalError(f"this client has no task journal: {reason}.")
    return journal


@dataclass
class _Walk:
    """How far a walk of the server's list got, and what it learnt on the way."""

    pages: int = 0
    seen: int = 0
    new: int = 0
    done: bool = False
    dates: list[DateSample] = field(default_factory=list)
    """Each list response's `Date` header, with when it was asked and answered."""
    undated: list[str] = field(default_factory=list)
    """Tasks known only from list items (no model, no created time): their detail is due."""


class History:
    """`client.history` of a `KittaClient`.

    >>> h = client.history
    >>> h.sync()                                  # pull in tasks created elsewhere
    >>> h.items(status="failed", search="promo")  # newest first, from the journal
    >>> h.to_pandas(since="2026-07-01")
    """

    def __init__(self, client: KittaClient) -> None:
        self._client = client

    @property
    def journal(self) -> JournalStore:
        return journal_of(self._client)

    # --- reading ---------------------------------------------------------------------------
    def items(
        self,
        *,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
        **filters: Unpack[Filters],
    ) -> list[JournalEntry]:
        """Journal entries matching every filter given, sorted, one page at a time.

        `status` takes task statuses and `outcome_unknown`, `rejected`,
        `not_created`; `search` looks in the input URLs and task ids; `source`
        is `local` (sent from here) or `server` (created elsewhere); `creator`
        (one person or several) keeps the creates they sent; `mode`, `since`,
        `until` and `label` narrow it further. Call `sync()` first to
        include tasks created elsewhere.
        """
        query = Query.build(**filters)
        return self.journal.entries(
            query, sort=sort, descending=descending, limit=limit, offset=offset
        )

    def count(self, **filters: Unpack[Filters]) -> int:
        """How many entries match the filters of `items()`."""
        return self.journal.count(Query.build(**filters))

    def summary(self, *, at_most: int | None = None, **filters: Unpack[Filters]) -> JournalSummary:
        """Counts by state and credits charged over the filtered set, and kept bytes.

        `at_most`: a search matching more entries than that is not counted to the end
        (`JournalSummary.more`), as the history browser does; filters the kept totals
        answer (state, mode, source, who, one label) are always counted exactly."""
        if at_most is not None and (
            isinstance(at_most, bool) or not isinstance(at_most, int) or at_most < 1
        ):
            raise ValidationError([("at_most", "at_most must be a whole number ≥ 1, or None.")])
        return self.journal.summary(Query.build(**filters), at_most=at_most)

    def get(self, ref: Ref) -> JournalEntry | None:
        return self.journal.get(ref)

    def creators(self) -> list[str]:
        """Everyone who sent a create recorded here, sorted (the values `creator` takes)."""
        return self.journal.creators()

    def unresolved(self) -> list[JournalEntry]:
        """Creates whose outcome is unknown: they may have made a task (see `reconcile`)."""
        return self.journal.unresolved()

    def tasks(self, /, **filters: Any) -> list[LipSyncTask]:
        """The matching entries that have a task, as `LipSyncTask`s bound to this client."""
        found = (entry.task(self._client) for entry in self.items(**filters))
        return [task for task in found if task is not None]

    def to_pandas(
        self,
        *,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        **filters: Unpack[Filters],
    ) -> Any:
        """A pandas DataFrame, one row per entry (needs the `[pandas]` extra)."""
        _frame([])  # fail on a missing pandas before reading anything
        return _frame(self.items(sort=sort, descending=descending, limit=limit, **filters))

    # --- kept results ----------------------------------------------------------------------
    def kept(self, ref: Ref) -> KeptResult | None:
        """The locally kept copy of a task's result (path, size, sha256), if any."""
        return self.journal.kept(ref_text(ref))

    def record_kept(self, ref: Ref, path: str, size: int, sha256: str) -> None:
        self.journal.record_kept(ref_text(ref), path, size, sha256)

    def forget_kept(self, ref: Ref) -> None:
        self.journal.forget_kept(ref_text(ref))

    def kept_total_bytes(self) -> int:
        return self.journal.kept_total_bytes()

    def kept_oldest(self, n: int) -> list[KeptResult]:
        """The `n` oldest kept copies, for an oldest-first clean-up."""
        return self.journal.kept_oldest(n)

    # --- writing ---------------------------------------------------------------------------
    def label(self, ref: Ref, *labels: str) -> None:
        """Add labels to a task (by task id, task or entry)."""
        self.journal.add_labels(ref, *labels)

    def unlabel(self, ref: Ref, *labels: str) -> None:
        self.journal.remove_labels(ref, *labels)

    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        self.journal.set_labels(ref, labels)

    def note(self, ref: Ref, text: str | None) -> None:
        self.journal.set_note(ref, text)

    # --- talking to the server -------------------------------------------------------------
    def __iter__(self) -> Iterator[JournalEntry]:
        """Every entry, newest first, then tasks only the server knows (pages fetched lazily)."""
        journal = self.journal
        known_tasks: set[str] = set()
        seen_entries: set[str] = set()
        offset = 0
        while True:
            batch = journal.entries(limit=_JOURNAL_BATCH, offset=offset)
            for entry in batch:
                if entry.entry_id not in seen_entries:  # rows may shift while paging
                    seen_entries.add(entry.entry_id)
                    known_tasks.update([entry.task_id] if entry.task_id else [])
                    yield entry
            if len(batch) < _JOURNAL_BATCH:
                break
            offset += _JOURNAL_BATCH
        for tasks in self._walk(_Walk()):
            for task in tasks:
                if task.task_id not in known_tasks:
                    known_tasks.add(task.task_id)
                    found = journal.get(task.task_id)
                    if found is not None:
                        yield found

    def _walk(self, walk: _Walk, max_pages: int | None = None) -> Iterator[list[LipSyncTask]]:
        """Read the server's list page by page into the journal; yields each page's tasks."""
        client, journal = self._client, self.journal
        offset = 0
        while max_pages is None or walk.pages < max_pages:
            _bridge.check_cancelled()  # between pages: nothing is half done
            sent = now()
            params = validate_list_params(PAGE_SIZE, offset, None)
            response = client._request("GET", _core.TASKS_PATH, params=params)
            received = now()
            page = _responses.parse_page(response, client, PAGE_SIZE, offset)
            walk.pages += 1
            walk.seen += len(page.data)
            walk.new += journal.record_seen_many(page.data)
            listed = [t.task_id for t in page.data if t.created_at is None]
            if listed and len(walk.undated) < MAX_DETAILS_PER_SYNC:
                walk.undated += journal.undated_task_ids(listed)
            date = _server_date(response.headers.get("date"))
            if date is not None:
                walk.dates.append(DateSample(server=date, sent=sent, received=received))
            yield page.data
            if page.next_offset is None:
                walk.done = True
                return
            offset = page.next_offset

    def sync(self, *, max_pages: int | None = None) -> SyncReport:
        """Walk the server's list page by page and record every task in the journal."""
        walk = _Walk()
        for _tasks in self._walk(walk, max_pages):
            pass
        detailed = 0
        for task_id in walk.undated[:MAX_DETAILS_PER_SYNC]:  # the rest at the next sync
            try:
                self._client.lip_sync.get(task_id)  # the client records each detail it gets
            except NotFoundError:
                continue
            detailed += 1
        return SyncReport(pages=walk.pages, seen=walk.seen, new=walk.new, detailed=detailed)

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
        unfinished = self.items(
            status=_ACTIVE, mode=mode, since=since, until=until, label=label, search=search
        )
        found: list[LipSyncTask] = []
        for entry in unfinished:
            if entry.task_id is None:
                continue
            try:
                found.append(self._client.lip_sync.get(entry.task_id))
            except NotFoundError:
                continue
        return found

    def reconcile(
        self,
        *,
        window: float = 600.0,
        skew: float = 120.0,
        settle: float = 60.0,
        max_pages: int | None = None,
        max_skew: float = DEFAULT_MAX_SKEW,
    ) -> ReconcileReport:
        """Match creates of unknown outcome to server tasks.

        A server task no other entry claimed matches when its model and input
        mode agree and its createdAt fits the request time under the server
        clock's measured offset; a create is marked `not_created` only after
        the whole list was read and no task could be it under any offset the
        evidence allows (see `reconcile.plan` for `window`, `skew`, `settle`
        and `max_skew`).
        """
        journal = self.journal
        pending = [
            Pending(
                e.entry_id,
                e.requested_at.timestamp() if e.requested_at else None,
                e.model,
                e.input_mode,
                local=e.host in (None, HOST),
            )
            for e in journal.unresolved()
        ]
        if not pending:
            return ReconcileReport(complete=True)
        walk = _Walk()
        for _tasks in self._walk(walk, max_pages):
            pass
        for task_id in undated_candidates(pending, journal.server_only_tasks()):
            try:
                self._client.lip_sync.get(task_id)  # the detail has createdAt; `seen` records it
            except KittaError:
                continue
        report = plan(
            pending,
            journal.server_only_tasks(),  # again: the details fetched dated some
            clock=estimate_clock(journal.create_delays(), walk.dates, max_skew=max_skew),
            now=now(),
            complete=walk.done,
            window=window,
            skew=skew,
            settle=settle,
            max_skew=max_skew,
        )
        report.pages = walk.pages
        for entry_id, task_id in report.matched:
            journal.record_matched(entry_id, task_id)
        for entry_id in report.absent:
            journal.record_not_created(entry_id)
        return report

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        try:
            journal = self.journal
            entries = journal.entries(limit=20)
            summary = journal.summary()
        except KittaError as exc:
            return {"text/plain": f"History unavailable: {exc}"}
        from ..display.history_html import history_mimebundle  # imported when shown

        return history_mimebundle(entries, summary)


def _server_date(header: str | None) -> float | None:
    """A `Date` header as epoch seconds (None when absent or unreadable)."""
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _awaitable(
    method: Callable[Concatenate[History, P], R],
) -> Callable[Concatenate[AsyncHistory, P], Coroutine[Any, Any, R]]:
    """`History.method` as an `AsyncHistory` method: run on a worker thread, no logic."""

    async def run(self: AsyncHistory, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await _bridge.run_sync(method, self._sync, *args, **kwargs)

    functools.update_wrapper(run, method)
    run.__qualname__ = f"AsyncHistory.{method.__name__}"
    return run


class AsyncHistory:
    """`client.history` of an `AsyncKittaClient`: `History`'s methods, awaitable."""

    def __init__(self, client: AsyncKittaClient) -> None:
        self._sync = History(client.as_sync())

    @property
    def journal(self) -> JournalStore:
        return self._sync.journal

    items = _awaitable(History.items)
    count = _awaitable(History.count)
    summary = _awaitable(History.summary)
    get = _awaitable(History.get)
    creators = _awaitable(History.creators)
    unresolved = _awaitable(History.unresolved)
    tasks = _awaitable(History.tasks)
    to_pandas = _awaitable(History.to_pandas)
    kept = _awaitable(History.kept)
    record_kept = _awaitable(History.record_kept)
    forget_kept = _awaitable(History.forget_kept)
    kept_total_bytes = _awaitable(History.kept_total_bytes)
    kept_oldest = _awaitable(History.kept_oldest)
    label = _awaitable(History.label)
    unlabel = _awaitable(History.unlabel)
    set_labels = _awaitable(History.set_labels)
    note = _awaitable(History.note)
    sync = _awaitable(History.sync)
    refresh = _awaitable(History.refresh)
    reconcile = _awaitable(History.reconcile)

    def __aiter__(self) -> AsyncIterator[JournalEntry]:
        """See `History.__iter__`."""
        return _bridge.iterate_sync(lambda: iter(self._sync))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return self._sync._repr_mimebundle_(include, exclude)


# --- what resume() found (`kitta_notebook.resume`) --------------------------------------
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


def state_names() -> tuple[str, ...]:
    """Every state a status filter may name."""
    return STATES
