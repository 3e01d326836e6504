"""What `History` and `AsyncHistory` share: every step except the I/O.

The twins differ only in how they call the server (`client._request` /
`await client._request`) and where journal work runs (in place / in a
worker thread). Walking the list, recording pages, reconcile bookkeeping and
the table rows are written once, here.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from .. import _responses
from ..errors import JournalError
from ..models import LipSyncTask, Page, TaskStatus
from ..validation import validate_list_params
from .entry import JournalEntry, now
from .journal import Journal
from .query import Query
from .reconcile import (
    DEFAULT_MAX_SKEW,
    Candidate,
    DateSample,
    Pending,
    ReconcileReport,
    estimate_clock,
    plan,
    undated_candidates,
)

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase

__all__ = [
    "PAGE_SIZE",
    "DateLike",
    "Filters",
    "ReconcileRun",
    "ServerWalk",
    "StatusFilter",
    "SyncReport",
    "entry_record",
    "journal_of",
    "list_params",
    "make_query",
    "page_of",
]

DateLike = datetime | date | str | float | None
StatusFilter = str | TaskStatus | Iterable[str | TaskStatus] | None
PAGE_SIZE = 100
JOURNAL_BATCH = 500

# The filters of `items()`, `count()`, `summary()` and `to_pandas()`, in `make_query`'s order.
Filters = tuple[
    StatusFilter,
    str | None,
    DateLike,
    DateLike,
    str | Iterable[str] | None,
    str | None,
    str | None,
]

COLUMNS = (
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


@dataclass(frozen=True)
class SyncReport:
    """What one walk of the server's list brought in."""

    pages: int
    seen: int
    new: int
    detailed: int = 0
    """Tasks whose detail was fetched for what a list item lacks (model, created time)."""


def journal_of(client: ClientBase) -> Journal:
    journal = client.journal
    if journal is None:
        reason = "it was turned off (journal=False)" if client.has_token else "no API token is set"
        raise JournalError(f"this client has no task journal: {reason}.")
    return journal


def make_query(*filters: Any) -> Query:
    status, mode, since, until, label, search, source = filters
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
    values = {
        "labels": list(entry.labels),
        "key": entry.key,
        "error_code": entry.error_code,
        "error_message": entry.error_message,
    }
    return {name: values[name] if name in values else getattr(entry, name) for name in COLUMNS}


def frame(entries: list[JournalEntry]) -> Any:
    import importlib

    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        raise ImportError(
            "to_pandas() needs pandas, which is an optional extra: "
            "pip install 'kitta-notebook[pandas]'"
        ) from None
    return pandas.DataFrame([entry_record(e) for e in entries], columns=list(COLUMNS))


def journal_entries(journal: Journal, known_tasks: set[str]) -> Iterator[list[JournalEntry]]:
    """The journal half of iterating a history, in batches, newest first.

    Adds each entry's task id to `known_tasks`, so the server half skips them.
    Yields batches (not entries) so the async twin can read each in a thread.
    """
    seen_ids: set[str] = set()
    offset = 0
    while True:
        batch = journal.entries(limit=JOURNAL_BATCH, offset=offset)
        fresh = [e for e in batch if e.entry_id not in seen_ids]
        for entry in fresh:
            seen_ids.add(entry.entry_id)
            if entry.task_id:
                known_tasks.add(entry.task_id)
        yield fresh
        if len(batch) < JOURNAL_BATCH:
            return
        offset += JOURNAL_BATCH


def server_only(
    journal: Journal, tasks: Iterable[LipSyncTask], known_tasks: set[str]
) -> list[JournalEntry]:
    """The entries of a server page's tasks not yet in `known_tasks` (already recorded)."""
    found = []
    for task in tasks:
        if task.task_id in known_tasks:
            continue
        known_tasks.add(task.task_id)
        entry = journal.get(task.task_id)
        if entry is not None:
            found.append(entry)
    return found


def list_params(offset: int) -> dict[str, str | int]:
    return validate_list_params(PAGE_SIZE, offset, None)


