"""The journal's SQLite file: where it lives, its schema, opening and migrating it, and
the SQL its rows are read and written with.

The file is named by a one-way fingerprint of (origin, account), or of an identity
(the embedded sandbox's: one journal for any port), never by the token. It is known by
SQLite's `application_id` header (and a `meta` row), never by its name: anything else
at that path is refused untouched. WAL and a busy timeout let processes share it;
`journal.Journal` runs the store's queries over the connection opened here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._core import HOME_ENV, kitta_home
from ..errors import JournalCorruptError, JournalError
from . import entry as e
from .entry import JournalEntry, KeptResult, Query

if TYPE_CHECKING:
    from .store import Executes

__all__ = ["account_fingerprint", "journal_path", "journal_path_for_identity", "open_connection"]

# --- where journals live ----------------------------------------------------------------
_FINGERPRINT_HEX = 12


def account_fingerprint(origin: str, token: str) -> str:
    """A short, one-way name for (origin, account): 12 hex digits of sha256, enough to
    keep accounts apart, far too little to recover a token from."""
    return hashlib.sha256(f"{origin.lower()}\n{token}".encode()).hexdigest()[:_FINGERPRINT_HEX]


def identity_fingerprint(identity: str) -> str:
    """A journal's name by identity (prefixed: never an (origin, token) fingerprint)."""
    return account_fingerprint("identity", identity)


def journal_path(origin: str, token: str, home: Path | None = None) -> Path:
    return _path(account_fingerprint(origin, token), home)


def journal_path_for_identity(identity: str, home: Path | None = None) -> Path:
    return _path(identity_fingerprint(identity), home)


def _path(fingerprint: str, home: Path | None) -> Path:
    return (home or kitta_home()) / "journals" / f"journal-{fingerprint}.sqlite3"


