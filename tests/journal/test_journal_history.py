"""`client.history`: filters, sorting and pages in SQL, the lazy merge with the
server's list, refresh, reconcile, pandas, and `resume()` (without a kernel)."""

from __future__ import annotations

import asyncio
import importlib
import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from kitta_notebook import KittaClient, ServerError, resume
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.store import JournalStore
from tests.journal.journal_helpers import (
    AUDIO,
    IMAGE,
    VIDEO,
    create,
    list_body,
    mock_async_client,
    mock_client,
)
from tests.support import dto

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeServer:
    """Just enough of the API for history: create, detail, a paged list."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.list_calls: list[int] = []
        self.get_calls: list[str] = []
        self.fail_creates = False
        self.create_anyway = False
        self._ids = itertools.count(1)
        self.clock = datetime.now(timezone.utc)

    def add(self, **fields: Any) -> dict[str, Any]:
        task_id = fields.pop("taskId", None) or f"lip_task_{next(self._ids)}"
        body = dto(taskId=task_id, createdAt=iso(self.clock), **fields)
        self.tasks[task_id] = body
        self.order.insert(0, task_id)
        return body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            import json

            sent = json.loads(request.content)
            if self.fail_creates:
                if self.create_anyway:
                    self.add(model=sent["model"], inputMode=sent["inputMode"])
                return httpx.Response(500, json={"error": {"code": "x", "message": "boom"}})
            return httpx.Response(202, json=self.add(inputMode=sent["inputMode"]))
        path = request.url.path
        if path.endswith("/tasks"):
            offset = int(request.url.params.get("offset", 0))
            limit = int(request.url.params.get("limit", 20))
            self.list_calls.append(offset)
            ids = self.order[offset : offset + limit]
            more = offset + limit < len(self.order)
            return httpx.Response(
                200, json=list_body([self.tasks[i] for i in ids], offset=offset, more=more)
            )
        task_id = path.rsplit("/", 1)[-1]
        self.get_calls.append(task_id)
        if task_id not in self.tasks:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        return httpx.Response(200, json=self.tasks[task_id])


@pytest.fixture()
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture()
def client(server: FakeServer, journal_store: str) -> KittaClient:
    """A client journalling into each store in turn (`journal_store`)."""
    client = mock_client(server)
    assert (journal_store == "sqlite") == isinstance(client.journal, Journal)
    return client


def journal_of(client: KittaClient) -> JournalStore:
    journal = client.journal
    assert journal is not None
    return journal


def seed(client: KittaClient, server: FakeServer) -> None:
    """Ten local tasks with varied states, modes, credits, labels and times."""
    for i in range(10):
        server.clock = T0 + timedelta(hours=i)
        mode = "image" if i % 3 == 0 else "video"
        if mode == "image":
            task = create(client, video_url=None, image_url=f"{IMAGE}?n={i}", input_mode="image")
        else:
            task = create(client, video_url=f"{VIDEO}?n={i}")
        status = ["pending", "processing", "succeeded", "failed"][i % 4]
        server.tasks[task.task_id].update(status=status, creditsCharged=100 * (i + 1))
        client.lip_sync.get(task.task_id)
        if i % 2 == 0:
            client.history.label(task.task_id, "even")


def test_filters_sorting_and_paging_happen_in_sql(client: KittaClient, server: FakeServer) -> None:
    seed(client, server)
    history = client.history
    assert history.count() == 10
    newest = history.items(limit=3)
    assert [e.credits for e in newest] == [1000, 900, 800]
    assert [e.credits for e in history.items(limit=3, offset=3)] == [700, 600, 500]
    assert [e.credits for e in history.items(sort="credits", descending=False, limit=2)] == [
        100,
        200,
    ]
    failed = history.items(status="failed")
    assert {e.credits for e in failed} == {400, 800}
    assert all(e.state == "failed" for e in failed)
    assert history.count(status=["failed", "succeeded"]) == 4
    assert {e.input_mode for e in history.items(mode="image")} == {"image"}
    assert history.count(mode="image") == 4
    assert history.count(label="even") == 5
    assert history.count(search="n=7") == 1
    assert history.count(search="%") == 0  # LIKE wildcards are escaped
    assert history.count(search="_") == 10  # task ids contain "_" literally
    since = T0 + timedelta(hours=5)
    assert history.count(since=since) == 5
    assert history.count(since=since, until=since + timedelta(hours=2)) == 2
    assert history.count(since="2026-07-01T09:00:00Z", until=since.date() + timedelta(days=1)) == 9
    summary = history.summary(mode="video")
    assert summary.total == 6
    assert summary.credits == sum(100 * (i + 1) for i in range(10) if i % 3)
    assert sum(summary.counts.values()) == 6
    with pytest.raises(ValueError, match="sort must be one of"):
        history.items(sort="drop table")


def test_tasks_created_elsewhere_appear_marked_and_pages_are_walked_lazily(
    client: KittaClient, server: FakeServer
) -> None:
    create(client)
    for _ in range(250):
        server.add(status="succeeded")
    iterator = iter(client.history)
    first = next(iterator)
    assert first.source == "local"
    assert server.list_calls == []  # the journal is read first; no server call yet
    second = next(iterator)
    assert second.from_server
    assert server.list_calls == [0]
    rest = list(iterator)
    assert len(rest) == 249
    assert server.list_calls == [0, 100, 200]
    assert client.history.count(source="server") == 250
    assert client.history.count(source="local") == 1


def test_sync_records_every_server_task_once(client: KittaClient, server: FakeServer) -> None:
    for _ in range(120):
        server.add(status="pending")
    report = client.history.sync()
    assert (report.pages, report.seen, report.new) == (2, 120, 120)
    again = client.history.sync()
    assert again.new == 0
    assert client.history.count(status="pending") == 120


def test_refresh_fetches_only_unfinished_tasks(client: KittaClient, server: FakeServer) -> None:
    seed(client, server)
    server.get_calls.clear()
    for body in server.tasks.values():
        body["status"] = "succeeded"
    refreshed = client.history.refresh()
    assert len(refreshed) == 6  # the pending and processing ones
    assert len(server.get_calls) == 6
    assert client.history.count(status="succeeded") == 8


def test_reconcile_matches_an_unknown_create_to_the_server_task(
    client: KittaClient, server: FakeServer
) -> None:
    server.clock = datetime.now(timezone.utc) - timedelta(hours=3)
    server.add(status="succeeded", inputMode="video")  # older: outside the window
    server.clock = datetime.now(timezone.utc)
    server.fail_creates = server.create_anyway = True
    with pytest.raises(ServerError):
        create(client)
    server.fail_creates = False
    unknown = client.history.unresolved()
    assert len(unknown) == 1
    report = client.history.reconcile()
    assert report.complete and len(report.matched) == 1 and not report.unresolved
    entry_id, task_id = report.matched[0]
    assert entry_id == unknown[0].entry_id
    entry = client.history.get(task_id)
    assert entry is not None
    assert (entry.entry_id, entry.outcome, entry.source) == (entry_id, "created", "local")
    assert entry.reconciled_at is not None and entry.video_url == VIDEO
    assert client.history.count() == 2  # the server row was merged into the local one
    assert client.history.unresolved() == []


def test_reconcile_that_read_part_of_the_list_never_concludes_not_created(
    client: KittaClient, server: FakeServer
) -> None:
    """Only the whole list proves a create absent: here its task is on page 2 of 2,
    behind a full page of newer tasks that are not it, and only page 1 is read."""
    server.fail_creates = server.create_anyway = True
    with pytest.raises(ServerError):
        create(client)
    server.fail_creates = False
    for _ in range(100):
        server.add(status="succeeded", inputMode="image")
    report = client.history.reconcile(max_pages=1, settle=0)
    assert not report.absent and not report.matched and len(report.unresolved) == 1
    assert report.pages == 1 and not report.complete
    assert [e.outcome for e in client.history.unresolved()] == ["unknown"]
    whole = client.history.reconcile(settle=0)  # reading page 2 finds it
    assert whole.complete and len(whole.matched) == 1 and not whole.absent


def test_reconcile_marks_a_create_the_server_never_made(
    client: KittaClient, server: FakeServer
) -> None:
    server.fail_creates = True
    with pytest.raises(ServerError):
        create(client)
    first = client.history.reconcile()  # too recent: the server may still be creating it
    assert len(first.unresolved) == 1 and not first.absent
    report = client.history.reconcile(settle=0)
    assert len(report.absent) == 1
    entry = client.history.items()[0]
    assert entry.state == "not_created" and entry.is_final
    assert journal_of(client).task_id_for_key("none") is None


def test_to_pandas(client: KittaClient, server: FakeServer) -> None:
    seed(client, server)
    frame = client.history.to_pandas(status="failed")
    assert list(frame["state"]) == ["failed", "failed"]
    assert {"task_id", "credits", "labels", "created_at", "video_url"} <= set(frame.columns)
    empty = client.history.to_pandas(status="rejected")
    assert len(empty) == 0 and "task_id" in empty.columns


def test_to_pandas_without_pandas_says_how_to_get_it(
    client: KittaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"kitta-notebook\[pandas\]"):
        client.history.to_pandas()


def test_labels_and_notes(client: KittaClient, server: FakeServer) -> None:
    task = create(client)
    history = client.history
    history.label(task, "promo", " v2 ", "")
    history.label(task.task_id, "promo")
    entry = history.get(task.task_id)
    assert entry is not None and entry.labels == ("promo", "v2")
    history.unlabel(task.task_id, "v2")
    history.note(task.task_id, "client liked it")
    entry = history.get(task)
    assert entry is not None and entry.labels == ("promo",) and entry.note == "client liked it"
    with pytest.raises(KeyError):
        history.label("lip_task_nope", "x")


@pytest.mark.usefixtures("journal_store")
def test_async_history(server: FakeServer) -> None:
    async def main() -> None:
        client = mock_async_client(server)
        await client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
        for _ in range(3):
            server.add(status="processing")
        history = client.history
        assert await history.count() == 1
        report = await history.sync()
        assert report.new == 3
        items = [e async for e in history]
        assert len(items) == 4
        for body in server.tasks.values():
            body["status"] = "failed"
        refreshed = await history.refresh()
        assert len(refreshed) == 4
        assert await history.count(status="failed") == 4
        await history.label(items[0], "x")
        assert [e.labels for e in await history.items(label="x")] == [("x",)]
        assert (await history.reconcile()).complete
        frame = await history.to_pandas()
        assert len(frame) == 4
        await client.aclose()

    asyncio.run(main())


def test_resume_without_watching_refetches_unfinished_tasks(
    client: KittaClient, server: FakeServer
) -> None:
    seed(client, server)
    for body in server.tasks.values():
        body["status"] = "succeeded"
    resumed = resume(client, watch=False)
    assert len(resumed) == 6
    assert all(t.status_text == "succeeded" for t in resumed)
    assert client.history.count(status=["pending", "processing"]) == 0


def test_history_repr_is_escaped(client: KittaClient, server: FakeServer) -> None:
    task = create(client, video_url="https://media.example.com/<script>.mp4")
    client.history.label(task, "<b>bold</b>")
    bundle = client.history._repr_mimebundle_()
    assert "<b>bold</b>" not in bundle["text/html"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in bundle["text/html"]
    assert task.task_id in bundle["text/plain"]
