"""The history's public surface: labels, tasks, kept records, summary bounds, refresh
filters, `AsyncHistory`'s methods, how a history shows itself, and `ResumedTasks`."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import importlib
import inspect
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import KittaClient
from kitta_notebook.errors import JournalError, ValidationError
from kitta_notebook.history import history as history_module
from kitta_notebook.history.entry import JournalEntry, JournalSummary, Query
from kitta_notebook.history.history import (
    _JOURNAL_BATCH,
    MAX_DETAILS_PER_SYNC,
    AsyncHistory,
    History,
    ResumedTasks,
    _server_date,
)
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.reconcile import ReconcileReport
from kitta_notebook.models import LipSyncTask
from tests.journal.journal_helpers import BASE, list_body, mock_async_client, mock_client
from tests.support import dto

AT_MOST_MESSAGE = "at_most must be a whole number ≥ 1, or None."


class Server:
    """Task details by id (404 for the rest), and every detail asked for."""

    def __init__(self, *tasks: dict[str, Any]) -> None:
        self.tasks = {task["taskId"]: task for task in tasks}
        self.fetched: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        task_id = request.url.path.rsplit("/", 1)[-1]
        self.fetched.append(task_id)
        if request.method != "GET" or task_id not in self.tasks:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        return httpx.Response(200, json=self.tasks[task_id])


def task_body(task_id: str, status: str, day: int = 1, mode: str = "video") -> dict[str, Any]:
    return dto(
        taskId=task_id,
        status=status,
        inputMode=mode,
        createdAt=f"2026-07-{day:02d}T08:00:00.000Z",
    )


def journalled(
    tmp_path: Path, *tasks: dict[str, Any], journal: Journal | None = None
) -> tuple[KittaClient, Server]:
    """A client whose journal has seen `tasks`, answered by a server that knows them."""
    server = Server(*tasks)
    if journal is None:
        journal = Journal(tmp_path / "j.sqlite3")
    client = mock_client(server, journal=journal)
    store = client.journal
    assert store is not None
    store.record_seen_many(tasks)
    return client, server


def labels_of(client: KittaClient, task_id: str) -> tuple[str, ...]:
    entry = client.history.get(task_id)
    assert entry is not None
    return entry.labels


# --- labels ----------------------------------------------------------------------------------
def test_set_labels_replaces_a_tasks_labels_and_label_unlabel_add_and_remove(
    tmp_path: Path,
) -> None:
    client, _ = journalled(tmp_path, task_body("lip_1", "pending"))
    history = client.history
    history.label("lip_1", "old", "keep")
    assert set(labels_of(client, "lip_1")) == {"old", "keep"}
    history.set_labels("lip_1", ["new", "keep"])
    assert set(labels_of(client, "lip_1")) == {"new", "keep"}
    assert [e.task_id for e in history.items(label="new")] == ["lip_1"]
    assert history.items(label="old") == []
    history.unlabel("lip_1", "keep")
    assert labels_of(client, "lip_1") == ("new",)
    history.set_labels("lip_1", [])
    assert labels_of(client, "lip_1") == ()


# --- tasks -----------------------------------------------------------------------------------
def test_tasks_are_the_matching_entries_with_a_task_bound_to_the_client(tmp_path: Path) -> None:
    client, _ = journalled(
        tmp_path,
        task_body("lip_1", "pending", day=1),
        task_body("lip_2", "succeeded", day=2),
        task_body("lip_3", "pending", day=3),
    )
    history = client.history
    store = client.journal
    assert store is not None
    store.record_request({"model": "m", "inputMode": "video"})  # no task (yet)
    assert history.count() == 4
    tasks = history.tasks()
    assert [t.task_id for t in tasks] == ["lip_3", "lip_2", "lip_1"]
    assert all(isinstance(t, LipSyncTask) and t.client is client for t in tasks)
    assert [t.task_id for t in history.tasks(status="pending")] == ["lip_3", "lip_1"]
    history.label("lip_2", "x")
    assert [t.task_id for t in history.tasks(label="x")] == ["lip_2"]
    assert history.tasks(status="outcome_unknown") == []


# --- kept records ----------------------------------------------------------------------------
def test_kept_records_are_kept_listed_oldest_first_summed_and_forgotten_by_id_or_task(
    tmp_path: Path,
) -> None:
    client, _ = journalled(
        tmp_path, task_body("lip_1", "succeeded"), task_body("lip_2", "succeeded")
    )
    history = client.history
    task = client.lip_sync.get("lip_2")
    assert history.kept("lip_1") is None and history.kept_total_bytes() == 0
    first, second = tmp_path / "one.mp4", tmp_path / "two.mp4"
    history.record_kept("lip_1", str(first), 100, "aa" * 32)
    history.record_kept(task, str(second), 250, "bb" * 32)
    kept = history.kept("lip_1")
    assert kept is not None
    assert (kept.task_id, kept.path, kept.size, kept.sha256) == (
        "lip_1",
        str(first.absolute()),
        100,
        "aa" * 32,
    )
    by_task = history.kept(task)
    assert by_task is not None and (by_task.size, by_task.sha256) == (250, "bb" * 32)
    assert [k.task_id for k in history.kept_oldest(2)] == ["lip_1", "lip_2"]
    assert [k.task_id for k in history.kept_oldest(1)] == ["lip_1"]
    assert history.kept_total_bytes() == 350
    history.forget_kept(task)
    assert history.kept(task) is None and history.kept("lip_2") is None
    assert history.kept_total_bytes() == 100
    history.forget_kept("lip_1")
    assert history.kept_oldest(5) == [] and history.kept_total_bytes() == 0


# --- summary ---------------------------------------------------------------------------------
@pytest.mark.parametrize("at_most", [True, 0, -1, 1.5, "3"])
def test_a_summary_refuses_an_at_most_that_is_not_a_whole_number_from_one(
    tmp_path: Path, at_most: Any
) -> None:
    client, _ = journalled(tmp_path, task_body("lip_1", "pending"))
    with pytest.raises(ValidationError) as refused:
        client.history.summary(at_most=at_most)
    assert refused.value.fields == {"at_most": AT_MOST_MESSAGE}


def test_a_summary_takes_at_most_one_or_none_and_counts_only_matching_entries(
    tmp_path: Path,
) -> None:
    client, _ = journalled(
        tmp_path,
        task_body("lip_1", "pending"),
        task_body("lip_2", "failed"),
        task_body("lip_3", "failed", mode="image"),
    )
    history = client.history
    assert isinstance(history.summary(at_most=1), JournalSummary)
    assert history.summary(at_most=None).counts == {"pending": 1, "failed": 2}
    assert history.summary().counts == {"pending": 1, "failed": 2}
    assert history.summary(status="failed").counts == {"failed": 2}
    assert history.summary(mode="image").counts == {"failed": 1}


def test_a_summary_of_a_search_matching_more_than_at_most_is_not_counted_to_the_end(
    tmp_path: Path,
) -> None:
    client, _ = journalled(tmp_path, task_body("lip_1", "pending"), task_body("lip_2", "failed"))
    history = client.history
    cut = history.summary(at_most=1, search="lip")
    assert cut.more and cut.counts == {}
    full = history.summary(at_most=2, search="lip")
    assert not full.more and full.counts == {"pending": 1, "failed": 1}


# --- refresh ---------------------------------------------------------------------------------
REFRESH_TASKS = (
    task_body("lip_1", "pending", day=1),
    task_body("lip_gone", "pending", day=3),
    task_body("lip_2", "processing", day=5, mode="image"),
    task_body("lip_done", "succeeded", day=6),
    task_body("lip_promo_3", "pending", day=10),
)


def refresh_client(tmp_path: Path) -> tuple[KittaClient, Server]:
    client, server = journalled(tmp_path, *REFRESH_TASKS)
    client.history.label("lip_1", "x")
    del server.tasks["lip_gone"]  # the server no longer knows it
    return client, server


def test_refresh_fetches_every_unfinished_task_again_skipping_those_the_server_lost(
    tmp_path: Path,
) -> None:
    client, server = refresh_client(tmp_path)
    server.tasks["lip_1"] = task_body("lip_1", "succeeded", day=1)
    found = client.history.refresh()
    assert sorted(server.fetched) == ["lip_1", "lip_2", "lip_gone", "lip_promo_3"]
    assert [t.task_id for t in found] == ["lip_promo_3", "lip_2", "lip_1"]
    assert found[2].status_text == "succeeded"
    assert labels_of(client, "lip_1") == ("x",)
    assert client.history.count(status="succeeded") == 2  # the journal took the new detail


@pytest.mark.parametrize(
    ("filters", "fetched", "returned"),
    [
        ({"label": "x"}, ["lip_1"], ["lip_1"]),
        ({"mode": "image"}, ["lip_2"], ["lip_2"]),
        ({"search": "promo"}, ["lip_promo_3"], ["lip_promo_3"]),
        ({"since": "2026-07-04"}, ["lip_2", "lip_promo_3"], ["lip_promo_3", "lip_2"]),
        ({"until": "2026-07-04"}, ["lip_1", "lip_gone"], ["lip_1"]),
        ({"since": "2026-07-02", "until": "2026-07-08"}, ["lip_2", "lip_gone"], ["lip_2"]),
    ],
    ids=["label", "mode", "search", "since", "until", "since-and-until"],
)
def test_refresh_fetches_only_unfinished_tasks_matching_every_filter(
    tmp_path: Path, filters: dict[str, Any], fetched: list[str], returned: list[str]
) -> None:
    client, server = refresh_client(tmp_path)
    found = client.history.refresh(**filters)
    assert sorted(server.fetched) == fetched
    assert [t.task_id for t in found] == returned


class WithAnEntryWithoutTask(Journal):
    """A journal that also lists an unfinished entry that has no task id."""

    def entries(self, query: Query | None = None, **options: Any) -> list[JournalEntry]:
        found = super().entries(query, **options)
        return [*found, *(dataclasses.replace(e, task_id=None, entry_id="x") for e in found)]


def test_refresh_skips_entries_without_a_task_id(tmp_path: Path) -> None:
    journal = WithAnEntryWithoutTask(tmp_path / "j.sqlite3")
    client, server = journalled(tmp_path, task_body("lip_1", "pending"), journal=journal)
    assert len(client.history.items()) == 2
    assert [t.task_id for t in client.history.refresh()] == ["lip_1"]
    assert server.fetched == ["lip_1"]


# --- to_pandas -------------------------------------------------------------------------------
PANDAS_MESSAGE = (
    "to_pandas() needs pandas, which is an optional extra: pip install 'kitta-notebook[pandas]'"
)


def with_credits(body: dict[str, Any], credits: int) -> dict[str, Any]:
    return {**body, "creditsCharged": credits}


def frame_client(tmp_path: Path) -> KittaClient:
    client, _ = journalled(
        tmp_path,
        with_credits(task_body("lip_1", "succeeded", day=1), 300),
        with_credits(task_body("lip_2", "failed", day=2), 100),
        with_credits(task_body("lip_3", "succeeded", day=3), 200),
    )
    return client


def task_ids_of(frame: Any) -> list[str]:
    return list(frame["task_id"])


def test_to_pandas_is_newest_first_unless_told_and_takes_the_sort_limit_and_filters_of_items(
    tmp_path: Path,
) -> None:
    history = frame_client(tmp_path).history
    assert task_ids_of(history.to_pandas()) == ["lip_3", "lip_2", "lip_1"]
    oldest_first = history.to_pandas(sort="created", descending=False)
    assert task_ids_of(oldest_first) == ["lip_1", "lip_2", "lip_3"]
    assert task_ids_of(history.to_pandas(sort="credits")) == ["lip_1", "lip_3", "lip_2"]
    assert task_ids_of(history.to_pandas(sort="credits", descending=False)) == [
        "lip_2",
        "lip_3",
        "lip_1",
    ]
    assert task_ids_of(history.to_pandas(limit=2)) == ["lip_3", "lip_2"]
    assert task_ids_of(history.to_pandas(status="failed")) == ["lip_2"]
    assert task_ids_of(history.to_pandas(status="succeeded", limit=1)) == ["lip_3"]


def test_the_labels_column_of_to_pandas_holds_each_entrys_labels_as_a_list(tmp_path: Path) -> None:
    client = frame_client(tmp_path)
    client.history.set_labels("lip_2", ["a", "b"])
    labels = dict(
        zip(*(client.history.to_pandas()[name] for name in ("task_id", "labels")), strict=True)
    )
    assert labels == {"lip_3": [], "lip_2": ["a", "b"], "lip_1": []}
    assert all(type(value) is list for value in labels.values())


def test_to_pandas_without_pandas_names_the_extra_that_brings_it_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.import_module

    def without_pandas(name: str, package: str | None = None) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, package)

    history = frame_client(tmp_path).history
    monkeypatch.setattr(importlib, "import_module", without_pandas)
    with pytest.raises(ImportError) as refused:
        history.to_pandas()
    assert str(refused.value) == PANDAS_MESSAGE


# --- the server's list: iteration and sync ---------------------------------------------------
class Listing(Server):
    """`Server`, which also lists `listed` as list items (no model, no created time),
    `per_page` a page, and counts the pages read."""

    def __init__(
        self, listed: list[dict[str, Any]], *details: dict[str, Any], per_page: int = 100
    ) -> None:
        super().__init__(*details)
        self.listed, self.per_page = listed, per_page
        self.pages_read = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/lip-sync/tasks"):
            return super().__call__(request)
        self.pages_read += 1
        offset = int(request.url.params["offset"])
        end = offset + self.per_page
        more = end < len(self.listed)
        return httpx.Response(
            200, json=list_body(self.listed[offset:end], offset=offset, more=more)
        )


class ReadsBounded(Journal):
    """A journal that refuses to be read more than `READS` times (a loop over it fails)."""

    READS = 20

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads = 0

    def entries(self, query: Query | None = None, **options: Any) -> list[JournalEntry]:
        self.reads += 1
        assert self.reads <= self.READS, "the journal was read over and over"
        return super().entries(query, **options)


JOURNAL_TASKS = tuple(task_body(f"lip_{day}", "succeeded", day=day) for day in range(1, 6))


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(history_module, "_JOURNAL_BATCH", 2)
    assert _JOURNAL_BATCH > 2
    return 2


def listing_client(tmp_path: Path, listing: Listing) -> KittaClient:
    client = mock_client(listing, journal=ReadsBounded(tmp_path / "j.sqlite3"))
    store = client.journal
    assert store is not None
    store.record_seen_many(JOURNAL_TASKS)
    return client


def ids_of(entries: list[JournalEntry]) -> list[str]:
    return [entry.entry_id for entry in entries]


@pytest.mark.usefixtures("small_batches")
def test_iterating_a_history_yields_each_entry_once_newest_first_then_tasks_only_the_server_has(
    tmp_path: Path,
) -> None:
    listed = [dto(taskId=task_id) for task_id in ("lip_5", "lip_s1", "lip_3", "lip_s2", "lip_s3")]
    listing = Listing(listed, per_page=2)
    client = listing_client(tmp_path, listing)
    store = client.journal
    assert store is not None
    rejected = store.record_request({"model": "m", "inputMode": "video"})
    store.record_outcome(rejected, rejected=True, error="invalid input")
    journal_order = ids_of(client.history.items())
    assert len(journal_order) == 6 and rejected in journal_order
    yielded = list(client.history)
    assert ids_of(yielded[:6]) == journal_order
    assert [entry.task_id for entry in yielded[6:]] == ["lip_s1", "lip_s2", "lip_s3"]
    assert listing.pages_read == 3


@pytest.mark.usefixtures("small_batches")
def test_an_entry_added_while_iterating_a_history_makes_no_other_entry_come_twice(
    tmp_path: Path,
) -> None:
    client = listing_client(tmp_path, Listing([]))
    store = client.journal
    assert store is not None
    before = ids_of(client.history.items())
    yielded: list[JournalEntry] = []
    for entry in client.history:
        yielded.append(entry)
        if len(yielded) == 2:
            store.record_seen(task_body("lip_new", "pending", day=28))
    assert ids_of(yielded) == before
    assert client.history.items()[0].task_id == "lip_new"  # every row moved down one


def test_iterating_a_history_reads_the_journal_in_batches_so_later_ones_show_changes_meanwhile(
    tmp_path: Path, small_batches: int
) -> None:
    client = listing_client(tmp_path, Listing([]))
    labels: dict[str, tuple[str, ...]] = {}
    for entry in client.history:
        assert entry.task_id is not None
        labels[entry.task_id] = entry.labels
        if len(labels) == small_batches:
            client.history.label("lip_1", "late")
    assert labels == {"lip_5": (), "lip_4": (), "lip_3": (), "lip_2": (), "lip_1": ("late",)}


def test_sync_reads_at_most_max_pages_pages_of_the_servers_list(tmp_path: Path) -> None:
    listed = [dto(taskId=f"lip_{n}") for n in range(1, 6)]
    listing = Listing(listed, *listed, per_page=2)
    client = mock_client(listing, journal=Journal(tmp_path / "j.sqlite3"))
    first = client.history.sync(max_pages=1)
    assert (first.pages, first.seen, first.new) == (1, 2, 2)
    assert listing.pages_read == 1
    rest = client.history.sync()
    assert (rest.pages, rest.seen, rest.new) == (3, 5, 3)
    assert listing.pages_read == 4


def test_sync_fetches_each_undated_tasks_detail_skipping_and_not_counting_those_gone(
    tmp_path: Path,
) -> None:
    gone, *found = ("lip_a_gone", "lip_b", "lip_c", "lip_d")
    details = [task_body(task_id, "succeeded", day=n) for n, task_id in enumerate(found, 2)]
    listed = [dto(taskId=task_id) for task_id in (gone, *found)]
    listing = Listing(listed, *details)
    client = mock_client(listing, journal=Journal(tmp_path / "j.sqlite3"))
    report = client.history.sync()
    assert (report.pages, report.seen, report.new, report.detailed) == (1, 4, 4, 3)
    assert sorted(listing.fetched) == [gone, *found]
    dated = {e.task_id: e.created_at is not None for e in client.history.items()}
    assert dated == {gone: False, "lip_b": True, "lip_c": True, "lip_d": True}
    again = client.history.sync()
    assert (again.new, again.detailed) == (0, 0)
    assert listing.fetched[4:] == [gone]


def test_sync_fetches_at_most_max_details_per_sync_details_and_the_rest_at_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "MAX_DETAILS_PER_SYNC", 2)
    assert MAX_DETAILS_PER_SYNC > 2
    details = [task_body(f"lip_{n}", "succeeded", day=n) for n in range(1, 4)]
    listing = Listing([dto(taskId=f"lip_{n}") for n in range(1, 4)], *details)
    client = mock_client(listing, journal=Journal(tmp_path / "j.sqlite3"))
    assert client.history.sync().detailed == 2
    assert len(listing.fetched) == 2
    assert client.history.sync().detailed == 1
    assert client.history.sync().detailed == 0
    assert sorted(listing.fetched) == ["lip_1", "lip_2", "lip_3"]


# --- AsyncHistory ----------------------------------------------------------------------------
PUBLIC_METHODS = sorted(
    name
    for name, value in vars(AsyncHistory).items()
    if not name.startswith("_") and inspect.iscoroutinefunction(value)
)


def test_async_history_has_an_awaitable_for_every_public_method_of_history() -> None:
    synchronous = {
        name
        for name, value in vars(History).items()
        if not name.startswith(("_", "xǁ")) and inspect.isfunction(value)
    }  # "xǁ…": the copies `make mutate` adds beside each method
    assert set(PUBLIC_METHODS) == synchronous


@pytest.mark.parametrize("name", PUBLIC_METHODS)
def test_each_async_history_method_keeps_the_name_doc_and_signature_of_historys(
    name: str,
) -> None:
    method, original = getattr(AsyncHistory, name), getattr(History, name)
    assert method.__name__ == name
    assert method.__qualname__ == f"AsyncHistory.{name}"
    assert method.__doc__ == original.__doc__
    assert method.__wrapped__ is original
    assert inspect.signature(method) == inspect.signature(original)


def test_async_history_methods_give_what_the_sync_ones_give(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    tasks = (task_body("lip_1", "pending", day=1), task_body("lip_2", "failed", day=2))
    server = Server(*tasks)
    client = mock_async_client(server, journal=journal)
    journal.record_seen_many(tasks)
    history, sync = client.history, History(client.as_sync())

    async def main() -> dict[str, Any]:
        await history.set_labels("lip_1", ["a", "b"])
        await history.record_kept("lip_2", str(tmp_path / "k.mp4"), 7, "ff" * 32)
        return {
            "items": await history.items(),
            "failed": await history.items(status="failed"),
            "count": await history.count(label="a"),
            "tasks": await history.tasks(),
            "kept": await history.kept("lip_2"),
        }

    answers = asyncio.run(main())
    assert set(labels_of(client.as_sync(), "lip_1")) == {"a", "b"}
    assert answers["items"] == sync.items() and len(answers["items"]) == 2
    assert answers["failed"] == sync.items(status="failed")
    assert answers["count"] == sync.count(label="a") == 1
    assert [t.raw for t in answers["tasks"]] == [t.raw for t in sync.tasks()]
    assert [t.task_id for t in answers["tasks"]] == ["lip_2", "lip_1"]
    assert answers["kept"] == sync.kept("lip_2") and answers["kept"].size == 7


# --- how a history shows itself --------------------------------------------------------------
def test_history_and_async_history_show_the_same_bundle(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.record_seen_many([task_body("lip_1", "pending"), task_body("lip_2", "failed")])
    sync = mock_client(Server(), journal=journal).history
    asynchronous = mock_async_client(Server(), journal=journal).history
    bundle = sync._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert "lip_1" in bundle["text/html"]
    assert asynchronous._repr_mimebundle_() == bundle


def test_a_history_whose_journal_setting_is_refused_shows_why(tmp_path: Path) -> None:
    client = KittaClient("tok-test", base_url=BASE, journal="mysql://x")
    with pytest.raises(JournalError) as refused:
        client.history.count()
    expected = {"text/plain": f"History unavailable: {refused.value}"}
    assert client.history._repr_mimebundle_() == expected
    assert client.as_async().history._repr_mimebundle_() == expected


class Unreadable(Journal):
    def entries(self, query: Query | None = None, **options: Any) -> list[JournalEntry]:
        raise JournalError("the journal could not be read.")


def test_a_history_whose_journal_cannot_be_read_shows_why(tmp_path: Path) -> None:
    client = mock_client(Server(), journal=Unreadable(tmp_path / "j.sqlite3"))
    expected = {"text/plain": "History unavailable: the journal could not be read."}
    assert client.history._repr_mimebundle_() == expected


# --- ResumedTasks ----------------------------------------------------------------------------
def test_a_new_resumed_tasks_has_its_own_empty_lists_and_no_report() -> None:
    first, second = ResumedTasks(), ResumedTasks()
    for resumed in (first, second):
        assert resumed == []
        assert (resumed.watchers, resumed.unresolved, resumed.missing) == ([], [], [])
        assert resumed.reconcile_report is None
    first.watchers.append("w")
    first.unresolved.append("u")  # type: ignore[arg-type]
    first.missing.append("m")  # type: ignore[arg-type]
    assert (second.watchers, second.unresolved, second.missing) == ([], [], [])
    assert first.watchers is not first.unresolved is not first.missing


def test_resumed_tasks_show_each_tasks_status_and_how_many_are_of_unknown_outcome() -> None:
    tasks = [LipSyncTask(dto(taskId="lip_1", status="succeeded")), LipSyncTask(dto(taskId="lip_2"))]
    resumed = ResumedTasks(tasks)
    assert list(resumed) == tasks
    assert repr(resumed) == "ResumedTasks([lip_1: succeeded, lip_2: pending])"
    resumed.unresolved.extend(["e1", "e2"])  # type: ignore[list-item]
    assert repr(resumed) == "ResumedTasks([lip_1: succeeded, lip_2: pending]; 2 of unknown outcome)"
    assert repr(ResumedTasks()) == "ResumedTasks([])"


class TerseListing(Listing):
    """A list whose pagination says only whether there is more (no limit, no offset)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = super().__call__(request)
        if request.url.path.endswith("/lip-sync/tasks"):
            body = answer.json()
            body["pagination"] = {"hasMore": body["pagination"]["hasMore"]}
            return httpx.Response(200, json=body)
        return answer


