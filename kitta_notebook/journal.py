"""The local task journal: every create is written down before it is sent.

A create spends credits, and the contract has no idempotency key, so a task
must never be forgotten: not when the kernel dies mid-request, not when the
answer is a 5xx or a read timeout. The journal is a small SQLite file per
API origin and account (named by a fingerprint; the token itself is never
stored) that several kernels can write to at once.

Entries move through outcomes: `sending` (written before the request) ->
`created` (202 with a taskId) | `rejected` (nothing was created) | `unknown`
(the request may have reached the server). `reconcile()` matches unknown
entries against the server's task list. Tasks seen only on the server are
kept too (`remote`), so the history browser can page through everything
with SQL instead of loading it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import _journal_schema as schema
from .errors import KittaError
from .models import LipSyncTask, TaskStatus, parse_timestamp

if TYPE_CHECKING:
    from ._async_client import AsyncKittaClient
    from ._base import ClientBase
    from ._client import KittaClient

__all__ = [
    "HOME_ENV",
    "Journal",
    "JournalCorruptError",
    "JournalEntry",
    "JournalError",
    "JournalRecorder",
    "JournalSummary",
    "JournalWarning",
    "ReconcileReport",
    "UnresolvedCreateError",
    "account_fingerprint",
    "journal_path",
    "kitta_home",
]

HOME_ENV = "KITTA_HOME"
BUSY_TIMEOUT_SECONDS = 30.0
# A `sending` entry of another process is treated as abandoned after this long.
STALE_SENDING_SECONDS = 15 * 60.0
_SESSION = uuid.uuid4().hex
# Entries whose create request is on the wire in this process right now.
_IN_FLIGHT: set[str] = set()
_HOST = socket.gethostname()
_FINGERPRINT_HEX = 12

SortKey = Literal["created", "credits", "updated", "status"]
_SORT_COLUMNS: Mapping[str, str] = {
    "created": "sort_ts",
    "credits": "credits",
    "updated": "updated_ts",
    "status": "state",
}
ACTIVE_STATES = frozenset({TaskStatus.PENDING.value, TaskStatus.PROCESSING.value})
FINAL_STATES = frozenset(
    {
        TaskStatus.SUCCEEDED.value,
        TaskStatus.FAILED.value,
        schema.STATE_REJECTED,
        schema.STATE_NOT_CREATED,
    }
)
# Every state a filter may name, in display order.
STATES: tuple[str, ...] = (
    TaskStatus.PENDING.value,
    TaskStatus.PROCESSING.value,
    TaskStatus.SUCCEEDED.value,
    TaskStatus.FAILED.value,
    schema.STATE_OUTCOME_UNKNOWN,
    schema.STATE_REJECTED,
    schema.STATE_NOT_CREATED,
    schema.STATE_UNKNOWN_STATUS,
)


# --- errors ---------------------------------------------------------------------
class JournalError(KittaError):
    """The journal could not be opened or written (the path and the fix are named)."""


class JournalCorruptError(JournalError):
    """The journal's file is damaged or belongs to something else; it is left untouched."""


class UnresolvedCreateError(KittaError):
    """An earlier create for this batch key may have reached the server.

    Creating it again could bill twice, so nothing is sent until
    `journal.reconcile(client)` has found (or ruled out) the first task.
    """

    def __init__(self, key: str, entry_id: str) -> None:
        self.key = key
        self.entry_id = entry_id
        super().__init__(
            f"An earlier create for key {key!r} may have reached the server (journal entry "
            f"{entry_id}, outcome unknown). Run client.history.reconcile() (or "
            "journal.reconcile(client)) to find it before creating it again."
        )


class JournalWarning(UserWarning):
    """The journal could not record something; the API call itself went through."""


# --- where journals live ------------------------------------------------------------
def kitta_home() -> Path:
    """`KITTA_HOME` when set, else the user data folder (platformdirs)."""
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("kitta-notebook", appauthor=False))


def account_fingerprint(origin: str, token: str) -> str:
    """A short, one-way name for (origin, account): 12 hex digits of sha256.

    Enough to keep accounts apart, far too little to recover a token from.
    """
    digest = hashlib.sha256(f"{origin.lower()}\n{token}".encode()).hexdigest()
    return digest[:_FINGERPRINT_HEX]


def journal_path(origin: str, token: str, home: Path | None = None) -> Path:
    base = home if home is not None else kitta_home()
    return base / "journals" / f"journal-{account_fingerprint(origin, token)}.sqlite3"


