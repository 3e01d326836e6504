"""SQLite persistence of accounts, tasks, cached renders and uploaded media.

One connection per process, guarded by one lock: the API's threadpool and the
worker threads only ever run short statements, and a single connection is the
only way an in-memory database can be shared between threads. A file database
may be shared with other sandbox processes: unfinished tasks carry a *lease*
(owner, expiry) so that exactly one process works on each, and a task whose
owner died is adopted by another once its lease runs out.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .pricing import estimate_credits
from .records import (
    STATUSES,
    TASK_COLUMNS,
    CreateRequest,
    RenderRecord,
    TaskRecord,
    UploadRecord,
    task_from_row,
)
from .schema import open_database

__all__ = [
    "STATUSES",
    "InsufficientCredits",
    "RenderRecord",
    "Store",
    "TaskRecord",
    "UploadRecord",
]

_UNFINISHED = "status IN ('pending', 'processing')"


class InsufficientCredits(Exception):
    """The account cannot pay for a task; nothing was created or charged."""

    def __init__(self, price: int, balance: int) -> None:
        super().__init__(f"insufficient credits: this task costs {price}, balance is {balance}")
        self.price = price
        self.balance = balance


class Store:
    """Thread-safe access to the sandbox database (``None`` path = in memory)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        self._db = open_database(self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self) -> _Transaction:
        return _Transaction(self)

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
        request: CreateRequest,
        *,
        token: str,
        price: int,
        now: float,
        owner: str = "",
        lease_seconds: float = 0.0,
    ) -> TaskRecord:
        """Charge ``price`` and insert a pending task leased to ``owner``, atomically.

        Raises ``InsufficientCredits`` (nothing changed) or ``KeyError`` (no account).
        """
        task_id = "lip_task_" + secrets.token_hex(12)
        with self._write() as db:
            row = db.execute("SELECT credits FROM accounts WHERE token = ?", (token,)).fetchone()
            if row is None:
                raise KeyError(token)
            if int(row["credits"]) < price:
                raise InsufficientCredits(price, int(row["credits"]))
            db.execute("UPDATE accounts SET credits = credits - ? WHERE token = ?", (price, token))
            db.execute(
                "INSERT INTO tasks (task_id, token, status, model, input_mode, video_url, "
                "image_url, audio_url, reference_image_url, duration_seconds, "
                "credits_charged, created_ts, lease_owner, lease_expires) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task_id,
                    token,
                    request.model,
                    request.input_mode,
                    request.video_url,
                    request.image_url,
                    request.audio_url,
                    request.reference_image_url,
                    request.duration_seconds,
                    price,
                    now,
                    owner,
                    now + lease_seconds,
                ),
            )
        task = self.get_task(task_id)
        assert task is not None
        return task

    def get_task(self, task_id: str, token: str | None = None) -> TaskRecord | None:
        """One task; with ``token``, only if that account owns it."""
        sql = f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?"
        args: tuple[Any, ...] = (task_id,)
        if token is not None:
            sql += " AND token = ?"
            args += (token,)
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else task_from_row(row)

    def list_tasks(
        self, token: str, *, limit: int, offset: int, status: str | None
    ) -> tuple[list[TaskRecord], bool]:
        """A page of the account's tasks, newest first, and whether more follow.

        The page's rows are picked from an index alone (``OFFSET`` steps over the
        skipped ones without reading them) and only then read in full: deep pages of
        a large account stay cheap.
        """
        picked = "SELECT row FROM tasks WHERE token = ?"
        args: tuple[Any, ...] = (token,)
        if status is not None:
            picked += " AND status = ?"
            args += (status,)
        picked += " ORDER BY row DESC LIMIT ? OFFSET ?"
        args += (limit + 1, offset)
        sql = f"SELECT {TASK_COLUMNS} FROM tasks WHERE row IN ({picked}) ORDER BY row DESC"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        tasks = [task_from_row(r) for r in rows]
        return tasks[:limit], len(tasks) > limit

    def unfinished(self) -> list[TaskRecord]:
        """Pending and processing tasks, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE {_UNFINISHED} ORDER BY row"
            ).fetchall()
        return [task_from_row(r) for r in rows]

    # leases ---------------------------------------------------------------------------

    def adopt(self, owner: str, now: float, lease_seconds: float) -> list[TaskRecord]:
        """Take over unfinished tasks nobody holds (their process stopped or died)."""
        with self._write() as db:
            rows = db.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE {_UNFINISHED} "
                "AND (lease_expires IS NULL OR lease_expires < ?) ORDER BY row",
                (now,),
            ).fetchall()
            db.executemany(
                "UPDATE tasks SET lease_owner = ?, lease_expires = ? WHERE task_id = ?",
                [(owner, now + lease_seconds, r["task_id"]) for r in rows],
            )
        return [task_from_row(r) for r in rows]

    def renew(self, owner: str, now: float, lease_seconds: float) -> None:
        """Extend the leases of every unfinished task ``owner`` works on."""
        with self._lock:
            self._db.execute(
                f"UPDATE tasks SET lease_expires = ? WHERE lease_owner = ? AND {_UNFINISHED}",
                (now + lease_seconds, owner),
            )

    def release(self, owner: str) -> None:
        """Give up ``owner``'s unfinished tasks at once (a clean stop), so that the next
        sandbox on this database carries on with them without waiting for the lease."""
        with self._lock:
            self._db.execute(
                f"UPDATE tasks SET lease_expires = 0 WHERE lease_owner = ? AND {_UNFINISHED}",
                (owner,),
            )

    def mark_processing(self, task_id: str, now: float, owner: str = "") -> bool:
        """pending -> processing; False if the task was not pending or not ``owner``'s."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE tasks SET status = 'processing', started_ts = ? "
                "WHERE task_id = ? AND status = 'pending' AND lease_owner = ?",
                (now, task_id, owner),
            )
        return cur.rowcount == 1

    def holds(self, task_id: str, owner: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM tasks WHERE task_id = ? AND lease_owner = ?", (task_id, owner)
            ).fetchone()
        return row is not None

    def finish_succeeded(
        self,
        task_id: str,
        render_key: str,
        audio_seconds: float,
        now: float,
        reconcile: bool,
        owner: str = "",
    ) -> None:
        """processing -> succeeded; with ``reconcile``, re-price by the measured audio.

        A lower price refunds the difference; a higher one charges at most what the
        balance still holds (the balance never goes negative).
        """
        with self._write() as db:
            task = self._held(db, task_id, owner)
            if task is None or task.status != "processing":
                return
            charged = task.credits_charged
            if reconcile:
                charged = self._adjust(task, estimate_credits(task.model, audio_seconds))
            db.execute(
                "UPDATE tasks SET status = 'succeeded', completed_ts = ?, render_key = ?, "
                "credits_charged = ?, lease_owner = NULL, lease_expires = NULL "
                "WHERE task_id = ?",
                (now, render_key, charged, task_id),
            )

    def finish_failed(
        self, task_id: str, code: str, message: str, now: float, refund: bool, owner: str = ""
    ) -> None:
        """pending/processing -> failed; with ``refund``, the charge goes back (0)."""
        with self._write() as db:
            task = self._held(db, task_id, owner)
            if task is None or task.finished:
                return
            charged = self._adjust(task, 0) if refund else task.credits_charged
            db.execute(
                "UPDATE tasks SET status = 'failed', completed_ts = ?, error_code = ?, "
                "error_message = ?, credits_charged = ?, started_ts = COALESCE(started_ts, ?), "
                "lease_owner = NULL, lease_expires = NULL WHERE task_id = ?",
                (now, code, message, charged, now, task_id),
            )

    def _held(self, db: Any, task_id: str, owner: str) -> TaskRecord | None:
        row = db.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ? AND lease_owner = ?",
            (task_id, owner),
        ).fetchone()
        return None if row is None else task_from_row(row)

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

    # uploads --------------------------------------------------------------------------

    def get_upload(self, key: str) -> UploadRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, content_type, size, created_ts FROM uploads WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return UploadRecord(
            str(row["key"]), str(row["content_type"]), int(row["size"]), float(row["created_ts"])
        )

    def put_upload(self, record: UploadRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO uploads (key, content_type, size, created_ts) "
                "VALUES (?, ?, ?, ?)",
                (record.key, record.content_type, record.size, record.created_ts),
            )


class _Transaction:
    """``with store._write() as db``: the store's lock plus BEGIN IMMEDIATE/COMMIT."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> Any:
        self._store._lock.acquire()
        try:
            self._store._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._store._lock.release()
            raise
        return self._store._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._store._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            self._store._lock.release()