def test_sync_goes_on_past_a_page_whose_pagination_names_no_offset(tmp_path: Path) -> None:
    """The next page starts after the tasks read so far, as the request asked."""
    listed = [task_body(f"lip_t{i}", "succeeded", day=i + 1) for i in range(5)]
    server = TerseListing(listed, per_page=2)
    client = mock_client(server, journal=Journal(tmp_path / "j.sqlite3"))
    report = client.history.sync()
    assert (report.pages, report.seen, server.pages_read) == (3, 5, 3)
    assert {entry.task_id for entry in client.history.items()} == {t["taskId"] for t in listed}


# --- reconcile: what it passes on to the plan ------------------------------------------------
class DatedListing(Listing):
    """`Listing` whose list responses carry a `Date` header `offset` seconds from now
    (none when `offset` is None)."""

    def __init__(
        self, listed: list[dict[str, Any]], *details: dict[str, Any], offset: float | None
    ) -> None:
        super().__init__(listed, *details)
        self.offset = offset

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = super().__call__(request)
        if self.offset is not None and request.url.path.endswith("/lip-sync/tasks"):
            response.headers["Date"] = email.utils.formatdate(
                time.time() + self.offset, usegmt=True
            )
        return response


def created_task(task_id: str, after: float, model: str = "m") -> dict[str, Any]:
    """A task the server stamped `after` seconds from now (on its own clock)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + after))
    return dto(taskId=task_id, status="succeeded", inputMode="video", model=model, createdAt=stamp)


def unknown_creates(
    tmp_path: Path,
    listing: Listing,
    creates: int,
    model: str = "m",
    journal: Journal | None = None,
) -> tuple[KittaClient, list[str]]:
    """A client whose journal holds `creates` creates of unknown outcome, asked just now."""
    if journal is None:
        journal = Journal(tmp_path / "j.sqlite3")
    client = mock_client(listing, journal=journal)
    store = client.journal
    assert store is not None
    entry_ids = []
    for _ in range(creates):
        entry_id = store.record_request({"model": model, "inputMode": "video"})
        store.record_outcome(entry_id, rejected=False, error="connection lost")
        entry_ids.append(entry_id)
    return client, entry_ids


def reconciled(
    tmp_path: Path,
    *tasks: dict[str, Any],
    creates: int,
    offset: float | None,
    model: str = "m",
    **options: Any,
) -> tuple[ReconcileReport, list[str]]:
    listing = DatedListing([dto(taskId=t["taskId"]) for t in tasks], *tasks, offset=offset)
    client, entry_ids = unknown_creates(tmp_path, listing, creates, model)
    return client.history.reconcile(settle=0, **options), entry_ids


def test_reconcile_looks_for_a_creates_task_as_late_as_the_window_it_is_given(
    tmp_path: Path,
) -> None:
    report, _ = reconciled(
        tmp_path, created_task("lip_late", 700), creates=2, offset=0, window=1000
    )
    assert [task_id for _, task_id in report.matched] == ["lip_late"]


def test_reconcile_looks_for_a_creates_task_as_early_as_the_skew_it_is_given(
    tmp_path: Path,
) -> None:
    report, _ = reconciled(tmp_path, created_task("lip_early", -300), creates=2, offset=0, skew=400)
    assert [task_id for _, task_id in report.matched] == ["lip_early"]


def test_reconcile_keeps_a_task_up_to_the_max_skew_it_is_given_away_possible(
    tmp_path: Path,
) -> None:
    far = created_task("lip_far", -5000)
    assert reconciled(tmp_path / "default", far, creates=1, offset=0)[0].absent != []
    report, (entry_id,) = reconciled(tmp_path, far, creates=1, offset=0, max_skew=7200)
    assert report.matched == [(entry_id, "lip_far")] and report.absent == []


def test_reconcile_without_a_date_header_assumes_the_clock_off_by_up_to_the_max_skew_given(
    tmp_path: Path,
) -> None:
    report, entry_ids = reconciled(
        tmp_path, created_task("lip_far", -5000), creates=2, offset=None, max_skew=7200
    )
    assert [task_id for _, task_id in report.matched] == ["lip_far"]
    assert sorted([report.matched[0][0], *report.absent]) == sorted(entry_ids)


def test_reconcile_measures_the_server_clock_by_its_date_header_before_pairing_a_task(
    tmp_path: Path,
) -> None:
    """Far outside the measured clock, a task two creates could be is given to neither."""
    report, entry_ids = reconciled(tmp_path, created_task("lip_far", -3000), creates=2, offset=0)
    assert report.matched == [] and report.absent == []
    assert sorted(report.unresolved) == sorted(entry_ids)


def test_reconcile_never_takes_a_task_of_another_model_for_a_create(tmp_path: Path) -> None:
    report, entry_ids = reconciled(
        tmp_path, created_task("lip_other", 10, model="other"), creates=1, offset=0
    )
    assert report.matched == [] and report.absent == entry_ids


def test_reconcile_pairs_this_machines_creates_inside_the_measured_clock_window(
    tmp_path: Path,
) -> None:
    report, entry_ids = reconciled(tmp_path, created_task("lip_near", 10), creates=2, offset=0)
    assert [task_id for _, task_id in report.matched] == ["lip_near"]
    assert sorted([report.matched[0][0], *report.absent]) == sorted(entry_ids)


class RequestTimeLost(Journal):
    """A journal whose unresolved creates have no request time."""

    def unresolved(self, *, stale_after: float = 0.0) -> list[JournalEntry]:
        return [dataclasses.replace(e, requested_at=None) for e in super().unresolved()]


def test_reconcile_leaves_a_create_whose_request_time_is_unknown_unresolved(
    tmp_path: Path,
) -> None:
    listing = DatedListing([], offset=0)
    journal = RequestTimeLost(tmp_path / "j.sqlite3")
    client, entry_ids = unknown_creates(tmp_path, listing, 1, journal=journal)
    report = client.history.reconcile(settle=0)
    assert report.unresolved == entry_ids and report.absent == [] and report.matched == []


def test_reconcile_fetches_every_undated_candidate_even_after_one_is_gone(
    tmp_path: Path,
) -> None:
    found = created_task("lip_b_found", 10)
    listing = DatedListing(
        [dto(taskId="lip_a_gone"), dto(taskId="lip_b_found"), dto(taskId="lip_c_gone")],
        found,
        offset=0,
    )
    client, (entry_id,) = unknown_creates(tmp_path, listing, 1)
    report = client.history.reconcile(settle=0)
    assert sorted(listing.fetched) == ["lip_a_gone", "lip_b_found", "lip_c_gone"]
    assert (entry_id, "lip_b_found") in report.matched


# --- a client without a journal, the server's Date header ------------------------------------
def test_a_client_with_its_journal_turned_off_says_so(tmp_path: Path) -> None:
    client = mock_client(Server(), journal=False)
    with pytest.raises(JournalError) as refused:
        client.history.count()
    assert str(refused.value) == (
        "this client has no task journal: it was turned off (journal=False)."
    )


def test_a_client_without_an_api_token_says_it_has_no_journal_for_want_of_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KITTA_API_TOKEN", raising=False)
    http = httpx.Client(transport=httpx.MockTransport(Server()))
    client = KittaClient(base_url=BASE, http_client=http, max_retries=0)
    with pytest.raises(JournalError) as refused:
        client.history.count()
    assert str(refused.value) == "this client has no task journal: no API token is set."


@pytest.mark.parametrize("header", [None, "", "not a date"])
def test_a_missing_empty_or_unreadable_date_header_gives_no_clock_sample(
    header: str | None,
) -> None:
    assert _server_date(header) is None


def test_a_date_header_gives_the_servers_time_in_epoch_seconds() -> None:
    assert _server_date("Tue, 08 Dec 2026 00:00:00 GMT") == 1796688000.0


def test_sync_fetches_the_details_of_undated_tasks_of_every_page(tmp_path: Path) -> None:
    ids = [f"lip_p{i}" for i in range(5)]
    details = [task_body(task_id, "succeeded", day=n) for n, task_id in enumerate(ids, 1)]
    listing = Listing([dto(taskId=task_id) for task_id in ids], *details, per_page=2)
    client = mock_client(listing, journal=Journal(tmp_path / "j.sqlite3"))
    report = client.history.sync()
    assert (report.pages, report.detailed) == (3, 5) and sorted(listing.fetched) == ids