def _home_error(path: Path, exc: BaseException) -> JournalError:
    """An unusable journal folder as an error that names the fix, not a raw OSError."""
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
# URL search index, kept results. 3: who created each entry.
SCHEMA_VERSION = 3
SCHEMA_MARKER = "kitta-notebook-journal"
_SQLITE_MAGIC = b"SQLite format 3\x00"
# What every refusal of a file says: it is never written, and the ways on.
LEFT_ALONE = (
    "It was left untouched: move it aside to start a new journal, or pass journal=False "
    "to the client."
)

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    entry_id TEXT PRIMARY KEY, task_id TEXT UNIQUE, source TEXT NOT NULL,
    outcome TEXT NOT NULL, state TEXT NOT NULL, status TEXT, model TEXT, input_mode TEXT,
    video_url TEXT, image_url TEXT, audio_url TEXT, reference_image_url TEXT,
    duration_seconds REAL, credits REAL, request_json TEXT, dto_json TEXT,
    outcome_error TEXT, batch_key TEXT, note TEXT, download_path TEXT,
    requested_ts REAL, created_ts REAL, completed_ts REAL,
    updated_ts REAL NOT NULL, sort_ts REAL NOT NULL,
    pid INTEGER, host TEXT, session TEXT, reconciled_ts REAL
);
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (sort_ts);
CREATE INDEX IF NOT EXISTS entries_by_state ON entries (state, sort_ts);
CREATE INDEX IF NOT EXISTS entries_by_mode ON entries (input_mode, sort_ts);
CREATE INDEX IF NOT EXISTS entries_by_credits ON entries (credits);
CREATE INDEX IF NOT EXISTS entries_by_state_credits ON entries (state, credits);
CREATE INDEX IF NOT EXISTS entries_by_outcome ON entries (outcome);
CREATE INDEX IF NOT EXISTS entries_by_key ON entries (batch_key) WHERE batch_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS labels (
    entry_id TEXT NOT NULL, label TEXT NOT NULL, PRIMARY KEY (entry_id, label)
);
CREATE INDEX IF NOT EXISTS labels_by_label ON labels (label, entry_id);
"""

# What an entry adds to its (state, mode, source) total, and what it takes away.
_ADD = """
    INSERT INTO totals (state, input_mode, source, n, credits)
    VALUES (new.state, COALESCE(new.input_mode, ''), new.source, 1, COALESCE(new.credits, 0))
    ON CONFLICT (state, input_mode, source)
    DO UPDATE SET n = n + 1, credits = credits + excluded.credits;"""
_REMOVE = """
    UPDATE totals SET n = n - 1, credits = credits - COALESCE(old.credits, 0)
    WHERE state = old.state AND input_mode = COALESCE(old.input_mode, '')
    AND source = old.source;"""
# Version 2, also run on a version-1 file when it is opened (all idempotent). Every sort
# the history offers, alone or after a status / mode / source filter, is the order of an
# index, so a page is read from the index without sorting the table. `totals` keeps the
# counts and credits per (state, mode, source), so the count and the summary strip never
# scan the table for those filters.
SCHEMA_V2 = f"""
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
CREATE TRIGGER IF NOT EXISTS totals_insert AFTER INSERT ON entries BEGIN {_ADD} END;
CREATE TRIGGER IF NOT EXISTS totals_delete AFTER DELETE ON entries BEGIN {_REMOVE} END;
CREATE TRIGGER IF NOT EXISTS totals_update
AFTER UPDATE OF state, input_mode, source, credits ON entries BEGIN {_REMOVE} {_ADD} END;
"""
# Version 3: who created each entry (None in older rows and in tasks seen on the server).
SCHEMA_V3 = """
ALTER TABLE entries ADD COLUMN creator TEXT;
CREATE INDEX IF NOT EXISTS entries_page_creator ON entries (creator, sort_ts, entry_id);
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
_INDEX = f"INSERT INTO entries_search (rowid, {_COLS}) VALUES (new.rowid, {_NEW});"
_UNINDEX = (
    f"INSERT INTO entries_search (entries_search, rowid, {_COLS}) "
    f"VALUES ('delete', old.rowid, {_OLD});"
)
SEARCH_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS entries_search USING fts5(
    {_COLS}, content='entries', content_rowid='rowid', tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS entries_search_insert AFTER INSERT ON entries BEGIN {_INDEX} END;
CREATE TRIGGER IF NOT EXISTS entries_search_delete AFTER DELETE ON entries BEGIN {_UNINDEX} END;
CREATE TRIGGER IF NOT EXISTS entries_search_update AFTER UPDATE OF {_COLS} ON entries
BEGIN {_UNINDEX} {_INDEX} END;
"""


def statements(script: str) -> list[str]:
    """A script's statements (trigger bodies whole), to run one by one in a transaction."""
    found: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    return found


def check_header(path: Path) -> bool:
    """Check a file's header without SQLite: True when it must be initialised (absent or
    empty), False for a journal (or an unmarked database, decided under a lock by the
    caller); `JournalCorruptError` for anything else, so a foreign file is never written."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return True
    if not header:
        return True
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise JournalCorruptError(
            f"{path} is not an SQLite database (corrupt, or some other file). {LEFT_ALONE}"
        )
    app_id = int.from_bytes(header[68:72], "big")
    if app_id not in (0, APPLICATION_ID):
        raise JournalCorruptError(
            f"{path} is an SQLite database of another application (application_id "
            f"{app_id:#010x}), not a kitta-notebook journal. {LEFT_ALONE}"
        )
    _refuse_newer(path, int.from_bytes(header[60:64], "big"))
    return False


def _refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise JournalCorruptError(
            f"{path} was written by a newer kitta-notebook (journal schema {version}, "
            f"this version reads up to {SCHEMA_VERSION}). Upgrade kitta-notebook. {LEFT_ALONE}"
        )


BUSY_TIMEOUT_SECONDS = 30.0
T = TypeVar("T")
FIRST_USE_ATTEMPTS = 8  # creating or migrating a file asks again this often when "locked"


def open_connection(
    path: Path, origin: str | None, account: str | None
) -> tuple[sqlite3.Connection, bool]:
    """A connection to a checked, migrated journal, and whether it has the search index."""
    try:
        if check_header(path):
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,  # every use holds the journal's lock
        )
    except (OSError, sqlite3.Error) as exc:  # KITTA_HOME a file, or not writable
        raise _home_error(path, exc) from None
    try:
        return conn, _prepare(conn, path, origin, account)
    except BaseException:
        conn.close()
        raise


def _prepare(conn: sqlite3.Connection, path: Path, origin: str | None, account: str | None) -> bool:
    """Check the marker; create the schema only in a database that holds nothing."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            # Decided under the write lock only: another process may be creating
            # this very journal right now (its tables appear before we look again).
            _initialise(conn, path, origin, account)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        _refuse_newer(path, version)
        marker = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if marker is None or marker[0] != SCHEMA_MARKER:
            raise JournalCorruptError(
                f"{path} carries the journal's header marker but not its tables. {LEFT_ALONE}"
            )
        mode = _retrying(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if str(mode).lower() != "wal":  # e.g. a network file system: still correct, slower
            conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION:  # a file of an older version, every row kept
            with transaction(conn, "EXCLUSIVE", FIRST_USE_ATTEMPTS):
                _upgrade(conn, conn.execute("PRAGMA user_version").fetchone()[0])
        search_index = _has_table(conn, "entries_search")
        if not _has_table(conn, "key_claims"):  # a journal from before them
            with transaction(conn, "IMMEDIATE"):  # the write lock first: never deadlocks
                conn.execute(KEY_CLAIMS_SCHEMA)
        return search_index
    except JournalError:
        raise
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or "unable to open" in str(exc):
            raise _home_error(path, exc) from None
        raise database_error(path, exc) from None
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc) from None


def _initialise(
    conn: sqlite3.Connection, path: Path, origin: str | None, account: str | None
) -> None:
    with transaction(conn, "EXCLUSIVE", FIRST_USE_ATTEMPTS):
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:  # another process was quicker
            return
        if app_id != 0 or conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise JournalCorruptError(
                f"{path} is an SQLite database but not a kitta-notebook journal. {LEFT_ALONE}"
            )
        for statement in statements(SCHEMA_V1 + KEY_CLAIMS_SCHEMA):
            conn.execute(statement)
        _upgrade(conn, 1)  # a new file is a version-1 file brought up to date
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        created = datetime.now(timezone.utc).isoformat()
        meta = {"schema": SCHEMA_MARKER, "created": created, "origin": origin, "account": account}
        given = [(key, value) for key, value in meta.items() if value]
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", given)


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """The steps from `version` to `SCHEMA_VERSION`, in the caller's transaction."""
    if version >= SCHEMA_VERSION:
        return  # another process was quicker
    if version < 2:
        for statement in statements(SCHEMA_V2 + TOTALS_REBUILD):
            conn.execute(statement)
        if _create_search_index(conn):
            conn.execute("INSERT INTO entries_search (entries_search) VALUES ('rebuild')")
    for statement in statements(SCHEMA_V3):
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def database_error(path: Path, exc: sqlite3.Error) -> JournalError:
    """A driver error as ours: a misuse, a failure to use the file, or a damaged file."""
    if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return JournalError(f"the journal {path} was asked something invalid: {exc}")
    if isinstance(exc, sqlite3.OperationalError):
        return JournalError(f"the journal {path} could not be used: {exc}")
    return JournalCorruptError(f"the journal {path} is damaged ({exc}). {LEFT_ALONE}")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, kind: str, attempts: int = 1) -> Iterator[None]:
    """`BEGIN kind` (retried while busy, `attempts` times in all) ... `COMMIT`, or a rollback."""
    _retrying(lambda: conn.execute(f"BEGIN {kind}"), attempts)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _retrying(run: Callable[[], T], attempts: int = FIRST_USE_ATTEMPTS) -> T:
    """`run()`, asked again while SQLite answers "locked" or "busy" at once (as it may
    when creating a file or switching it to WAL, without waiting out the busy timeout)."""
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


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


