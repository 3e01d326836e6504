"""The journal's on-disk format: markers, tables, indexes, and the header check.

Kept apart from `journal.py` so the format is read in one place. A journal
file is recognised by SQLite's `application_id` header field (and a `meta`
row), never by its name: anything else at that path is refused untouched.
"""

from __future__ import annotations

from pathlib import Path

# "KitJ" as a big-endian 32-bit integer, stored in the SQLite header (offset 68).
APPLICATION_ID = 0x4B69744A
# The schema version, stored in the header's user_version (offset 60).
SCHEMA_VERSION = 1
SCHEMA_MARKER = "kitta-notebook-journal"

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100

# Entry outcomes: what the journal knows about the create request itself.
OUTCOME_SENDING = "sending"  # written before the request went out; no answer yet
OUTCOME_CREATED = "created"  # 202 received (or matched later by reconcile)
OUTCOME_UNKNOWN = "unknown"  # the request may have reached the server; no taskId known
OUTCOME_REJECTED = "rejected"  # the server refused it, or it never left: nothing created
OUTCOME_ABSENT = "absent"  # reconcile walked the whole server list: never created
OUTCOME_REMOTE = "remote"  # known only from the server (created elsewhere)

# Derived `state` values beyond the server's statuses (the table's status column).
STATE_OUTCOME_UNKNOWN = "outcome_unknown"
STATE_REJECTED = "rejected"
STATE_NOT_CREATED = "not_created"
STATE_UNKNOWN_STATUS = "unknown"

SCHEMA = """
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


class JournalFileError(Exception):
    """The file at the journal's path is not a journal this version can use."""


def check_header(path: Path) -> bool:
    """Validate an existing file's header without opening it with SQLite.

    Returns True when the file must be initialised (it is absent or empty),
    False when it is an existing journal. Raises `JournalFileError` for
    anything else, so that a foreign or damaged file is never written to.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(HEADER_SIZE)
    except FileNotFoundError:
        return True
    if not header:
        return True
    if len(header) < HEADER_SIZE or not header.startswith(SQLITE_MAGIC):
        raise JournalFileError(
            f"{path} is not an SQLite database (corrupt, or some other file). "
            "It was left untouched."
        )
    app_id = int.from_bytes(header[68:72], "big")
    version = int.from_bytes(header[60:64], "big")
    if app_id == 0:
        # A database without our marker: only acceptable when it holds nothing at all
        # (decided under a lock by the caller); report it as "needs a look".
        return False
    if app_id != APPLICATION_ID:
        raise JournalFileError(
            f"{path} is an SQLite database of another application (application_id "
            f"{app_id:#010x}), not a kitta-notebook journal. It was left untouched."
        )
    if version > SCHEMA_VERSION:
        raise JournalFileError(
            f"{path} was written by a newer kitta-notebook (journal schema {version}, "
            f"this version reads up to {SCHEMA_VERSION}). Upgrade kitta-notebook."
        )
    return False