def page_of(
    response: httpx.Response, client: ClientBase, offset: int, sent: float
) -> tuple[Page, DateSample | None]:
    """A list response as a page, plus the clock evidence of its `Date` header."""
    received = now()
    page = _responses.parse_page(response, client, PAGE_SIZE, offset)
    sample = None
    header = response.headers.get("date")
    if header:
        try:
            server = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            server = None
        if server is not None:
            sample = DateSample(server=server, sent=sent, received=received)
    return page, sample


MAX_DETAILS_PER_SYNC = 50
"""At most this many details are fetched per sync to fill in what list items lack."""


@dataclass
class ServerWalk:
    """Where a walk of the server's list stands; the twins only fetch the pages."""

    journal: Journal
    max_pages: int | None = None
    offset: int = 0
    pages: int = 0
    seen: int = 0
    new: int = 0
    done: bool = False
    dates: list[DateSample] = field(default_factory=list)
    undated: list[str] = field(default_factory=list)
    """Tasks known only from list items (no model, no created time): their detail is due."""
    detailed: int = 0

    @property
    def more(self) -> bool:
        return not self.done and (self.max_pages is None or self.pages < self.max_pages)

    def take(self, page: Page, sample: DateSample | None = None) -> list[LipSyncTask]:
        """Record one page's tasks in the journal and step on; returns them."""
        self.pages += 1
        self.seen += len(page.data)
        self.new += self.journal.record_seen_many(page.data)
        listed = [t.task_id for t in page.data if t.created_at is None]
        if listed and len(self.undated) < MAX_DETAILS_PER_SYNC:
            self.undated += self.journal.undated_task_ids(listed)
        if sample is not None:
            self.dates.append(sample)
        next_offset = page.next_offset
        if next_offset is None:
            self.done = True
        else:
            self.offset = next_offset
        return page.data

    def to_detail(self) -> list[str]:
        """The undated tasks to fetch in detail now (a bounded number per walk; the rest
        are still undated at the next one)."""
        return self.undated[:MAX_DETAILS_PER_SYNC]

    def report(self) -> SyncReport:
        return SyncReport(pages=self.pages, seen=self.seen, new=self.new, detailed=self.detailed)


@dataclass
class ReconcileRun:
    """One reconcile, step by step: the twins call these and do only the fetching.

    >>> run = ReconcileRun(journal)
    >>> if run.start():
    ...     while run.walk.more: run.walk.take(*fetch_page(run.walk.offset))
    ...     for task_id in run.undated(): fetch_detail(task_id)
    ... report = run.finish()
    """

    journal: Journal
    window: float = 600.0
    skew: float = 120.0
    settle: float = 60.0
    max_pages: int | None = None
    max_skew: float = DEFAULT_MAX_SKEW
    pending: list[Pending] = field(default_factory=list)
    walk: ServerWalk = field(init=False)

    def __post_init__(self) -> None:
        self.walk = ServerWalk(self.journal, self.max_pages)

    def start(self) -> bool:
        """Collect the creates of unknown outcome; False when there is nothing to do."""
        self.pending = [
            Pending(
                e.entry_id,
                None if e.requested_at is None else e.requested_at.timestamp(),
                e.model,
                e.input_mode,
            )
            for e in self.journal.unresolved()
        ]
        return bool(self.pending)

    def candidates(self) -> list[Candidate]:
        return [Candidate(*row) for row in self.journal.server_only_tasks()]

    def undated(self) -> list[str]:
        """Server tasks whose createdAt only their detail tells (fetched by the twins)."""
        return undated_candidates(self.pending, self.candidates())

    def finish(self) -> ReconcileReport:
        """Decide (pure `plan`) and write the decisions down."""
        if not self.pending:
            return ReconcileReport(complete=True)
        clock = estimate_clock(
            self.journal.create_delays(), self.walk.dates, max_skew=self.max_skew
        )
        report = plan(
            self.pending,
            self.candidates(),
            clock=clock,
            now=now(),
            complete=self.walk.done,
            window=self.window,
            skew=self.skew,
            settle=self.settle,
            max_skew=self.max_skew,
        )
        report.pages = self.walk.pages
        for entry_id, task_id in report.matched:
            self.journal.record_matched(entry_id, task_id)
        for entry_id in report.absent:
            self.journal.record_not_created(entry_id)
        return report