# --- the SQL of the rows -------------------------------------------------------------------------
# What `entry_of_row` reads, in order, then the labels (every store).
ROW_COLUMNS = (
    "entry_id, task_id, source, outcome, state, status, model, input_mode, video_url, "
    "image_url, audio_url, reference_image_url, duration_seconds, credits, batch_key, note, "
    "download_path, requested_ts, created_ts, completed_ts, updated_ts, reconciled_ts, "
    "outcome_error, request_json, dto_json, creator"
)
_ROW = ROW_COLUMNS.split(", ")
_PLAIN = (*_ROW[:13], "note", "download_path", "outcome_error", "creator")
_TIMES = ("requested_ts", "created_ts", "completed_ts", "updated_ts", "reconciled_ts")
# Trigrams need three characters; a shorter search scans the columns instead.
TRIGRAM = 3


def entry_of_row(row: Sequence[Any], account: str | None = None) -> JournalEntry:
    """An entry of a row read with `ROW_COLUMNS` and its labels, of the journal of `account`."""
    values: dict[str, Any] = dict(zip(_ROW, row, strict=False))
    credits, labels = values["credits"], row[len(_ROW)]
    times: dict[str, Any] = {name.replace("_ts", "_at"): e.dt(values[name]) for name in _TIMES}
    return JournalEntry(
        **{name: values[name] for name in _PLAIN},
        **times,
        credits=int(credits) if credits is not None and float(credits).is_integer() else credits,
        key=values["batch_key"],
        account=account,
        labels=tuple(sorted(labels.split("\x1f"))) if labels else (),
        request=e.load_json(values["request_json"]),
        dto=e.load_json(values["dto_json"]),
    )


def kept_of_row(row: Sequence[Any]) -> KeptResult:
    kept_at = e.dt(row[4])
    assert kept_at is not None
    return KeptResult(str(row[0]), str(row[1]), int(row[2]), str(row[3]), kept_at)


def marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def natural_order(column: str, way: str) -> str:
    """An ORDER BY that is exactly an index's order (see `SCHEMA_V2`)."""
    if column == "sort_ts":
        return f"sort_ts {way}, entry_id {way}"
    return f"{column} {way}, sort_ts {way}, entry_id {way}"


def facets(query: Query) -> tuple[list[str], list[object]]:
    """The status / mode / source conditions (columns named alike in `totals`)."""
    clauses: list[str] = []
    params: list[object] = []
    if query.status:
        clauses.append(f"state IN ({marks(query.status)})")
        params.extend(query.status)
    if query.mode:
        clauses.append("input_mode = ?")
        params.append(query.mode)
    if query.source:
        clauses.append("source = ?")
        params.append(query.source)
    return clauses, params


# Columns a later answer fills only when it knows them (a list item lacks the model).
KEPT_UNLESS_KNOWN = ("model", "input_mode", "credits", "created_ts", "sort_ts")


def insert_entry(conn: Executes, row: Mapping[str, object]) -> None:
    conn.execute(
        f"INSERT INTO entries ({', '.join(row)}) VALUES ({marks(list(row))})", list(row.values())
    )
