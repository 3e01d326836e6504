"""Team facts on each entry: who created it and which account, the "who" filter, and a
version-2 journal file brought to version 3 in place.

Kernels are real processes creating on the real sandbox over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import kitta_notebook
from kitta_notebook.history import keys, schema
from kitta_notebook.history.entry import Query
from kitta_notebook.history.history import entry_record
from kitta_notebook.history.journal import Journal
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets.history import HistoryBrowser
from tests.journal.journal_helpers import mock_client
from tests.support import dto

REPO = Path(kitta_notebook.__file__).resolve().parent.parent

KERNEL = r"""
import json, sys
from kitta_notebook import KittaClient

base_url, token, video, audio = sys.argv[1:]
client = KittaClient(token, base_url=base_url)
task = client.lip_sync.create(video_url=video, audio_url=audio)
print(json.dumps({"task": task.task_id, "journal": str(client.journal.path)}))
"""


def _kernel(sandbox: Sandbox, home: Path, **env: str) -> tuple[str, Path]:
    """Run one create in a fresh process with this environment; its task and journal."""
    base = {k: v for k, v in os.environ.items() if k != keys.HUB_USER_ENV}
    args = [sandbox.base_url, sandbox.token, sandbox.samples["video"], sandbox.samples["audio"]]
    done = subprocess.run(
        [sys.executable, "-c", KERNEL, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, "PYTHONPATH": str(REPO), "KITTA_HOME": str(home), **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["task"], Path(found["journal"])


def test_a_create_in_a_hub_kernel_records_the_hub_user_and_the_account(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    task_id, path = _kernel(sandbox, tmp_path, JUPYTERHUB_USER="ana")
    entry = Journal(path).get(task_id)
    assert entry is not None and entry.creator == "ana"
    fingerprint = path.stem.removeprefix("journal-")
    assert entry.account == fingerprint and len(fingerprint) == 12
    assert sandbox.token not in repr(entry) and sandbox.token not in fingerprint


def test_without_a_hub_the_os_user_is_the_creator(sandbox: Sandbox, tmp_path: Path) -> None:
    task_id, path = _kernel(sandbox, tmp_path, USER="bo-from-os", LOGNAME="bo-from-os")
    entry = Journal(path).get(task_id)
    assert entry is not None and entry.creator == "bo-from-os"


def test_no_creator_is_guessed_when_none_can_be_told(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (keys.HUB_USER_ENV, "LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid: int) -> object:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr("pwd.getpwuid", no_entry)
    assert keys.creator() is None
    monkeypatch.setenv(keys.HUB_USER_ENV, "  ana ")
    assert keys.creator() == "ana"


def test_history_filters_by_creator_and_a_server_task_has_none(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = sandbox.client()
    made: dict[str, list[str]] = {}
    for person in ("ana", "bo", "ana"):
        monkeypatch.setenv(keys.HUB_USER_ENV, person)
        task = client.lip_sync.create(
            video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
        )
        made.setdefault(person, []).append(task.task_id)
    journal = client.journal
    assert journal is not None
    journal.record_seen({"taskId": "lip_task_elsewhere", "status": "pending"})
    history = client.history
    assert {e.task_id for e in history.items(creator="ana")} == set(made["ana"])
    assert [e.task_id for e in history.items(creator="bo")] == made["bo"]
    assert history.count(creator=["ana", "bo"]) == 3
    assert history.summary(creator="bo").total == 1
    assert history.count(creator="nobody") == 0
    assert history.count() == 4  # no filter: everyone, the server's task too
    elsewhere = history.get("lip_task_elsewhere")
    assert elsewhere is not None and elsewhere.creator is None and elsewhere.from_server
    assert journal.creators() == ["ana", "bo"]
    record = entry_record(history.items(creator="bo")[0])  # a `to_pandas()` row
    assert record["creator"] == "bo" and record["account"] == journal.path.stem[-12:]
    assert Query.build(creator=" ana ").creator == ("ana",)
    assert not Query.build(creator="ana").facets_only  # never answered from the totals


# --- a version-2 file ------------------------------------------------------------------------
ROWS = 40


def _version_2_journal(path: Path) -> None:
    """A journal file as version 2 wrote it, with entries, labels, a claim and a kept file."""
    conn = sqlite3.connect(path, isolation_level=None)
    script = schema.SCHEMA_V1 + schema.SCHEMA_V2 + schema.KEY_CLAIMS_SCHEMA + schema.SEARCH_SCHEMA
    for statement in schema.statements(script):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 2")
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("schema", schema.SCHEMA_MARKER), ("account", "0123456789ab")],
    )
    for i in range(ROWS):
        state = ("succeeded", "failed", "pending", "outcome_unknown")[i % 4]
        conn.execute(
            "INSERT INTO entries (entry_id, task_id, source, outcome, state, status, "
            "input_mode, video_url, credits, batch_key, note, request_json, updated_ts, sort_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, 'video', ?, ?, ?, ?, ?, ?, ?)",
            (
                f"e{i}",
                None if state == "outcome_unknown" else f"lip_task_{i}",
                "server" if i % 5 == 0 else "local",
                "unknown" if state == "outcome_unknown" else "created",
                state,
                None if state == "outcome_unknown" else state,
                f"https://cdn.example/clip-{i:03}.mp4",
                100 + i if state == "succeeded" else None,
                f"key-{i}" if i % 3 == 0 else None,
                f"note {i}",
                json.dumps({"model": "kitta-lipsync-v1"}),
                1000.0 + i,
                1000.0 + i,
            ),
        )
    conn.executemany(
        "INSERT INTO labels VALUES (?, ?)", [(f"e{i}", "promo") for i in range(0, ROWS, 2)]
    )
    conn.execute("INSERT INTO kept VALUES ('lip_task_0', '/k/0.mp4', 5, ?, 1.0)", ("aa" * 32,))
    conn.close()


def _table(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_version_2_journal_is_migrated_in_place_keeping_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal-0123456789ab.sqlite3"
    _version_2_journal(path)
    columns = "entry_id, task_id, source, outcome, state, status, credits, video_url, note"
    before = _table(path, f"SELECT {columns} FROM entries ORDER BY entry_id")
    labels = _table(path, "SELECT * FROM labels ORDER BY entry_id")
    totals_before = _table(path, "SELECT * FROM totals ORDER BY 1, 2, 3")
    journal = Journal(path)  # opened by path: the account comes from the file
    assert journal.count() == ROWS
    journal.close()
    assert _table(path, "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
    assert _table(path, f"SELECT {columns} FROM entries ORDER BY entry_id") == before
    assert _table(path, "SELECT * FROM labels ORDER BY entry_id") == labels
    assert _table(path, "SELECT * FROM totals ORDER BY 1, 2, 3") == totals_before
    assert _table(path, "SELECT count(*) FROM kept") == [(1,)]
    assert _table(path, "SELECT DISTINCT creator FROM entries") == [(None,)]
    entries = journal.entries()
    assert len(entries) == ROWS and all(e.creator is None for e in entries)
    assert {e.account for e in entries} == {"0123456789ab"}
    assert [e.task_id for e in journal.entries(Query.build(search="clip-007"))] == [None]
    assert journal.count(Query.build(label="promo")) == ROWS // 2
    # The migrated file takes new creates with their creator.
    monkeypatch.setenv(keys.HUB_USER_ENV, "ana")
    entry_id = journal.record_request({"model": "kitta-lipsync-v1"})
    found = journal.get(entry_id)
    assert found is not None and found.creator == "ana"
    assert journal.count(Query.build(creator="ana")) == 1
    assert len(journal.entries()) == ROWS + 1


# --- the history browser's "who" -------------------------------------------------------------
def _sent_by(journal: Journal, person: str, task_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A create sent by `person` (their hub user) that became a finished task."""
    monkeypatch.setenv(keys.HUB_USER_ENV, person)
    entry_id = journal.record_request({"model": "kitta-lip-sync-v1"})
    journal.record_created(entry_id, dto(taskId=task_id, status="failed"))


