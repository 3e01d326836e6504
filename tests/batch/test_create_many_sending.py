"""`create_many` while it sends: what it never sends, what it tells the progress view.

Gaps found by mutation testing (`make mutate`) in `batch/create.py`; each test names the
behaviour it protects. Against the real sandbox over HTTP; the journal's failures (a
full disk, a database gone) are a journal that raises, as no server can make them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import KittaClient, ServerError
from kitta_notebook.batch import BatchItem, CreditWarning
from kitta_notebook.batch.create import CreateRun
from kitta_notebook.batch.gate import CreditBudget, RateGate
from kitta_notebook.batch.progress import ProgressSnapshot
from kitta_notebook.errors import JournalError, JournalWarning
from kitta_notebook.history.journal import Journal
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.faults import FaultConfig
from kitta_notebook.sandbox.pricing import PRICES, ModelPrice
from tests.batch.batch_helpers import ITEM_CREDITS, RICH, requests_for

MODEL = "kitta-lip-sync-v1"


class FailingJournal(Journal):
    """A SQLite journal that cannot write down creates after the first `allowed` ones
    (or keep labels): a disk that filled up half-way through a batch."""

    def __init__(self, path: Path, allowed: int, *, labels_fail: bool = False) -> None:
        super().__init__(path)
        self.allowed = allowed
        self.labels_fail = labels_fail

    def record_request(self, *args: Any, **kwargs: Any) -> int:
        if self.allowed <= 0:
            raise JournalError("the journal's disk is full")
        self.allowed -= 1
        return super().record_request(*args, **kwargs)  # type: ignore[no-any-return]

    def add_labels(self, *args: Any, **kwargs: Any) -> None:
        if self.labels_fail:
            raise JournalError("the journal's disk is full")
        super().add_labels(*args, **kwargs)


class Recording:
    """A progress view factory that keeps every snapshot it is given."""

    def __init__(self) -> None:
        self.made: list[tuple[str, int]] = []
        self.updates: list[ProgressSnapshot] = []
        self.closed: list[ProgressSnapshot] = []

    def __call__(self, *, title: str, total: int) -> Recording:
        self.made.append((title, total))
        return self

    def update(self, snapshot: ProgressSnapshot) -> None:
        self.updates.append(snapshot)

    def close(self, snapshot: ProgressSnapshot) -> None:
        self.closed.append(snapshot)


def client(sb: Sandbox, **options: Any) -> KittaClient:
    return sb.client(RICH, **options)


def test_a_create_the_journal_cannot_write_down_is_not_sent_nor_any_item_after_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A create is never sent unrecorded: once the journal fails, the batch sends nothing
    more, and says which items were not sent and why."""
    journal = FailingJournal(tmp_path / "journal.db", allowed=2)
    with client(sandbox, journal=journal) as c:
        result = c.lip_sync.create_many(
            requests_for(sandbox, 5), concurrency=1, progress=False, preflight=False
        )
    assert [i.outcome for i in result] == ["created"] * 2 + ["not_sent"] * 3
    assert all(isinstance(i.error, JournalError) and i.task is None for i in result[2:])
    assert [i.attempts for i in result] == [1, 1, 1, 0, 0]  # the later ones never tried
    assert sandbox.stats.by_method.get("POST") == 2 == sandbox.stats.creates_accepted
    assert result.credits == 2 * ITEM_CREDITS


