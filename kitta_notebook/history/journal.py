"""`Journal`: the embedded journal store, one SQLite file per account under `KITTA_HOME`.

The file is named by a one-way fingerprint of (origin, account), or of an
identity (the embedded sandbox's: one journal for any port), never by the
token. It is recognised by SQLite's `application_id` header field (and a
`meta` row), never by its name: anything else at that path is refused
untouched. One connection per journal object, behind a lock, serves every
thread (the async API's worker threads included); WAL, a busy timeout and
short `BEGIN IMMEDIATE` transactions let several processes write the file.
All SQL of the journal is here (see `store.JournalStore` for what it does).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .._home import HOME_ENV, kitta_home
from ..errors import JournalCorruptError, JournalError, KeyInUseError, KeyReusedError
from ..models import LipSyncTask
from . import entry as e
from .entry import JournalEntry, JournalSummary, KeptResult, Query
from .keys import IN_FLIGHT, STALE_SENDING_SECONDS, KeyClaim, KeyedEntry, Owner, decide
from .reconcile import Candidate
from .store import JournalStore, Ref

__all__ = ["Journal", "account_fingerprint", "journal_path", "journal_path_for_identity"]

# --- where journals live ----------------------------------------------------------------
_FINGERPRINT_HEX = 12


def account_fingerprint(origin: str, token: str) -> str:
    """A short, one-way name for (origin, account): 12 hex digits of sha256.

    Enough to keep accounts apart, far too little to recover a token from.
    """
    return hashlib.sha256(f"{origin.lower()}\n{token}".encode()).hexdigest()[:_FINGERPRINT_HEX]


def identity_fingerprint(identity: str) -> str:
    """The name for a journal chosen by identity; prefixed so that no identity can
    collide with an (origin, token) fingerprint."""
    return hashlib.sha256(f"identity\n{identity}".encode()).hexdigest()[:_FINGERPRINT_HEX]


def journal_path(origin: str, token: str, home: Path | None = None) -> Path:
    return _path(account_fingerprint(origin, token), home)


def journal_path_for_identity(identity: str, home: Path | None = None) -> Path:
    return _path(identity_fingerprint(identity), home)


def _path(fingerprint: str, home: Path | None) -> Path:
    return (home or kitta_home()) / "journals" / f"journal-{fingerprint}.sqlite3"


def _home_error(path: Path, exc: BaseException) -> JournalError:
    """A journal folder that cannot be used (`KITTA_HOME` a file, or not writable), as
    an error that names the fix instead of a raw OSError in the middle of a create."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    configured = os.environ.get(HOME_ENV, "").strip()
    where = f"KITTA_HOME ({configured})" if configured else "the default data folder"
    return JournalError(
        f"The task journal cannot be written at {path} ({reason}). Set {HOME_ENV} to a "
        f"writable folder (now {where}), or pass journal=False to the client to work "
        "without a journal."
    )


