"""Contract section 6: the task list (subset items, pagination, filter) and isolation."""

from __future__ import annotations

import httpx

from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.dto import TaskListItem
from kitta_notebook.sandbox.store import Store
from tests.sandbox.sandbox_helpers import ALICE, BOB, TASKS, stored_task, video_body, wait_terminal

ITEM_FIELDS = {"taskId", "type", "status", "inputMode", "resultVideoUrl", "creditsCharged"}


def _create(sb: Sandbox, client: httpx.Client, n: int) -> list[str]:
    ids = []
    for i in range(n):
        response = client.post(TASKS, json=video_body(sb, durationSeconds=1 + i))
        assert response.status_code == 202
        ids.append(response.json()["taskId"])
    return ids


def test_list_items_are_the_documented_subset(sandbox: Sandbox, fresh: httpx.Client) -> None:
    _create(sandbox, fresh, 2)
    body = fresh.get(TASKS).json()
    assert set(body) == {"data", "pagination"}
    assert len(body["data"]) == 2
    for item in body["data"]:
        assert set(item) == ITEM_FIELDS  # no id, model, errorCode, errorMessage, timestamps
        assert item["type"] == "lip_sync"
    assert body["pagination"] == {"limit": 20, "offset": 0, "hasMore": False}


def test_list_is_newest_first(sandbox: Sandbox, fresh: httpx.Client) -> None:
    ids = _create(sandbox, fresh, 4)
    listed = [t["taskId"] for t in fresh.get(TASKS).json()["data"]]
    assert listed == list(reversed(ids))


def test_pagination_limit_offset_has_more(sandbox: Sandbox, fresh: httpx.Client) -> None:
    ids = list(reversed(_create(sandbox, fresh, 5)))
    pages = []
    offset = 0
    while True:
        body = fresh.get(TASKS, params={"limit": 2, "offset": offset}).json()
        assert body["pagination"]["limit"] == 2
        assert body["pagination"]["offset"] == offset
        pages.append([t["taskId"] for t in body["data"]])
        if not body["pagination"]["hasMore"]:
            break
        offset += 2
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    exact = fresh.get(TASKS, params={"limit": 5}).json()
    assert len(exact["data"]) == 5 and exact["pagination"]["hasMore"] is False
    beyond = fresh.get(TASKS, params={"offset": 50}).json()
    assert beyond["data"] == [] and beyond["pagination"]["hasMore"] is False


def test_limit_bounds_are_accepted(sandbox: Sandbox, fresh: httpx.Client) -> None:
    _create(sandbox, fresh, 2)
    assert len(fresh.get(TASKS, params={"limit": 1}).json()["data"]) == 1
    assert fresh.get(TASKS, params={"limit": 100}).json()["pagination"]["limit"] == 100


def test_status_filter(sandbox: Sandbox, fresh: httpx.Client) -> None:
    done = _create(sandbox, fresh, 1)[0]
    wait_terminal(fresh, done)
    bad = fresh.post(TASKS, json=video_body(sandbox, audioUrl=sandbox.samples["missing"]))
    wait_terminal(fresh, bad.json()["taskId"])
    succeeded = fresh.get(TASKS, params={"status": "succeeded"}).json()["data"]
    failed = fresh.get(TASKS, params={"status": "failed"}).json()["data"]
    assert [t["taskId"] for t in succeeded] == [done]
    assert [t["taskId"] for t in failed] == [bad.json()["taskId"]]
    assert succeeded[0]["resultVideoUrl"].startswith("http")
    assert fresh.get(TASKS, params={"status": "pending"}).json()["data"] == []
    assert fresh.get(TASKS, params={"status": "processing"}).json()["data"] == []


def test_list_items_are_the_details_fields_and_valid(sandbox: Sandbox, fresh: httpx.Client) -> None:
    done = _create(sandbox, fresh, 1)[0]
    wait_terminal(fresh, done)
    bad = fresh.post(TASKS, json=video_body(sandbox, audioUrl=sandbox.samples["missing"]))
    wait_terminal(fresh, bad.json()["taskId"])
    waiting = _create(sandbox, fresh, 1)[0]
    listed = fresh.get(TASKS).json()["data"]
    assert [item["taskId"] for item in listed] == [waiting, bad.json()["taskId"], done]
    for item in listed:
        TaskListItem.model_validate(item)
        detail = fresh.get(f"{TASKS}/{item['taskId']}").json()
        if detail["status"] == item["status"]:  # the waiting one may have moved on
            assert item == {name: detail[name] for name in ITEM_FIELDS}


def test_deep_pages_of_a_status_are_exact() -> None:
    """The page query picks rows from an index before reading them: every task is on
    exactly one page of its status, newest first, with other accounts' rows between."""
    store = Store()
    store.ensure_account(ALICE, 1000)
    store.ensure_account(BOB, 1000)
    made: dict[str, list[str]] = {"mine": [], "other": []}
    for i in range(260):
        token = ALICE if i % 3 else BOB
        task = stored_task(store, token)
        made["mine" if token == ALICE else "other"].append(task.task_id)
    pages, offset, more = [], 0, True
    while more:
        page, more = store.list_tasks(ALICE, limit=25, offset=offset, status="pending")
        pages += [t.task_id for t in page]
        offset += 25
    assert pages == list(reversed(made["mine"]))
    assert store.list_tasks(ALICE, limit=25, offset=offset, status="pending") == ([], False)
    everything, _ = store.list_tasks(BOB, limit=100, offset=0, status=None)
    assert [t.task_id for t in everything] == list(reversed(made["other"]))


def test_list_shows_only_own_tasks(
    sandbox: Sandbox, fresh: httpx.Client, bob: httpx.Client
) -> None:
    mine = set(_create(sandbox, fresh, 2))
    theirs = {t["taskId"] for t in bob.get(TASKS, params={"limit": 100}).json()["data"]}
    assert not mine & theirs


def test_list_and_detail_never_create(sandbox: Sandbox, fresh: httpx.Client) -> None:
    sandbox.stats.reset()
    for _ in range(3):
        fresh.get(TASKS)
        fresh.get(f"{TASKS}/lip_task_00")
    assert fresh.get(TASKS).json()["data"] == []
    assert sandbox.stats.creates_accepted == 0


def test_a_finished_task_answered_from_memory_is_still_only_its_owners(
    sandbox: Sandbox, fresh: httpx.Client, bob: httpx.Client
) -> None:
    task_id = _create(sandbox, fresh, 1)[0]
    done = wait_terminal(fresh, task_id)
    assert done["status"] == "succeeded"
    again = fresh.get(f"{TASKS}/{task_id}")  # from memory now: the same body
    assert again.status_code == 200 and again.json() == done
    for _ in range(2):
        other = bob.get(f"{TASKS}/{task_id}")
        assert other.status_code == 404 and task_id in other.json()["error"]["message"]
