"""`JournalStore`: what a journal's storage does, whatever the database under it.

Everything above it (`History`, reconcile, the client's recorder, key
claims) talks to this interface only; `journal.Journal` is the SQLite store,
`postgres.PostgresJournal` the PostgreSQL one (a team's).
A store keeps the rules every store must keep: a create is written down
(`sending`) before it is sent and becomes `created`, `rejected` or `unknown`
when it returns; a key is claimed in one atomic transaction (deciding with
`keys.decide`); an unchanged poll writes nothing; a database failure is
raised as `JournalError`, never as the driver's own exception. It may be
shared by threads (the async API runs it on worker threads) and processes.

Both SQL stores run their shared SQL through `Sql`, a store's connection as that SQL sees
it: `?` parameters, `MINE` where a condition is scoped to the store's account. A journal's
rows move between stores as plain values (`JournalRows`, `read_rows`, `add_rows`); `scope`
is the columns a store puts on every row (the PostgreSQL store's `account`, nothing for
SQLite).
"""

from __future__ import annotations

import abc
import os
import sys
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import JournalWarning
from ..models import LipSyncTask
from . import entry as e
from .entry import JournalEntry, JournalSummary, KeptResult, Query, text
from .keys import IN_FLIGHT, STALE_SENDING_SECONDS, KeyClaim, Owner, creator
from .reconcile import Candidate

__all__ = [
    "MINE",
    "Executes",
    "JournalRows",
    "JournalStore",
    "Ref",
    "Sql",
    "add_rows",
    "read_rows",
    "ref_text",
]

Ref = JournalEntry | LipSyncTask | str
_REMEMBERED = 2000
# Every sort the history offers, as the column it orders by (each store indexes them).
SORT_COLUMNS = {
    "created": "sort_ts",
    "credits": "credits",
    "updated": "updated_ts",
    "status": "state",
}


def ref_text(ref: Ref) -> str:
    """The id an entry is found by: its task's id, else (no task yet) its entry id."""
    if isinstance(ref, JournalEntry):
        return ref.task_id or ref.entry_id
    return e.storable(ref.task_id if isinstance(ref, LipSyncTask) else str(ref))