# --- the file format --------------------------------------------------------------------
# "KitJ" as a big-endian 32-bit integer, stored in the SQLite header (offset 68).
APPLICATION_ID = 0x4B69744A
# The schema version, in the header's user_version (offset 60). 2: paging indexes, the
# URL search index, kept results.
SCHEMA_VERSION = 2
SCHEMA_MARKER = "kitta-notebook-journal"
_SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    entry_id TEXT PRIMARY KEY,
    task_id TEXT UNIQUE,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL,
    state TEXT NOT NULL,
    status TEXT,
    model TEXT,
    input_mode TEXT,
    video_url TEXT,
    image_url TEXT,
    audio_url TEXT,
    reference_image_url TEXT,
    duration_seconds REAL,
    credits REAL,
    request_json TEXT,
    dto_json TEXT,
    outcome_error TEXT,
    batch_key TEXT,
    note TEXT,
    download_path TEXT,
    requested_ts REAL,
    created_ts REAL,
    completed_ts REAL,
    updated_ts REAL NOT NULL,
    sort_ts REAL NOT NULL,
    pid INTEGER,
    host TEXT,
    session TEXT,
    reconciled_ts REAL
);
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (sort_ts);
CREATE INDEX IF NOT EXISTS entries_by_state ON entries (state, sort_ts);
CREATE INDEX IF NOT EXISTS entries_by_mode ON entries (input_mode, sort_ts);
CREATE INDEX IF NOT EXISTS entries_by_credits ON entries (credits);
CREATE INDEX IF NOT EXISTS entries_by_state_credits ON entries (state, credits);
CREATE INDEX IF NOT EXISTS entries_by_outcome ON entries (outcome);
CREATE INDEX IF NOT EXISTS entries_by_key ON entries (batch_key) WHERE batch_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS labels (
    entry_id TEXT NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY (entry_id, label)
);
CREATE INDEX IF NOT EXISTS labels_by_label ON labels (label, entry_id);
"""

# Version 2, also run on a version-1 file when it is opened (all idempotent). Every sort
# the history offers, alone or after a status / mode / source filter, is the order of an
# index, so a page is read from the index without sorting the table. `totals` keeps the
# counts and credits per (state, mode, source), so the count and the summary strip never
# scan the table for those filters.
SCHEMA_V2 = """
DROP INDEX IF EXISTS entries_by_time;
DROP INDEX IF EXISTS entries_by_state;
DROP INDEX IF EXISTS entries_by_mode;
DROP INDEX IF EXISTS entries_by_credits;
DROP INDEX IF EXISTS entries_by_state_credits;
CREATE INDEX IF NOT EXISTS entries_page_created ON entries (sort_ts, entry_id, state, credits);
CREATE INDEX IF NOT EXISTS entries_page_updated ON entries (updated_ts, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_page_credits ON entries (credits, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_page_state ON entries (state, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_page_state_credits
    ON entries (state, credits, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_page_mode ON entries (input_mode, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_page_mode_credits
    ON entries (input_mode, credits, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_page_source ON entries (source, sort_ts, entry_id);
CREATE TABLE IF NOT EXISTS kept (
    task_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    kept_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS kept_by_age ON kept (kept_ts);
CREATE TABLE IF NOT EXISTS totals (
    state TEXT NOT NULL,
    input_mode TEXT NOT NULL,
    source TEXT NOT NULL,
    n INTEGER NOT NULL,
    credits REAL NOT NULL,
    PRIMARY KEY (state, input_mode, source)
);
CREATE TRIGGER IF NOT EXISTS totals_insert AFTER INSERT ON entries BEGIN
    INSERT INTO totals (state, input_mode, source, n, credits)
    VALUES (new.state, COALESCE(new.input_mode, ''), new.source, 1, COALESCE(new.credits, 0))
    ON CONFLICT (state, input_mode, source)
    DO UPDATE SET n = n + 1, credits = credits + excluded.credits;
END;
CREATE TRIGGER IF NOT EXISTS totals_delete AFTER DELETE ON entries BEGIN
    UPDATE totals SET n = n - 1, credits = credits - COALESCE(old.credits, 0)
    WHERE state = old.state AND input_mode = COALESCE(old.input_mode, '')
    AND source = old.source;
END;
CREATE TRIGGER IF NOT EXISTS totals_update
AFTER UPDATE OF state, input_mode, source, credits ON entries BEGIN
    UPDATE totals SET n = n - 1, credits = credits - COALESCE(old.credits, 0)
    WHERE state = old.state AND input_mode = COALESCE(old.input_mode, '')
    AND source = old.source;
    INSERT INTO totals (state, input_mode, source, n, credits)
    VALUES (new.state, COALESCE(new.input_mode, ''), new.source, 1, COALESCE(new.credits, 0))
    ON CONFLICT (state, input_mode, source)
    DO UPDATE SET n = n + 1, credits = credits + excluded.credits;
END;
"""
# Fills `totals` for the entries a version-1 file already holds.
TOTALS_REBUILD = """
DELETE FROM totals;
INSERT INTO totals (state, input_mode, source, n, credits)
SELECT state, COALESCE(input_mode, ''), source, count(*), total(credits)
FROM entries GROUP BY 1, 2, 3;
"""
# Keys claimed by creates in progress, one row per key. Added beside version 2 without a
# version bump (an older kitta-notebook ignores it); created when missing.
KEY_CLAIMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS key_claims (
    batch_key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    session TEXT,
    claimed_ts REAL NOT NULL
);
"""
# The substring-search index over the URLs and task ids (FTS5 trigram, SQLite 3.34+).
# Where SQLite lacks it, search falls back to LIKE over the columns.
SEARCH_COLUMNS = ("video_url", "image_url", "audio_url", "reference_image_url", "task_id")
_COLS = ", ".join(SEARCH_COLUMNS)
_NEW = ", ".join("new." + c for c in SEARCH_COLUMNS)
_OLD = ", ".join("old." + c for c in SEARCH_COLUMNS)
SEARCH_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS entries_search USING fts5(
    {_COLS}, content='entries', content_rowid='rowid', tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS entries_search_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_search (rowid, {_COLS}) VALUES (new.rowid, {_NEW});
END;
CREATE TRIGGER IF NOT EXISTS entries_search_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_search (entries_search, rowid, {_COLS})
    VALUES ('delete', old.rowid, {_OLD});
END;
CREATE TRIGGER IF NOT EXISTS entries_search_update AFTER UPDATE OF {_COLS} ON entries BEGIN
    INSERT INTO entries_search (entries_search, rowid, {_COLS})
    VALUES ('delete', old.rowid, {_OLD});
    INSERT INTO entries_search (rowid, {_COLS}) VALUES (new.rowid, {_NEW});
END;
"""


def statements(script: str) -> list[str]:
    """The statements of a script (trigger bodies stay whole), to run one by one inside
    a transaction this code holds."""
    found: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    return found


def check_header(path: Path) -> bool:
    """Validate an existing file's header without opening it with SQLite.

    True when the file must be initialised (absent or empty), False for an existing
    journal (or an unmarked database, decided under a lock by the caller); raises
    `JournalCorruptError` for anything else, so a foreign file is never written to.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return True
    if not header:
        return True
    fix = "Move it aside to start a new journal, or pass journal=False to the client."
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise JournalCorruptError(
            f"{path} is not an SQLite database (corrupt, or some other file). "
            f"It was left untouched. {fix}"
        )
    app_id = int.from_bytes(header[68:72], "big")
    version = int.from_bytes(header[60:64], "big")
    if app_id not in (0, APPLICATION_ID):
        raise JournalCorruptError(
            f"{path} is an SQLite database of another application (application_id "
            f"{app_id:#010x}), not a kitta-notebook journal. It was left untouched. {fix}"
        )
    if version > SCHEMA_VERSION:
        raise JournalCorruptError(
            f"{path} was written by a newer kitta-notebook (journal schema {version}, "
            f"this version reads up to {SCHEMA_VERSION}). Upgrade kitta-notebook. {fix}"
        )
    return False


# --- reading rows -------------------------------------------------------------------------
_ROW_SQL = (
    "entry_id, task_id, source, outcome, state, status, model, input_mode, video_url, "
    "image_url, audio_url, reference_image_url, duration_seconds, credits, batch_key, note, "
    "download_path, requested_ts, created_ts, completed_ts, updated_ts, reconciled_ts, "
    "outcome_error, request_json, dto_json"
)
_ROW = _ROW_SQL.split(", ")
ENTRY_COLUMNS = (
    _ROW_SQL
    + ", (SELECT group_concat(label, char(31)) FROM labels l WHERE l.entry_id = entries.entry_id)"
)
_PLAIN = (*_ROW[:13], "note", "download_path", "outcome_error")
_TIMES = ("requested_ts", "created_ts", "completed_ts", "updated_ts", "reconciled_ts")
# Every sort the history offers, as a column; each has an index (see `SCHEMA_V2`).
SORT_COLUMNS = {
    "created": "sort_ts",
    "credits": "credits",
    "updated": "updated_ts",
    "status": "state",
}
# Past this offset a page is worth a count, to read it from the nearer end.
_FAR_OFFSET = 500
# Trigrams need three characters; a shorter search scans the columns instead.
_TRIGRAM = 3
BUSY_TIMEOUT_SECONDS = 30.0
_BEGIN_ATTEMPTS = 5

Self = TypeVar("Self", bound="Journal")
_REGISTRY: weakref.WeakValueDictionary[str, Journal] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


def _entry_of(row: Sequence[Any]) -> JournalEntry:
    values: dict[str, Any] = dict(zip(_ROW, row, strict=False))
    credits, labels = values["credits"], row[len(_ROW)]
    times: dict[str, Any] = {name.replace("_ts", "_at"): e.dt(values[name]) for name in _TIMES}
    return JournalEntry(
        **{name: values[name] for name in _PLAIN},
        **times,
        credits=int(credits) if credits is not None and float(credits).is_integer() else credits,
        key=values["batch_key"],
        labels=tuple(sorted(labels.split("\x1f"))) if labels else (),
        request=e.load_json(values["request_json"]),
        dto=e.load_json(values["dto_json"]),
    )


def _kept(row: Sequence[Any]) -> KeptResult:
    kept_at = e.dt(row[4])
    assert kept_at is not None
    return KeptResult(str(row[0]), str(row[1]), int(row[2]), str(row[3]), kept_at)


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _natural(column: str, way: str) -> str:
    """An ORDER BY that is exactly an index's order (see `SCHEMA_V2`)."""
    if column == "sort_ts":
        return f"sort_ts {way}, entry_id {way}"
    return f"{column} {way}, sort_ts {way}, entry_id {way}"


def _facets(query: Query) -> tuple[list[str], list[object]]:
    """The status / mode / source conditions (columns named alike in `totals`)."""
    clauses: list[str] = []
    params: list[object] = []
    if query.status:
        clauses.append(f"state IN ({_marks(query.status)})")
        params.extend(query.status)
    if query.mode:
        clauses.append("input_mode = ?")
        params.append(query.mode)
    if query.source:
        clauses.append("source = ?")
        params.append(query.source)
    return clauses, params


def where(query: Query, search_index: bool, extra: str = "") -> tuple[str, list[object]]:
    """The WHERE clause of a query and its parameters (`search_index`: the trigram
    index exists)."""
    clauses, params = _facets(query)
    if query.since is not None:
        clauses.append("sort_ts >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("sort_ts < ?")
        params.append(query.until)
    if query.labels:
        labels = f"SELECT entry_id FROM labels WHERE label IN ({_marks(query.labels)})"
        clauses.append(f"entry_id IN ({labels})")
        params.extend(query.labels)
    search = query.search
    if search and search_index and len(search) >= _TRIGRAM:
        clauses.append("rowid IN (SELECT rowid FROM entries_search WHERE entries_search MATCH ?)")
        params.append('"' + search.replace('"', '""') + '"')
    elif search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in SEARCH_COLUMNS) + ")")
        params.extend([pattern] * len(SEARCH_COLUMNS))
    if extra:
        clauses.append(extra)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


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
        self._aggregate_cache: tuple[object, list[tuple[str, int, float]]] | None = None

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
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            if check_header(self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,  # every use holds `_lock`
            )
        except (OSError, sqlite3.Error) as exc:  # KITTA_HOME a file, or not writable
            raise _home_error(self.path, exc) from None
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the marker; create the schema only in a database that holds nothing."""
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                # Decided under the write lock only: another process may be creating
                # this very journal right now (its tables appear before we look again).
                self._initialise(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalCorruptError(
                    f"{self.path} was written by a newer kitta-notebook (schema {version}); "
                    "upgrade kitta-notebook to read it."
                )
            marker = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if marker is None or marker[0] != SCHEMA_MARKER:
                raise JournalCorruptError(
                    f"{self.path} carries the journal's header marker but not its tables; "
                    "it was left untouched."
                )
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a network file system: still correct, slower
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                self._migrate(conn)
            self._search_index = _has_table(conn, "entries_search")
            if not _has_table(conn, "key_claims"):  # a journal from before them
                with _transaction(conn, "IMMEDIATE"):  # the write lock first: never deadlocks
                    conn.execute(KEY_CLAIMS_SCHEMA)
        except JournalError:
            raise
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "unable to open" in str(exc):
                raise _home_error(self.path, exc) from None
            raise self._database_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._database_error(exc) from None

    def _initialise(self, conn: sqlite3.Connection) -> None:
        with _transaction(conn, "EXCLUSIVE"):
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == APPLICATION_ID:  # another process was quicker
                return
            if app_id != 0 or conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise JournalCorruptError(
                    f"{self.path} is an SQLite database but not a kitta-notebook journal. "
                    "It was left untouched; move it aside or choose another KITTA_HOME."
                )
            for statement in statements(SCHEMA_V1 + SCHEMA_V2 + KEY_CLAIMS_SCHEMA):
                conn.execute(statement)
            _create_search_index(conn)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            meta = {"schema": SCHEMA_MARKER, "created": datetime.now(timezone.utc).isoformat()}
            if self.origin:
                meta["origin"] = self.origin
            if self.account:
                meta["account"] = self.account
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring a version-1 file up to date (indexes, search index, kept results)."""
        with _transaction(conn, "EXCLUSIVE"):
            if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return  # another process was quicker
            for statement in statements(SCHEMA_V2 + TOTALS_REBUILD):
                conn.execute(statement)
            if _create_search_index(conn):
                conn.execute("INSERT INTO entries_search (entries_search) VALUES ('rebuild')")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _database_error(self, exc: sqlite3.Error) -> JournalError:
        if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            return JournalError(f"the journal {self.path} was asked something invalid: {exc}")
        if isinstance(exc, sqlite3.OperationalError):
            return JournalError(f"the journal {self.path} could not be used: {exc}")
        return JournalCorruptError(
            f"the journal {self.path} is damaged ({exc}). It was left untouched: move it "
            "aside to start a new journal, or pass journal=False to the client."
        )

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
            for attempt in range(1, _BEGIN_ATTEMPTS + 1):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    busy = "locked" in str(exc) or "busy" in str(exc)
                    if not busy or attempt == _BEGIN_ATTEMPTS:
                        raise self._database_error(exc) from None
                    time.sleep(0.05 * attempt)  # the busy timeout already waited
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self._database_error(exc) from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._database_error(exc) from None

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        return e.resolved_entry(_entry_of(row), self.media_origin)

    def _entry_id(self, ref: Ref) -> str:
        if isinstance(ref, JournalEntry):
            return ref.entry_id
        text_ref = ref.task_id if isinstance(ref, LipSyncTask) else str(ref)
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
    def record_request(
        self,
        origin: str,
        body: Mapping[str, Any],
        key: str | None = None,
        *,
        published: Mapping[str, Any] | None = None,
        claim: str | None = None,
    ) -> str:
        clean = e.stored_body(body)
        stored = {**clean, e.PUBLISHED_KEY: dict(published)} if published else clean
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
        }
        with self._write() as conn:
            if key is not None:
                inputs = self._check_claim(conn, key, claim)
                if inputs is not None:
                    stored = {**stored, e.INPUTS_KEY: inputs}
            _insert(conn, {**row, "request_json": json.dumps(stored, sort_keys=True)})
        IN_FLIGHT.add(row["entry_id"])
        return str(row["entry_id"])

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
            _update(
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
        moment = e.now()
        status = e.text(merged.get("status"))
        state = e.derive_state(e.OUTCOME_CREATED, status)
        task = {"task_id": task_id, "outcome": e.OUTCOME_CREATED, "state": state, "status": status}
        dto = e.dto_values(merged)
        changes = {**task, **dto, "updated_ts": moment, "sort_ts": dto["created_ts"]}
        changes["reconciled_ts"] = moment if reconciled else None
        _update(conn, changes, "entry_id = ?", entry_id, keep=_KEPT_UNLESS_KNOWN)
        self._remember(task_id, raw)

    def record_outcome(self, entry_id: str, *, rejected: bool, error: str) -> None:
        IN_FLIGHT.discard(entry_id)
        outcome = e.OUTCOME_REJECTED if rejected else e.OUTCOME_UNKNOWN
        changes = {"outcome": outcome, "state": e.derive_state(outcome, None)}
        with self._write() as conn:
            _update(
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
                raise self._database_error(exc) from None

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
        stored: dict[str, dict[str, Any]] = {}
        ids = [task_id for task_id, _ in tasks]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._read(
                f"SELECT task_id, dto_json FROM entries WHERE task_id IN ({_marks(chunk)})", chunk
            )
            stored.update({str(r[0]): e.load_json(r[1]) or {} for r in rows})
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
        status = e.text(merged.get("status"))
        outcome = e.OUTCOME_REMOTE if row is None else row[2]
        dto = e.dto_values(merged)
        moment = e.now()
        changes = {"status": status, "state": e.derive_state(outcome, status), **dto}
        changes["updated_ts"] = moment
        if row is not None:
            changes["sort_ts"] = dto["created_ts"]
            keep = (*_KEPT_UNLESS_KNOWN, "completed_ts")
            _update(conn, changes, "entry_id = ?", row[0], keep=keep)
            return 0
        changes["sort_ts"] = moment if dto["created_ts"] is None else dto["created_ts"]
        ids = {"entry_id": uuid.uuid4().hex, "task_id": task_id, "source": "server"}
        _insert(conn, {**ids, "outcome": outcome, **changes})
        return 1

    def record_download(self, task: LipSyncTask | str, path: str | os.PathLike[str]) -> None:
        task_id = task.task_id if isinstance(task, LipSyncTask) else task
        if isinstance(task, LipSyncTask):
            self.record_seen(task)
        changes = {"download_path": str(Path(path).absolute()), "updated_ts": e.now()}
        with self._write() as conn:
            _update(conn, changes, "task_id = ?", task_id)

    def record_kept(
        self, task_id: str, path: str | os.PathLike[str], size: int, sha256: str
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO kept (task_id, path, size, sha256, kept_ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (str(task_id), str(Path(path).absolute()), int(size), str(sha256), e.now()),
            )

    def forget_kept(self, task_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM kept WHERE task_id = ?", (str(task_id),))

    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        clean = sorted({x.strip() for x in labels if x and x.strip()})
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
                _update(
                    conn, {"note": note or None, "updated_ts": e.now()}, "entry_id = ?", entry_id
                )

    # --- reading: a page is found in two steps ---------------------------------------------
    # The row ids of the page from an index (every sort the history offers has one, in both
    # directions), then the rows themselves. Pages past the middle are read from the other
    # end, so the last page of 100,000 entries costs what the first does.
    def get(self, ref: Ref) -> JournalEntry | None:
        if isinstance(ref, JournalEntry):
            text_ref = ref.entry_id
        else:
            text_ref = ref.task_id if isinstance(ref, LipSyncTask) else str(ref)
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE task_id = ? "
            f"UNION ALL SELECT {ENTRY_COLUMNS} FROM entries WHERE entry_id = ? LIMIT 1",
            (text_ref, text_ref),
        )
        return self._entry(rows[0]) if rows else None

    def entries(
        self,
        query: Query | None = None,
        *,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JournalEntry]:
        column = SORT_COLUMNS.get(sort)
        if column is None:
            raise ValueError(f"sort must be one of {', '.join(SORT_COLUMNS)}, got {sort!r}")
        query = query or Query()
        offset = max(0, int(offset))
        size = -1 if limit is None else max(0, int(limit))
        way = "DESC" if descending else "ASC"
        if column != "credits" or descending:  # NULL is the smallest: last when descending
            return self._rows(self._page_ids(query, "", _natural(column, way), size, offset))
        # Ascending with NULLs last: the valued part, then the rest (each an index order).
        valued = "credits IS NOT NULL"
        ids = self._page_ids(query, valued, _natural(column, way), size, offset)
        if size < 0 or len(ids) < size:
            before = offset if ids else self._count_where(query, valued)
            rest = -1 if size < 0 else size - len(ids)
            order = _natural("sort_ts", way)
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
        found: dict[int, JournalEntry] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._read(
                f"SELECT rowid, {ENTRY_COLUMNS} FROM entries WHERE rowid IN ({_marks(chunk)})",
                chunk,
            )
            found.update({int(row[0]): self._entry(row[1:]) for row in rows})
        return [found[i] for i in ids if i in found]

    def _aggregate(self, query: Query) -> list[tuple[str, int, float]]:
        """(state, count, credits) over the filtered set: from `totals` when it can answer."""
        if query.facets_only:
            clauses, params = _facets(query)
            clause = " WHERE " + " AND ".join(["n > 0", *clauses])
            sql = f"SELECT state, sum(n), total(credits) FROM totals{clause} GROUP BY state"
        else:
            clause, params = where(query, self._search_index)
            sql = f"SELECT state, count(*), total(credits) FROM entries{clause} GROUP BY state"
        with self._lock:
            version = self._read("PRAGMA data_version")[0][0]
            key = (sql, tuple(params), version, self._connection().total_changes)
            cached = self._aggregate_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            rows = [(str(s), int(n), float(c)) for s, n, c in self._read(sql, params) if n]
            self._aggregate_cache = (key, rows)
            return rows

    def count(self, query: Query | None = None) -> int:
        return sum(n for _, n, _ in self._aggregate(query or Query()))

    def summary(self, query: Query | None = None) -> JournalSummary:
        rows = self._aggregate(query or Query())
        counts = {state: n for state, n, _ in rows}
        return JournalSummary(
            counts=counts,
            credits=sum(c for _, _, c in rows),  # only created tasks carry credits
            total=sum(counts.values()),
            kept_bytes=self.kept_total_bytes(),
        )

    def unresolved(self, *, stale_after: float = STALE_SENDING_SECONDS) -> list[JournalEntry]:
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS}, pid, host, session FROM entries "
            "WHERE outcome IN (?, ?) ORDER BY requested_ts",
            (e.OUTCOME_UNKNOWN, e.OUTCOME_SENDING),
        )
        found = [
            (self._entry(row), Owner(row[-3], row[-2], row[-1], row[17] or 0.0)) for row in rows
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
            f"AND state NOT IN ({_marks(final)}) ORDER BY sort_ts",
            final,
        )
        return [self._entry(row) for row in rows]

    def undated_task_ids(self, task_ids: list[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(task_ids), 500):
            chunk = task_ids[start : start + 500]
            rows = self._read(
                "SELECT task_id FROM entries WHERE created_ts IS NULL "
                f"AND task_id IN ({_marks(chunk)})",
                chunk,
            )
            found += [str(row[0]) for row in rows]
        return found

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
            "requested_ts IS NOT NULL ORDER BY requested_ts DESC LIMIT ?",
            (e.OUTCOME_CREATED, samples),
        )
        return [float(r[0]) for r in rows]

    def kept(self, task_id: str) -> KeptResult | None:
        rows = self._read(
            "SELECT task_id, path, size, sha256, kept_ts FROM kept WHERE task_id = ?",
            (str(task_id),),
        )
        return _kept(rows[0]) if rows else None

    def kept_total_bytes(self) -> int:
        return int(self._read("SELECT total(size) FROM kept")[0][0])

    def kept_oldest(self, n: int) -> list[KeptResult]:
        rows = self._read(
            "SELECT task_id, path, size, sha256, kept_ts FROM kept "
            "ORDER BY kept_ts, task_id LIMIT ?",
            (max(0, int(n)),),
        )
        return [_kept(row) for row in rows]


# Columns a later answer fills only when it knows them (a list item lacks the model).
_KEPT_UNLESS_KNOWN = ("model", "input_mode", "credits", "created_ts", "sort_ts")


def _insert(conn: sqlite3.Connection, row: Mapping[str, object]) -> None:
    conn.execute(
        f"INSERT INTO entries ({', '.join(row)}) VALUES ({_marks(list(row))})", list(row.values())
    )


def _update(
    conn: sqlite3.Connection,
    changes: Mapping[str, object],
    where: str,
    *params: object,
    keep: Sequence[str] = (),
) -> None:
    """Set each column of the matching entries; a `keep` column only to a known value."""
    sets = ", ".join(f"{c} = COALESCE(?, {c})" if c in keep else f"{c} = ?" for c in changes)
    conn.execute(f"UPDATE entries SET {sets} WHERE {where}", [*changes.values(), *params])


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, kind: str) -> Iterator[None]:
    """A transaction for opening and migrating (the store's own writes use `_write`)."""
    conn.execute(f"BEGIN {kind}")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return row is not None


def _create_search_index(conn: sqlite3.Connection) -> bool:
    """The trigram search index and its triggers; False where SQLite has no trigram."""
    try:
        conn.execute("SAVEPOINT search_index")
        for statement in statements(SEARCH_SCHEMA):
            conn.execute(statement)
        conn.execute("RELEASE search_index")
    except sqlite3.OperationalError:  # no FTS5, or no trigram tokenizer (SQLite < 3.34)
        conn.execute("ROLLBACK TO search_index")
        conn.execute("RELEASE search_index")
        return False
    return True
