"""`PostgresJournal`: the journal of a team, every account's in one PostgreSQL database.

Chosen by a `postgresql://` URL (`KITTA_JOURNAL_URL`, or `KittaClient(journal=URL)`). Its
tables are those of the SQLite file (`schema`) with an `account` column first: every row
belongs to the account fingerprint of the store that wrote it, and every query is scoped to
it, so one database holds a team's accounts apart.

Concurrency. Every write transaction first takes a transaction-level advisory lock on its
account (`pg_advisory_xact_lock`): writers of one account, on any machine, take turns, as
they do under SQLite's write lock, so the store's read-decide-write steps (a key's claim, a
task's merge) are atomic without SERIALIZABLE retries; readers never wait (MVCC). Only a
claim's release skips it (one DELETE of its own rows). A keyed create's usual steps are
each sent at once with the lock, bound here (`_at_once`): one round trip apiece. Which
process still owns a `sending` entry or a key claim is told across machines, too: each
connection holds a shared session-level advisory lock on its process's session id, which
the server drops when the process or its connection dies.

Every connect and statement has a bounded time, so an unreachable database fails a create
(before anything is sent) instead of hanging a kernel; every driver error is a
`JournalError` whose text never holds the URL's password.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from .._redact import redact_text, redact_url
from ..errors import JournalError, JournalWarning, KeyInUseError, KeyReusedError
from ..models import LipSyncTask
from . import entry as e
from .entry import JournalEntry, KeptResult, Query
from .keys import (
    HOST,
    IN_FLIGHT,
    SESSION,
    STALE_SENDING_SECONDS,
    KeyClaim,
    KeyedEntry,
    Owner,
    decide,
)
from .postgres_schema import (
    DAY_SECONDS,
    FOLD_ROWS,
    SCHEMA_VERSION,
    SEARCH,
    SEARCH_INDEX,
    STEPS,
    VERSION_TABLE,
    fold,
)
from .reconcile import Candidate
from .rows import JournalRows, add_rows, read_rows
from .schema import (
    KEPT_UNLESS_KNOWN,
    ROW_COLUMNS,
    account_fingerprint,
    entry_of_row,
    facets,
    identity_fingerprint,
    insert_entry,
    kept_of_row,
    update_entries,
)
from .store import JournalStore, Ref, ref_text

__all__ = ["PostgresJournal"]

CONNECT_TIMEOUT_SECONDS = 10
IDLE_CHECK_SECONDS = 1.0
"""A connection idle this long is checked before use: a database restarted meanwhile (or a
firewall that dropped it) costs a reconnect, not a refused create."""
STATEMENT_TIMEOUT_SECONDS = 30
# Advisory lock classes ("KitJ", then one more): an account's writers, a live session.
_WRITER_LOCK, _SESSION_LOCK = 0x4B69744A, 0x4B69744B
_FAR_OFFSET = 500  # past this offset a page is worth a count, to read it from the nearer end
_KEPT = "task_id, path, size, sha256, kept_ts"

_ENTRY = (
    ROW_COLUMNS + ", (SELECT string_agg(label, chr(31)) FROM labels l "
    "WHERE l.account = x.account AND l.entry_id = x.entry_id)"
)

Self = TypeVar("Self", bound="PostgresJournal")
_REGISTRY: weakref.WeakValueDictionary[tuple[str, str], PostgresJournal] = (
    weakref.WeakValueDictionary()
)
_REGISTRY_LOCK = threading.Lock()
_WARNED_NO_TRIGRAM: set[str] = set()


@dataclass(frozen=True)
class _SeenOwner(Owner):
    """An owner whose liveness the database told: its session still holds its lock (else,
    on this machine, its process still runs: its connection may just be reconnecting).

    A connected owner holds what it wrote however old it looks: its time was read by its
    own clock, which may be minutes off this one's, and judging a teammate's create in
    flight as left behind could free its key while the server makes its task."""

    connected: bool = False

    def held_elsewhere(self, stale_after: float | None) -> bool:
        if not self.connected:
            return super().held_elsewhere(stale_after)
        return self.session != SESSION


_ACCOUNT_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))"  # its writers' turns
# Whether a row's `session` still holds its lock (see the module's docstring).
_LIVE = (
    "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = "
    f"{_SESSION_LOCK}::oid AND objid = hashtext(session)::oid AND objsubid = 2)"
)


def _password(psycopg: Any, url: str) -> str:
    """The URL's password as the driver reads it; refuses, without echoing any of it, a URL
    the driver cannot read or reads otherwise than it shows (an '@' or '/' not encoded)."""
    userinfo = url.split("://", 1)[-1].split("?", 1)[0].rpartition("@")[0]
    try:
        parsed = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        parsed = None
    if parsed is None or any(c in userinfo for c in "@/# "):
        raise JournalError(
            "the team journal's URL (KITTA_JOURNAL_URL, or journal=) cannot be read as "
            "postgresql://user:password@host:port/database: percent-encode the user and "
            "password (urllib.parse.quote(password, safe='')). It is not shown here: it may "
            "hold the password."
        )
    return str(parsed.get("password") or "")


def _close(conn: Any, pid: int) -> None:
    """Close a connection of this process (a forked parent's is left to the parent)."""
    if pid == os.getpid():
        with contextlib.suppress(Exception):
            conn.close()


class _Sql:
    """A psycopg connection that runs the stores' shared SQL (`?` parameters), and one
    account's: `mine` and `update` put the account first."""

    def __init__(self, conn: Any, account: str) -> None:
        self.conn, self.account = conn, account

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), list(parameters))

    def mine(self, sql: str, *parameters: Any) -> Any:
        return self.execute(sql, (self.account, *parameters))

    def update(
        self, changes: Mapping[str, object], where: str, *params: object, **keep: Any
    ) -> None:
        """`schema.update_entries` on this account's entries."""
        update_entries(self, changes, f"account = ? AND {where}", self.account, *params, **keep)