class JournalStore(abc.ABC):
    """The storage of one journal (one account's, or one identity's)."""

    def __init__(self) -> None:
        # The running embedded sandbox's origin, for a journal chosen by identity: its own
        # media were recorded without a port (`entry.portable`) and are read back against it.
        self.media_origin: str | None = None
        # The DTO last written per task: a poll that brings the same one writes nothing.
        self._last_dto: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._warned: set[str] = set()

    # --- creates ------------------------------------------------------------------------
    def record_request(
        self,
        body: Mapping[str, Any],
        key: str | None = None,
        *,
        published: Mapping[str, Any] | None = None,
        claim: str | None = None,
    ) -> str:
        """Write a create down (`sending`) before it is sent; returns the entry id.

        `published` says which inputs were local files published for it (never a
        credential). A `key` needs its `claim` token, checked in the same transaction
        as the write: a claim taken over by another process refuses the create.
        """
        clean = e.stored_body(body)
        request = {**clean, e.PUBLISHED_KEY: dict(published)} if published else clean
        owner = Owner.here()
        urls = zip(e.ENTRY_URLS, e.BODY_URLS, strict=True)
        row: dict[str, Any] = {
            "entry_id": uuid.uuid4().hex,
            "source": "local",
            "outcome": e.OUTCOME_SENDING,
            "state": e.STATE_OUTCOME_UNKNOWN,
            "model": e.text(clean.get("model")),
            "input_mode": e.text(clean.get("inputMode")) or "video",
            **{name: e.text(clean.get(wire)) for name, wire in urls},
            "duration_seconds": e.number(clean.get("durationSeconds")),
            "batch_key": key,
            "requested_ts": owner.since,
            "updated_ts": owner.since,
            "sort_ts": owner.since,
            "pid": owner.pid,
            "host": owner.host,
            "session": owner.session,
            "creator": creator(),
        }
        self._write_request(row, request, claim)
        IN_FLIGHT.add(row["entry_id"])
        return str(row["entry_id"])

    @abc.abstractmethod
    def _write_request(
        self, row: dict[str, Any], request: dict[str, Any], claim: str | None
    ) -> None:
        """Insert the `sending` row, its `request` stored with the inputs its key was
        claimed with; the claim is checked in the same transaction (`KeyInUseError`)."""

    @abc.abstractmethod
    def record_created(self, entry_id: str, task: LipSyncTask | Mapping[str, Any]) -> None:
        """The server answered 202: attach the taskId and the DTO to the entry."""

    @abc.abstractmethod
    def record_outcome(self, entry_id: str, *, rejected: bool, error: str) -> None:
        """A create failed: `rejected` when nothing can have been created, else unknown."""

    @abc.abstractmethod
    def record_matched(self, entry_id: str, task_id: str) -> None:
        """Reconcile tied an unknown create to this server task."""

    @abc.abstractmethod
    def record_not_created(self, entry_id: str) -> None:
        """Reconcile read the whole server list: this create never made a task."""

    # --- keys ---------------------------------------------------------------------------
    @abc.abstractmethod
    def claim_key(self, key: str, inputs: Mapping[str, Any]) -> KeyClaim:
        """Reserve `key` for one create, atomically, before anything is published or sent.

        Returns the task made earlier under the key from the same `inputs`, or a claim
        token for `record_request` and then `release_keys`; raises what `keys.decide`
        raises when the key may not be used now.
        """

    @abc.abstractmethod
    def release_keys(self, claims: Iterable[KeyClaim]) -> None:
        """Give claimed keys back (their creates were sent, or will not be)."""

    @abc.abstractmethod
    def task_id_for_key(self, key: str) -> str | None:
        """The task created earlier under a `key`; raises while one is unresolved."""

    # --- states seen, files, labels -----------------------------------------------------
    def record_seen(self, task: LipSyncTask | Mapping[str, Any]) -> None:
        """Keep the latest DTO of a task; a task first seen here is stored as `remote`."""
        self.record_seen_many([task])

    def record_seen_many(self, tasks: Iterable[LipSyncTask | Mapping[str, Any]]) -> int:
        """`record_seen` for many tasks at once; returns how many were new.

        A task whose DTO is the one this process last wrote is skipped from memory.
        """
        fresh: list[tuple[str, dict[str, Any]]] = []
        for task in tasks:
            raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
            task_id = text(raw.get("taskId"))
            if task_id and self._last_dto.get(task_id) != raw:
                fresh.append((task_id, raw))
        added = self._write_seen(fresh) if fresh else 0
        for task_id, raw in fresh:
            self._remember(task_id, raw)
        return added

    @abc.abstractmethod
    def _write_seen(self, tasks: list[tuple[str, dict[str, Any]]]) -> int:
        """Store these (task id, DTO) pairs, merged over what is stored; count the new.
        Writes only the rows that would change."""

    def _remember(self, task_id: str, raw: Mapping[str, Any]) -> None:
        self._last_dto[task_id] = dict(raw)
        self._last_dto.move_to_end(task_id)
        while len(self._last_dto) > _REMEMBERED:
            self._last_dto.popitem(last=False)

    @abc.abstractmethod
    def record_download(self, task: LipSyncTask | str, path: str | os.PathLike[str]) -> None:
        """Remember where a task's result video was saved on this machine."""

    @abc.abstractmethod
    def record_kept(
        self, task_id: str, path: str | os.PathLike[str], size: int, sha256: str
    ) -> None:
        """A result video kept (path, size, sha256): replaces an earlier copy."""

    @abc.abstractmethod
    def forget_kept(self, task_id: str) -> None:
        """Drop the record of a kept copy (after its file was cleaned up)."""

    @abc.abstractmethod
    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        """Replace an entry's labels (task id, entry id, task or entry)."""

    def add_labels(self, ref: Ref, *labels: str) -> None:
        current = self.get(ref)
        self.set_labels(ref, [*(current.labels if current else ()), *labels])

    def remove_labels(self, ref: Ref, *labels: str) -> None:
        current = self.get(ref)
        if current is not None:
            self.set_labels(ref, [x for x in current.labels if x not in labels])

    @abc.abstractmethod
    def set_note(self, ref: Ref, note: str | None) -> None: ...

    # --- reading ------------------------------------------------------------------------
    @abc.abstractmethod
    def get(self, ref: Ref) -> JournalEntry | None:
        """One entry by task id or entry id."""

    def entries(
        self,
        query: Query | None = None,
        *,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JournalEntry]:
        """One page of entries, filtered and sorted by `created`, `credits`, `updated` or
        `status`; entries without a value for the sort (no credits yet) go last either
        way. Any page of 100,000 entries is read in well under 100 ms."""
        column = SORT_COLUMNS.get(sort)
        if column is None:
            raise ValueError(f"sort must be one of {', '.join(SORT_COLUMNS)}, got {sort!r}")
        size = -1 if limit is None else max(0, int(limit))
        return self._page(query or Query(), column, descending, size, max(0, int(offset)))

    @abc.abstractmethod
    def _page(
        self, query: Query, column: str, descending: bool, size: int, offset: int
    ) -> list[JournalEntry]:
        """The entries ordered by `column`, then creation, NULLs last; `size` -1 is all."""

    @abc.abstractmethod
    def _aggregate(
        self, query: Query, at_most: int | None = None
    ) -> list[tuple[str, int, float]] | None:
        """(state, count, credits) over the filtered set, states without entries left out;
        None when `at_most` is given, the kept totals cannot answer and more entries match
        (then the rows are not all read: a broad search over a large history stays fast)."""

    def count(self, query: Query | None = None) -> int:
        return sum(n for _, n, _ in self._aggregate(query or Query()) or ())

    def summary(self, query: Query | None = None, *, at_most: int | None = None) -> JournalSummary:
        """Counts by state, credits charged (filtered set) and kept bytes (whole journal);
        with `at_most`, a set larger than that may be summed up as `more` (see the class)."""
        rows = self._aggregate(query or Query(), at_most)
        kept_bytes = self.kept_total_bytes()
        if rows is None:
            return JournalSummary({}, 0.0, at_most or 0, kept_bytes=kept_bytes, more=True)
        counts = {state: n for state, n, _ in rows}
        return JournalSummary(
            counts=counts,
            credits=sum(c for _, _, c in rows),  # only created tasks carry credits
            total=sum(counts.values()),
            kept_bytes=kept_bytes,
        )

    def __len__(self) -> int:
        return self.count()

    @abc.abstractmethod
    def creators(self) -> list[str]:
        """Every creator the entries name, sorted (what a "who" filter offers)."""

    @abc.abstractmethod
    def unresolved(self, *, stale_after: float = STALE_SENDING_SECONDS) -> list[JournalEntry]:
        """Creates whose outcome is unknown, plus `sending` ones no live process still owns
        (`keys.Owner.left_behind`), oldest first."""

    @abc.abstractmethod
    def active(self) -> list[JournalEntry]:
        """Entries with a task that has not finished (pending, processing, unknown status)."""

    @abc.abstractmethod
    def undated_task_ids(self, task_ids: list[str]) -> list[str]:
        """Those of `task_ids` whose entry has no created time (learnt from a list item)."""

    @abc.abstractmethod
    def server_only_tasks(self) -> list[Candidate]:
        """Tasks known only from the server: what an unknown create may have become."""

    @abc.abstractmethod
    def create_delays(self, samples: int = 50) -> list[float]:
        """Seconds from writing a create down to the server's createdAt, newest first: the
        server clock's offset plus the request's way there (reconcile's clock evidence).
        Only this machine's creates: a teammate's were stamped by another clock."""

    @abc.abstractmethod
    def kept(self, task_id: str) -> KeptResult | None: ...

    @abc.abstractmethod
    def kept_total_bytes(self) -> int: ...

    @abc.abstractmethod
    def kept_oldest(self, n: int) -> list[KeptResult]:
        """The `n` oldest kept copies (what a size cap cleans up first)."""

    # --- moving a journal into another store (`python -m kitta_notebook.history copy`) ---
    @abc.abstractmethod
    def rows(self) -> JournalRows:
        """Every entry and label of this journal (not its kept files or key claims)."""

    @abc.abstractmethod
    def add_rows(self, rows: JournalRows) -> int:
        """Add the entries (and their labels) that are not here yet, in one transaction
        (`rows.add_rows`); returns how many were added: the same rows again add none."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection; the store reopens if used again."""

    # --- for the recorder: warn once, never break an API call ---------------------------
    def _warn_once(self, what: str, exc: BaseException) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        journal_warning(f"the task journal could not {what}: {exc}")