# --- values ----------------------------------------------------------------------
def _now() -> float:
    return time.time()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def _ts(value: object) -> float | None:
    moment = parse_timestamp(value)
    return None if moment is None else moment.timestamp()


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _credits_out(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def derive_state(outcome: str, status: str | None) -> str:
    """The one column the browser filters on: a task status, or what became of the request."""
    if outcome in (schema.OUTCOME_SENDING, schema.OUTCOME_UNKNOWN):
        return schema.STATE_OUTCOME_UNKNOWN
    if outcome == schema.OUTCOME_REJECTED:
        return schema.STATE_REJECTED
    if outcome == schema.OUTCOME_ABSENT:
        return schema.STATE_NOT_CREATED
    return status or schema.STATE_UNKNOWN_STATUS


def to_timestamp(value: datetime | date | str | float | int | None) -> float | None:
    """Epoch seconds for a date filter (naive datetimes and dates are UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a date filter must be a datetime, a date, ISO text or epoch seconds")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    if isinstance(value, str):
        parsed = parse_timestamp(value)
        if parsed is None:
            raise ValueError(f"not an ISO-8601 date or time: {value!r}")
        return parsed.timestamp()
    raise TypeError(f"unsupported date filter {value!r}")


@dataclass(frozen=True)
class JournalEntry:
    """One row of the journal: a create this toolkit sent, or a task seen on the server.

    `state` is what a table shows: the task's status once there is a task,
    else `outcome_unknown`, `rejected` or `not_created`.
    """

    entry_id: str
    task_id: str | None
    source: str
    outcome: str
    state: str
    status: str | None
    model: str | None
    input_mode: str | None
    video_url: str | None
    image_url: str | None
    audio_url: str | None
    reference_image_url: str | None
    duration_seconds: float | None
    credits: int | float | None
    key: str | None
    note: str | None
    download_path: str | None
    labels: tuple[str, ...]
    requested_at: datetime | None
    created_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime | None
    reconciled_at: datetime | None
    outcome_error: str | None = None
    request: dict[str, Any] | None = field(default=None, repr=False)
    dto: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def from_server(self) -> bool:
        """True for a task this journal only knows from the server (created elsewhere)."""
        return self.source == "server"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_active(self) -> bool:
        """A task that exists and has not finished (worth watching)."""
        return self.task_id is not None and not self.is_final and self.outcome != "absent"

    @property
    def needs_reconcile(self) -> bool:
        return self.state == schema.STATE_OUTCOME_UNKNOWN

    @property
    def error_code(self) -> str | None:
        return _text(self.dto.get("errorCode")) if self.dto else None

    @property
    def error_message(self) -> str | None:
        return _text(self.dto.get("errorMessage")) if self.dto else None

    @property
    def when(self) -> datetime | None:
        """Creation time on the server, else when the request was written down."""
        return self.created_at or self.requested_at

    def task(self, client: ClientBase | None = None) -> LipSyncTask | None:
        """The latest DTO seen as a `LipSyncTask` bound to `client` (None before a taskId)."""
        if self.dto is None or not self.task_id:
            return None
        return LipSyncTask(self.dto, client=client)


@dataclass(frozen=True)
class JournalSummary:
    """Counts by state and credits charged over a filtered set (for the summary strip)."""

    counts: dict[str, int]
    credits: float
    total: int


@dataclass
class ReconcileReport:
    """What `reconcile()` did with each unresolved create."""

    matched: list[tuple[str, str]] = field(default_factory=list)  # (entry_id, task_id)
    absent: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    pages: int = 0
    complete: bool = False

    def __str__(self) -> str:
        return (
            f"reconcile: {len(self.matched)} matched to server tasks, {len(self.absent)} never "
            f"created, {len(self.unresolved)} still unknown ({self.pages} list pages read"
            f"{'' if self.complete else ', list not fully read'})"
        )


@dataclass(frozen=True)
class Query:
    """Filters shared by the history API and the browser, turned into one WHERE clause."""

    status: tuple[str, ...] = ()
    mode: str | None = None
    since: float | None = None
    until: float | None = None
    labels: tuple[str, ...] = ()
    search: str | None = None
    source: str | None = None

    @classmethod
    def build(
        cls,
        *,
        status: str | TaskStatus | Iterable[str | TaskStatus] | None = None,
        mode: str | None = None,
        since: datetime | date | str | float | None = None,
        until: datetime | date | str | float | None = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
        source: str | None = None,
    ) -> Query:
        if status is None:
            statuses: tuple[str, ...] = ()
        elif isinstance(status, (str, TaskStatus)):
            statuses = (str(status),)
        else:
            statuses = tuple(str(s) for s in status)
        if label is None:
            labels: tuple[str, ...] = ()
        elif isinstance(label, str):
            labels = (label,)
        else:
            labels = tuple(label)
        if source not in (None, "local", "server"):
            raise ValueError("source must be 'local', 'server' or None")
        return cls(
            status=statuses,
            mode=mode or None,
            since=to_timestamp(since),
            until=to_timestamp(until),
            labels=tuple(x.strip() for x in labels if x.strip()),
            search=(search or "").strip() or None,
            source=source,
        )

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.status:
            clauses.append(f"state IN ({','.join('?' * len(self.status))})")
            params.extend(self.status)
        if self.mode:
            clauses.append("input_mode = ?")
            params.append(self.mode)
        if self.since is not None:
            clauses.append("sort_ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("sort_ts < ?")
            params.append(self.until)
        if self.labels:
            marks = ",".join("?" * len(self.labels))
            clauses.append(f"entry_id IN (SELECT entry_id FROM labels WHERE label IN ({marks}))")
            params.extend(self.labels)
        if self.search:
            pattern = (
                "%"
                + self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            columns = ("video_url", "image_url", "audio_url", "reference_image_url", "task_id")
            clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
            params.extend([pattern] * len(columns))
        if self.source:
            clauses.append("source = ?")
            params.append(self.source)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


_ENTRY_COLUMNS = (
    "entry_id, task_id, source, outcome, state, status, model, input_mode, video_url, "
    "image_url, audio_url, reference_image_url, duration_seconds, credits, batch_key, note, "
    "download_path, requested_ts, created_ts, completed_ts, updated_ts, reconciled_ts, "
    "outcome_error, request_json, dto_json, "
    "(SELECT group_concat(label, char(31)) FROM labels l WHERE l.entry_id = entries.entry_id)"
)


def _load_json(text: object) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _entry(row: Sequence[Any]) -> JournalEntry:
    labels = tuple(sorted(row[25].split("\x1f"))) if row[25] else ()
    return JournalEntry(
        entry_id=row[0],
        task_id=row[1],
        source=row[2],
        outcome=row[3],
        state=row[4],
        status=row[5],
        model=row[6],
        input_mode=row[7],
        video_url=row[8],
        image_url=row[9],
        audio_url=row[10],
        reference_image_url=row[11],
        duration_seconds=row[12],
        credits=_credits_out(row[13]),
        key=row[14],
        note=row[15],
        download_path=row[16],
        labels=labels,
        requested_at=_dt(row[17]),
        created_at=_dt(row[18]),
        completed_at=_dt(row[19]),
        updated_at=_dt(row[20]),
        reconciled_at=_dt(row[21]),
        outcome_error=row[22],
        request=_load_json(row[23]),
        dto=_load_json(row[24]),
    )


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


# --- the journal ---------------------------------------------------------------------
class Journal:
    """One journal file. Opens lazily: constructing it never touches the disk.

    Safe to share between threads (one connection behind a lock) and between
    processes (WAL, a busy timeout, and short `BEGIN IMMEDIATE` transactions).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, origin: str | None = None, account: str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self.origin = origin
        self.account = account
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._last_dto: OrderedDict[str, str] = OrderedDict()
        self._warned: set[str] = set()

    # --- opening --------------------------------------------------------------
    @classmethod
    def for_account(cls, origin: str, token: str, *, home: Path | None = None) -> Journal:
        """The journal of (origin, token), shared by every client of this process."""
        path = journal_path(origin, token, home)
        key = os.path.abspath(path)
        with _REGISTRY_LOCK:
            journal = _REGISTRY.get(key)
            if journal is None:
                journal = cls(path, origin=origin, account=account_fingerprint(origin, token))
                _REGISTRY[key] = journal
            return journal

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            needs_init = schema.check_header(self.path)
        except schema.JournalFileError as exc:
            raise JournalCorruptError(
                f"{exc} Move it aside to start a new journal, or pass journal=False to the client."
            ) from None
        if needs_init:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from None
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
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if app_id != 0 or tables:
                    raise JournalCorruptError(
                        f"{self.path} is an SQLite database but not a kitta-notebook journal. "
                        "It was left untouched; move it aside or choose another KITTA_HOME."
                    )
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
        except JournalError:
            raise
        except sqlite3.DatabaseError as exc:
            raise self._database_error(exc) from None

    def _initialise(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == schema.APPLICATION_ID:  # another process was quicker
                conn.execute("COMMIT")
                return
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise JournalCorruptError(
                    f"{self.path} is an SQLite database but not a kitta-notebook journal; "
                    "it was left untouched."
                )
            for statement in schema.SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
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

    def _database_error(self, exc: sqlite3.Error) -> JournalError:
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

    # --- transactions ---------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with the write lock up front."""
        with self._lock:
            conn = self._connection()
            attempts = 0
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    attempts += 1
                    if ("locked" not in str(exc) and "busy" not in str(exc)) or attempts >= 5:
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

    # --- what the clients record ------------------------------------------------
    def record_request(self, origin: str, body: Mapping[str, Any], key: str | None = None) -> str:
        """Write a create down before it is sent; returns the entry id.

        `origin` is part of the recorder call; a journal file serves one origin.
        """
        entry_id = uuid.uuid4().hex
        now = _now()
        row = {
            "entry_id": entry_id,
            "source": "local",
            "outcome": schema.OUTCOME_SENDING,
            "state": schema.STATE_OUTCOME_UNKNOWN,
            "model": _text(body.get("model")),
            "input_mode": _text(body.get("inputMode")) or "video",
            "video_url": _text(body.get("videoUrl")),
            "image_url": _text(body.get("imageUrl")),
            "audio_url": _text(body.get("audioUrl")),
            "reference_image_url": _text(body.get("referenceImageUrl")),
            "duration_seconds": _number(body.get("durationSeconds")),
            "request_json": json.dumps(dict(body), sort_keys=True),
            "batch_key": key,
            "requested_ts": now,
            "updated_ts": now,
            "sort_ts": now,
            "pid": os.getpid(),
            "host": _HOST,
            "session": _SESSION,
        }
        columns = ", ".join(row)
        marks = ", ".join("?" * len(row))
        with self._write() as conn:
            conn.execute(f"INSERT INTO entries ({columns}) VALUES ({marks})", list(row.values()))
        _IN_FLIGHT.add(entry_id)
        return entry_id

    def record_created(self, entry_id: str, task: LipSyncTask | Mapping[str, Any]) -> None:
        """The server answered 202: attach the taskId and the DTO to the entry."""
        raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
        _IN_FLIGHT.discard(entry_id)
        with self._write() as conn:
            self._attach(conn, entry_id, raw, reconciled=False)

    def _attach(
        self, conn: sqlite3.Connection, entry_id: str, raw: Mapping[str, Any], *, reconciled: bool
    ) -> None:
        task_id = _text(raw.get("taskId"))
        if not task_id:
            return
        # The task may already have a row (seen from the server before the answer came).
        other = conn.execute(
            "SELECT entry_id, dto_json FROM entries WHERE task_id = ? AND entry_id != ?",
            (task_id, entry_id),
        ).fetchone()
        merged: dict[str, Any] = {}
        if other is not None:
            merged.update(_load_json(other[1]) or {})
            conn.execute(
                "INSERT OR IGNORE INTO labels (entry_id, label) "
                "SELECT ?, label FROM labels WHERE entry_id = ?",
                (entry_id, other[0]),
            )
            conn.execute("DELETE FROM labels WHERE entry_id = ?", (other[0],))
            conn.execute("DELETE FROM entries WHERE entry_id = ?", (other[0],))
        merged.update(raw)
        now = _now()
        status = _text(merged.get("status"))
        conn.execute(
            "UPDATE entries SET task_id = ?, outcome = ?, state = ?, status = ?, "
            "model = COALESCE(?, model), input_mode = COALESCE(?, input_mode), "
            "credits = COALESCE(?, credits), dto_json = ?, created_ts = COALESCE(?, created_ts), "
            "completed_ts = ?, updated_ts = ?, sort_ts = COALESCE(?, requested_ts, sort_ts), "
            "reconciled_ts = ? WHERE entry_id = ?",
            (
                task_id,
                schema.OUTCOME_CREATED,
                derive_state(schema.OUTCOME_CREATED, status),
                status,
                _text(merged.get("model")),
                _text(merged.get("inputMode")),
                _number(merged.get("creditsCharged")),
                json.dumps(merged, sort_keys=True),
                _ts(merged.get("createdAt")),
                _ts(merged.get("completedAt")),
                now,
                _ts(merged.get("createdAt")),
                now if reconciled else None,
                entry_id,
            ),
        )
        self._remember(task_id, merged)

    def record_outcome(self, entry_id: str, *, rejected: bool, error: str) -> None:
        """A create failed: `rejected` when nothing can have been created, else unknown."""
        _IN_FLIGHT.discard(entry_id)
        outcome = schema.OUTCOME_REJECTED if rejected else schema.OUTCOME_UNKNOWN
        with self._write() as conn:
            conn.execute(
                "UPDATE entries SET outcome = ?, state = ?, outcome_error = ?, updated_ts = ? "
                "WHERE entry_id = ? AND outcome = ?",
                (
                    outcome,
                    derive_state(outcome, None),
                    error[:2000],
                    _now(),
                    entry_id,
                    schema.OUTCOME_SENDING,
                ),
            )

    def record_seen(self, task: LipSyncTask | Mapping[str, Any]) -> None:
        """Keep the latest DTO of a task; a task first seen here is stored as `remote`."""
        self.record_seen_many([task])

    def record_seen_many(self, tasks: Iterable[LipSyncTask | Mapping[str, Any]]) -> int:
        """`record_seen` for many tasks in one transaction; returns how many were new."""
        fresh: list[tuple[str, dict[str, Any]]] = []
        for task in tasks:
            raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
            task_id = _text(raw.get("taskId"))
            if not task_id:
                continue
            if self._last_dto.get(task_id) == json.dumps(raw, sort_keys=True):
                continue  # polling the same state again: nothing to write
            fresh.append((task_id, raw))
        if not fresh:
            return 0
        added = 0
        with self._write() as conn:
            for task_id, raw in fresh:
                added += self._seen(conn, task_id, raw)
        for task_id, raw in fresh:
            self._remember(task_id, raw)
        return added

    def _seen(self, conn: sqlite3.Connection, task_id: str, raw: Mapping[str, Any]) -> int:
        row = conn.execute(
            "SELECT entry_id, dto_json, outcome FROM entries WHERE task_id = ?", (task_id,)
        ).fetchone()
        merged = (_load_json(row[1]) or {}) if row is not None else {}
        merged.update(raw)  # a list item (a subset) must not erase what a detail told us
        status = _text(merged.get("status"))
        now = _now()
        created_ts = _ts(merged.get("createdAt"))
        if row is None:
            conn.execute(
                "INSERT INTO entries (entry_id, task_id, source, outcome, state, status, "
                "model, input_mode, credits, dto_json, created_ts, completed_ts, updated_ts, "
                "sort_ts) VALUES (?, ?, 'server', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uuid.uuid4().hex,
                    task_id,
                    schema.OUTCOME_REMOTE,
                    derive_state(schema.OUTCOME_REMOTE, status),
                    status,
                    _text(merged.get("model")),
                    _text(merged.get("inputMode")),
                    _number(merged.get("creditsCharged")),
                    json.dumps(merged, sort_keys=True),
                    created_ts,
                    _ts(merged.get("completedAt")),
                    now,
                    created_ts if created_ts is not None else now,
                ),
            )
            return 1
        conn.execute(
            "UPDATE entries SET status = ?, state = ?, model = COALESCE(?, model), "
            "input_mode = COALESCE(?, input_mode), credits = COALESCE(?, credits), "
            "dto_json = ?, created_ts = COALESCE(?, created_ts), "
            "completed_ts = COALESCE(?, completed_ts), updated_ts = ?, "
            "sort_ts = COALESCE(?, requested_ts, sort_ts) WHERE entry_id = ?",
            (
                status,
                derive_state(row[2], status),
                _text(merged.get("model")),
                _text(merged.get("inputMode")),
                _number(merged.get("creditsCharged")),
                json.dumps(merged, sort_keys=True),
                created_ts,
                _ts(merged.get("completedAt")),
                now,
                created_ts,
                row[0],
            ),
        )
        return 0

    def _remember(self, task_id: str, raw: Mapping[str, Any]) -> None:
        self._last_dto[task_id] = json.dumps(dict(raw), sort_keys=True)
        self._last_dto.move_to_end(task_id)
        while len(self._last_dto) > 2000:
            self._last_dto.popitem(last=False)

    def record_download(self, task: LipSyncTask | str, path: str | os.PathLike[str]) -> None:
        """Remember where a task's result video was saved on this machine."""
        task_id = task.task_id if isinstance(task, LipSyncTask) else task
        if isinstance(task, LipSyncTask):
            self.record_seen(task)
        with self._write() as conn:
            conn.execute(
                "UPDATE entries SET download_path = ?, updated_ts = ? WHERE task_id = ?",
                (str(Path(path).absolute()), _now(), task_id),
            )

    def task_id_for_key(self, key: str) -> str | None:
        """The task created earlier under a batch `key`; raises while one is unresolved."""
        rows = self._read(
            "SELECT entry_id, task_id, outcome FROM entries WHERE batch_key = ? "
            "ORDER BY requested_ts DESC",
            (key,),
        )
        for _entry_id, task_id, outcome in rows:
            if outcome == schema.OUTCOME_CREATED and task_id:
                return str(task_id)
        for entry_id, _task_id, outcome in rows:
            if outcome == schema.OUTCOME_UNKNOWN or (
                outcome == schema.OUTCOME_SENDING and entry_id not in _IN_FLIGHT
            ):
                raise UnresolvedCreateError(key, str(entry_id))
        return None

    # --- user data -----------------------------------------------------------------
    def _entry_id(self, conn: sqlite3.Connection, ref: object) -> str:
        if isinstance(ref, JournalEntry):
            return ref.entry_id
        text_ref = ref.task_id if isinstance(ref, LipSyncTask) else str(ref)
        row = conn.execute(
            "SELECT entry_id FROM entries WHERE task_id = ? OR entry_id = ?", (text_ref, text_ref)
        ).fetchone()
        if row is None:
            if isinstance(ref, LipSyncTask):
                self.record_seen(ref)
                return self._entry_id(conn, ref)
            raise KeyError(f"no journal entry for {text_ref!r}")
        return str(row[0])

    def set_labels(self, ref: JournalEntry | LipSyncTask | str, labels: Iterable[str]) -> None:
        """Replace an entry's labels (task id, entry id, task or entry)."""
        clean = sorted({x.strip() for x in labels if x and x.strip()})
        with self._lock:
            conn = self._connection()
            entry_id = self._entry_id(conn, ref)
            with self._write() as wconn:
                wconn.execute("DELETE FROM labels WHERE entry_id = ?", (entry_id,))
                wconn.executemany(
                    "INSERT INTO labels (entry_id, label) VALUES (?, ?)",
                    [(entry_id, label) for label in clean],
                )

    def add_labels(self, ref: JournalEntry | LipSyncTask | str, *labels: str) -> None:
        current = self.get(ref)
        self.set_labels(ref, [*(current.labels if current else ()), *labels])

    def remove_labels(self, ref: JournalEntry | LipSyncTask | str, *labels: str) -> None:
        current = self.get(ref)
        if current is not None:
            self.set_labels(ref, [x for x in current.labels if x not in labels])

    def set_note(self, ref: JournalEntry | LipSyncTask | str, note: str | None) -> None:
        with self._lock:
            entry_id = self._entry_id(self._connection(), ref)
            with self._write() as conn:
                conn.execute(
                    "UPDATE entries SET note = ?, updated_ts = ? WHERE entry_id = ?",
                    (note or None, _now(), entry_id),
                )

    # --- queries -------------------------------------------------------------------
    def get(self, ref: JournalEntry | LipSyncTask | str) -> JournalEntry | None:
        """One entry by task id or entry id."""
        if isinstance(ref, JournalEntry):
            text_ref = ref.entry_id
        else:
            text_ref = ref.task_id if isinstance(ref, LipSyncTask) else str(ref)
        rows = self._read(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE task_id = ? OR entry_id = ?",
            (text_ref, text_ref),
        )
        return _entry(rows[0]) if rows else None

    def entries(
        self,
        query: Query | None = None,
        *,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JournalEntry]:
        """One page of entries, filtered and sorted in SQL (indexes, LIMIT/OFFSET)."""
        column = _SORT_COLUMNS.get(sort)
        if column is None:
            raise ValueError(f"sort must be one of {', '.join(_SORT_COLUMNS)}, got {sort!r}")
        where, params = (query or Query()).where()
        direction = "DESC" if descending else "ASC"
        # Entries without a value (no credits yet) go last either way.
        nulls = "" if column in ("sort_ts", "updated_ts", "state") else f"({column} IS NULL), "
        tie = "" if column == "sort_ts" else f", sort_ts {direction}"
        sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM entries{where} "
            f"ORDER BY {nulls}{column} {direction}{tie}, entry_id {direction} LIMIT ? OFFSET ?"
        )
        rows = self._read(sql, [*params, -1 if limit is None else int(limit), int(offset)])
        return [_entry(row) for row in rows]

    def count(self, query: Query | None = None) -> int:
        where, params = (query or Query()).where()
        return int(self._read(f"SELECT count(*) FROM entries{where}", params)[0][0])

    def summary(self, query: Query | None = None) -> JournalSummary:
        """Counts by state and the credits charged, over the filtered set (one SQL query)."""
        where, params = (query or Query()).where()
        rows = self._read(
            f"SELECT state, count(*), total(credits) FROM entries{where} GROUP BY state", params
        )
        counts = {str(state): int(n) for state, n, _ in rows}
        credits = sum(float(c) for _, _, c in rows)  # only created tasks carry credits
        return JournalSummary(counts=counts, credits=credits, total=sum(counts.values()))

    def unresolved(self, *, stale_after: float = STALE_SENDING_SECONDS) -> list[JournalEntry]:
        """Creates whose outcome is unknown, plus `sending` ones no live process still owns."""
        rows = self._read(
            f"SELECT {_ENTRY_COLUMNS}, pid, host, session FROM entries "
            "WHERE outcome IN (?, ?) ORDER BY requested_ts",
            (schema.OUTCOME_UNKNOWN, schema.OUTCOME_SENDING),
        )
        found: list[JournalEntry] = []
        now = _now()
        for row in rows:
            entry = _entry(row)
            if entry.outcome == schema.OUTCOME_SENDING:
                pid, host, session = row[26], row[27], row[28]
                if session == _SESSION:
                    if entry.entry_id in _IN_FLIGHT:
                        continue
                else:
                    requested = row[17] or 0.0
                    owner_alive = host == _HOST and isinstance(pid, int) and _pid_alive(pid)
                    if owner_alive and now - requested < stale_after:
                        continue
            found.append(entry)
        return found

    def active(self) -> list[JournalEntry]:
        """Entries with a task that has not finished (pending, processing, unknown status)."""
        final = sorted(FINAL_STATES)
        marks = ",".join("?" * len(final))
        rows = self._read(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE task_id IS NOT NULL "
            f"AND state NOT IN ({marks}) ORDER BY sort_ts",
            final,
        )
        return [_entry(row) for row in rows]

    def known_task_ids(self, *, source: str | None = None) -> set[str]:
        sql = "SELECT task_id FROM entries WHERE task_id IS NOT NULL"
        params: list[object] = []
        if source:
            sql += " AND source = ?"
            params.append(source)
        return {str(row[0]) for row in self._read(sql, params)}

    def __len__(self) -> int:
        return self.count()

    # --- reconcile -------------------------------------------------------------------
    def reconcile(
        self,
        client: KittaClient,
        *,
        window: float = 600.0,
        skew: float = 120.0,
        settle: float = 60.0,
        max_pages: int | None = None,
    ) -> ReconcileReport:
        """Match creates of unknown outcome to tasks in the server's list.

        A server task no other entry has claimed matches when its model and
        input mode agree and it was created within `window` seconds after the
        request (or `skew` seconds before it, for clock differences); the
        closest in time wins. When the whole list was read, an unknown entry
        older than `settle` seconds without a match is marked `not_created`
        (safe to send again).
        """
        report = ReconcileReport()
        pending = self.unresolved()
        if not pending:
            report.complete = True
            return report
        offset = 0
        while max_pages is None or report.pages < max_pages:
            page = client.lip_sync.list(limit=100, offset=offset)
            report.pages += 1
            self.record_seen_many(page.data)
            next_offset = page.next_offset
            if next_offset is None:
                report.complete = True
                break
            offset = next_offset
        for task_id in self._undated_candidates(pending):
            try:
                client.lip_sync.get(task_id)  # the detail has createdAt; `seen` records it
            except KittaError:
                continue
        self._apply_matches(pending, report, window=window, skew=skew, settle=settle)
        return report

    async def areconcile(
        self,
        client: AsyncKittaClient,
        *,
        window: float = 600.0,
        skew: float = 120.0,
        settle: float = 60.0,
        max_pages: int | None = None,
    ) -> ReconcileReport:
        """`reconcile` for an `AsyncKittaClient`."""
        report = ReconcileReport()
        pending = self.unresolved()
        if not pending:
            report.complete = True
            return report
        offset = 0
        while max_pages is None or report.pages < max_pages:
            page = await client.lip_sync.list(limit=100, offset=offset)
            report.pages += 1
            self.record_seen_many(page.data)
            next_offset = page.next_offset
            if next_offset is None:
                report.complete = True
                break
            offset = next_offset
        for task_id in self._undated_candidates(pending):
            try:
                await client.lip_sync.get(task_id)
            except KittaError:
                continue
        self._apply_matches(pending, report, window=window, skew=skew, settle=settle)
        return report

    def _candidates(self) -> list[tuple[str, float | None, str | None, str | None]]:
        """Server-only tasks: (task id, created, model, input mode)."""
        return [
            (str(r[0]), r[1], r[2], r[3])
            for r in self._read(
                "SELECT task_id, created_ts, model, input_mode FROM entries "
                "WHERE source = 'server' AND task_id IS NOT NULL"
            )
        ]

    def _undated_candidates(self, pending: Sequence[JournalEntry]) -> list[str]:
        """Candidates whose creation time is unknown (list items): their detail is needed."""
        modes = {e.input_mode for e in pending}
        return [
            task_id
            for task_id, created, _model, mode in self._candidates()
            if created is None and (mode is None or mode in modes)
        ]

    def _create_offset(self, samples: int = 50) -> float | None:
        """Median seconds from writing a create down to the server's createdAt."""
        rows = self._read(
            "SELECT created_ts - requested_ts FROM entries WHERE source = 'local' AND "
            "outcome = ? AND reconciled_ts IS NULL AND created_ts IS NOT NULL AND "
            "requested_ts IS NOT NULL ORDER BY requested_ts DESC LIMIT ?",
            (schema.OUTCOME_CREATED, samples),
        )
        gaps = sorted(float(r[0]) for r in rows)
        return gaps[len(gaps) // 2] if gaps else None

    def _apply_matches(
        self,
        pending: Sequence[JournalEntry],
        report: ReconcileReport,
        *,
        window: float,
        skew: float,
        settle: float,
    ) -> None:
        candidates = self._candidates()
        offset = self._create_offset()
        pairs: list[tuple[int, float, str, str]] = []
        for entry in pending:
            if entry.requested_at is None:
                continue
            requested = entry.requested_at.timestamp()
            for task_id, created, model, mode in candidates:
                if created is None or not (requested - skew <= created <= requested + window):
                    continue
                if entry.model and model and entry.model != model:
                    continue
                if entry.input_mode and mode and entry.input_mode != mode:
                    continue
                # Closest to the delay this account's answered creates showed
                # (latency plus clock difference); without any, prefer tasks
                # created after the request over ones created before it.
                if offset is not None:
                    rank, gap = 0, abs(created - requested - offset)
                else:
                    rank, gap = int(created < requested), abs(created - requested)
                pairs.append((rank, gap, entry.entry_id, task_id))
        pairs.sort()
        used_entries: set[str] = set()
        used_tasks: set[str] = set()
        for _rank, _gap, entry_id, task_id in pairs:
            if entry_id in used_entries or task_id in used_tasks:
                continue
            known = self.get(task_id)
            raw = known.dto if known is not None and known.dto else {"taskId": task_id}
            with self._write() as conn:
                self._attach(conn, entry_id, raw, reconciled=True)
            used_entries.add(entry_id)
            used_tasks.add(task_id)
            report.matched.append((entry_id, task_id))
        now = _now()
        for entry in pending:
            if entry.entry_id in used_entries:
                continue
            old_enough = entry.requested_at is not None and (
                now - entry.requested_at.timestamp() >= settle
            )
            if not (report.complete and old_enough):
                report.unresolved.append(entry.entry_id)
                continue
            with self._write() as conn:
                conn.execute(
                    "UPDATE entries SET outcome = ?, state = ?, reconciled_ts = ?, "
                    "updated_ts = ? WHERE entry_id = ? AND outcome IN (?, ?)",
                    (
                        schema.OUTCOME_ABSENT,
                        schema.STATE_NOT_CREATED,
                        now,
                        now,
                        entry.entry_id,
                        schema.OUTCOME_UNKNOWN,
                        schema.OUTCOME_SENDING,
                    ),
                )
            report.absent.append(entry.entry_id)

    # --- for the recorder: warn once, never break an API call ------------------------
    def _warn_once(self, what: str, exc: BaseException) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        warnings.warn(JournalWarning(f"the task journal could not {what}: {exc}"), stacklevel=4)


_REGISTRY: weakref.WeakValueDictionary[str, Journal] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


# --- wiring into the clients -------------------------------------------------------------
_CHOICES: dict[int, Journal | bool] = {}


def _forget_choice(key: int) -> None:
    _CHOICES.pop(key, None)


@dataclass(frozen=True)
class _Handle:
    journal: Journal
    entry_id: str


class JournalRecorder:
    """The `TaskRecorder` every client gets: resolves its journal lazily, per call.

    The choice (`journal=` on the client) is kept per configuration, so the
    client's async twin and the live views' private clients, which share the
    configuration, record into the same journal, or not at all.
    The token is read only to compute the fingerprint and to scrub it from
    any text stored (error messages, request bodies).
    """

    def __init__(self, client: ClientBase, journal: Journal | bool | None = None) -> None:
        self._config = client._config
        if journal is not None:
            key = id(self._config)
            if key not in _CHOICES:
                weakref.finalize(self._config, _forget_choice, key)
            _CHOICES[key] = journal
        self._cached: tuple[str, Journal] | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return _CHOICES.get(id(self._config), True) is not False

    def journal(self) -> Journal | None:
        """The journal for the client's current origin and token (None when off)."""
        choice = _CHOICES.get(id(self._config), True)
        if choice is False:
            return None
        if isinstance(choice, Journal):
            return choice
        token = self._config.token
        if token is None:
            return None
        origin = self._config.origin
        secret = token.reveal()
        marker = account_fingerprint(origin, secret) + "|" + str(kitta_home())
        if self._cached is not None and self._cached[0] == marker:
            return self._cached[1]
        journal = Journal.for_account(origin, secret)
        self._cached = (marker, journal)
        return journal

    def _scrub(self, value: str) -> str:
        token = self._config.token
        secret = token.reveal() if token is not None else ""
        return value.replace(secret, "***") if secret else value

    # --- TaskRecorder ---------------------------------------------------------------
    def before_create(self, origin: str, body: dict[str, Any], key: str | None = None) -> object:
        journal = self.journal()
        if journal is None:
            return None
        clean = {k: self._scrub(v) if isinstance(v, str) else v for k, v in body.items()}
        return _Handle(journal, journal.record_request(origin, clean, key))

    def task_id_for_key(self, key: str) -> str | None:
        journal = self.journal()
        return None if journal is None else journal.task_id_for_key(key)

    def created(self, handle: object, task: LipSyncTask) -> None:
        if isinstance(handle, _Handle):
            try:
                handle.journal.record_created(handle.entry_id, task)
            except (JournalError, sqlite3.Error) as exc:
                handle.journal._warn_once("record a created task", exc)

    def rejected(self, handle: object, error: BaseException) -> None:
        self._outcome(handle, error, rejected=True)

    def outcome_unknown(self, handle: object, error: BaseException) -> None:
        self._outcome(handle, error, rejected=False)

    def _outcome(self, handle: object, error: BaseException, *, rejected: bool) -> None:
        if not isinstance(handle, _Handle):
            return
        text = self._scrub(f"{type(error).__name__}: {error}")
        try:
            handle.journal.record_outcome(handle.entry_id, rejected=rejected, error=text)
        except (JournalError, sqlite3.Error) as exc:
            handle.journal._warn_once("record a failed create", exc)

    def seen(self, task: LipSyncTask) -> None:
        try:
            journal = self.journal()
            if journal is not None:
                journal.record_seen(task)
        except (JournalError, sqlite3.Error) as exc:
            self._warn(exc)

    def downloaded(self, task: LipSyncTask, path: str | os.PathLike[str]) -> None:
        try:
            journal = self.journal()
            if journal is not None:
                journal.record_download(task, path)
        except (JournalError, sqlite3.Error) as exc:
            self._warn(exc)

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(
                JournalWarning(f"the task journal could not record a task: {exc}"), stacklevel=3
            )
