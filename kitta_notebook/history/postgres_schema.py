"""The PostgreSQL journal's schema: its versions, each the step from the one before, and the
SQL of its kept totals (`postgres.PostgresJournal` runs them).

The tables are those of the SQLite file (`schema`) with an `account` column first. Every
sort the history offers is an index's order after the account. `totals` keeps the count
and credits of each account's entries per (state, mode, source, creator), so the count and
the summary strip of the browser never aggregate the account's rows for those filters.
Its rows are deltas, written by statement triggers from the transition tables (one row
per group a statement changed, never an update of a shared row: concurrent writers of an
account never wait on each other there); a reader sums them, and folds them into one row
per group once they grow many (`fold`). `label_totals` (per label) joins a statement's rows
with the other table, exact because an account's writers take turns (its advisory lock);
`day_totals` counts entries per day of their sort time, so a middle page skips whole days.
"""

from __future__ import annotations

from .schema import SEARCH_COLUMNS

SCHEMA_VERSION = 4
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS journal_schema (version integer NOT NULL)"
# The URL search's text: an entry matches when it holds the search, whatever the case.
SEARCH = " || ' ' || ".join(f"coalesce({c}, '')" for c in SEARCH_COLUMNS)
# The day an entry's sort time falls in (exact: whole seconds, then whole days).
DAY_SECONDS = 86400
DAY = f"floor(sort_ts)::bigint / {DAY_SECONDS}"

# The search's index holds the text with its punctuation made one letter. pg_trgm cuts
# text into words at every character that is not a letter or digit, so `clip-1` would be
# the words `clip` and `1`, each in most rows; joined, its trigrams (`pq1`) are as rare as
# the text. The marks URLs and task ids are made of (and the space between the columns);
# one `replace` each, as `translate` costs several times more per row.
_JOINED = "-_./:=&+~ "


def joined_words(text: str) -> str:
    """The SQL of `text` lowered, its punctuation made one letter (as the index has it)."""
    joined = f"lower({text})"
    for mark in _JOINED:
        joined = f"replace({joined}, '{mark}', 'q')"
    return joined


# In time order (`sort_ts` first, btree_gist): the newest matches of a search are read
# nearest first (`sort_ts <-> the newest`), skipping the pages whose trigrams cannot hold
# it, without visiting the rows in between. A 1,024-byte signature keeps a page's
# trigrams apart (the default 12 bytes would say yes to every search).
SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS entries_search_nearest ON entries USING gist "
    f"(sort_ts, ({joined_words(SEARCH)}) gist_trgm_ops(siglen=1024))"
)

# The deltas a statement made, per kept total: `d` is its changed rows, each with its sign.
_FACETS = "state, coalesce(input_mode, ''), source, coalesce(creator, '')"
_SUMS = "sum(sign), sum(sign * coalesce(credits, 0))"
_NONZERO = "HAVING sum(sign) <> 0 OR sum(sign * coalesce(credits, 0)) <> 0"
_ENTRY_DELTAS = f"""
INSERT INTO totals SELECT account, {_FACETS}, {_SUMS} FROM d GROUP BY 1, 2, 3, 4, 5 {_NONZERO};
INSERT INTO day_totals SELECT account, {DAY}, sum(sign) FROM d GROUP BY 1, 2
    HAVING sum(sign) <> 0;
INSERT INTO label_totals SELECT d.account, l.label, {_FACETS}, {_SUMS}
    FROM d JOIN labels l ON l.account = d.account AND l.entry_id = d.entry_id
    GROUP BY 1, 2, 3, 4, 5, 6 {_NONZERO};
"""
_LABEL_DELTAS = f"""
INSERT INTO label_totals SELECT d.account, d.label, {_FACETS}, {_SUMS}
    FROM d JOIN entries e ON e.account = d.account AND e.entry_id = d.entry_id
    GROUP BY 1, 2, 3, 4, 5, 6 {_NONZERO};
"""


def _function(name: str, columns: str, deltas: str) -> str:
    """A statement trigger's function: `deltas` over the rows added (+1) and removed (-1)."""
    added, removed = (
        f"SELECT {columns}, 1 AS sign FROM added",
        f"SELECT {columns}, -1 AS sign FROM removed",
    )
    each = "".join(
        f"    {word} TG_OP = '{op}' THEN\n"
        + deltas.replace("INSERT INTO", f"WITH d AS ({rows}) INSERT INTO")
        for word, op, rows in (
            ("IF", "INSERT", added),
            ("ELSIF", "DELETE", removed),
            ("ELSIF", "UPDATE", f"{added} UNION ALL {removed}"),
        )
    )
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"{each}    END IF;\n    RETURN NULL;\nEND $$;\n"
    )


def _triggers(table: str, function: str) -> str:
    return "".join(
        f"DROP TRIGGER IF EXISTS {table}_totals_{op.lower()} ON {table};\n"
        f"CREATE TRIGGER {table}_totals_{op.lower()} AFTER {op} ON {table} REFERENCING {refs}\n"
        f"    FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
        for op, refs in (
            ("INSERT", "NEW TABLE AS added"),
            ("DELETE", "OLD TABLE AS removed"),
            ("UPDATE", "OLD TABLE AS removed NEW TABLE AS added"),
        )
    )