def journal_warning(text: str) -> None:
    """A `JournalWarning` shown at the user's line: the first caller that is neither this
    package nor a `with` block's machinery (how deep that is differs from call to call)."""
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and _passed_through(frame.f_globals.get("__name__")):
        frame, level = frame.f_back, level + 1
    warnings.warn(JournalWarning(text), stacklevel=level)


def _passed_through(module: object) -> bool:
    return module == "contextlib" or str(module).partition(".")[0] == __name__.partition(".")[0]


# --- the SQL both stores run, and a journal's rows moved between stores ----------------
MINE = "/*mine*/"
"""Where a condition is scoped to the store's account (`account = ? AND `, or nothing)."""


class Sql:
    """A connection running the stores' shared SQL: `?` parameters, `MINE` expanded."""

    def __init__(self, conn: Any, account: str | None, *, format_style: bool) -> None:
        self.conn, self.account, self.format_style = conn, account, format_style
        self.rowcount = -1  # the last statement's

    def text(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[str, list[Any]]:
        """The SQL as the driver reads it, the account put at each `MINE`."""
        params = list(parameters)
        if MINE in sql:
            pieces = sql.split(MINE)
            sql, seen = pieces[0], pieces[0].count("?")
            for piece in pieces[1:]:
                if self.account is not None:
                    params.insert(seen, self.account)
                    sql, seen = sql + "account = ? AND ", seen + 1
                sql, seen = sql + piece, seen + piece.count("?")
        return (sql.replace("?", "%s") if self.format_style else sql), params

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        cursor = self.conn.execute(*self.text(sql, parameters))
        self.rowcount = cursor.rowcount
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        texts = [self.text(sql, row) for row in rows]
        if texts:
            self.conn.cursor().executemany(texts[0][0], [params for _, params in texts])

    def update(
        self, changes: Mapping[str, object], where: str, *params: object, keep: Sequence[str] = ()
    ) -> None:
        """Set each column of the store's matching entries; a `keep` column only to a known
        value (a list item lacks the model, say)."""
        sets = ", ".join(f"{c} = COALESCE(?, {c})" if c in keep else f"{c} = ?" for c in changes)
        self.execute(f"UPDATE entries SET {sets} WHERE {MINE}{where}", [*changes.values(), *params])


class Executes(Protocol):
    """A connection that runs SQL with `?` parameters (SQLite's, or the PostgreSQL store's)."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


@dataclass(frozen=True)
class JournalRows:
    """A journal's entries and labels, to copy them into another store."""

    account: str | None
    entries: list[dict[str, Any]]
    """Each entry's columns by name (the `entries` table, without the scope)."""
    labels: list[tuple[str, str]]
    """(entry id, label) pairs."""


def _scoped(scope: Mapping[str, object]) -> tuple[str, list[object]]:
    return "".join(f"{name} = ? AND " for name in scope), list(scope.values())


def read_rows(conn: Executes, account: str | None, scope: Mapping[str, object]) -> JournalRows:
    where, fixed = _scoped(scope)
    cursor = conn.execute(f"SELECT * FROM entries WHERE {where}TRUE ORDER BY sort_ts", fixed)
    names = [column[0] for column in cursor.description]
    entries = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for entry in entries:
        for name in scope:
            del entry[name]
    labels = conn.execute(f"SELECT entry_id, label FROM labels WHERE {where}TRUE", fixed)
    return JournalRows(account, entries, [(str(a), str(b)) for a, b in labels.fetchall()])


def add_rows(conn: Executes, rows: JournalRows, scope: Mapping[str, object]) -> int:
    """Add the entries not here yet, and their labels; returns how many were added.

    An entry already here (its entry id) is left alone. A task known here only from the
    server's list (`source` "server") is replaced by the copied create's own entry, which
    carries its key, request and labels (the labels given here are kept too), as when a
    create's answer comes after the list saw its task.
    """
    where, fixed = _scoped(scope)
    known = {column[0] for column in conn.execute("SELECT * FROM entries LIMIT 0", ()).description}
    added: set[str] = set()
    for row in rows.entries:
        entry_id, task_id = row["entry_id"], row.get("task_id")
        if conn.execute(
            f"SELECT 1 FROM entries WHERE {where}entry_id = ?", [*fixed, entry_id]
        ).fetchone():
            continue
        if task_id is not None and row.get("source") != "server":
            seen = conn.execute(
                f"SELECT entry_id FROM entries WHERE {where}task_id = ? AND source = 'server'",
                [*fixed, task_id],
            ).fetchone()
            if seen is not None:
                conn.execute(
                    f"UPDATE labels SET entry_id = ? WHERE {where}entry_id = ?",
                    [entry_id, *fixed, seen[0]],
                )
                conn.execute(f"DELETE FROM entries WHERE {where}entry_id = ?", [*fixed, seen[0]])
        values = {**{n: v for n, v in row.items() if n in known}, **scope}
        if _insert_new(conn, "entries", values).rowcount:
            added.add(entry_id)
    for entry_id, label in rows.labels:
        if entry_id in added:
            _insert_new(conn, "labels", {"entry_id": entry_id, "label": label, **scope})
    return len(added)


def _insert_new(conn: Executes, table: str, row: Mapping[str, object]) -> Any:
    """Insert `row` into `table` unless a row with its key is there."""
    names, marks = ", ".join(row), ", ".join("?" * len(row))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    return conn.execute(sql, list(row.values()))
