"""The journal's on-disk format: markers, tables, indexes, and the header check.

Kept in one place so the format is read in one place. A journal file is
recognised by SQLite's `application_id` header field (and a `meta` row),
never by its name: anything else at that path is refused untouched.
"""

from __future__ import annotations

from pathlib import Path

# "KitJ" as a big-endian 32-bit integer, stored in the SQLite header (offset 68).
APPLICATION_ID = 0x4B69744A
# The schema version, stored in the header's user_version (offset 60).
# 2: paging indexes, the URL search index, kept results.
SCHEMA_VERSION = 2
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

# Version 2, also run on a version-1 file when it is opened (all idempotent).
# Every sort the history offers, alone or after a status / mode / source
# filter, is the order of an index, so a page is read from the index without
# sorting the table; version 1's narrower indexes are covered by these.
# `totals` keeps the counts and credits per (state, mode, source), so the
# count and the summary strip never scan the table for those filters.
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

# Keys claimed by creates in progress (one row per key; see `history/keys.py`).
# Added beside version 2 without a version bump: an older kitta-notebook reading
# the file ignores it, and `JournalStore` creates it when it is missing.
KEY_CLAIMS_TABLE = "key_claims"
KEY_CLAIMS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {KEY_CLAIMS_TABLE} (
    batch_key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    session TEXT,
    claimed_ts REAL NOT NULL
)
"""

# The substring-search index over the URLs and task ids (FTS5 trigram, SQLite
# 3.34+). Where SQLite lacks it, search falls back to LIKE over the columns.
SEARCH_COLUMNS = ("video_url", "image_url", "audio_url", "reference_image_url", "task_id")
SEARCH_TABLE = "entries_search"
SEARCH_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5(
    {", ".join(SEARCH_COLUMNS)}, content='entries', content_rowid='rowid',
    tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS entries_search_insert AFTER INSERT ON entries BEGIN
    INSERT INTO {SEARCH_TABLE} (rowid, {", ".join(SEARCH_COLUMNS)})
    VALUES (new.rowid, {", ".join("new." + c for c in SEARCH_COLUMNS)});
END;
CREATE TRIGGER IF NOT EXISTS entries_search_delete AFTER DELETE ON entries BEGIN
    INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {", ".join(SEARCH_COLUMNS)})
    VALUES ('delete', old.rowid, {", ".join("old." + c for c in SEARCH_COLUMNS)});
END;
CREATE TRIGGER IF NOT EXISTS entries_search_update
AFTER UPDATE OF {", ".join(SEARCH_COLUMNS)} ON entries BEGIN
    INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {", ".join(SEARCH_COLUMNS)})
    VALUES ('delete', old.rowid, {", ".join("old." + c for c in SEARCH_COLUMNS)});
    INSERT INTO {SEARCH_TABLE} (rowid, {", ".join(SEARCH_COLUMNS)})
    VALUES (new.rowid, {", ".join("new." + c for c in SEARCH_COLUMNS)});
END;
"""


def statements(script: str) -> list[str]:
    """The statements of a script; trigger bodies (`BEGIN ... END;`) stay whole."""
    found: list[str] = []
    current: list[str] = []
    depth = 0
    for line in script.splitlines():
        if not line.strip():
            continue
        current.append(line)
        upper = line.strip().upper()
        if upper.endswith(" BEGIN"):
            depth += 1
        if upper == "END;":
            depth -= 1
        if line.rstrip().endswith(";") and depth == 0:
            found.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        found.append("\n".join(current))
    return found


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