_ENTRY_COLUMNS = "account, entry_id, state, input_mode, source, creator, credits, sort_ts"
_TOTALS = (
    """
LOCK TABLE entries, labels IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE IF NOT EXISTS totals (
    account text NOT NULL, state text NOT NULL, input_mode text NOT NULL, source text NOT NULL,
    creator text NOT NULL, n bigint NOT NULL, credits double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS totals_account ON totals (account);
CREATE TABLE IF NOT EXISTS label_totals (
    account text NOT NULL, label text NOT NULL, state text NOT NULL, input_mode text NOT NULL,
    source text NOT NULL, creator text NOT NULL, n bigint NOT NULL,
    credits double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS label_totals_label ON label_totals (account, label);
CREATE TABLE IF NOT EXISTS day_totals (
    account text NOT NULL, day bigint NOT NULL, n bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS day_totals_account ON day_totals (account);
"""
    + _function("kitta_entry_totals", _ENTRY_COLUMNS, _ENTRY_DELTAS)
    + _function("kitta_label_totals", "account, entry_id, label", _LABEL_DELTAS)
    + _triggers("entries", "kitta_entry_totals")
    + _triggers("labels", "kitta_label_totals")
    + f"""
DELETE FROM totals;
DELETE FROM day_totals;
DELETE FROM label_totals;
WITH d AS (SELECT {_ENTRY_COLUMNS}, 1 AS sign FROM entries)
"""
    + _ENTRY_DELTAS.replace(
        ";\nINSERT", ";\nWITH d AS (SELECT " + _ENTRY_COLUMNS + ", 1 AS sign FROM entries) INSERT"
    )
)
# Each version's step from the one before, run in one transaction (scripts without
# parameters: psycopg sends them whole).
STEPS = {
    1: """
CREATE TABLE IF NOT EXISTS entries (
    account text NOT NULL, entry_id text NOT NULL, task_id text, source text NOT NULL,
    outcome text NOT NULL, state text NOT NULL, status text, model text, input_mode text,
    video_url text, image_url text, audio_url text, reference_image_url text,
    duration_seconds double precision, credits double precision, request_json text,
    dto_json text, outcome_error text, batch_key text, note text, download_path text,
    requested_ts double precision, created_ts double precision, completed_ts double precision,
    updated_ts double precision NOT NULL, sort_ts double precision NOT NULL, pid integer,
    host text, session text, reconciled_ts double precision,
    PRIMARY KEY (account, entry_id), UNIQUE (account, task_id)
);
CREATE INDEX IF NOT EXISTS entries_created ON entries (account, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_updated
    ON entries (account, updated_ts, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_credits
    ON entries (account, credits, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_credits_desc
    ON entries (account, credits DESC NULLS LAST, sort_ts DESC, entry_id DESC);
CREATE INDEX IF NOT EXISTS entries_state ON entries (account, state, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_mode
    ON entries (account, input_mode, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_source
    ON entries (account, source, sort_ts, entry_id);
CREATE INDEX IF NOT EXISTS entries_outcome ON entries (account, outcome);
CREATE INDEX IF NOT EXISTS entries_key
    ON entries (account, batch_key) WHERE batch_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS labels (
    account text NOT NULL, entry_id text NOT NULL, label text NOT NULL,
    PRIMARY KEY (account, entry_id, label)
);
CREATE INDEX IF NOT EXISTS labels_label ON labels (account, label, entry_id);
CREATE TABLE IF NOT EXISTS kept (
    account text NOT NULL, task_id text NOT NULL, path text NOT NULL, size bigint NOT NULL,
    sha256 text NOT NULL, kept_ts double precision NOT NULL, PRIMARY KEY (account, task_id)
);
CREATE INDEX IF NOT EXISTS kept_age ON kept (account, kept_ts);
CREATE TABLE IF NOT EXISTS key_claims (
    account text NOT NULL, batch_key text NOT NULL, token text NOT NULL,
    inputs_json text NOT NULL, pid integer, host text, session text,
    claimed_ts double precision NOT NULL, PRIMARY KEY (account, batch_key)
);
""",
    2: """
ALTER TABLE entries ADD COLUMN IF NOT EXISTS creator text;
CREATE INDEX IF NOT EXISTS entries_creator
    ON entries (account, creator, sort_ts, entry_id);
""",
    # 3: the kept totals (filled from the entries already there), under a lock on the
    # entries that waits for their writers and holds the next ones until it commits.
    3: _TOTALS,
    # 4: the search's trigram index read in time order (`SEARCH_INDEX`, made after the
    # steps, like the first one, where the role may create it).
    4: "DROP INDEX IF EXISTS entries_search;",
}

# A delta row per group and statement: an account's are folded once there are more than
# this (`fold`).
FOLD_ROWS = 500
_GROUPS = {
    "totals": "account, state, input_mode, source, creator",
    "label_totals": "account, label, state, input_mode, source, creator",
    "day_totals": "account, day",
}


def fold(table: str) -> str:
    """The statement folding an account's deltas in `table` (the account its parameter)
    into one row per group: each delta is deleted by one statement and summed by it."""
    sums = "sum(n)" if table == "day_totals" else "sum(n), sum(credits)"
    return (
        f"WITH gone AS (DELETE FROM {table} WHERE account = ? RETURNING *) "
        f"INSERT INTO {table} SELECT {_GROUPS[table]}, {sums} FROM gone "
        f"GROUP BY {_GROUPS[table]} HAVING sum(n) <> 0"
    )
