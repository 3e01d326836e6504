"""The journal as storage: the choice on the client's configuration, a journal by
identity, kept results, an older file brought up to date, and `AsyncHistory`
doing its SQLite work off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import AsyncKittaClient, KittaClient
from kitta_notebook.history import schema
from kitta_notebook.history.entry import JournalEntry, Query
from kitta_notebook.history.journal import Journal, journal_path, journal_path_for_identity
from tests.journal.journal_helpers import create, list_body, mock_async_client, mock_client
from tests.support import dto


def answering(**overrides: Any) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tasks") and request.method == "GET":
            return httpx.Response(200, json=list_body([dto(**overrides)]))
        return httpx.Response(202 if request.method == "POST" else 200, json=dto(**overrides))

    return handler


# --- the choice lives on the configuration ----------------------------------------------------
def test_the_journal_choice_is_shared_by_the_async_twin_and_never_leaks_to_other_clients() -> None:
    off = mock_client(answering(), journal=False)
    assert off.journal is None and off._config.journal is False
    assert off.as_async().journal is None  # the twin shares the configuration
    on = mock_client(answering())
    assert on.journal is not None
    mine = Journal(Path("elsewhere.sqlite3").absolute())
    chosen = mock_client(answering(), journal=mine)
    assert chosen.journal is mine and chosen.as_async().journal is mine


def test_a_journal_identity_names_the_file_whatever_the_port_and_token() -> None:
    clients = [
        KittaClient(token, base_url=f"http://127.0.0.1:{port}/api")
        for token, port in (("tok-a", 40001), ("tok-b", 40002))
    ]
    for client in clients:
        client._config.journal_identity = "embedded-sandbox"
    journals = [client.journal for client in clients]
    assert journals[0] is not None and journals[0] is journals[1]
    assert journals[0].path == journal_path_for_identity("embedded-sandbox")
    assert journals[0].path != journal_path("http://127.0.0.1:40001", "tok-a")
    assert "embedded" not in journals[0].path.name  # a fingerprint, like account journals


def test_a_journal_identity_needs_no_token() -> None:
    client = KittaClient(base_url="http://127.0.0.1:40003/api")
    assert client.journal is None
    client._config.journal_identity = "embedded-sandbox"
    assert client.journal is not None


# --- kept results ----------------------------------------------------------------------------
@pytest.mark.usefixtures("journal_store")
def test_kept_results_are_recorded_listed_oldest_first_and_summed(tmp_path: Path) -> None:
    client = mock_client(answering(taskId="lip_task_k", status="succeeded"))
    task = create(client)
    history = client.history
    assert history.kept(task) is None and history.kept_total_bytes() == 0
    history.record_kept(task, str(tmp_path / "a.mp4"), 1000, "aa" * 32)
    journal = client.journal
    assert journal is not None
    journal.record_kept("lip_task_other", tmp_path / "b.mp4", 2500, "bb" * 32)
    kept = history.kept("lip_task_k")
    assert kept is not None and kept.size == 1000 and kept.sha256 == "aa" * 32
    assert kept.path == str((tmp_path / "a.mp4").absolute())
    assert history.kept_total_bytes() == 3500
    assert history.summary().kept_bytes == 3500
    assert [k.task_id for k in history.kept_oldest(5)] == ["lip_task_k", "lip_task_other"]
    history.forget_kept(task)
    assert history.kept(task) is None and journal.kept_total_bytes() == 2500
    journal.record_kept("lip_task_other", tmp_path / "c.mp4", 10, "cc" * 32)  # replaced
    assert journal.kept_total_bytes() == 10


@pytest.mark.usefixtures("journal_store")
def test_kept_results_through_the_async_history(tmp_path: Path) -> None:
    async def main() -> tuple[Any, int]:
        client = mock_async_client(answering(taskId="lip_task_k"))
        await client.lip_sync.get("lip_task_k")
        await client.history.record_kept("lip_task_k", str(tmp_path / "k.mp4"), 7, "ff" * 32)
        return await client.history.kept("lip_task_k"), await client.history.kept_total_bytes()

    kept, total = asyncio.run(main())
    assert kept is not None and kept.size == 7 and total == 7


# --- an older file -----------------------------------------------------------------------------
def test_a_version_1_journal_is_brought_up_to_date_with_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for statement in schema.statements(schema.SCHEMA_V1):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO meta VALUES ('schema', ?)", (schema.SCHEMA_MARKER,))
    conn.execute(
        "INSERT INTO entries (entry_id, task_id, source, outcome, state, status, input_mode, "
        "video_url, credits, updated_ts, sort_ts) VALUES ('e1', 'lip_task_old', 'local', "
        "'created', 'succeeded', 'succeeded', 'video', 'https://cdn.example/promo-2025.mp4', "
        "300, 1, 1)"
    )
    conn.commit()
    conn.close()
    journal = Journal(path)
    assert [e.task_id for e in journal.entries()] == ["lip_task_old"]
    assert journal.has_search_index
    assert [e.task_id for e in journal.entries(_search("promo-2025"))] == ["lip_task_old"]
    summary = journal.summary()
    assert summary.counts == {"succeeded": 1} and summary.credits == 300
    journal.record_kept("lip_task_old", tmp_path / "x.mp4", 5, "00" * 32)
    journal.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    check.close()


def _search(text: str) -> Any:

    return Query.build(search=text)


@pytest.mark.usefixtures("journal_store")
def test_counts_and_summaries_stay_right_through_every_kind_of_write() -> None:
    """Counts and credits (SQLite's `totals`, kept by triggers; PostgreSQL's aggregate) agree
    with the entries themselves after many writes."""
    statuses = iter(["pending", "processing", "succeeded", "failed"] * 5)
    client = mock_client(answering())
    journal = client.journal
    assert journal is not None
    for i in range(6):
        task = {"taskId": f"lip_task_{i}", "status": next(statuses), "creditsCharged": 10 * i}
        journal.record_seen(task)
    entry_id = journal.record_request({"model": "m", "inputMode": "image"})
    journal.record_created(entry_id, {"taskId": "lip_task_3", "status": "succeeded"})
    journal.record_outcome(journal.record_request({"inputMode": "video"}), rejected=True, error="x")
    journal.record_seen({"taskId": "lip_task_0", "status": "failed", "creditsCharged": 99})
    entries = journal.entries()
    summary = journal.summary()
    assert summary.counts == dict(Counter(entry.state for entry in entries))
    assert summary.credits == sum(entry.credits or 0 for entry in entries)
    assert journal.count() == 7

    assert journal.count(Query.build(mode="image")) == 1


# --- paging from both ends ------------------------------------------------------------------------
@pytest.mark.usefixtures("journal_store")
@pytest.mark.parametrize("sort", ["created", "credits", "updated", "status"])
@pytest.mark.parametrize("descending", [True, False])
def test_every_page_matches_one_full_sorted_read(sort: str, descending: bool) -> None:
    """Pages read forwards, backwards from the end, or split at NULL credits agree."""
    client = mock_client(answering())
    journal = client.journal
    assert journal is not None
    tasks = [
        {
            "taskId": f"lip_task_{i:04d}",
            "status": ["pending", "succeeded", "failed"][i % 3],
            "creditsCharged": None if i % 7 == 0 else (i * 37) % 500,
            "createdAt": f"2026-07-01T{8 + i // 600:02d}:{(i // 10) % 60:02d}:{i % 10:02d}.000Z",
        }
        for i in range(1300)
    ]
    journal.record_seen_many(tasks)
    everything = [e.entry_id for e in journal.entries(sort=sort, descending=descending)]
    assert len(everything) == 1300
    pages = [
        [e.entry_id for e in journal.entries(sort=sort, descending=descending, limit=50, offset=o)]
        for o in range(0, 1300, 50)
    ]
    assert [x for page in pages for x in page] == everything
    tail = journal.entries(sort=sort, descending=descending, limit=50, offset=1280)
    assert [e.entry_id for e in tail] == everything[1280:]
    if sort == "credits":
        credits = [e.credits for e in journal.entries(sort=sort, descending=descending)]
        assert credits[-1] is None and credits[0] is not None  # no credits: last either way


# --- AsyncHistory keeps SQLite off the event loop -------------------------------------------------
def test_async_history_runs_journal_work_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: dict[str, int] = {}
    original_read = Journal._read
    original_write = Journal._write

    def spy_read(self: Journal, sql: str, params: Any = ()) -> Any:
        threads.setdefault("read", threading.get_ident())
        if threading.get_ident() == threads.get("loop"):
            threads["read_on_loop"] = 1
        return original_read(self, sql, params)

    def spy_write(self: Journal) -> Any:
        if threading.get_ident() == threads.get("loop"):
            threads["write_on_loop"] = 1
        return original_write(self)

    async def main() -> None:
        threads["loop"] = threading.get_ident()
        client: AsyncKittaClient = mock_async_client(answering(taskId="lip_task_z"))
        journal = client.journal
        assert journal is not None
        await asyncio.to_thread(journal.record_seen, dto(taskId="lip_task_z"))
        monkeypatch.setattr(Journal, "_read", spy_read)
        monkeypatch.setattr(Journal, "_write", spy_write)
        history = client.history
        assert len(await history.items()) == 1
        assert await history.count() == 1
        await history.summary()
        await history.label("lip_task_z", "x")
        await history.sync()
        await history.reconcile()
        assert [e.task_id async for e in history] == ["lip_task_z"]

    asyncio.run(main())
    assert "read" in threads and threads["read"] != threads["loop"]
    assert "read_on_loop" not in threads and "write_on_loop" not in threads


def test_the_async_history_shares_one_connection_across_the_bridge_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    connect = sqlite3.connect

    def counting_connect(*args: Any, **kwargs: Any) -> Any:
        opened.append(threading.current_thread().name)
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    journal = Journal(tmp_path / "shared.sqlite3")
    for n in range(12):
        journal.record_seen(dto(taskId=f"lip_task_{n:02d}"))

    async def main() -> tuple[list[int], list[JournalEntry]]:
        client = mock_async_client(answering(), journal=journal)
        history = client.history
        await asyncio.gather(*(history.label(f"lip_task_{n:02d}", "both") for n in range(12)))
        counts = await asyncio.gather(*(history.count(label="both") for _ in range(12)))
        labelled = await history.items(label="both")
        await client.aclose()
        return counts, labelled

    counts, labelled = asyncio.run(main())
    assert counts[-1] == 12 and len(labelled) == 12
    assert opened == ["MainThread"]  # the worker threads used the one connection
