"""SQLite persistence of accounts, tasks and cached renders.

One connection guarded by one lock: the API (event-loop thread) and the worker
threads only ever run short statements, and a single connection is the only
way an in-memory database can be shared between threads. With a file path,
tasks, balances and the render index survive a restart.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .pricing import estimate_credits

__all__ = [
    "STATUSES",
    "InsufficientCredits",
    "RenderRecord",
    "Store",
    "TaskRecord",
    "iso_utc",
]

STATUSES = ("pending", "processing", "succeeded", "failed")
_SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    credits INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    input_mode TEXT NOT NULL,
    video_url TEXT,
    image_url TEXT,
    audio_url TEXT NOT NULL,
    reference_image_url TEXT,
    duration_seconds REAL,
    credits_charged INTEGER NOT NULL,
    created_ts REAL NOT NULL,
    started_ts REAL,
    completed_ts REAL,
    render_key TEXT,
    error_code TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (token, row);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status);
CREATE TABLE IF NOT EXISTS renders (
    key TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    audio_seconds REAL NOT NULL,
    size INTEGER NOT NULL
);
"""


def iso_utc(ts: float | None) -> str | None:
    """Epoch seconds -> ``2026-07-01T08:00:00.000Z`` (the contract's format)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class InsufficientCredits(Exception):
    """The account cannot pay for a task; nothing was created or charged."""

    def __init__(self, price: int, balance: int) -> None:
        super().__init__(f"insufficient credits: this task costs {price}, balance is {balance}")
        self.price = price
        self.balance = balance


@dataclass(frozen=True)
class TaskRecord:
    """One task row, as stored."""

    row: int
    task_id: str
    token: str
    status: str
    model: str
    input_mode: str
    video_url: str | None
    image_url: str | None
    audio_url: str
    reference_image_url: str | None
    duration_seconds: float | None
    credits_charged: int
    created_ts: float
    started_ts: float | None
    completed_ts: float | None
    render_key: str | None
    error_code: str | None
    error_message: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")

    def dto(self, origin: str) -> dict[str, Any]:
        """The contract's task DTO; ``origin`` (``http://host:port``) makes URLs absolute."""
        return {
            "id": f"row_{self.row}",
            "taskId": self.task_id,
            "type": "lip_sync",
            "status": self.status,
            "model": self.model,
            "inputMode": self.input_mode,
            "resultVideoUrl": self.result_url(origin),
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "creditsCharged": self.credits_charged,
            "createdAt": iso_utc(self.created_ts),
            "startedAt": iso_utc(self.started_ts),
            "completedAt": iso_utc(self.completed_ts),
        }

    def list_item(self, origin: str) -> dict[str, Any]:
        """The subset of the DTO that list items carry."""
        return {
            "taskId": self.task_id,
            "type": "lip_sync",
            "status": self.status,
            "inputMode": self.input_mode,
            "resultVideoUrl": self.result_url(origin),
            "creditsCharged": self.credits_charged,
        }

    def result_url(self, origin: str) -> str | None:
        if self.status != "succeeded":
            return None
        return f"{origin}/results/{self.task_id}.mp4"


@dataclass(frozen=True)
class RenderRecord:
    """A rendered result file, shared by every task with the same inputs."""

    key: str
    filename: str
    audio_seconds: float
    size: int


_TASK_COLUMNS = (
    "row, task_id, token, status, model, input_mode, video_url, image_url, audio_url, "
    "reference_image_url, duration_seconds, credits_charged, created_ts, started_ts, "
    "completed_ts, render_key, error_code, error_message"
)


