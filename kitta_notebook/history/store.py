"""The SQLite engine under a journal: opening, the format check, migration, transactions.

One connection per journal object, behind a lock, so the object can be
shared by threads; WAL, a busy timeout and short `BEGIN IMMEDIATE`
transactions let several processes write the same file. Nothing here knows
what an entry means: `writes` and `reads` build on these primitives.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import warnings
import weakref
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..errors import JournalCorruptError, JournalError, JournalWarning
from . import schema
from .paths import (
    account_fingerprint,
    home_error,
    identity_fingerprint,
    journal_path,
    journal_path_for_identity,
)

__all__ = ["BUSY_TIMEOUT_SECONDS", "JournalStore"]

BUSY_TIMEOUT_SECONDS = 30.0
_BEGIN_ATTEMPTS = 5

Store = TypeVar("Store", bound="JournalStore")
_REGISTRY: weakref.WeakValueDictionary[str, JournalStore] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


class JournalStore:
    """One journal file. Opens lazily: constructing it never touches the disk."""

    def __init__(
        self, path: str | os.PathLike[str], *, origin: str | None = None, account: str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self.origin = origin
        self.account = account
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._search_index = False
        self._warned: set[str] = set()

    # --- the shared objects ----------------------------------------------------------
    @classmethod
    def for_account(
        cls: type[Store], origin: str, token: str, *, home: Path | None = None
    ) -> Store:
        """The journal of (origin, token), shared by every client of this process."""
        path = journal_path(origin, token, home)
        return cls._shared(path, origin, account_fingerprint(origin, token))

    @classmethod
    def for_identity(cls: type[Store], identity: str, *, home: Path | None = None) -> Store:
        """The journal named by a stable identity (one for the embedded sandbox, any port)."""
        path = journal_path_for_identity(identity, home)
        return cls._shared(path, None, identity_fingerprint(identity))

    @classmethod
    def _shared(cls: type[Store], path: Path, origin: str | None, account: str) -> Store:
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

    # --- opening ---------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            needs_init = schema.check_header(self.path)
            if needs_init:
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except schema.JournalFileError as exc:
            raise JournalCorruptError(
                f"{exc} Move it aside to start a new journal, or pass journal=False to the client."
            ) from None
        except OSError as exc:  # KITTA_HOME is a file, or a folder this user may not write
            raise home_error(self.path, exc) from None
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise home_error(self.path, exc) from None
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
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id != schema.APPLICATION_ID:
                # Decided under the write lock only: another process may be creating
                # this very journal right now (its tables appear before we look again).
                self._initialise(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > schema.SCHEMA_VERSION:
                raise JournalCorruptError(
                    f"{self.path} was written by a newer kitta-notebook (schema {version}); "
                    "upgrade kitta-notebook to read it."
                )
            marker = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if marker is None or marker[0] != schema.SCHEMA_MARKER:
                raise JournalCorruptError(
                    f"{self.path} carries the journal's header marker but not its tables; "
                    "it was left untouched."
                )
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a network file system: still correct, slower
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version < schema.SCHEMA_VERSION:
                self._migrate(conn)
            self._search_index = _has_table(conn, schema.SEARCH_TABLE)
            if not _has_table(conn, schema.KEY_CLAIMS_TABLE):  # a journal from before it
                conn.execute("BEGIN IMMEDIATE")  # the write lock first: waits, never deadlocks
                try:
                    conn.execute(schema.KEY_CLAIMS_SCHEMA)
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
        except JournalError:
            raise
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "unable to open" in str(exc):
                raise home_error(self.path, exc) from None
            raise self._database_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._database_error(exc) from None

    def _initialise(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == schema.APPLICATION_ID:  # another process was quicker
                conn.execute("COMMIT")
                return
            if app_id != 0 or conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise JournalCorruptError(
                    f"{self.path} is an SQLite database but not a kitta-notebook journal. "
                    "It was left untouched; move it aside or choose another KITTA_HOME."
                )
            for statement in schema.statements(schema.SCHEMA + schema.SCHEMA_V2):
                conn.execute(statement)
            conn.execute(schema.KEY_CLAIMS_SCHEMA)
            _create_search_index(conn)
            conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
            meta = {
                "schema": schema.SCHEMA_MARKER,
                "created": datetime.now(timezone.utc).isoformat(),
            }
            if self.origin:
                meta["origin"] = self.origin
            if self.account:
                meta["account"] = self.account
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring a version-1 file up to date (indexes, search index, kept results)."""
        conn.execute("BEGIN EXCLUSIVE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] >= schema.SCHEMA_VERSION:
                conn.execute("COMMIT")  # another process was quicker
                return
            for statement in schema.statements(schema.SCHEMA_V2 + schema.TOTALS_REBUILD):
                conn.execute(statement)
            if _create_search_index(conn):
                conn.execute(
                    f"INSERT INTO {schema.SEARCH_TABLE} ({schema.SEARCH_TABLE}) VALUES ('rebuild')"
                )
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

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

    # --- transactions ----------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with the write lock up front.

        Blocking by design (busy waits and retries): async callers run it in a
        worker thread, never on the event loop.
        """
        with self._lock:
            conn = self._connection()
            attempts = 0
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    attempts += 1
                    busy = "locked" in str(exc) or "busy" in str(exc)
                    if not busy or attempts >= _BEGIN_ATTEMPTS:
                        raise self._database_error(exc) from None
                    time.sleep(0.05 * attempts)  # the busy timeout already waited
            try:
                yield conn
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self._database_error(exc) from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self._database_error(exc) from None

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._database_error(exc) from None

    # --- for the recorder: warn once, never break an API call ------------------------
    def _warn_once(self, what: str, exc: BaseException) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        warnings.warn(JournalWarning(f"the task journal could not {what}: {exc}"), stacklevel=4)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return row is not None


def _create_search_index(conn: sqlite3.Connection) -> bool:
    """The trigram search index and its triggers; False where SQLite has no trigram."""
    try:
        conn.execute("SAVEPOINT search_index")
        for statement in schema.statements(schema.SEARCH_SCHEMA):
            conn.execute(statement)
        conn.execute("RELEASE search_index")
    except sqlite3.OperationalError:  # no FTS5, or no trigram tokenizer (SQLite < 3.34)
        conn.execute("ROLLBACK TO search_index")
        conn.execute("RELEASE search_index")
        return False
    return True