class _Statements(_Sql):
    """Collects statements (nothing runs) for `PostgresJournal._at_once`."""

    def __init__(self, account: str) -> None:
        super().__init__(None, account)
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        self.statements.append((sql.replace("?", "%s"), list(parameters)))


class PostgresJournal(JournalStore):
    """One account's journal in a PostgreSQL database. Connects lazily, on first use."""

    def __init__(self, url: str, *, account: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise JournalError(
                "A postgresql:// journal needs psycopg: pip install 'kitta-notebook[postgres]'"
            ) from None
        self._psycopg = psycopg
        self._url = url
        self._password = _password(psycopg, url)
        self.account = account
        self._lock = threading.RLock()
        self._conn: Any = None
        self._pid = 0
        self._used = time.monotonic()  # when the connection was last asked for
        self._search_index = False
        # A keyed create's claim, given back in the round trip that records its task; then
        # `release_keys` has nothing left to send for it (one round trip less per create).
        self._claims: dict[str, tuple[str, str]] = {}  # entry id -> (key, token)
        self._given_back: set[str] = set()  # tokens
        self._counted_cache: (
            tuple[tuple[str, str], str, list[tuple[str, int, float]] | None] | None
        ) = None

    @classmethod
    def for_account(cls: type[Self], url: str, origin: str, token: str) -> Self:
        """The journal of (origin, token) in this database, shared by this process."""
        return cls._shared(url, account_fingerprint(origin, token))

    @classmethod
    def for_identity(cls: type[Self], url: str, identity: str) -> Self:
        return cls._shared(url, identity_fingerprint(identity))

    @classmethod
    def _shared(cls: type[Self], url: str, account: str) -> Self:
        with _REGISTRY_LOCK:
            journal = _REGISTRY.get((url, account))
            if not isinstance(journal, cls):
                journal = cls(url, account=account)
                _REGISTRY[(url, account)] = journal
            return journal

    @property
    def where(self) -> str:
        """The database, as it may be shown (no credentials)."""
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r}, account={self.account!r})"

    @property
    def has_search_index(self) -> bool:
        """True when URL search uses the pg_trgm index (else it scans the account's rows)."""
        with self._lock:
            self._sql(lambda sql: None)
            return self._search_index

    # --- the connection -------------------------------------------------------------------
    def _connection(self) -> Any:
        """The one connection (again after it broke, or in a forked child), schema current."""
        conn, moment = self._conn, time.monotonic()
        idle, self._used = moment - self._used, moment
        if conn is not None and self._pid == os.getpid() and not conn.closed:
            if idle < IDLE_CHECK_SECONDS or self._alive(conn):
                return conn
            _close(conn, self._pid)  # the database restarted, or dropped an idle connection
        self._conn = None  # a forked parent's is left alone (psycopg never ends it from a child)
        conn = self._psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="kitta-notebook",
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}",
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            self._search_index = self._prepare(_Sql(conn, self.account))
            conn.execute(
                "SELECT pg_advisory_lock_shared(%s, hashtext(%s))", (_SESSION_LOCK, SESSION)
            )
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        weakref.finalize(self, _close, conn, self._pid)  # a store dropped unclosed, or at exit
        return conn

    def _alive(self, conn: Any) -> bool:
        """Whether a connection left idle still answers (one round trip)."""
        try:
            conn.execute("SELECT 1")
        except self._psycopg.Error:
            return False
        return True

    def _prepare(self, sql: _Sql) -> bool:
        """Create or migrate the schema (one transaction, one migrator at a time); returns
        whether the URL search has its trigram index."""
        if self._version(sql) != SCHEMA_VERSION:
            with sql.conn.transaction():
                sql.execute("SELECT pg_advisory_xact_lock(?, 0)", (_WRITER_LOCK,))
                sql.execute(VERSION_TABLE)
                version = self._version(sql)
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    sql.conn.execute(STEPS[step])
                sql.execute("DELETE FROM journal_schema")
                sql.execute("INSERT INTO journal_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        if sql.execute("SELECT to_regclass('entries_search')").fetchone()[0] is not None:
            return True
        with contextlib.suppress(self._psycopg.Error), sql.conn.transaction():
            sql.execute("SELECT pg_advisory_xact_lock(?, 0)", (_WRITER_LOCK,))
            sql.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            sql.execute(SEARCH_INDEX)
            return True
        if self.where not in _WARNED_NO_TRIGRAM:
            _WARNED_NO_TRIGRAM.add(self.where)
            warnings.warn(
                JournalWarning(
                    f"the team journal at {self.where} has no URL search index: this role may "
                    "not CREATE EXTENSION pg_trgm (and the index on entries); search "
                    "scans the account's rows. The database's owner can create them."
                ),
                stacklevel=2,
            )
        return False

    def _version(self, sql: _Sql) -> int:
        if sql.execute("SELECT to_regclass('journal_schema')").fetchone()[0] is None:
            return 0
        row = sql.execute("SELECT max(version) FROM journal_schema").fetchone()
        version = int(row[0] or 0)
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the team journal at {self.where} has schema version {version}, newer than "
                f"this kitta-notebook knows ({SCHEMA_VERSION}): upgrade kitta-notebook "
                "(pip install -U kitta-notebook)."
            )
        return version

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                _close(self._conn, self._pid)
            self._conn = None

    def _error(self, exc: BaseException) -> JournalError:
        """A driver error as ours: what failed, where, and never the password."""
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            _close(self._conn, self._pid)
            self._conn = None  # the next use connects again (the database may be back)
        message = str(exc).strip()
        if len(self._password) >= 4:  # shorter, it could not be told from ordinary words
            for form in {self._password, quote(self._password, safe="")}:
                message = message.replace(form, "REDACTED")
        message = redact_text(message)
        errors = self._psycopg.errors
        if isinstance(exc, errors.InsufficientPrivilege):
            return JournalError(
                f"the team journal at {self.where} refused this role: {message}. The role needs "
                "to read and write the journal's tables, which the database's owner creates "
                "and migrates: python -m kitta_notebook.history setup --to OWNER_URL"
            )
        if isinstance(exc, self._psycopg.OperationalError) and self._conn is None:
            return JournalError(
                f"the team journal at {self.where} could not be reached: {message}. Check "
                "KITTA_JOURNAL_URL (host, port, database, user, password), or pass "
                "journal=False to the client."
            )
        return JournalError(f"the team journal at {self.where} could not be used: {message}")

    def _sql(self, work: Any) -> Any:
        """`work(sql)` outside a transaction (reads), driver errors wrapped."""
        with self._lock:
            try:
                return work(_Sql(self._connection(), self.account))
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def _mine(self, sql: str, *params: object) -> list[Any]:
        """The rows of a query whose first parameter is this store's account."""
        return list(self._sql(lambda s: s.mine(sql, *params).fetchall()))

    @contextlib.contextmanager
    def _write(self) -> Iterator[_Sql]:
        """One write transaction, the account's writers one at a time (see the module)."""
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():
                    sql = _Sql(conn, self.account)
                    sql.mine(_ACCOUNT_LOCK)
                    yield sql
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def _at_once(self, write: Any) -> int:
        """The account's lock and `write(sql)`'s statements sent at once, bound here: one
        round trip, one implicit transaction (all or nothing). The last one's rowcount."""
        statements = _Statements(self.account)
        statements.mine(_ACCOUNT_LOCK)
        write(statements)
        with self._lock:
            try:
                cursor = self._psycopg.ClientCursor(self._connection())
                cursor.execute("; ".join(cursor.mogrify(*s) for s in statements.statements))
                while cursor.nextset():
                    pass
                return int(cursor.rowcount)
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        return e.resolved_entry(entry_of_row(row, self.account), self.media_origin)

    def _entry_id(self, ref: Ref) -> str:
        if isinstance(ref, JournalEntry):
            return ref.entry_id
        found = ref_text(ref)
        sql = "SELECT entry_id FROM entries WHERE account = ? AND ? IN (task_id, entry_id)"
        rows = self._mine(sql, found)
        if rows:
            return str(rows[0][0])
        if isinstance(ref, LipSyncTask):
            self.record_seen(ref)
            return self._entry_id(ref)
        raise KeyError(f"no journal entry for {found!r}")

    # --- creates --------------------------------------------------------------------------
    def _write_request(
        self, row: dict[str, Any], request: dict[str, Any], claim: str | None
    ) -> None:
        key, text = row["batch_key"], json.dumps(request, sort_keys=True)
        values = {**row, "account": self.account}
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
                f"{', '.join('?' * len(values))}, ? || inputs_json || '}}' FROM key_claims "
                "WHERE account = ? AND batch_key = ? AND token = ?",
                [*values.values(), head, self.account, key, claim],
            )
        )
        if added != 1:  # taken over as left behind: another create has the key now
            raise KeyInUseError(key)
        self._claims[row["entry_id"]] = (key, claim)

    def record_created(self, entry_id: str, task: LipSyncTask | Mapping[str, Any]) -> None:
        raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
        IN_FLIGHT.discard(entry_id)
        claim = self._claims.pop(entry_id, None)

        def attach(sql: _Sql) -> None:
            if claim is not None:  # the entry row holds the key from here on
                delete = "DELETE FROM key_claims WHERE account = ? AND batch_key = ? AND token = ?"
                sql.mine(delete, *claim)
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
            query = "SELECT dto_json FROM entries WHERE account = ? AND task_id = ?"
            known = sql.mine(query, task_id).fetchone()
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
        sql: _Sql,
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
                " AND NOT EXISTS (SELECT 1 FROM entries o WHERE o.account = entries.account "
                "AND o.task_id = ? AND o.entry_id != entries.entry_id)"
            )
            params.append(task_id)
        else:  # the task may have a row already (seen from the server before the answer)
            query = "SELECT entry_id, dto_json FROM entries WHERE account = ? AND task_id = ?"
            other = sql.mine(query + " AND entry_id != ?", task_id, entry_id).fetchone()
        merged: dict[str, Any] = {}
        if other is not None:
            merged.update(e.load_json(other[1]) or {})
            sql.execute(
                "INSERT INTO labels SELECT account, ?, label FROM labels WHERE account = ? "
                "AND entry_id = ? ON CONFLICT DO NOTHING",
                (entry_id, self.account, other[0]),
            )
            for table in ("labels", "entries"):
                sql.mine(f"DELETE FROM {table} WHERE account = ? AND entry_id = ?", other[0])
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
        held = (key, token, json.dumps(dict(inputs), sort_keys=True), *Owner.here().values())
        columns = "INSERT INTO key_claims (account, batch_key, token, inputs_json, pid, host, "
        columns += "session, claimed_ts) "
        free = self._at_once(  # the usual case, at once: no entry, no claim has the key
            lambda sql: sql.mine(
                columns + "SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM entries "
                "WHERE account = ? AND batch_key = ?) ON CONFLICT DO NOTHING",
                *held,
                self.account,
                key,
            )
        )
        if free == 1:
            return KeyClaim(key, token=token)
        with self._write() as sql:
            existing = self._decide(sql, key, inputs)
            if existing is not None:
                return KeyClaim(key, task_id=existing)
            sql.mine(  # replaces a claim left behind by a process that died
                columns + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, batch_key) DO "
                "UPDATE SET token = excluded.token, inputs_json = excluded.inputs_json, pid = "
                "excluded.pid, host = excluded.host, session = excluded.session, claimed_ts = "
                "excluded.claimed_ts",
                *held,
            )
        return KeyClaim(key, token=token)

    def release_keys(self, claims: Iterable[KeyClaim]) -> None:
        # One statement, without the account's lock: a claim deciding meanwhile sees the
        # row or not, as it would before or after a release that took the lock.
        held = [(c.key, c.token) for c in claims if c.token is not None]
        with self._lock:
            given_back = self._given_back.intersection(token for _, token in held)
            self._given_back -= given_back
        held = [(key, token) for key, token in held if token not in given_back]
        if held:
            self._sql(
                lambda sql: sql.mine(
                    "DELETE FROM key_claims WHERE account = ? AND (batch_key, token) IN "
                    "(SELECT * FROM unnest(?::text[], ?::text[]))",
                    *map(list, zip(*held, strict=True)),
                )
            )

    def task_id_for_key(self, key: str) -> str | None:
        return self._sql(lambda sql: self._decide(sql, key, None))  # type: ignore[no-any-return]

    def _decide(self, sql: _Sql, key: str, inputs: Mapping[str, Any] | None) -> str | None:
        rows = sql.mine(
            f"SELECT entry_id, task_id, outcome, request_json, pid, host, session, requested_ts, "
            f"{_LIVE} FROM entries WHERE account = ? AND batch_key = ? ORDER BY requested_ts DESC",
            key,
        ).fetchall()
        entries = [
            KeyedEntry(str(r[0]), r[1], r[2], e.load_json(r[3]) or {}, _SeenOwner(*r[4:9]))
            for r in rows
        ]
        query = f"SELECT pid, host, session, claimed_ts, {_LIVE} FROM key_claims"
        claim = sql.mine(query + " WHERE account = ? AND batch_key = ?", key).fetchone()
        return decide(key, entries, None if claim is None else _SeenOwner(*claim), inputs)

    # --- states seen, files, labels -------------------------------------------------------
    def _write_seen(self, tasks: list[tuple[str, dict[str, Any]]]) -> int:
        # Compared with the stored rows first, without the account's write lock.
        query = "SELECT task_id, dto_json FROM entries WHERE account = ? AND task_id = ANY(?)"
        rows = self._mine(query, [task_id for task_id, _ in tasks])
        stored = {str(r[0]): e.load_json(r[1]) or {} for r in rows}
        changed = [
            (task_id, raw)
            for task_id, raw in tasks
            if task_id not in stored or {**stored[task_id], **raw} != stored[task_id]
        ]
        if not changed:
            return 0
        with self._write() as sql:  # read again under the lock, then written in one pipeline
            query = "SELECT task_id, entry_id, dto_json, outcome FROM entries WHERE account = ?"
            found = sql.mine(query + " AND task_id = ANY(?)", [t for t, _ in changed]).fetchall()
            known = {str(r[0]): r[1:] for r in found}
            pipelined = self._psycopg.Pipeline.is_supported()  # libpq 14+ (the binary's is)
            with sql.conn.pipeline() if pipelined else contextlib.nullcontext():
                return sum(self._seen(sql, t, raw, known.get(t)) for t, raw in changed)

    def _seen(self, sql: _Sql, task_id: str, raw: Mapping[str, Any], row: Any) -> int:
        merged = (e.load_json(row[1]) or {}) if row is not None else {}
        merged.update(raw)  # a list item (a subset) must not erase what a detail told us
        outcome = e.OUTCOME_REMOTE if row is None else row[2]
        changes = e.seen_columns(merged, outcome, new=row is None)
        if row is not None:
            sql.update(changes, "entry_id = ?", row[0], keep=(*KEPT_UNLESS_KNOWN, "completed_ts"))
            return 0
        ids = {"account": self.account, "entry_id": uuid.uuid4().hex, "task_id": task_id}
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
            sql.mine(
                "INSERT INTO kept (account, task_id, path, size, sha256, kept_ts) VALUES "
                "(?, ?, ?, ?, ?, ?) ON CONFLICT (account, task_id) DO UPDATE SET path = "
                "excluded.path, size = excluded.size, sha256 = excluded.sha256, "
                "kept_ts = excluded.kept_ts",
                *kept,
            )

    def forget_kept(self, task_id: str) -> None:
        with self._write() as sql:
            sql.mine("DELETE FROM kept WHERE account = ? AND task_id = ?", str(task_id))

    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        clean = e.clean_labels(labels)
        with self._lock:
            entry_id = self._entry_id(ref)
            with self._write() as sql:
                sql.mine("DELETE FROM labels WHERE account = ? AND entry_id = ?", entry_id)
                for label in clean:
                    sql.mine("INSERT INTO labels VALUES (?, ?, ?)", entry_id, label)

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
        rows = self._mine(
            f"SELECT {_ENTRY} FROM entries x WHERE account = ? AND task_id = ? UNION ALL "
            f"SELECT {_ENTRY} FROM entries x WHERE account = ? AND entry_id = ? LIMIT 1",
            *(found, self.account, found),
        )
        return self._entry(rows[0]) if rows else None

    def _where(self, query: Query) -> tuple[str, list[object]]:
        """The WHERE clause of a query (its first parameter the account) and its parameters."""
        clauses, params = facets(query)
        if query.since is not None:
            clauses.append("sort_ts >= ?")
            params.append(query.since)
        if query.until is not None:
            clauses.append("sort_ts < ?")
            params.append(query.until)
        if query.creator:
            clauses.append("creator = ANY(?)")
            params.append(list(query.creator))
        if query.labels:
            labels = "SELECT entry_id FROM labels WHERE account = ? AND label = ANY(?)"
            clauses.append(f"entry_id IN ({labels})")
            params += [self.account, list(query.labels)]
        if query.search:  # the trigram index's expression (a scan without the index)
            clauses.append(f"({SEARCH}) ILIKE ?")
            escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        return " WHERE " + " AND ".join(["account = ?", *clauses]), params

    def _page(
        self, query: Query, column: str, descending: bool, size: int, offset: int
    ) -> list[JournalEntry]:
        # NULLs last both ways (only credits has any); each order is an index's.
        way = "DESC" if descending else "ASC"
        terms = [(column, way, "LAST")] if column != "sort_ts" else []
        terms += [("sort_ts", way, ""), ("entry_id", way, "")]
        backwards = False
        if size >= 0 and offset > _FAR_OFFSET:  # past the middle: read from the other end
            total = self.count(query)
            if offset > total // 2:
                start = total - offset - size
                size, offset, backwards = size + min(0, start), max(0, start), True
                if size <= 0:
                    return []
                flip = {"ASC": "DESC", "DESC": "ASC", "LAST": "FIRST", "": ""}
                terms = [(c, flip[w], flip[n]) for c, w, n in terms]
        order = ", ".join(f"{c} {w}" + (f" NULLS {n}" if n else "") for c, w, n in terms)
        limit = "" if size < 0 else f" LIMIT {int(size)}"
        clause, params = self._where(query)
        if column == "sort_ts" and size >= 0 and offset > _FAR_OFFSET and query == Query():
            ascending = terms[0][1] == "ASC"  # the whole days before the page are skipped
            bound, offset = self._skip_days(offset, ascending)
            if bound is not None:
                clause += " AND sort_ts >= ?" if ascending else " AND sort_ts < ?"
                params.append(bound)
        sql = f"SELECT {_ENTRY} FROM entries x{clause} ORDER BY {order}{limit} OFFSET {offset}"
        entries = [self._entry(row) for row in self._mine(sql, *params)]
        return entries[::-1] if backwards else entries

    def _skip_days(self, offset: int, ascending: bool) -> tuple[float | None, int]:
        """Where the page at `offset` starts reading (the edge of the day it falls in, from
        the kept counts per day) and its offset from there: no walk over earlier days."""
        way = "ASC" if ascending else "DESC"
        days = self._mine(
            "SELECT day, sum(n), count(*) - 1 FROM day_totals WHERE account = ? GROUP BY day "
            f"HAVING sum(n) <> 0 ORDER BY day {way}"
        )
        if sum(d[2] for d in days) > FOLD_ROWS:
            self._fold("day_totals")
        before = 0
        for day, n, _ in days:
            if before + n > offset:
                return float((day if ascending else day + 1) * DAY_SECONDS), offset - before
            before += n
        return None, offset

    def _aggregate(
        self, query: Query, at_most: int | None = None
    ) -> list[tuple[str, int, float]] | None:
        """(state, count, credits) over the filtered set: from the kept totals when they can
        answer (facets, creators, one label: see `postgres_schema`), else from the rows."""
        if not replace(query, creator=(), labels=()).facets_only or len(query.labels) > 1:
            return self._counted(query, at_most)
        table = "label_totals" if query.labels else "totals"
        clauses, params = facets(query)
        if query.creator:
            clauses.append("creator = ANY(?)")
            params.append(list(query.creator))
        if query.labels:
            clauses.append("label = ?")
            params.append(query.labels[0])
        sql = (  # the deltas beyond one row per group: folded once they are many
            f"SELECT state, sum(n), sum(credits), count(*) - count(DISTINCT (input_mode, "
            f"source, creator)) FROM {table} WHERE account = ?"
        )
        rows = self._mine(sql + "".join(f" AND {c}" for c in clauses) + " GROUP BY state", *params)
        if sum(r[3] for r in rows) > FOLD_ROWS:
            self._fold(table)
        return [(str(r[0]), int(r[1]), float(r[2])) for r in rows if r[1]]

    def _fold(self, table: str) -> None:
        """Fold the account's deltas; a reader that may not write (a read-only role) still
        reads right, only slower (`postgres_schema.fold`)."""
        with contextlib.suppress(JournalError), self._write() as sql:
            sql.mine(fold(table))

    def _counted(self, query: Query, at_most: int | None) -> list[tuple[str, int, float]] | None:
        """The aggregate over the rows, read again only when the database changed: a count
        and a summary of one search cost one scan (the same snapshot, the same rows); with
        `at_most`, None once more rows match, without reading the rest."""
        clause, params = self._where(query)
        seen, below = "SELECT 0 AS n", ""
        if at_most is not None:  # rows counted up to one more; summed only when not more
            seen = f"SELECT count(*) AS n FROM (SELECT 1 FROM entries{clause} LIMIT ?) s"
            below = " AND (SELECT n FROM seen) <= ?"
            params = [*params, at_most + 1, self.account, *params, at_most]
        sql = f"SELECT state, count(*), coalesce(sum(credits), 0) FROM entries{clause}{below}"
        sql = (  # with the snapshot the aggregate was read in (one statement)
            f"WITH seen AS ({seen}) SELECT pg_current_snapshot()::text, seen.n, a.* FROM seen "
            f"LEFT JOIN ({sql} GROUP BY state) AS a ON true"
        )
        with self._lock:
            cached = self._counted_cache
            if cached is not None and cached[0] == (sql, repr(params)):
                now = self._sql(lambda s: s.execute("SELECT pg_current_snapshot()::text"))
                if now.fetchone()[0] == cached[1]:
                    return cached[2]
            rows = self._mine(sql, *params)
            found = None
            if at_most is None or rows[0][1] <= at_most:
                found = [(str(s), int(n), float(c)) for _, _, s, n, c in rows if n]
            self._counted_cache = ((sql, repr(params)), rows[0][0], found)
            return found

    def creators(self) -> list[str]:
        # One index probe per person (a skip scan), as the SQLite store does.
        sql = (
            "WITH RECURSIVE who(name) AS (SELECT min(creator) FROM entries WHERE account = ? "
            "UNION ALL SELECT (SELECT min(creator) FROM entries WHERE account = ? AND "
            "creator > name) FROM who WHERE name IS NOT NULL) SELECT name FROM who "
            "WHERE name IS NOT NULL"
        )
        return [str(row[0]) for row in self._mine(sql, self.account)]

    def unresolved(self, *, stale_after: float = STALE_SENDING_SECONDS) -> list[JournalEntry]:
        rows = self._mine(
            f"SELECT {_ENTRY}, pid, host, session, {_LIVE} FROM entries x "
            "WHERE account = ? AND outcome IN (?, ?) ORDER BY requested_ts",
            *(e.OUTCOME_UNKNOWN, e.OUTCOME_SENDING),
        )
        found = [
            (
                replace(self._entry(r), host=r[-3]),
                _SeenOwner(r[-4], r[-3], r[-2], r[17] or 0.0, r[-1]),
            )
            for r in rows
        ]
        return [
            entry
            for entry, owner in found
            if entry.outcome != e.OUTCOME_SENDING or owner.left_behind(entry.entry_id, stale_after)
        ]

    def active(self) -> list[JournalEntry]:
        sql = f"SELECT {_ENTRY} FROM entries x WHERE account = ? AND task_id IS NOT NULL"
        rows = self._mine(sql + " AND state != ALL(?) ORDER BY sort_ts", sorted(e.FINAL_STATES))
        return [self._entry(row) for row in rows]

    def undated_task_ids(self, task_ids: list[str]) -> list[str]:
        sql = "SELECT task_id FROM entries WHERE account = ? AND created_ts IS NULL"
        return [str(row[0]) for row in self._mine(sql + " AND task_id = ANY(?)", task_ids)]

    def server_only_tasks(self) -> list[Candidate]:
        rows = self._mine(
            "SELECT task_id, created_ts, model, input_mode FROM entries WHERE account = ? "
            "AND source = 'server' AND task_id IS NOT NULL"
        )
        return [Candidate(str(r[0]), r[1], r[2], r[3]) for r in rows]

    def create_delays(self, samples: int = 50) -> list[float]:
        rows = self._mine(
            "SELECT created_ts - requested_ts FROM entries WHERE account = ? AND "
            "source = 'local' AND outcome = ? AND reconciled_ts IS NULL AND created_ts IS NOT "
            "NULL AND requested_ts IS NOT NULL AND host = ? ORDER BY requested_ts DESC LIMIT ?",
            *(e.OUTCOME_CREATED, HOST, samples),
        )
        return [float(r[0]) for r in rows]

    def kept(self, task_id: str) -> KeptResult | None:
        rows = self._mine(f"SELECT {_KEPT} FROM kept WHERE account = ? AND task_id = ?", task_id)
        return kept_of_row(rows[0]) if rows else None

    def kept_total_bytes(self) -> int:
        return int(self._mine("SELECT coalesce(sum(size), 0) FROM kept WHERE account = ?")[0][0])

    def kept_oldest(self, n: int) -> list[KeptResult]:
        sql = f"SELECT {_KEPT} FROM kept WHERE account = ? ORDER BY kept_ts, task_id LIMIT ?"
        return [kept_of_row(row) for row in self._mine(sql, max(0, int(n)))]

    # --- copying (`rows`) -----------------------------------------------------------------
    def rows(self) -> JournalRows:
        scope = {"account": self.account}
        return self._sql(lambda sql: read_rows(sql, self.account, scope))  # type: ignore[no-any-return]

    def add_rows(self, rows: JournalRows) -> int:
        with self._write() as sql:
            return add_rows(sql, rows, {"account": self.account})
