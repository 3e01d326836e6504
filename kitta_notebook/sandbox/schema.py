"""The sandbox database's schema and how a connection to it is opened.

A file database may be shared by several sandbox processes (one per notebook
kernel, for the embedded default): WAL lets readers run beside one writer, the
busy timeout makes writers queue instead of failing, and every multi-statement
write is a ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["BUSY_TIMEOUT_MS", "open_database"]

BUSY_TIMEOUT_MS = 15_000
_SCHEMA_VERSION = "2"

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
CREATE INDEX IF NOT EXISTS tasks_by_owner_status ON tasks (token, status, row);
CREATE TABLE IF NOT EXISTS renders (
    key TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    audio_seconds REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_ts REAL NOT NULL
);
"""

_LEASE_COLUMNS = {"lease_owner": "TEXT", "lease_expires": "REAL"}
"""Which sandbox process works on an unfinished task, and until when (added in v2)."""


def open_database(path: Path | None) -> sqlite3.Connection:
    """A connection to ``path`` (``None``: in memory) with the current schema."""
    db = sqlite3.connect(
        ":memory:" if path is None else str(path),
        check_same_thread=False,
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if path is not None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    _create(db)
    return db


def _create(db: sqlite3.Connection) -> None:
    for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
        db.execute(statement)
    present = {str(r["name"]) for r in db.execute("PRAGMA table_info(tasks)")}
    for name, kind in _LEASE_COLUMNS.items():
        if name not in present:
            try:
                db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise
    db.execute("CREATE INDEX IF NOT EXISTS tasks_by_lease ON tasks (status, lease_expires)")
    # (status) alone was an earlier index: tasks_by_lease starts with it, so it only cost writes.
    db.execute("DROP INDEX IF EXISTS tasks_by_status")
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (_SCHEMA_VERSION,))