def test_a_batch_whose_labels_cannot_be_kept_still_returns_its_tasks(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The tasks exist either way: a journal that cannot keep the labels warns once."""
    batch = requests_for(sandbox, 2)
    batch[1]["labels"] = ["en"]
    journal = FailingJournal(tmp_path / "journal.db", allowed=2, labels_fail=True)
    with client(sandbox, journal=journal) as c, pytest.warns(JournalWarning, match="labels"):
        result = c.lip_sync.create_many(batch, progress=False, preflight=False)
    assert [i.outcome for i in result] == ["created", "created"]
    assert result[1].labels == ("en",)


def test_the_progress_view_counts_each_outcome_and_the_credits_as_items_finish(
    sandbox: Sandbox,
) -> None:
    """Every finished item reaches the view; the last snapshot is the batch's total:
    created and refused items, nothing left queued, the credits spent so far."""
    view = Recording()
    batch = requests_for(sandbox, 3)
    sandbox.add_account("tok-batch-two-items", 2 * ITEM_CREDITS)
    with sandbox.client("tok-batch-two-items") as c:
        result = c.lip_sync.create_many(batch, concurrency=1, progress=view, preflight=False)
    assert [i.outcome for i in result] == ["created", "created", "rejected"]
    assert view.made == [("Creating tasks", 3)]
    assert [s.done for s in view.updates] == [1, 2, 3]
    assert [s.counts["queued"] for s in view.updates] == [2, 1, 0]
    assert [s.credits for s in view.updates] == [ITEM_CREDITS, 2 * ITEM_CREDITS, 2 * ITEM_CREDITS]
    assert not any(s.finished for s in view.updates)
    (last,) = view.closed
    assert last.finished and last.done == last.total == 3
    assert last.counts == {"created": 2, "rejected": 1, "queued": 0}
    assert (last.failed, last.unsure, last.title) == (1, 0, "Creating tasks")


def test_the_progress_view_shows_what_max_credits_has_committed_then_why_it_stopped(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    within, stopped = Recording(), Recording()
    with client(sandbox) as c:
        c.lip_sync.create_many(
            requests_for(sandbox, 2), concurrency=1, progress=within, max_credits=1000
        )
        # The server now charges three times its published price: only the charges tell.
        monkeypatch.setitem(PRICES, MODEL, ModelPrice(MODEL, 300, requires_grant=False))
        result = c.lip_sync.create_many(
            requests_for(sandbox, 3),
            concurrency=1,
            progress=stopped,
            max_credits=3 * ITEM_CREDITS,
        )
    (done,) = within.closed
    assert done.note.endswith(f"{2 * ITEM_CREDITS} of max_credits=1000 committed")
    assert [i.outcome for i in result] == ["created", "not_sent", "not_sent"]
    assert result.credit_stop is not None and "max_credits reached" in result.credit_stop
    (last,) = stopped.closed
    assert last.note == result.credit_stop
    assert last.counts["not_sent"] == 2 and last.failed == 2


# --- the books of one run (CreateRun), with a clock of the test's own -------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def books(total: int, clock: Clock, limit: float | None = None) -> CreateRun:
    config = KittaClient("tok", base_url="http://127.0.0.1:9/api", journal=False)._config
    return CreateRun([], total, RateGate(4, config, clock=clock), CreditBudget(limit))


def test_the_note_says_how_long_a_rate_limit_pauses_then_how_often_it_struck() -> None:
    clock = Clock()
    run = books(3, clock)
    assert run.snapshot().note == ""  # no limit, no 429: nothing to say
    run.gate.after_response(httpx.Response(429, headers={"Retry-After": "30"}))
    assert run.snapshot().note == "rate limited: paused 30.0 s"
    clock.now += 29.5
    assert run.snapshot().note == "rate limited: paused 0.5 s"  # to its last moment
    clock.now += 1
    assert run.snapshot().note == "1× rate limited, 2 in flight"  # the pace was halved


def test_a_snapshot_counts_created_always_and_other_outcomes_once_they_happen() -> None:
    run = books(4, Clock())
    first = run.snapshot()
    assert first.counts == {"created": 0, "queued": 4} and first.done == 0
    assert 0 <= first.elapsed < 60  # since the run started, on the monotonic clock
    assert (first.eta, first.failed, first.unsure, first.finished) == (None, 0, 0, False)
    run.record(BatchItem(2, None, "unknown"))
    run.record(BatchItem(0, None, "skipped"))
    later = run.snapshot(finished=True)
    assert later.counts == {"created": 0, "skipped": 1, "unknown": 1, "queued": 2}
    assert (later.done, later.total, later.failed, later.unsure) == (2, 4, 1, 1)
    assert later.finished and later.eta is not None and later.eta >= 0


def test_a_run_never_returns_a_result_that_lost_an_item() -> None:
    run = books(3, Clock())
    run.record(BatchItem(0, None, "skipped"))
    run.record(BatchItem(2, None, "skipped"))
    with pytest.raises(RuntimeError, match=r"batch items \[1\] have no result"):
        run.result()
    run.record(BatchItem(1, None, "skipped"))
    assert [item.index for item in run.result()] == [0, 1, 2]


# --- around the sends, against the sandbox ----------------------------------------------
def test_a_skipped_item_keeps_its_key_and_labels(sandbox: Sandbox) -> None:
    batch = requests_for(sandbox, 2, keys="skip-keeps")
    batch[1]["video_url"] = sandbox.samples["not_media"]
    batch[1]["labels"] = ["fr"]
    with client(sandbox, journal=False) as c:
        result = c.lip_sync.create_many(batch, progress=False, skip_invalid=True)
    assert [i.outcome for i in result] == ["created", "skipped"]
    assert (result[1].key, result[1].labels) == ("skip-keeps-1", ("fr",))


# mutmut's trampolines add stack frames: where a warning points is checked outside mutmut.
OUTSIDE_MUTMUT = pytest.mark.skipif(
    "MUTANT_UNDER_TEST" in os.environ, reason="mutmut adds stack frames"
)


@OUTSIDE_MUTMUT
def test_the_balance_warning_points_at_the_call_of_create_many(sandbox: Sandbox) -> None:
    sandbox.add_account("tok-batch-sending-poor", ITEM_CREDITS)
    with (
        sandbox.client("tok-batch-sending-poor", journal=False) as c,
        pytest.warns(CreditWarning) as caught,
    ):
        c.lip_sync.create_many(requests_for(sandbox, 2), progress=False, concurrency=1)
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name]


def test_a_balance_that_cannot_be_read_warns_of_nothing(
    sandbox: Sandbox, recwarn: pytest.WarningsRecorder
) -> None:
    sandbox.faults = FaultConfig(error_rate=1.0, routes=("usage",))
    with client(sandbox, journal=False, max_retries=0) as c:
        result = c.lip_sync.create_many(requests_for(sandbox, 2), progress=False)
    assert [i.outcome for i in result] == ["created", "created"]
    assert sandbox.stats.faults.get("error") == 1  # the balance was asked, and failed
    assert not [w for w in recwarn if issubclass(w.category, CreditWarning)]


@OUTSIDE_MUTMUT
def test_the_labels_warning_points_at_the_call_of_create_many(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    batch = requests_for(sandbox, 1)
    batch[0]["labels"] = ["en"]
    journal = FailingJournal(tmp_path / "journal.db", allowed=1, labels_fail=True)
    with client(sandbox, journal=journal) as c, pytest.warns(JournalWarning) as caught:
        c.lip_sync.create_many(batch, progress=False, preflight=False)
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name]


def test_a_known_key_whose_task_cannot_be_fetched_keeps_the_task_id(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A re-run finds the key's task in the journal; the server fails to show it: the
    item is still `existing` with the task's id (nothing created, nothing lost)."""
    journal = tmp_path / "journal.db"
    batch = requests_for(sandbox, 1, keys="known-unfetched")
    with client(sandbox, journal=Journal(journal)) as c:
        first = c.lip_sync.create_many(batch, progress=False, preflight=False)
        fetched = c.lip_sync.create_many(batch, progress=False, preflight=False)
    assert [(i.outcome, i.index, i.key, i.error) for i in fetched] == [
        ("existing", 0, "known-unfetched-0", None)
    ]
    assert fetched[0].task is not None and fetched[0].task.task_id == first[0].task_id
    sandbox.faults = FaultConfig(error_rate=1.0, routes=("get",))
    with client(sandbox, journal=Journal(journal), max_retries=0) as c:
        again = c.lip_sync.create_many(batch, progress=False, preflight=False)
        sandbox.faults = None
        (item,) = again
        assert item.task is not None
        assert item.task.refresh().task_id == first[0].task_id  # the placeholder can refresh
    assert item.outcome == "existing" and item.attempts == 0
    assert item.task is not None and item.task.task_id == first[0].task_id
    assert isinstance(item.error, ServerError)
    assert sandbox.stats.creates_accepted == 1


def test_a_batch_sends_on_threads_named_for_the_toolkit(sandbox: Sandbox) -> None:
    """So a stack dump or a profiler shows whose threads these are."""
    import threading

    senders: list[str] = []
    with client(sandbox, journal=False) as c:
        c._http.event_hooks["request"].append(
            lambda request: senders.append(threading.current_thread().name)
        )
        result = c.lip_sync.create_many(requests_for(sandbox, 3), progress=False, preflight=False)
    assert result.ok and len(senders) == 3
    assert all(name.startswith("kitta_") for name in senders), senders


def test_a_batch_with_labels_and_no_journal_warns_of_nothing(
    sandbox: Sandbox, recwarn: pytest.WarningsRecorder
) -> None:
    batch = requests_for(sandbox, 1)
    batch[0]["labels"] = ["en"]
    with client(sandbox, journal=False) as c:
        result = c.lip_sync.create_many(batch, progress=False, preflight=False)
    assert result.ok and result[0].labels == ("en",)
    assert not [w for w in recwarn if issubclass(w.category, JournalWarning)]