class Store:
    """Thread-safe access to the sandbox database (``None`` path = in memory)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        target = ":memory:" if self.path is None else str(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (_SCHEMA_VERSION,)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # accounts -------------------------------------------------------------------------

    def ensure_account(self, token: str, credits: int) -> None:
        """Create the account with ``credits`` unless it exists (balances persist)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO accounts (token, credits) VALUES (?, ?)", (token, credits)
            )

    def set_balance(self, token: str, credits: int) -> None:
        with self._lock:
            cur = self._db.execute(
                "UPDATE accounts SET credits = ? WHERE token = ?", (credits, token)
            )
            if cur.rowcount == 0:
                raise KeyError(token)

    def balance(self, token: str) -> int | None:
        """Current credits, or ``None`` for an unknown token."""
        with self._lock:
            row = self._db.execute(
                "SELECT credits FROM accounts WHERE token = ?", (token,)
            ).fetchone()
        return None if row is None else int(row["credits"])

    def tokens(self) -> list[str]:
        """Every account token, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT token FROM accounts ORDER BY seq").fetchall()
        return [str(r["token"]) for r in rows]

    # tasks ----------------------------------------------------------------------------

    def create_task(
        self,
        *,
        token: str,
        model: str,
        input_mode: str,
        video_url: str | None,
        image_url: str | None,
        audio_url: str,
        reference_image_url: str | None,
        duration_seconds: float | None,
        price: int,
        now: float,
    ) -> TaskRecord:
        """Charge ``price`` and insert a pending task atomically.

        Raises ``InsufficientCredits`` (nothing changed) or ``KeyError`` (no account).
        """
        task_id = "lip_task_" + secrets.token_hex(12)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT credits FROM accounts WHERE token = ?", (token,)
                ).fetchone()
                if row is None:
                    raise KeyError(token)
                if int(row["credits"]) < price:
                    raise InsufficientCredits(price, int(row["credits"]))
                self._db.execute(
                    "UPDATE accounts SET credits = credits - ? WHERE token = ?", (price, token)
                )
                self._db.execute(
                    "INSERT INTO tasks (task_id, token, status, model, input_mode, video_url, "
                    "image_url, audio_url, reference_image_url, duration_seconds, "
                    "credits_charged, created_ts) "
                    "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        task_id,
                        token,
                        model,
                        input_mode,
                        video_url,
                        image_url,
                        audio_url,
                        reference_image_url,
                        duration_seconds,
                        price,
                        now,
                    ),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            task = self.get_task(task_id)
        assert task is not None
        return task

    def get_task(self, task_id: str, token: str | None = None) -> TaskRecord | None:
        """One task; with ``token``, only if that account owns it."""
        sql = f"SELECT {_TASK_COLUMNS} FROM tasks WHERE task_id = ?"
        args: tuple[Any, ...] = (task_id,)
        if token is not None:
            sql += " AND token = ?"
            args += (token,)
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else _task(row)

    def list_tasks(
        self, token: str, *, limit: int, offset: int, status: str | None
    ) -> tuple[list[TaskRecord], bool]:
        """A page of the account's tasks, newest first, and whether more follow."""
        sql = f"SELECT {_TASK_COLUMNS} FROM tasks WHERE token = ?"
        args: tuple[Any, ...] = (token,)
        if status is not None:
            sql += " AND status = ?"
            args += (status,)
        sql += " ORDER BY row DESC LIMIT ? OFFSET ?"
        args += (limit + 1, offset)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        tasks = [_task(r) for r in rows]
        return tasks[:limit], len(tasks) > limit

    def unfinished(self) -> list[TaskRecord]:
        """Pending and processing tasks, oldest first (to resume after a restart)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks "
                "WHERE status IN ('pending', 'processing') ORDER BY row"
            ).fetchall()
        return [_task(r) for r in rows]

    def mark_processing(self, task_id: str, now: float) -> bool:
        """pending -> processing; False if the task was not pending."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE tasks SET status = 'processing', started_ts = ? "
                "WHERE task_id = ? AND status = 'pending'",
                (now, task_id),
            )
        return cur.rowcount == 1

    def finish_succeeded(
        self, task_id: str, render_key: str, audio_seconds: float, now: float, reconcile: bool
    ) -> None:
        """processing -> succeeded; with ``reconcile``, re-price by the measured audio.

        A lower price refunds the difference; a higher one charges at most what the
        balance still holds (the balance never goes negative).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                task = self.get_task(task_id)
                if task is None or task.status != "processing":
                    self._db.execute("ROLLBACK")
                    return
                charged = task.credits_charged
                if reconcile:
                    charged = self._adjust(task, estimate_credits(task.model, audio_seconds))
                self._db.execute(
                    "UPDATE tasks SET status = 'succeeded', completed_ts = ?, render_key = ?, "
                    "credits_charged = ? WHERE task_id = ?",
                    (now, render_key, charged, task_id),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def finish_failed(
        self, task_id: str, code: str, message: str, now: float, refund: bool
    ) -> None:
        """pending/processing -> failed; with ``refund``, the charge goes back (0)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                task = self.get_task(task_id)
                if task is None or task.finished:
                    self._db.execute("ROLLBACK")
                    return
                charged = self._adjust(task, 0) if refund else task.credits_charged
                self._db.execute(
                    "UPDATE tasks SET status = 'failed', completed_ts = ?, error_code = ?, "
                    "error_message = ?, credits_charged = ?, "
                    "started_ts = COALESCE(started_ts, ?) WHERE task_id = ?",
                    (now, code, message, charged, now, task_id),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _adjust(self, task: TaskRecord, wanted: int) -> int:
        """Move the account's balance so the task costs ``wanted``; returns the new charge."""
        row = self._db.execute(
            "SELECT credits FROM accounts WHERE token = ?", (task.token,)
        ).fetchone()
        balance = 0 if row is None else int(row["credits"])
        delta = wanted - task.credits_charged
        if delta > 0:
            delta = min(delta, balance)
        self._db.execute(
            "UPDATE accounts SET credits = credits - ? WHERE token = ?", (delta, task.token)
        )
        return task.credits_charged + delta

    def usage(self, token: str) -> dict[str, Any]:
        """Balance, credits spent and task counts of one account."""
        with self._lock:
            balance = self.balance(token)
            rows = self._db.execute(
                "SELECT status, COUNT(*) AS n, COALESCE(SUM(credits_charged), 0) AS spent "
                "FROM tasks WHERE token = ? GROUP BY status",
                (token,),
            ).fetchall()
        counts = {s: 0 for s in STATUSES}
        spent = 0
        for r in rows:
            counts[str(r["status"])] = int(r["n"])
            spent += int(r["spent"])
        return {"balance": balance, "spent": spent, "tasks": counts}

    # renders --------------------------------------------------------------------------

    def get_render(self, key: str) -> RenderRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, filename, audio_seconds, size FROM renders WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return RenderRecord(
            str(row["key"]), str(row["filename"]), float(row["audio_seconds"]), int(row["size"])
        )

    def put_render(self, record: RenderRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO renders (key, filename, audio_seconds, size) "
                "VALUES (?, ?, ?, ?)",
                (record.key, record.filename, record.audio_seconds, record.size),
            )

    def forget_renders(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM renders WHERE key = ?", [(k,) for k in keys])


def _task(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        row=int(row["row"]),
        task_id=str(row["task_id"]),
        token=str(row["token"]),
        status=str(row["status"]),
        model=str(row["model"]),
        input_mode=str(row["input_mode"]),
        video_url=row["video_url"],
        image_url=row["image_url"],
        audio_url=str(row["audio_url"]),
        reference_image_url=row["reference_image_url"],
        duration_seconds=row["duration_seconds"],
        credits_charged=int(row["credits_charged"]),
        created_ts=float(row["created_ts"]),
        started_ts=row["started_ts"],
        completed_ts=row["completed_ts"],
        render_key=row["render_key"],
        error_code=row["error_code"],
        error_message=row["error_message"],
    )
