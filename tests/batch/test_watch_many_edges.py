"""`watch_many` against a scripted service (httpx.MockTransport): races a real
server cannot be made to produce on demand, plus the choice of polling mode.

The scripted service moves tasks when told to, between two given requests,
so every race here happens on every run.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from kitta_notebook import (
    AsyncKittaClient,
    KittaClient,
    NotFoundError,
    ServerError,
    ValidationError,
    WaitTimeoutError,
)
from kitta_notebook.batch import WaitManyTimeoutError, follow

BASE = "http://api.test/api"
TASKS = "/api/v1/lip-sync/tasks"


class ScriptedService:
    """Tasks newest first; `before(n, action)` runs `action` just before request n (1-based)."""

    def __init__(self, count: int) -> None:
        self.status = {f"lip_task_{i:04d}": "pending" for i in range(count)}
        self.order = list(reversed(self.status))  # newest first
        self.requests: list[str] = []
        self.actions: dict[int, Callable[[], None]] = {}
        self.lagging_list: dict[str, str] = {}
        """While set, the list endpoint reports these statuses instead (a lagging index)."""

    def before(self, number: int, action: Callable[[], None]) -> None:
        self.actions[number] = action

    def dto(self, task_id: str) -> dict[str, object]:
        status = self.status[task_id]
        return {
            "id": "row_" + task_id[-4:],
            "taskId": task_id,
            "type": "lip_sync",
            "status": status,
            "model": "kitta-lip-sync-v1",
            "inputMode": "video",
            "resultVideoUrl": "https://cdn.example.com/r.mp4" if status == "succeeded" else None,
            "errorCode": None,
            "errorMessage": None,
            "creditsCharged": 100,
            "createdAt": "2026-07-01T08:00:00.000Z",
            "startedAt": None,
            "completedAt": None,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        label = f"list:{query.get('status')}:{query.get('offset')}" if path == TASKS else path
        self.requests.append(label)
        action = self.actions.pop(len(self.requests), None)
        if action is not None:
            action()
        if path == TASKS:
            listed = {**self.status, **self.lagging_list}
            wanted = [t for t in self.order if listed[t] == query["status"]]
            offset, limit = int(query["offset"]), int(query["limit"])
            page = wanted[offset : offset + limit]
            body = {
                "data": [{"taskId": t, "status": listed[t], "creditsCharged": 100} for t in page],
                "pagination": {
                    "limit": limit,
                    "offset": offset,
                    "hasMore": offset + limit < len(wanted),
                },
            }
            return httpx.Response(200, json=body)
        task_id = path.rsplit("/", 1)[-1]
        if task_id not in self.status:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        return httpx.Response(200, content=json.dumps(self.dto(task_id)).encode())

    def set(self, status: str, *task_ids: str) -> Callable[[], None]:
        def action() -> None:
            for task_id in task_ids or tuple(self.status):
                self.status[task_id] = status

        return action

    @property
    def gets(self) -> list[str]:
        return [r for r in self.requests if not r.startswith("list:")]


def client_for(service: ScriptedService) -> KittaClient:
    http = httpx.Client(transport=httpx.MockTransport(service))
    return KittaClient("tok", base_url=BASE, http_client=http, journal=False)


def ids(service: ScriptedService) -> list[str]:
    return list(service.status)


def test_a_task_missing_from_both_lists_while_running_stays_watched() -> None:
    """The processing list lags behind (as a replica may): task 0 moved to processing
    before the pending list was read, yet the processing list does not show it yet.
    Its detail says processing: it must stay watched, not be declared done."""
    service = ScriptedService(5)
    moved = "lip_task_0000"

    def move_behind_the_index() -> None:
        service.status[moved] = "processing"
        service.lagging_list[moved] = "gone-from-index"

    service.before(1, move_behind_the_index)  # before the first pending list
    service.before(3, service.lagging_list.clear)  # the next cycle's lists are current
    service.before(4, service.set("succeeded"))  # ...and every task finishes after that
    with client_for(service) as client:
        watch = client.lip_sync.watch_many(ids(service), poll_interval=0, progress=False)
        first = next(watch)
        # Cycle 1: pending list (4 tasks), processing list (none: lagging), detail of the
        # one absent from both -> processing -> still watched (no emission in cycle 1).
        assert service.requests[:3] == ["list:pending:0", "list:processing:0", TASKS + "/" + moved]
        assert watch.stats.flips == 1
        rest = list(watch)
    finished = [first, *rest]
    assert sorted(t.task_id for t in finished) == ids(service)
    assert all(t.succeeded and t.result_video_url for t in finished)
    assert service.gets.count(TASKS + "/" + moved) == 2  # once while running, once finished


def test_a_page_boundary_shift_never_loses_or_ends_a_task() -> None:
    """150 pending tasks: between page 1 and page 2 of the pending list, ten tasks of
    page 1 start processing, so page 2 starts ten tasks later and skips ten pending
    ones. Those are absent from both lists while pending; their details keep them."""
    service = ScriptedService(150)
    newest = service.order[:10]
    service.before(2, service.set("processing", *newest))  # before pending page 2
    service.before(14, service.set("succeeded"))  # 3 lists + 10 details, then cycle 2
    with client_for(service) as client:
        watch = client.lip_sync.watch_many(ids(service), poll_interval=0, progress=False)
        finished = list(watch)
    assert len(finished) == 150 and all(t.succeeded for t in finished)
    skipped = service.order[100:110]  # were at positions 100-109, shifted onto page 1
    assert service.requests[:3] == ["list:pending:0", "list:pending:100", "list:processing:0"]
    assert sorted(g.rsplit("/", 1)[-1] for g in service.gets[:10]) == sorted(skipped)
    assert watch.stats.flips == 10


def test_few_tasks_are_polled_one_by_one() -> None:
    service = ScriptedService(2)
    service.before(5, service.set("succeeded"))
    with client_for(service) as client:
        done = client.lip_sync.wait_many(ids(service), poll_interval=0, progress=False)
    assert [t.task_id for t in done] == ids(service) and all(t.succeeded for t in done)
    assert not any(r.startswith("list:") for r in service.requests)  # 2 tasks <= 2 list pages


def test_list_mode_switches_to_gets_when_few_tasks_remain() -> None:
    service = ScriptedService(6)
    ids_ = ids(service)
    service.before(1, service.set("succeeded", *ids_[:5]))
    service.before(8, service.set("succeeded"))
    with client_for(service) as client:
        watch = client.lip_sync.watch_many(ids_, poll_interval=0, progress=False)
        list(watch)
    assert watch.stats.modes[0] == "list" and set(watch.stats.modes[1:]) == {"get"}
    assert watch.stats.requests == len(service.requests)


def test_timeout_reports_finished_and_unfinished_tasks() -> None:
    service = ScriptedService(4)
    service.before(1, service.set("succeeded", "lip_task_0001"))
    with client_for(service) as client:
        watch = client.lip_sync.watch_many(
            ids(service), timeout=0.05, poll_interval=0.01, progress=False
        )
        with pytest.raises(WaitManyTimeoutError) as caught:
            list(watch)
    error = caught.value
    assert isinstance(error, WaitTimeoutError)
    assert [t.task_id for t in error.finished] == ["lip_task_0001"]
    assert len(error.unfinished) == 3 and error.task is error.unfinished[0]


def test_a_transient_list_error_skips_a_cycle_and_a_lasting_one_raises() -> None:
    service = ScriptedService(5)
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(503, json={"error": {"code": "busy", "message": "later"}})
        if calls["n"] == 2:
            service.set("succeeded")()
        return service(request)

    http = httpx.Client(transport=httpx.MockTransport(flaky))
    with KittaClient("tok", base_url=BASE, http_client=http, max_retries=0, journal=False) as c:
        done = c.lip_sync.wait_many(ids(service), poll_interval=0, progress=False)
        assert all(t.succeeded for t in done)
        with pytest.raises(NotFoundError):
            c.lip_sync.wait_many(["lip_task_0001", "lip_task_nope"], poll_interval=0)


def test_ids_are_watched_without_fetching_them_first() -> None:
    service = ScriptedService(3)
    service.before(1, service.set("succeeded"))
    with client_for(service) as client:
        done = client.lip_sync.wait_many(["lip_task_0000", "lip_task_0000"], poll_interval=0)
    assert len(done) == 2 and done[0].succeeded and done[0].model == "kitta-lip-sync-v1"
    assert service.requests == [TASKS + "/lip_task_0000"]  # one query for the id given twice


def test_the_async_twin_runs_the_same_cycle() -> None:
    service = ScriptedService(5)
    moved = "lip_task_0000"

    def move_behind_the_index() -> None:
        service.status[moved] = "processing"
        service.lagging_list[moved] = "gone-from-index"

    service.before(1, move_behind_the_index)
    service.before(3, service.lagging_list.clear)
    service.before(4, service.set("succeeded"))

    async def run(c: AsyncKittaClient) -> list[str]:
        watch = c.lip_sync.watch_many(ids(service), poll_interval=0, progress=False)
        seen = [task.task_id async for task in watch]
        assert watch.stats.flips == 1
        return seen

    with client_for(service) as client:
        seen = asyncio.run(run(client.as_async()))
    assert sorted(seen) == ids(service)
    assert service.requests[:3] == ["list:pending:0", "list:processing:0", TASKS + "/" + moved]


def test_once_every_task_is_processing_the_pending_list_is_no_longer_read() -> None:
    service = ScriptedService(5)
    service.before(1, service.set("processing"))
    service.before(4, service.set("succeeded"))
    with client_for(service) as client:
        done = client.lip_sync.wait_many(ids(service), poll_interval=0, progress=False)
    assert all(t.succeeded for t in done)
    # Cycle 1 reads both lists (statuses unknown); cycle 2 knows all are processing.
    assert service.requests[:4] == [
        "list:pending:0",
        "list:processing:0",
        "list:processing:0",
        "list:processing:0",
    ]


class InFlight:
    """Counts requests in flight around a scripted service that answers after a latency."""

    def __init__(self, service: ScriptedService) -> None:
        self.service = service
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def _leave(self) -> None:
        with self._lock:
            self.now -= 1

    def sync(self, request: httpx.Request) -> httpx.Response:
        self._enter()
        time.sleep(0.005)  # latency of a request, not a wait for anything
        self._leave()
        return self.service(request)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bounds_the_requests_in_flight_sync_and_async(concurrency: int) -> None:
    service = ScriptedService(60)
    service.before(1, service.set("succeeded"))
    counter = InFlight(service)
    http = httpx.Client(transport=httpx.MockTransport(counter.sync))
    with KittaClient("tok", base_url=BASE, http_client=http, journal=False) as client:
        done = client.lip_sync.wait_many(
            ids(service), poll_interval=0, progress=False, concurrency=concurrency
        )
    assert all(t.succeeded for t in done) and counter.most == concurrency

    service = ScriptedService(60)
    service.before(1, service.set("succeeded"))
    counter = InFlight(service)

    async def run(c: AsyncKittaClient) -> None:
        finished = await c.lip_sync.wait_many(
            ids(service), poll_interval=0, progress=False, concurrency=concurrency
        )
        assert all(t.succeeded for t in finished)

    http = httpx.Client(transport=httpx.MockTransport(counter.sync))
    with KittaClient("tok", base_url=BASE, http_client=http, journal=False) as client:
        asyncio.run(run(client.as_async()))
    assert counter.most == concurrency


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8", 10_000])
def test_a_bad_concurrency_is_refused_before_any_request(bad: object) -> None:
    service = ScriptedService(3)
    with client_for(service) as client, pytest.raises(ValidationError, match="concurrency"):
        client.lip_sync.watch_many(ids(service), concurrency=bad)  # type: ignore[arg-type]
    assert service.requests == []


def test_follow_yields_each_change_of_one_task_and_polls_through_a_passing_error() -> None:
    """The one follower, as `wait()` uses it: one query a poll, a task at each change."""
    service = ScriptedService(1)
    task_id = ids(service)[0]
    service.before(2, service.set("processing"))
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 3:  # the third poll meets a passing 503
            return httpx.Response(503, json={"error": {"code": "busy", "message": "later"}})
        if calls["n"] == 5:
            service.set("succeeded")()
        return service(request)

    http = httpx.Client(transport=httpx.MockTransport(flaky))
    with KittaClient("tok", base_url=BASE, http_client=http, max_retries=0, journal=False) as c:
        watch = follow(c.lip_sync, [task_id], poll_interval=0)
        seen = [(task.task_id, task.status_text) for task in watch]
        assert watch.stats.errors == 1 and isinstance(watch.stats.last_error, ServerError)
    # The first poll fills the id in; the unchanged poll after it yields nothing.
    assert seen == [(task_id, "pending"), (task_id, "processing"), (task_id, "succeeded")]
    assert service.requests == [TASKS + "/" + task_id] * 4


def test_wait_runs_on_the_follower_one_detail_query_a_poll_each_reported_to_on_poll() -> None:
    """`wait()` of one task: one GET a poll (never a list page), `on_poll` after each, with
    the passing error that poll met."""
    service = ScriptedService(1)
    task_id = ids(service)[0]
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return httpx.Response(503, json={"error": {"code": "busy", "message": "later"}})
        if calls["n"] == 3:
            service.set("succeeded")()
        return service(request)

    polls: list[tuple[str, str]] = []
    http = httpx.Client(transport=httpx.MockTransport(flaky))
    with KittaClient("tok", base_url=BASE, http_client=http, max_retries=0, journal=False) as c:
        task = c.lip_sync.wait(
            task_id,
            poll_interval=0,
            on_poll=lambda t, error: polls.append((t.status_text, type(error).__name__)),
        )
    assert task.succeeded and task.task_id == task_id
    assert polls == [("pending", "NoneType"), ("pending", "ServerError"), ("succeeded", "NoneType")]
    assert service.requests == [TASKS + "/" + task_id] * 2 and calls["n"] == 3


def test_a_round_of_detail_answers_is_written_to_the_journal_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watch writes each round's detail answers in one journal write (one transaction,
    one database round trip for a team's journal), not one per task; every state lands."""
    monkeypatch.setenv("KITTA_HOME", str(tmp_path))
    service = ScriptedService(6)
    service.before(1, service.set("succeeded"))
    http = httpx.Client(transport=httpx.MockTransport(service))
    with KittaClient("tok", base_url=BASE, http_client=http) as client:
        journal = client.journal
        assert journal is not None
        writes: list[int] = []
        write_seen = journal.record_seen_many

        def counting(tasks: Iterable[object]) -> int:
            tasks = list(tasks)
            writes.append(len(tasks))
            return write_seen(tasks)  # type: ignore[arg-type]

        monkeypatch.setattr(journal, "record_seen_many", counting)
        done = client.lip_sync.wait_many(ids(service), poll_interval=0, progress=False)
        assert {t.status for t in done} == {"succeeded"}
        assert sum(writes) == 6 and len(writes) < 6  # a round's answers: one write
        assert {e.status for e in journal.entries()} == {"succeeded"}
