"""`PostgresJournal`: the journal of a team, every account's in one PostgreSQL database.

Chosen by a `postgresql://` URL (`KITTA_JOURNAL_URL`, or `KittaClient(journal=URL)`). Its
tables are those of the SQLite file (`schema`) with an `account` column first: every row
belongs to the account fingerprint of the store that wrote it, and every query is scoped to
it, so one database holds a team's accounts apart. The queries are `sql.SqlStore`'s (written
once for both stores); what is PostgreSQL's own is here.

Concurrency. Every write transaction first takes a transaction-level advisory lock on its
account (`pg_advisory_xact_lock`): writers of one account, on any machine, take turns, as
they do under SQLite's write lock, so the store's read-decide-write steps (a key's claim, a
task's merge) are atomic without SERIALIZABLE retries; readers never wait (MVCC). Only a
claim's release skips it (DELETEs of its own rows). A keyed create's usual steps are
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
import os
import threading
import time
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote

from .._redact import redact_text, redact_url
from ..errors import JournalError, JournalWarning
from .entry import JournalEntry, Query
from .keys import SESSION, Owner
from .postgres_schema import (
    DAY_SECONDS,
    FOLD_ROWS,
    SCHEMA_VERSION,
    SEARCH,
    SEARCH_INDEX,
    STEPS,
    VERSION_TABLE,
    fold,
    joined_words,
)
from .schema import ROW_COLUMNS, account_fingerprint, facets, identity_fingerprint
from .sql import SqlStore
from .store import MINE, Sql

__all__ = ["PostgresJournal"]

CONNECT_TIMEOUT_SECONDS = 10
IDLE_CHECK_SECONDS = 1.0
"""A connection idle this long is checked before use: a database restarted meanwhile (or a
firewall that dropped it) costs a reconnect, not a refused create."""
STATEMENT_TIMEOUT_SECONDS = 30
# Advisory lock classes ("KitJ", then one more): an account's writers, a live session.
_WRITER_LOCK, _SESSION_LOCK = 0x4B69744A, 0x4B69744B
_FAR_OFFSET = 500  # past this offset a page is worth a count, to read it from the nearer end

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
_SESSION_LIVE = (
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


class _Statements(Sql):
    """Collects statements (nothing runs) for `PostgresJournal._at_once`."""

    def __init__(self, account: str) -> None:
        super().__init__(None, account, format_style=True)
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        self.statements.append(self.text(sql, parameters))


class PostgresJournal(SqlStore):
    """One account's journal in a PostgreSQL database. Connects lazily, on first use."""

    _ENTRY = (
        ROW_COLUMNS + ", (SELECT string_agg(label, chr(31)) FROM labels l "
        "WHERE l.account = x.account AND l.entry_id = x.entry_id)"
    )
    _LIVE = f", {_SESSION_LIVE}"

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
        self.account: str = account
        self._conn: Any = None
        self._pid = 0
        self._used = time.monotonic()  # when the connection was last asked for
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
    def _scope(self) -> dict[str, object]:
        return {"account": self.account}

    def _owner(self, *columns: Any) -> Owner:
        return _SeenOwner(*columns)

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
            # Plans made for each search's own term: a plan made once for any term (what
            # a prepared statement comes to) reads a wide search's every match.
            options=(
                f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000} "
                "-c plan_cache_mode=force_custom_plan"
            ),
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            self._search_index = self._prepare(Sql(conn, self.account, format_style=True))
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

    def _prepare(self, sql: Sql) -> bool:
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
        if sql.execute("SELECT to_regclass('entries_search_nearest')").fetchone()[0] is not None:
            return True
        with contextlib.suppress(self._psycopg.Error), sql.conn.transaction():
            sql.execute("SELECT pg_advisory_xact_lock(?, 0)", (_WRITER_LOCK,))
            sql.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            sql.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
            sql.conn.execute(SEARCH_INDEX)
            return True
        if self.where not in _WARNED_NO_TRIGRAM:
            _WARNED_NO_TRIGRAM.add(self.where)
            warnings.warn(
                JournalWarning(
                    f"the team journal at {self.where} has no URL search index: this role may "
                    "not CREATE EXTENSION pg_trgm and btree_gist (and the index on entries); "
                    "search "
                    "scans the account's rows. The database's owner can create them."
                ),
                stacklevel=2,
            )
        return False

    def _version(self, sql: Sql) -> int:
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
                return work(Sql(self._connection(), self.account, format_style=True))
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[Sql]:
        """One write transaction, the account's writers one at a time (see the module)."""
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():
                    sql = Sql(conn, self.account, format_style=True)
                    sql.execute(_ACCOUNT_LOCK, (self.account,))
                    yield sql
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def _at_once(self, write: Any) -> int:
        """The account's lock and `write(sql)`'s statements sent at once, bound here: one
        round trip, one implicit transaction (all or nothing). The last one's rowcount."""
        statements = _Statements(self.account)
        statements.execute(_ACCOUNT_LOCK, (self.account,))
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

    def _batched(self, sql: Sql) -> Any:
        """A pipeline: the statements sent without awaiting each answer (libpq 14+)."""
        pipelined = self._psycopg.Pipeline.is_supported()
        return sql.conn.pipeline() if pipelined else contextlib.nullcontext()

    # --- what is PostgreSQL's own: the search, paging, totals --------------------------
    def _search(self, search: str) -> tuple[str, list[object]]:
        """The trigram index's condition (its text joined into words: a superset, none
        missed), then the text itself, whatever the case (a scan without the index)."""
        words = f"({joined_words(SEARCH)}) LIKE ('%%' || {joined_words('?')} || '%%') ESCAPE ''"
        return f"{words} AND strpos(lower({SEARCH}), lower(?)) > 0", [search, search]

    def _page(
        self, query: Query, column: str, descending: bool, size: int, offset: int
    ) -> list[JournalEntry]:
        # NULLs last both ways (only credits has any); each order is an index's.
        if query.search and column == "sort_ts" and size >= 0 and self.has_search_index:
            return self._nearest(query, descending, size, offset)
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
        sql = f"SELECT {self._ENTRY} FROM entries x{clause} ORDER BY {order}{limit} OFFSET {offset}"
        entries = self._entries(sql, params)
        return entries[::-1] if backwards else entries

    def _nearest(
        self, query: Query, descending: bool, size: int, offset: int
    ) -> list[JournalEntry]:
        """A search's page in time order, from the search index read nearest first (a
        wide search's matches may all be old: no walk over the newer rows between). The
        index orders by time alone, so the rows tied with the last one read are read too
        and the page is cut in (time, entry) order, as every other page is."""
        clause, params = self._where(query)
        edge = "max" if descending else "min"
        nearest = f"sort_ts <-> (SELECT {edge}(sort_ts) FROM entries WHERE {MINE}TRUE)"
        wanted = offset + size
        keys = self._read(
            f"SELECT sort_ts, entry_id FROM entries x{clause} ORDER BY {nearest} LIMIT ?",
            [*params, wanted],
        )
        if wanted and len(keys) == wanted:  # the last one's ties, wherever the index put them
            tied = f"SELECT sort_ts, entry_id FROM entries x{clause} AND sort_ts = ?"
            keys += self._read(tied, [*params, keys[-1][0]])
        page = sorted(set(map(tuple, keys)), reverse=descending)[offset:wanted]
        ids = [entry_id for _, entry_id in page]
        found = self._entries(
            f"SELECT {self._ENTRY} FROM entries x WHERE {MINE}entry_id = ANY(?)", [ids]
        )
        by_id = {entry.entry_id: entry for entry in found}
        return [by_id[entry_id] for entry_id in ids if entry_id in by_id]

    def _skip_days(self, offset: int, ascending: bool) -> tuple[float | None, int]:
        """Where the page at `offset` starts reading (the edge of the day it falls in, from
        the kept counts per day) and its offset from there: no walk over earlier days."""
        way = "ASC" if ascending else "DESC"
        days = self._read(
            "SELECT day, sum(n), count(*) - 1 FROM day_totals WHERE account = ? GROUP BY day "
            f"HAVING sum(n) <> 0 ORDER BY day {way}",
            (self.account,),
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
        sql += "".join(f" AND {c}" for c in clauses) + " GROUP BY state"
        rows = self._read(sql, [self.account, *params])
        if sum(r[3] for r in rows) > FOLD_ROWS:
            self._fold(table)
        return [(str(r[0]), int(r[1]), float(r[2])) for r in rows if r[1]]

    def _fold(self, table: str) -> None:
        """Fold the account's deltas; a reader that may not write (a read-only role) still
        reads right, only slower (`postgres_schema.fold`)."""
        with contextlib.suppress(JournalError), self._write() as sql:
            sql.execute(fold(table), (self.account,))

    def _counted(self, query: Query, at_most: int | None) -> list[tuple[str, int, float]] | None:
        """The aggregate over the rows, read again only when the database changed: a count
        and a summary of one search cost one scan (the same snapshot, the same rows); with
        `at_most`, None once more rows match, without reading the rest."""
        clause, params = self._where(query)
        source = f"entries{clause}"
        if at_most is not None:  # the first rows, one more than counted: one read of them
            first = ""  # a search's first matches: its index read nearest first (`_nearest`)
            if query.search and self.has_search_index:
                newest = f"(SELECT max(sort_ts) FROM entries WHERE {MINE}TRUE)"
                first = f" ORDER BY sort_ts <-> {newest}"
            source = f"(SELECT state, credits FROM entries{clause}{first} LIMIT ?) m"
            params = [*params, at_most + 1]
        sql = (  # with the snapshot the aggregate was read in (one statement)
            "WITH a AS (SELECT state, count(*) AS n, coalesce(sum(credits), 0) AS c "
            f"FROM {source} GROUP BY state) SELECT pg_current_snapshot()::text, "
            "(SELECT coalesce(sum(n), 0) FROM a), a.* FROM (SELECT 1) AS one LEFT JOIN a ON true"
        )
        with self._lock:
            cached = self._counted_cache
            if cached is not None and cached[0] == (sql, repr(params)):
                now = self._sql(lambda s: s.execute("SELECT pg_current_snapshot()::text"))
                if now.fetchone()[0] == cached[1]:
                    return cached[2]
            rows = self._read(sql, params)
            found = None
            if at_most is None or rows[0][1] <= at_most:
                found = [(str(s), int(n), float(c)) for _, _, s, n, c in rows if n]
            self._counted_cache = ((sql, repr(params)), rows[0][0], found)
            return found
