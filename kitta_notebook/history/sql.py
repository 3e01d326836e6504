"""`SqlStore`: every query the two journal stores share, written once.

The SQLite store (`journal.Journal`, one file per account) and the PostgreSQL store
(`postgres.PostgresJournal`, a team's accounts in one database) run the same SQL through
`store.Sql`, a connection that reads `?` parameters and expands `MINE` to the store's
scope: `account = ? AND ` on PostgreSQL (every row belongs to an account), nothing on
SQLite.
A store supplies only where the databases differ: the connection and its errors, the
writers' turn (`_write`), the URL search (`_search`), paging and totals (`_page`,
`_aggregate`), whether a `sending` owner is alive (`_LIVE`, `_owner`) and how a keyed
create's few statements travel (`_at_once`, `_batched`).
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from ..errors import KeyInUseError, KeyReusedError
from ..models import LipSyncTask
from . import entry as e
from .entry import JournalEntry, KeptResult, Query
from .keys import HOST, IN_FLIGHT, STALE_SENDING_SECONDS, KeyClaim, KeyedEntry, Owner, decide
from .reconcile import Candidate
from .schema import (
    KEPT_UNLESS_KNOWN,
    entry_of_row,
    facets,
    insert_entry,
    kept_of_row,
    marks,
)
from .store import MINE, JournalRows, JournalStore, Ref, Sql, add_rows, read_rows, ref_text

__all__ = ["SqlStore"]

_KEPT = "task_id, path, size, sha256, kept_ts"
_CHUNK = 500  # values per IN (...), under SQLite's parameter limit
_ROW_WIDTH = 27  # the columns `entry_of_row` reads, its labels included


class SqlStore(JournalStore):
    """A journal store over SQL; the subclass says where its database differs."""

    account: str | None
    _LIVE: ClassVar[str] = ""  # owner columns that tell whether a `sending` owner lives
    _ENTRY: ClassVar[str]  # an entry's columns, its labels last, from `entries x`

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()  # one connection per store, shared by its threads
        self._search_index = False
        # A keyed create's claim, given back with the row of its task; then `release_keys`
        # has nothing left to send for it.
        self._claims: dict[str, tuple[str, str]] = {}  # entry id -> (key, token)
        self._given_back: set[str] = set()  # tokens

    # --- what a store supplies ------------------------------------------------------------
    @property
    def _scope(self) -> dict[str, object]:
        """The columns the store puts on each of its rows."""
        return {}

    @abc.abstractmethod
    def _sql(self, work: Any) -> Any:
        """`work(sql)` outside a write transaction (reads), driver errors wrapped."""

    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[Sql]:
        """One write transaction, the account's writers taking turns."""

    @abc.abstractmethod
    def _search(self, search: str) -> tuple[str, list[object]]:
        """The condition of a URL search, and its parameters."""

    def _at_once(self, write: Any) -> int:
        """`write(sql)` in one write transaction; the last statement's rowcount."""
        with self._write() as sql:
            write(sql)
            return sql.rowcount

    def _batched(self, sql: Sql) -> AbstractContextManager[Any]:
        """Statements whose answers are not awaited one by one (PostgreSQL's pipeline)."""
        return contextlib.nullcontext()

    def _owner(self, *columns: Any) -> Owner:
        """An owner of (pid, host, session, since) and the `_LIVE` columns."""
        return Owner(*columns)

    # --- reading helpers ------------------------------------------------------------------
    @property
    def has_search_index(self) -> bool:
        """True when URL search uses a trigram index (else it scans the columns)."""
        self._sql(lambda sql: None)
        return self._search_index

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        return list(self._sql(lambda s: s.execute(sql, params).fetchall()))

    def _among(self, sql: Sql, query: str, values: Sequence[Any]) -> list[Any]:
        """The rows of `query`, whose last term is a column, `IN` the values (in chunks)."""
        rows: list[Any] = []
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            rows += sql.execute(f"{query} IN ({marks(chunk)})", chunk).fetchall()
        return rows

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        return e.resolved_entry(entry_of_row(row, self.account), self.media_origin)

    def _entries(self, sql: str, params: Sequence[object] = ()) -> list[JournalEntry]:
        return [self._entry(row) for row in self._read(sql, params)]

    def _entry_id(self, ref: Ref) -> str:
        if isinstance(ref, JournalEntry):
            return ref.entry_id
        found = ref_text(ref)
        sql = f"SELECT entry_id FROM entries WHERE {MINE}(task_id = ? OR entry_id = ?)"
        rows = self._read(sql, (found, found))
        if rows:
            return str(rows[0][0])
        if isinstance(ref, LipSyncTask):
            self.record_seen(ref)
            return self._entry_id(ref)
        raise KeyError(f"no journal entry for {found!r}")

    def _where(self, query: Query, extra: str = "") -> tuple[str, list[object]]:
        """The WHERE clause of a query and its parameters."""
        clauses, params = facets(query)
        if query.since is not None:
            clauses.append("sort_ts >= ?")
            params.append(query.since)
        if query.until is not None:
            clauses.append("sort_ts < ?")
            params.append(query.until)
        if query.creator:
            clauses.append(f"creator IN ({marks(query.creator)})")
            params.extend(query.creator)
        if query.labels:
            labels = f"SELECT entry_id FROM labels WHERE {MINE}label IN ({marks(query.labels)})"
            clauses.append(f"entry_id IN ({labels})")
            params.extend(query.labels)
        if query.search:
            clause, more = self._search(query.search)
            clauses.append(clause)
            params.extend(more)
        if extra:
            clauses.append(extra)
        return f" WHERE {MINE}" + (" AND ".join(clauses) or "TRUE"), params

    def _insert(self, sql: Sql, table: str, rows: Iterable[Mapping[str, object]]) -> None:
        """Rows into `table`, each with the store's scope."""
        scoped = [{**self._scope, **row} for row in rows]
        if scoped:
            columns = ", ".join(scoped[0])
            sql.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks(list(scoped[0]))})",
                [list(row.values()) for row in scoped],
            )

    def _upsert(self, sql: Sql, table: str, key: str, values: Mapping[str, object]) -> None:
        """A row of `table` by its `key` column, replacing the one there."""
        row = {**self._scope, **values}
        sets = ", ".join(f"{column} = excluded.{column}" for column in values if column != key)
        sql.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks(list(row))}) "
            f"ON CONFLICT ({', '.join([*self._scope, key])}) DO UPDATE SET {sets}",
            list(row.values()),
        )

    # --- creates --------------------------------------------------------------------------
    def _write_request(
        self, row: dict[str, Any], request: dict[str, Any], claim: str | None
    ) -> None:
        key, text = row["batch_key"], json.dumps(request, sort_keys=True)
        values = {**self._scope, **row}
        if key is None or claim is None:
            with self._write() as sql:
                existing = None if key is None else self._decide(sql, key, None)
                if existing is not None:  # a caller that did not claim: the same checks
                    raise KeyReusedError(key, existing, [])
                insert_entry(sql, {**values, "request_json": text})
                return
        # The claim's check and the row in one statement: written only while the claim
        # holds, with the inputs it was made for.
        head = text[:-1] + (", " if request else "") + json.dumps(e.INPUTS_KEY) + ": "
        added = self._at_once(
            lambda sql: sql.execute(
                f"INSERT INTO entries ({', '.join(values)}, request_json) SELECT "
                f"{marks(list(values))}, ? || inputs_json || '}}' FROM key_claims "
                f"WHERE {MINE}batch_key = ? AND token = ?",
                [*values.values(), head, key, claim],
            )
        )
        if added != 1:  # taken over as left behind: another create has the key now
            raise KeyInUseError(key)
        self._claims[row["entry_id"]] = (key, claim)

    def record_created(self, entry_id: str, task: LipSyncTask | Mapping[str, Any]) -> None:
        raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
        IN_FLIGHT.discard(entry_id)
        claim = self._claims.pop(entry_id, None)

        def attach(sql: Sql) -> None:
            if claim is not None:  # the entry row holds the key from here on
                delete = f"DELETE FROM key_claims WHERE {MINE}batch_key = ? AND token = ?"
                sql.execute(delete, claim)
            self._attach(sql, entry_id, raw, reconciled=False, alone=True)

        # At once while no other row has the task (else merged with it, under the lock).
        done = self._at_once(attach)
        if claim is not None:
            self._given_back.add(claim[1])
        if done == 0:
            with self._write() as sql:
                self._attach(sql, entry_id, raw, reconciled=False)

    def record_matched(self, entry_id: str, task_id: str) -> None:
        with self._write() as sql:
            query = f"SELECT dto_json FROM entries WHERE {MINE}task_id = ?"
            known = sql.execute(query, (task_id,)).fetchone()
            raw = (e.load_json(known[0]) if known else None) or {"taskId": task_id}
            self._attach(sql, entry_id, raw, reconciled=True)

    def record_not_created(self, entry_id: str) -> None:
        moment = e.now()
        changes: dict[str, object] = {"outcome": e.OUTCOME_ABSENT, "state": e.STATE_NOT_CREATED}
        changes |= {"reconciled_ts": moment, "updated_ts": moment}
        with self._write() as sql:
            unsettled = (e.OUTCOME_UNKNOWN, e.OUTCOME_SENDING)
            sql.update(changes, "entry_id = ? AND outcome IN (?, ?)", entry_id, *unsettled)

    def _attach(
        self,
        sql: Sql,
        entry_id: str,
        raw: Mapping[str, Any],
        *,
        reconciled: bool,
        alone: bool = False,
    ) -> None:
        """Tie the entry to its task; `alone`: only if no other row holds the task, else
        that row is merged into the entry (seen from the server first)."""
        task_id = e.text(raw.get("taskId"))
        if not task_id:
            return
        where, params, other = "entry_id = ?", [entry_id], None
        if alone:
            where += (
                f" AND NOT EXISTS (SELECT 1 FROM entries o WHERE {MINE}o.task_id = ? "
                "AND o.entry_id != entries.entry_id)"
            )
            params.append(task_id)
        else:  # the task may have a row already (seen from the server before the answer)
            query = f"SELECT entry_id, dto_json FROM entries WHERE {MINE}task_id = ?"
            other = sql.execute(query + " AND entry_id != ?", (task_id, entry_id)).fetchone()
        merged: dict[str, Any] = {}
        if other is not None:
            merged.update(e.load_json(other[1]) or {})
            scope = "".join(f"{column}, " for column in self._scope)
            sql.execute(
                f"INSERT INTO labels ({scope}entry_id, label) SELECT {scope}?, label "
                f"FROM labels WHERE {MINE}entry_id = ? ON CONFLICT DO NOTHING",
                (entry_id, other[0]),
            )
            for table in ("labels", "entries"):
                sql.execute(f"DELETE FROM {table} WHERE {MINE}entry_id = ?", (other[0],))
        merged.update(raw)
        changes = e.created_columns(task_id, merged, reconciled=reconciled)
        sql.update(changes, where, *params, keep=KEPT_UNLESS_KNOWN)
        self._remember(task_id, raw)

    def record_outcome(self, entry_id: str, *, rejected: bool, error: str) -> None:
        IN_FLIGHT.discard(entry_id)
        self._claims.pop(entry_id, None)  # given back by `release_keys`
        outcome = e.OUTCOME_REJECTED if rejected else e.OUTCOME_UNKNOWN
        changes: dict[str, object] = {"outcome": outcome, "state": e.derive_state(outcome, None)}
        changes |= {"outcome_error": error[:2000], "updated_ts": e.now()}
        with self._write() as sql:
            sql.update(changes, "entry_id = ? AND outcome = ?", entry_id, e.OUTCOME_SENDING)

    # --- keys -----------------------------------------------------------------------------
    def claim_key(self, key: str, inputs: Mapping[str, Any]) -> KeyClaim:
        token = uuid.uuid4().hex
        owner = dict(
            zip(("pid", "host", "session", "claimed_ts"), Owner.here().values(), strict=True)
        )
        inputs_json = json.dumps(dict(inputs), sort_keys=True)
        held = {"batch_key": key, "token": token, "inputs_json": inputs_json, **owner}
        row = {**self._scope, **held}
        free = self._at_once(  # the usual case, at once: no entry, no claim has the key
            lambda sql: sql.execute(
                f"INSERT INTO key_claims ({', '.join(row)}) SELECT {marks(list(row))} WHERE "
                f"NOT EXISTS (SELECT 1 FROM entries WHERE {MINE}batch_key = ?) "
                "ON CONFLICT DO NOTHING",
                [*row.values(), key],
            )
        )
        if free == 1:
            return KeyClaim(key, token=token)
        with self._write() as sql:
            existing = self._decide(sql, key, inputs)
            if existing is not None:
                return KeyClaim(key, task_id=existing)
            self._upsert(sql, "key_claims", "batch_key", held)  # one left by a dead process
        return KeyClaim(key, token=token)

    def release_keys(self, claims: Iterable[KeyClaim]) -> None:
        # Without the writers' turn: a claim deciding meanwhile sees the row or not, as it
        # would before or after a release that took it.
        held = [(c.key, c.token) for c in claims if c.token is not None]
        with self._lock:
            given_back = self._given_back.intersection(token for _, token in held)
            self._given_back -= given_back
        held = [(key, token) for key, token in held if token not in given_back]
        if held:
            delete = f"DELETE FROM key_claims WHERE {MINE}batch_key = ? AND token = ?"
            self._sql(lambda sql: sql.executemany(delete, held))

    def task_id_for_key(self, key: str) -> str | None:
        return self._sql(lambda sql: self._decide(sql, key, None))  # type: ignore[no-any-return]

    def _decide(self, sql: Sql, key: str, inputs: Mapping[str, Any] | None) -> str | None:
        rows = sql.execute(
            "SELECT entry_id, task_id, outcome, request_json, pid, host, session, "
            f"requested_ts{self._LIVE} FROM entries WHERE {MINE}batch_key = ? "
            "ORDER BY requested_ts DESC",
            (key,),
        ).fetchall()
        entries = [
            KeyedEntry(str(r[0]), r[1], r[2], e.load_json(r[3]) or {}, self._owner(*r[4:]))
            for r in rows
        ]
        query = f"SELECT pid, host, session, claimed_ts{self._LIVE} FROM key_claims"
        claim = sql.execute(query + f" WHERE {MINE}batch_key = ?", (key,)).fetchone()
        return decide(key, entries, None if claim is None else self._owner(*claim), inputs)

    # --- states seen, files, labels -------------------------------------------------------
    def _write_seen(self, tasks: list[tuple[str, dict[str, Any]]]) -> int:
        # Compared with the stored rows first, without the writers' turn.
        query = f"SELECT task_id, dto_json FROM entries WHERE {MINE}task_id"
        rows = self._sql(lambda sql: self._among(sql, query, [t for t, _ in tasks]))
        stored = {str(r[0]): e.load_json(r[1]) or {} for r in rows}
        changed = [
            (task_id, raw)
            for task_id, raw in tasks
            if task_id not in stored or {**stored[task_id], **raw} != stored[task_id]
        ]
        if not changed:
            return 0
        with self._write() as sql:  # read again in the writers' turn, then written
            query = f"SELECT task_id, entry_id, dto_json, outcome FROM entries WHERE {MINE}task_id"
            found = self._among(sql, query, [t for t, _ in changed])
            known = {str(r[0]): r[1:] for r in found}
            with self._batched(sql):
                return sum(self._seen(sql, t, raw, known.get(t)) for t, raw in changed)

    def _seen(self, sql: Sql, task_id: str, raw: Mapping[str, Any], row: Any) -> int:
        merged = (e.load_json(row[1]) or {}) if row is not None else {}
        merged.update(raw)  # a list item (a subset) must not erase what a detail told us
        outcome = e.OUTCOME_REMOTE if row is None else row[2]
        changes = e.seen_columns(merged, outcome, new=row is None)
        if row is not None:
            sql.update(changes, "entry_id = ?", row[0], keep=(*KEPT_UNLESS_KNOWN, "completed_ts"))
            return 0
        ids = {**self._scope, "entry_id": uuid.uuid4().hex, "task_id": task_id}
        insert_entry(sql, {**ids, "source": "server", "outcome": outcome, **changes})
        return 1

    def record_download(self, task: LipSyncTask | str, path: str | os.PathLike[str]) -> None:
        task_id = task.task_id if isinstance(task, LipSyncTask) else task
        if isinstance(task, LipSyncTask):
            self.record_seen(task)
        changes = {"download_path": str(Path(path).absolute()), "updated_ts": e.now()}
        with self._write() as sql:
            sql.update(changes, "task_id = ?", task_id)

    def record_kept(
        self, task_id: str, path: str | os.PathLike[str], size: int, sha256: str
    ) -> None:
        kept = (str(task_id), e.kept_location(path), int(size), str(sha256), e.now())
        with self._write() as sql:
            self._upsert(sql, "kept", "task_id", dict(zip(_KEPT.split(", "), kept, strict=True)))

    def forget_kept(self, task_id: str) -> None:
        with self._write() as sql:
            sql.execute(f"DELETE FROM kept WHERE {MINE}task_id = ?", (str(task_id),))

    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        clean = e.clean_labels(labels)
        with self._lock:
            entry_id = self._entry_id(ref)
            with self._write() as sql:
                sql.execute(f"DELETE FROM labels WHERE {MINE}entry_id = ?", (entry_id,))
                self._insert(sql, "labels", [{"entry_id": entry_id, "label": x} for x in clean])

    def set_note(self, ref: Ref, note: str | None) -> None:
        with self._lock:
            entry_id = self._entry_id(ref)
            with self._write() as sql:
                sql.update(
                    {"note": e.clean_note(note), "updated_ts": e.now()}, "entry_id = ?", entry_id
                )

    # --- reading --------------------------------------------------------------------------
    def get(self, ref: Ref) -> JournalEntry | None:
        found = ref_text(ref)
        entries = self._entries(
            f"SELECT {self._ENTRY} FROM entries x WHERE {MINE}task_id = ? UNION ALL "
            f"SELECT {self._ENTRY} FROM entries x WHERE {MINE}entry_id = ? LIMIT 1",
            (found, found),
        )
        return entries[0] if entries else None

    def creators(self) -> list[str]:
        # One index probe per person (a skip scan), not a walk over every entry.
        sql = (
            f"WITH RECURSIVE who(name) AS (SELECT min(creator) FROM entries WHERE {MINE}TRUE "
            f"UNION ALL SELECT (SELECT min(creator) FROM entries WHERE {MINE}creator > name) "
            "FROM who WHERE name IS NOT NULL) SELECT name FROM who WHERE name IS NOT NULL"
        )
        return [str(row[0]) for row in self._read(sql)]

    def unresolved(self, *, stale_after: float = STALE_SENDING_SECONDS) -> list[JournalEntry]:
        rows = self._read(
            f"SELECT {self._ENTRY}, pid, host, session{self._LIVE} FROM entries x "
            f"WHERE {MINE}outcome IN (?, ?) ORDER BY requested_ts",
            (e.OUTCOME_UNKNOWN, e.OUTCOME_SENDING),
        )
        found = [  # the owner: pid, host, session, since (the requested time), liveness
            (
                replace(self._entry(r), host=r[_ROW_WIDTH + 1]),
                self._owner(*r[_ROW_WIDTH : _ROW_WIDTH + 3], r[17] or 0.0, *r[_ROW_WIDTH + 3 :]),
            )
            for r in rows
        ]
        return [
            entry
            for entry, owner in found
            if entry.outcome != e.OUTCOME_SENDING or owner.left_behind(entry.entry_id, stale_after)
        ]

    def active(self) -> list[JournalEntry]:
        final = sorted(e.FINAL_STATES)
        return self._entries(
            f"SELECT {self._ENTRY} FROM entries x WHERE {MINE}task_id IS NOT NULL "
            f"AND state NOT IN ({marks(final)}) ORDER BY sort_ts",
            final,
        )

    def undated_task_ids(self, task_ids: list[str]) -> list[str]:
        query = f"SELECT task_id FROM entries WHERE {MINE}created_ts IS NULL AND task_id"
        return [str(r[0]) for r in self._sql(lambda sql: self._among(sql, query, task_ids))]

    def known_task_ids(self, *, source: str | None = None) -> set[str]:
        sql = f"SELECT task_id FROM entries WHERE {MINE}task_id IS NOT NULL"
        rows = self._read(sql + " AND source = ?", (source,)) if source else self._read(sql)
        return {str(row[0]) for row in rows}

    def server_only_tasks(self) -> list[Candidate]:
        rows = self._read(
            "SELECT task_id, created_ts, model, input_mode FROM entries "
            f"WHERE {MINE}source = 'server' AND task_id IS NOT NULL"
        )
        return [Candidate(str(r[0]), r[1], r[2], r[3]) for r in rows]

    def create_delays(self, samples: int = 50) -> list[float]:
        rows = self._read(
            f"SELECT created_ts - requested_ts FROM entries WHERE {MINE}source = 'local' AND "
            "outcome = ? AND reconciled_ts IS NULL AND created_ts IS NOT NULL AND "
            "requested_ts IS NOT NULL AND (host = ? OR host IS NULL) "
            "ORDER BY requested_ts DESC LIMIT ?",
            (e.OUTCOME_CREATED, HOST, samples),
        )
        return [float(r[0]) for r in rows]

    def kept(self, task_id: str) -> KeptResult | None:
        rows = self._read(f"SELECT {_KEPT} FROM kept WHERE {MINE}task_id = ?", (str(task_id),))
        return kept_of_row(rows[0]) if rows else None

    def kept_total_bytes(self) -> int:
        return int(self._read(f"SELECT coalesce(sum(size), 0) FROM kept WHERE {MINE}TRUE")[0][0])

    def kept_oldest(self, n: int) -> list[KeptResult]:
        sql = f"SELECT {_KEPT} FROM kept WHERE {MINE}TRUE ORDER BY kept_ts, task_id LIMIT ?"
        return [kept_of_row(row) for row in self._read(sql, (max(0, int(n)),))]

    # --- copying (`store.read_rows`, `store.add_rows`) ---------------------------------------
    def rows(self) -> JournalRows:
        with self._write() as sql:  # a snapshot of the whole journal, errors wrapped
            return read_rows(sql, self.account, self._scope)

    def add_rows(self, rows: JournalRows) -> int:
        with self._write() as sql:
            return add_rows(sql, rows, self._scope)
