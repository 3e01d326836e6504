"""Moving in: an older team database is migrated in place; a person's SQLite journal is
copied into the team's, idempotently (`python -m kitta_notebook.history copy`)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import kitta_notebook
from kitta_notebook import KittaClient
from kitta_notebook.history.__main__ import main
from kitta_notebook.history.entry import Query
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.postgres import SCHEMA_VERSION, PostgresJournal
from kitta_notebook.history.postgres_schema import STEPS
from kitta_notebook.sandbox import Sandbox

psycopg = pytest.importorskip("psycopg")  # the extra [postgres]

REPO = Path(kitta_notebook.__file__).resolve().parent.parent


def test_an_older_schema_is_migrated_in_place_keeping_its_rows(postgres_db: str) -> None:
    with psycopg.connect(postgres_db, autocommit=True) as conn:  # a version-1 database
        conn.execute(STEPS[1].encode())
        conn.execute("CREATE TABLE journal_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO journal_schema VALUES (1)")
        conn.execute(
            "INSERT INTO entries (account, entry_id, task_id, source, outcome, state, "
            "updated_ts, sort_ts) VALUES ('aaaaaaaaaaaa', 'e1', 't1', 'server', 'remote', "
            "'succeeded', 1, 1)"
        )
        conn.execute("INSERT INTO labels VALUES ('aaaaaaaaaaaa', 'e1', 'old')")
    journal = PostgresJournal(postgres_db, account="a" * 12)
    [entry] = journal.entries()
    assert (entry.task_id, entry.labels) == ("t1", ("old",))
    with psycopg.connect(postgres_db) as conn:
        version = conn.execute("SELECT version FROM journal_schema").fetchall()
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'entries'"
        ).fetchall()
    assert version == [(SCHEMA_VERSION,)] and ("creator",) in columns


def test_a_version_2_database_gets_its_totals_from_the_rows_it_holds(postgres_db: str) -> None:
    """The kept totals of version 3 start from what is there, then follow every write."""
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute((STEPS[1] + STEPS[2]).encode())
        conn.execute("CREATE TABLE journal_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO journal_schema VALUES (2)")
        for i, (state, creator) in enumerate([("succeeded", "ana")] * 3 + [("failed", None)]):
            conn.execute(
                "INSERT INTO entries (account, entry_id, task_id, source, outcome, state, "
                "credits, creator, updated_ts, sort_ts) VALUES ('aaaaaaaaaaaa', %s, %s, "
                "'local', 'created', %s, 10, %s, 1, 1)",
                (f"e{i}", f"t{i}", state, creator),
            )
    journal = PostgresJournal(postgres_db, account="a" * 12)
    assert journal.summary().counts == {"succeeded": 3, "failed": 1}
    assert journal.summary(Query(creator=("ana",))).credits == 30
    journal.record_seen({"taskId": "t0", "status": "failed", "creditsCharged": 4})
    journal.record_seen({"taskId": "t9", "status": "pending"})
    assert journal.summary().counts == {"succeeded": 2, "failed": 2, "pending": 1}
    assert journal.count(Query(status=("failed",), creator=("ana",))) == 1
    assert journal.summary(Query(creator=("ana",))).credits == 24
    with psycopg.connect(postgres_db) as conn:  # the triggers' deltas, no row updated twice
        assert conn.execute("SELECT count(*) FROM totals").fetchone()[0] > 2


def _copy(url: str, source: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kitta_notebook.history", "copy", "--to", url]
    return subprocess.run(
        [*command, "--from", str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def test_copying_a_journal_twice_doubles_nothing(
    sandbox: Sandbox, shared_sandbox: Sandbox, postgres_db: str, tmp_path: Path
) -> None:
    token = f"pg-copy-{uuid.uuid4().hex[:8]}"
    shared_sandbox.add_account(token, 10_000_000)
    media = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    mine = KittaClient(token, base_url=sandbox.base_url)  # this machine's SQLite journal
    first = mine.lip_sync.create(**media, key="a")
    second = mine.lip_sync.create(**media)
    mine.history.label(first, "promo")
    mine.history.note(second, "retake")
    local = mine.journal
    assert isinstance(local, Journal)
    mine.lip_sync.wait(first, timeout=120)
    mine.download(first, tmp_path / "first.mp4")
    local.record_kept(first.task_id, tmp_path / "first.mp4", 1, "0" * 64)
    # A teammate has already seen both tasks in the server's list, and labelled one.
    team = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db)
    team.history.sync()
    seen = team.history.get(second)
    assert seen is not None and seen.from_server
    team.history.label(second, "checked")
    team.close()

    copied = _copy(postgres_db, local.path)
    assert copied.returncode == 0, copied.stderr
    assert "copied 2 entries" in copied.stdout and "0 were already there" in copied.stdout
    again = _copy(postgres_db, local.path)
    assert again.returncode == 0, again.stderr
    assert "copied 0 entries" in again.stdout and "2 were already there" in again.stdout

    journal = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db).journal
    assert isinstance(journal, PostgresJournal)
    entries = {e.task_id: e for e in journal.entries()}
    assert set(entries) == {first.task_id, second.task_id}
    copied_first = entries[first.task_id]
    assert (copied_first.labels, copied_first.key, copied_first.source) == (
        ("promo",),
        "a",
        "local",
    )
    assert copied_first.download_path is None  # a path on the other machine: not copied
    assert journal.kept(first.task_id) is None
    # The creates' own entries took the place of what the list had shown (labels kept).
    assert entries[second.task_id].entry_id != seen.entry_id
    assert (entries[second.task_id].labels, entries[second.task_id].note) == (
        ("checked",),
        "retake",
    )
    assert journal.task_id_for_key("a") == first.task_id  # the key is known to the team
    back = Journal(tmp_path / "back.sqlite3")  # and the way back, into a SQLite file
    assert back.add_rows(journal.rows()) == 2 and back.add_rows(journal.rows()) == 0
    assert {e.task_id: e.labels for e in back.entries()} == {
        t: e.labels for t, e in entries.items()
    }


def test_copy_refuses_what_is_not_a_postgres_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "mysql://u:secret-pass-1@127.0.0.1/db"
    assert main(["copy", "--to", url, "--from", str(tmp_path / "none.sqlite3")]) == 1
    shown = capsys.readouterr()
    assert "postgresql://" in shown.err and "secret-pass-1" not in shown.err + shown.out


def test_copy_names_a_missing_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://kitta@127.0.0.1:1/db"
    assert main(["copy", "--to", url, "--from", str(tmp_path / "none.sqlite3")]) == 1
    assert "no journal at" in capsys.readouterr().err