def test_the_browser_filters_by_who_and_shows_the_creator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = mock_client(lambda request: httpx.Response(500))
    journal = client.journal
    assert isinstance(journal, Journal)
    for person, task_id in (("ana", "lip_task_a1"), ("bo", "lip_task_b1"), ("ana", "lip_task_a2")):
        _sent_by(journal, person, task_id, monkeypatch)
    journal.record_seen(dto(taskId="lip_task_server", status="failed"))
    browser = HistoryBrowser(client, sync=False)
    assert browser.creator_filter.options == (("Everyone", ""), ("ana", "ana"), ("bo", "bo"))
    assert browser.creator_filter.value == "" and browser.total == 4  # everyone by default
    assert "Created by" in browser.header.value
    shown = {row.entry.task_id: row.rest.value for row in browser.rows if row.entry}
    assert ">ana<" in shown["lip_task_a1"] and ">bo<" in shown["lip_task_b1"]
    assert "not known" in shown["lip_task_server"]  # never a guess
    browser.creator_filter.value = "ana"
    assert sorted(visible_ids(browser)) == ["lip_task_a1", "lip_task_a2"] and browser.total == 2
    browser.rows[0].open_button.click()
    assert "Created by" in browser.card.value and "ana" in browser.card.value
    # Someone new appears: offered at the next redraw, the choice kept.
    _sent_by(journal, "cy", "lip_task_c1", monkeypatch)
    browser.render()
    assert [value for _, value in browser.creator_filter.options] == ["", "ana", "bo", "cy"]
    assert browser.creator_filter.value == "ana" and browser.total == 2
    browser.set_filters(creator="cy")
    assert visible_ids(browser) == ["lip_task_c1"]
    browser.set_filters(creator="")
    browser.select("lip_task_server")
    assert "not known" in browser.card.value
    chinese = HistoryBrowser(client, "zh", sync=False)
    assert chinese.creator_filter.options[0] == ("所有人", "")
    assert "创建者" in chinese.header.value
    assert "未知" in next(r.rest.value for r in chinese.rows if r.entry and r.entry.from_server)


def visible_ids(browser: HistoryBrowser) -> list[str | None]:
    return [row.entry.task_id for row in browser.rows if row.entry is not None]
