"""`Journal`: the embedded journal store, one SQLite file per account under `KITTA_HOME`.

One connection per journal object, behind a lock, serves every thread (the
async API's worker threads included); short `BEGIN IMMEDIATE` transactions
let several processes write the file. The store's queries are here (see
`store.JournalStore` for what they do); the file itself is `schema`'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..errors import KeyInUseError, KeyReusedError
from ..models import LipSyncTask
from . import entry as e
from .entry import JournalEntry, KeptResult, Query
from .keys import (
    HOST,
    IN_FLIGHT,
    STALE_SENDING_SECONDS,
    KeyClaim,
    KeyedEntry,
    Owner,
    decide,
)
from .mounts import warn_if_network
from .reconcile import Candidate
from .rows import JournalRows, add_rows, read_rows
from .schema import (
    ENTRY_COLUMNS,
    KEPT_UNLESS_KNOWN,
    account_fingerprint,
    database_error,
    entry_of_row,
    facets,
    identity_fingerprint,
    insert_entry,
    journal_path,
    journal_path_for_identity,
    kept_of_row,
    marks,
    natural_order,
    open_connection,
    transaction,
    update_entries,
    where,
)
from .store import JournalStore, Ref, ref_text

__all__ = ["Journal", "account_fingerprint", "journal_path", "journal_path_for_identity"]

# Past this offset a page is worth a count, to read it from the nearer end.
_FAR_OFFSET = 500
_KEPT = "task_id, path, size, sha256, kept_ts"
_CHUNK = 500  # values per IN (...), under SQLite's parameter limit
_BEGIN_ATTEMPTS = 5

Self = TypeVar("Self", bound="Journal")
_REGISTRY: weakref.WeakValueDictionary[str, Journal] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


class Journal(JournalStore):
    """One journal file. Opens lazily: constructing it never touches the disk."""

    def __init__(
        self, path: str | os.PathLike[str], *, origin: str | None = None, account: str | None = None
    ) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.origin = origin
        self.account = account
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._search_index = False
        # The last aggregate, so that a page's count and its summary strip cost one query.
        self._aggregate_cache: tuple[object, list[tuple[str, int, float]] | None] | None = None

    @classmethod
    def for_account(cls: type[Self], origin: str, token: str, *, home: Path | None = None) -> Self:
        """The journal of (origin, token), shared by every client of this process."""
        path = journal_path(origin, token, home)
        return cls._shared(path, origin, account_fingerprint(origin, token))

    @classmethod
    def for_identity(cls: type[Self], identity: str, *, home: Path | None = None) -> Self:
        """The journal named by a stable identity (one for the embedded sandbox, any port)."""
        return cls._shared(
            journal_path_for_identity(identity, home), None, identity_fingerprint(identity)
        )

    @classmethod
    def _shared(cls: type[Self], path: Path, origin: str | None, account: str) -> Self:
        key = os.path.abspath(path)
        with _REGISTRY_LOCK:
            journal = _REGISTRY.get(key)
            if not isinstance(journal, cls):
                journal = cls(path, origin=origin, account=account)
                _REGISTRY[key] = journal
            return journal

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @property
    def has_search_index(self) -> bool:
        """True when URL search uses the trigram index (else it scans the columns)."""
        with self._lock:
            self._connection()
            return self._search_index

    # --- opening --------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """The one connection (reopened in a forked child), checked and migrated."""
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._search_index = open_connection(self.path, self.origin, self.account)
            self._pid = os.getpid()
            warn_if_network(self.path)
            if self.account is None:  # opened by path: the account its file was made for
                found = self._read("SELECT value FROM meta WHERE key = 'account'")
                self.account = str(found[0][0]) if found else None
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # --- transactions ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with the write lock up front (blocking: busy
        waits and retries; the async API runs it on a worker thread)."""
        with self._lock:
            conn = self._connection()
            try:
                with transaction(conn, "IMMEDIATE", _BEGIN_ATTEMPTS):
                    yield conn
            except sqlite3.Error as exc:
                raise database_error(self.path, exc) from None

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise database_error(self.path, exc) from None

    def _read_in(self, sql: str, values: Sequence[Any]) -> list[Any]:
        """`sql` with its `IN ({})` over `values`, in chunks under SQLite's parameter limit."""
        rows: list[Any] = []
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            rows += self._read(sql.format(marks(chunk)), chunk)
        return rows

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        return e.resolved_entry(entry_of_row(row, self.account), self.media_origin)

    def _entry_id(self, ref: Ref) -> str:
        if isinstance(ref, JournalEntry):
            return ref.entry_id
        text_ref = ref_text(ref)
        rows = self._read(
            "SELECT entry_id FROM entries WHERE task_id = ? OR entry_id = ?", (text_ref, text_ref)
        )
        if rows:
            return str(rows[0][0])
        if isinstance(ref, LipSyncTask):
            self.record_seen(ref)
            return self._entry_id(ref)
        raise KeyError(f"no journal entry for {text_ref!r}")

    # --- creates --------------------------------------------------------------------------
    def _write_request(
        self, row: dict[str, Any], request: dict[str, Any], claim: str | None
    ) -> None:
        key = row["batch_key"]
        with self._write() as conn:
            if key is not None:
                inputs = self._check_claim(conn, key, claim)
                if inputs is not None:
                    request = {**request, e.INPUTS_KEY: inputs}
            insert_entry(conn, {**row, "request_json": json.dumps(request, sort_keys=True)})

    def _check_claim(
        self, conn: sqlite3.Connection, key: str, claim: str | None
    ) -> dict[str, Any] | None:
        """The inputs the key was claimed with, if `claim` still holds it; else refuse."""
        if claim is None:  # a caller that did not claim: the same checks, made here
            existing = self._decide(conn, key, None)
            if existing is not None:
                raise KeyReusedError(key, existing, [])
            return None
        row = conn.execute(
            "SELECT inputs_json FROM key_claims WHERE batch_key = ? AND token = ?", (key, claim)
        ).fetchone()
        if row is None:  # taken over as left behind: another create has the key now
            raise KeyInUseError(key)
        return e.load_json(row[0])

    def record_created(self, entry_id: str, task: LipSyncTask | Mapping[str, Any]) -> None:
        raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
        IN_FLIGHT.discard(entry_id)
        with self._write() as conn:
            self._attach(conn, entry_id, raw, reconciled=False)

    def record_matched(self, entry_id: str, task_id: str) -> None:
        known = self._read("SELECT dto_json FROM entries WHERE task_id = ?", (task_id,))
        raw = (e.load_json(known[0][0]) if known else None) or {"taskId": task_id}
        with self._write() as conn:
            self._attach(conn, entry_id, raw, reconciled=True)

    def record_not_created(self, entry_id: str) -> None:
        moment = e.now()
        changes = {"outcome": e.OUTCOME_ABSENT, "state": e.STATE_NOT_CREATED}
        with self._write() as conn:
            update_entries(
                conn,
                {**changes, "reconciled_ts": moment, "updated_ts": moment},
                f"entry_id = ? AND outcome IN ('{e.OUTCOME_UNKNOWN}', '{e.OUTCOME_SENDING}')",
                entry_id,
            )

    def _attach(
        self, conn: sqlite3.Connection, entry_id: str, raw: Mapping[str, Any], *, reconciled: bool
    ) -> None:
        task_id = e.text(raw.get("taskId"))
        if not task_id:
            return
        # The task may already have a row (seen from the server before the answer came).
        other = conn.execute(
            "SELECT entry_id, dto_json FROM entries WHERE task_id = ? AND entry_id != ?",
            (task_id, entry_id),
        ).fetchone()
        merged: dict[str, Any] = {}
        if other is not None:
            merged.update(e.load_json(other[1]) or {})
            conn.execute(
                "INSERT OR IGNORE INTO labels (entry_id, label) "
                "SELECT ?, label FROM labels WHERE entry_id = ?",
                (entry_id, other[0]),
            )
            conn.execute("DELETE FROM labels WHERE entry_id = ?", (other[0],))
            conn.execute("DELETE FROM entries WHERE entry_id = ?", (other[0],))
        merged.update(raw)
        changes = e.created_columns(task_id, merged, reconciled=reconciled)
        update_entries(conn, changes, "entry_id = ?", entry_id, keep=KEPT_UNLESS_KNOWN)
        self._remember(task_id, raw)

    def record_outcome(self, entry_id: str, *, rejected: bool, error: str) -> None:
        IN_FLIGHT.discard(entry_id)
        outcome = e.OUTCOME_REJECTED if rejected else e.OUTCOME_UNKNOWN
        changes = {"outcome": outcome, "state": e.derive_state(outcome, None)}
        with self._write() as conn:
            update_entries(
                conn,
                {**changes, "outcome_error": error[:2000], "updated_ts": e.now()},
                f"entry_id = ? AND outcome = '{e.OUTCOME_SENDING}'",
                entry_id,
            )

    # --- keys -----------------------------------------------------------------------------
    def claim_key(self, key: str, inputs: Mapping[str, Any]) -> KeyClaim:
        token = uuid.uuid4().hex
        owner = Owner.here()
        with self._write() as conn:
            existing = self._decide(conn, key, inputs)
            if existing is not None:
                return KeyClaim(key, task_id=existing)
            conn.execute(  # replaces a claim left behind by a process that died
                "INSERT OR REPLACE INTO key_claims (batch_key, token, inputs_json, pid, host, "
                "session, claimed_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, token, json.dumps(dict(inputs), sort_keys=True), *owner.values()),
            )
        return KeyClaim(key, token=token)

    def release_keys(self, claims: Iterable[KeyClaim]) -> None:
        held = [(c.key, c.token) for c in claims if c.token is not None]
        if held:
            with self._write() as conn:
                conn.executemany("DELETE FROM key_claims WHERE batch_key = ? AND token = ?", held)

    def task_id_for_key(self, key: str) -> str | None:
        with self._lock:
            try:
                return self._decide(self._connection(), key, None)
            except sqlite3.Error as exc:
                raise database_error(self.path, exc) from None

    def _decide(
        self, conn: sqlite3.Connection, key: str, inputs: Mapping[str, Any] | None
    ) -> str | None:
        rows = conn.execute(
            "SELECT entry_id, task_id, outcome, request_json, pid, host, session, requested_ts "
            "FROM entries WHERE batch_key = ? ORDER BY requested_ts DESC",
            (key,),
        ).fetchall()
        entries = [
            KeyedEntry(
                str(r[0]), r[1], r[2], e.load_json(r[3]) or {}, Owner(r[4], r[5], r[6], r[7])
            )
            for r in rows
        ]
        claim = conn.execute(
            "SELECT pid, host, session, claimed_ts FROM key_claims WHERE batch_key = ?", (key,)
        ).fetchone()
        return decide(key, entries, None if claim is None else Owner(*claim), inputs)

    # --- states seen, files, labels -------------------------------------------------------
    def _write_seen(self, tasks: list[tuple[str, dict[str, Any]]]) -> int:
        # Compared with the stored rows first, without the write lock.
        sql = "SELECT task_id, dto_json FROM entries WHERE task_id IN ({})"
        rows = self._read_in(sql, [task_id for task_id, _ in tasks])
        stored = {str(r[0]): e.load_json(r[1]) or {} for r in rows}
        changed = [
            (task_id, raw)
            for task_id, raw in tasks
            if task_id not in stored or {**stored[task_id], **raw} != stored[task_id]
        ]
        if not changed:
            return 0
        with self._write() as conn:
            return sum(self._seen(conn, task_id, raw) for task_id, raw in changed)

    def _seen(self, conn: sqlite3.Connection, task_id: str, raw: Mapping[str, Any]) -> int:
        row = conn.execute(
            "SELECT entry_id, dto_json, outcome FROM entries WHERE task_id = ?", (task_id,)
        ).fetchone()
        merged = (e.load_json(row[1]) or {}) if row is not None else {}
        merged.update(raw)  # a list item (a subset) must not erase what a detail told us
        outcome = e.OUTCOME_REMOTE if row is None else row[2]
        changes = e.seen_columns(merged, outcome, new=row is None)
        if row is not None:
            keep = (*KEPT_UNLESS_KNOWN, "completed_ts")
            update_entries(conn, changes, "entry_id = ?", row[0], keep=keep)
            return 0
        ids = {"entry_id": uuid.uuid4().hex, "task_id": task_id, "source": "server"}
        insert_entry(conn, {**ids, "outcome": outcome, **changes})
        return 1

    def record_download(self, task: LipSyncTask | str, path: str | os.PathLike[str]) -> None:
        task_id = task.task_id if isinstance(task, LipSyncTask) else task
        if isinstance(task, LipSyncTask):
            self.record_seen(task)
        changes = {"download_path": str(Path(path).absolute()), "updated_ts": e.now()}
        with self._write() as conn:
            update_entries(conn, changes, "task_id = ?", task_id)

    def record_kept(
        self, task_id: str, path: str | os.PathLike[str], size: int, sha256: str
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO kept (task_id, path, size, sha256, kept_ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (str(task_id), e.kept_location(path), int(size), str(sha256), e.now()),
            )

    def forget_kept(self, task_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM kept WHERE task_id = ?", (str(task_id),))

    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        clean = e.clean_labels(labels)
        with self._lock:
            entry_id = self._entry_id(ref)
            with self._write() as conn:
                conn.execute("DELETE FROM labels WHERE entry_id = ?", (entry_id,))
                conn.executemany(
                    "INSERT INTO labels (entry_id, label) VALUES (?, ?)",
                    [(entry_id, label) for label in clean],
                )

    def set_note(self, ref: Ref, note: str | None) -> None:
        with self._lock:
            entry_id = self._entry_id(ref)
            with self._write() as conn:
                update_entries(
                    conn,
                    {"note": e.clean_note(note), "updated_ts": e.now()},
                    "entry_id = ?",
                    entry_id,
                )

    # --- reading: a page is found in two steps ---------------------------------------------
    # The row ids of the page from an index (every sort the history offers has one, in both
    # directions), then the rows themselves. Pages past the middle are read from the other
    # end, so the last page of 100,000 entries costs what the first does.
    def get(self, ref: Ref) -> JournalEntry | None:
        text_ref = ref_text(ref)
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE task_id = ? "
            f"UNION ALL SELECT {ENTRY_COLUMNS} FROM entries WHERE entry_id = ? LIMIT 1",
            (text_ref, text_ref),
        )
        return self._entry(rows[0]) if rows else None

    def _page(
        self, query: Query, column: str, descending: bool, size: int, offset: int
    ) -> list[JournalEntry]:
        # Every sort column has an index in both directions (see `schema.SCHEMA_V2`).
        way = "DESC" if descending else "ASC"
        if column != "credits" or descending:  # NULL is the smallest: last when descending
            return self._rows(self._page_ids(query, "", natural_order(column, way), size, offset))
        # Ascending with NULLs last: the valued part, then the rest (each an index order).
        valued = "credits IS NOT NULL"
        ids = self._page_ids(query, valued, natural_order(column, way), size, offset)
        if size < 0 or len(ids) < size:
            before = offset if ids else self._count_where(query, valued)
            rest = -1 if size < 0 else size - len(ids)
            order = natural_order("sort_ts", way)
            ids += self._page_ids(query, "credits IS NULL", order, rest, max(0, offset - before))
        return self._rows(ids)

    def _page_ids(self, query: Query, extra: str, order: str, limit: int, offset: int) -> list[int]:
        """Row ids of one page; a page nearer the end is read backwards from the end."""
        clause, params = where(query, self._search_index, extra)
        if limit >= 0 and offset > _FAR_OFFSET:
            total = self._count_where(query, extra)
            if offset > total // 2:
                start = total - offset - limit
                size = limit + min(0, start)
                if size <= 0:
                    return []
                flip = {"ASC": "DESC", "DESC": "ASC"}
                backwards = ", ".join(
                    f"{column} {flip[way]}"
                    for column, way in (term.split(" ") for term in order.split(", "))
                )
                rows = self._read(
                    f"SELECT rowid FROM entries{clause} ORDER BY {backwards} LIMIT ? OFFSET ?",
                    [*params, size, max(0, start)],
                )
                return [int(r[0]) for r in reversed(rows)]
        rows = self._read(
            f"SELECT rowid FROM entries{clause} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [int(r[0]) for r in rows]

    def _count_where(self, query: Query, extra: str) -> int:
        if not extra:
            return self.count(query)
        clause, params = where(query, self._search_index, extra)
        return int(self._read(f"SELECT count(*) FROM entries{clause}", params)[0][0])

    def _rows(self, ids: Sequence[int]) -> list[JournalEntry]:
        """The entries of these row ids, in this order."""
        rows = self._read_in(
            f"SELECT rowid, {ENTRY_COLUMNS} FROM entries WHERE rowid IN ({{}})", ids
        )
        found = {int(row[0]): self._entry(row[1:]) for row in rows}
        return [found[i] for i in ids if i in found]

    def _aggregate(
        self, query: Query, at_most: int | None = None
    ) -> list[tuple[str, int, float]] | None:
        """(state, count, credits) over the filtered set: from `totals` when it can answer."""
        capped: tuple[str, list[object]] | None = None
        if query.facets_only:
            clauses, params = facets(query)
            clause = " WHERE " + " AND ".join(["n > 0", *clauses])
            sql = f"SELECT state, sum(n), total(credits) FROM totals{clause} GROUP BY state"
        else:
            clause, params = where(query, self._search_index)
            sql = f"SELECT state, count(*), total(credits) FROM entries{clause} GROUP BY state"
            if at_most is not None:  # counted to the end only when not more
                sample = f"SELECT 1 FROM entries{clause} LIMIT {int(at_most) + 1}"
                capped = (f"SELECT count(*) > {int(at_most)} FROM ({sample})", list(params))
        with self._lock:
            version = self._read("PRAGMA data_version")[0][0]
            key = (sql, tuple(params), capped, version, self._connection().total_changes)
            cached = self._aggregate_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            rows: list[tuple[str, int, float]] | None = None
            if capped is None or not self._read(*capped)[0][0]:
                rows = [(str(s), int(n), float(c)) for s, n, c in self._read(sql, params) if n]
            self._aggregate_cache = (key, rows)
            return rows

    def creators(self) -> list[str]:
        # One index probe per person (a skip scan), not a walk over every entry.
        sql = (
            "WITH RECURSIVE who(name) AS (SELECT min(creator) FROM entries UNION ALL "
            "SELECT (SELECT min(creator) FROM entries WHERE creator > name) FROM who "
            "WHERE name IS NOT NULL) SELECT name FROM who WHERE name IS NOT NULL"
        )
        return [str(row[0]) for row in self._read(sql)]

    def unresolved(self, *, stale_after: float = STALE_SENDING_SECONDS) -> list[JournalEntry]:
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS}, pid, host, session FROM entries "
            "WHERE outcome IN (?, ?) ORDER BY requested_ts",
            (e.OUTCOME_UNKNOWN, e.OUTCOME_SENDING),
        )
        found = [
            (
                replace(self._entry(row), host=row[-2]),
                Owner(row[-3], row[-2], row[-1], row[17] or 0.0),
            )
            for row in rows
        ]
        return [
            entry
            for entry, owner in found
            if entry.outcome != e.OUTCOME_SENDING or owner.left_behind(entry.entry_id, stale_after)
        ]

    def active(self) -> list[JournalEntry]:
        final = sorted(e.FINAL_STATES)
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE task_id IS NOT NULL "
            f"AND state NOT IN ({marks(final)}) ORDER BY sort_ts",
            final,
        )
        return [self._entry(row) for row in rows]

    def undated_task_ids(self, task_ids: list[str]) -> list[str]:
        sql = "SELECT task_id FROM entries WHERE created_ts IS NULL AND task_id IN ({})"
        return [str(row[0]) for row in self._read_in(sql, task_ids)]

    def known_task_ids(self, *, source: str | None = None) -> set[str]:
        sql = "SELECT task_id FROM entries WHERE task_id IS NOT NULL"
        rows = self._read(sql + " AND source = ?", (source,)) if source else self._read(sql)
        return {str(row[0]) for row in rows}

    def server_only_tasks(self) -> list[Candidate]:
        rows = self._read(
            "SELECT task_id, created_ts, model, input_mode FROM entries "
            "WHERE source = 'server' AND task_id IS NOT NULL"
        )
        return [Candidate(str(r[0]), r[1], r[2], r[3]) for r in rows]

    def create_delays(self, samples: int = 50) -> list[float]:
        rows = self._read(
            "SELECT created_ts - requested_ts FROM entries WHERE source = 'local' AND "
            "outcome = ? AND reconciled_ts IS NULL AND created_ts IS NOT NULL AND "
            "requested_ts IS NOT NULL AND (host = ? OR host IS NULL) "
            "ORDER BY requested_ts DESC LIMIT ?",
            (e.OUTCOME_CREATED, HOST, samples),
        )
        return [float(r[0]) for r in rows]

    def kept(self, task_id: str) -> KeptResult | None:
        rows = self._read(f"SELECT {_KEPT} FROM kept WHERE task_id = ?", (str(task_id),))
        return kept_of_row(rows[0]) if rows else None

    def kept_total_bytes(self) -> int:
        return int(self._read("SELECT total(size) FROM kept")[0][0])

    def kept_oldest(self, n: int) -> list[KeptResult]:
        sql = f"SELECT {_KEPT} FROM kept ORDER BY kept_ts, task_id LIMIT ?"
        rows = self._read(sql, (max(0, int(n)),))
        return [kept_of_row(row) for row in rows]

    # --- copying (`rows`) -----------------------------------------------------------------
    def rows(self) -> JournalRows:
        meta = self._read("SELECT value FROM meta WHERE key = 'account'")
        with self._write() as conn:  # a snapshot of the whole journal, errors wrapped
            return read_rows(conn, str(meta[0][0]) if meta else self.account, {})

    def add_rows(self, rows: JournalRows) -> int:
        with self._write() as conn:
            return add_rows(conn, rows, {})
