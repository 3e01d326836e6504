"""`WatchCore.steps()` driven directly: plain answers in, decisions (operations) out.

No client, no server, no sleeping: the test plays the driver, answers each
operation with plain data and checks what the core asks for next.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence

import pytest

from kitta_notebook import LipSyncTask, NotFoundError, ServerError
from kitta_notebook._core import ClientConfig
from kitta_notebook.batch.watch import (
    FETCH_CHUNK,
    LIST_PAGE_SIZE,
    LOOKAHEAD,
    Emit,
    FetchTasks,
    ListPage,
    Sleep,
    WatchCore,
    WatchOp,
)
from kitta_notebook.errors import WaitManyTimeoutError
from kitta_notebook.models import Page


class Clock:
    """Time that moves only when the core sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dto(task_id: str, status: str, **extra: object) -> dict[str, object]:
    """A full detail DTO (not a list item: it has `id`, `model` and timestamps)."""
    return {
        "id": f"row_{task_id}",
        "taskId": task_id,
        "type": "lip_sync",
        "status": status,
        "model": "kitta-lip-sync-v1",
        "inputMode": "video",
        "resultVideoUrl": "https://cdn.example.com/r.mp4" if status == "succeeded" else None,
        "errorCode": "provider_error" if status == "failed" else None,
        "errorMessage": None,
        "creditsCharged": 10,
        "createdAt": "2026-07-01T08:00:00.000Z",
        "startedAt": None,
        "completedAt": None,
        **extra,
    }


def task(task_id: str, status: str = "pending") -> LipSyncTask:
    return LipSyncTask(dto(task_id, status))


def listed(task_ids: Sequence[str], status: str, offset: int = 0, more: bool = False) -> Page:
    items = [
        LipSyncTask({"taskId": i, "type": "lip_sync", "status": status, "inputMode": "video"})
        for i in task_ids
    ]
    return Page(data=items, limit=100, offset=offset, has_more=more)


def make_core(
    tasks: Sequence[LipSyncTask], clock: Clock, timeout: float = 60.0
) -> tuple[WatchCore, Generator[WatchOp, object, None]]:
    config = ClientConfig.create("tok", "http://127.0.0.1:1/api", None, 2)
    config.rng = random.Random(7)
    core = WatchCore(tasks, config=config, timeout=timeout, poll_interval=1.0, clock=clock)
    return core, core.steps()


def sleep_then(steps: Generator[WatchOp, object, None], clock: Clock, op: WatchOp) -> WatchOp:
    """Check `op` is the pause between cycles, let the time pass, return the next op."""
    assert isinstance(op, Sleep) and 1.0 <= op.seconds <= 1.2, op
    clock.now += op.seconds
    return steps.send(None)


def test_tasks_already_finished_are_handed_over_at_once_without_a_request() -> None:
    clock = Clock()
    done = [task("a", "succeeded"), task("b", "failed")]
    core, steps = make_core(done, clock)
    op = next(steps)
    assert op == Emit(tuple(done))
    with pytest.raises(StopIteration):
        steps.send(None)
    assert core.stats.requests == 0 and core.finished == ["a", "b"]


def test_a_list_cycle_reads_pending_then_processing_and_asks_only_for_the_absent() -> None:
    clock = Clock()
    tasks = [task(f"t{i}") for i in range(5)]
    core, steps = make_core(tasks, clock)
    op = sleep_then(steps, clock, next(steps))
    assert op == ListPage("pending", 0, cycle=1)
    op = steps.send(listed(["t0", "t1", "someone-else"], "pending"))
    assert op == ListPage("processing", 0, cycle=1)
    op = steps.send(listed(["t2"], "processing"))
    # t3 and t4 are in neither list: the core asks for their details, nothing else.
    assert op == FetchTasks(("t3", "t4"))
    op = steps.send(
        {"t3": LipSyncTask(dto("t3", "succeeded")), "t4": LipSyncTask(dto("t4", "failed"))}
    )
    assert op == Emit((tasks[3], tasks[4]))
    assert tasks[3].succeeded and tasks[4].failed and tasks[4].error_code == "provider_error"
    assert tasks[2].status_text == "processing" and tasks[0].model == "kitta-lip-sync-v1"
    op = steps.send(None)
    assert isinstance(op, Sleep)
    assert core.stats.list_requests == 2 and core.stats.get_requests == 2
    assert list(core.active) == ["t0", "t1", "t2"]


def test_once_every_task_was_seen_processing_only_that_list_is_read() -> None:
    clock = Clock()
    tasks = [task(f"t{i}", "processing") for i in range(4)]
    _, steps = make_core(tasks, clock)
    op = sleep_then(steps, clock, next(steps))
    assert op == ListPage("processing", 0, cycle=1)


def test_pages_are_followed_and_a_task_moving_between_lists_is_kept() -> None:
    clock = Clock()
    tasks = [task(f"t{i}") for i in range(4)]
    core, steps = make_core(tasks, clock)
    op = sleep_then(steps, clock, next(steps))
    op = steps.send(listed(["t0"], "pending", more=True))
    assert op == ListPage("pending", 1, cycle=1)
    op = steps.send(listed(["t1"], "pending", offset=1))
    assert op == ListPage("processing", 0, cycle=1)
    op = steps.send(listed(["t2"], "processing"))
    assert op == FetchTasks(("t3",))
    # Absent from both lists but still running (it moved between the two calls).
    op = steps.send({"t3": LipSyncTask(dto("t3", "processing"))})
    assert isinstance(op, Sleep)
    assert core.stats.flips == 1 and "t3" in core.active and core.stats.list_requests == 3


def test_a_transient_list_error_abandons_the_cycle_without_detail_queries() -> None:
    clock = Clock()
    tasks = [task(f"t{i}") for i in range(4)]
    core, steps = make_core(tasks, clock)
    op = sleep_then(steps, clock, next(steps))
    op = steps.send(ServerError(503, None, "busy"))
    assert isinstance(op, Sleep)  # an incomplete picture proves nothing: no FetchTasks
    assert core.stats.get_requests == 0 and len(core.active) == 4


def test_a_lasting_error_ends_the_watch() -> None:
    clock = Clock()
    tasks = [task(f"t{i}") for i in range(4)]
    _, steps = make_core(tasks, clock)
    sleep_then(steps, clock, next(steps))
    steps.send(listed([], "pending"))
    op = steps.send(listed(["t0", "t1", "t2"], "processing"))
    assert op == FetchTasks(("t3",))
    with pytest.raises(NotFoundError):
        steps.send({"t3": NotFoundError(404, "not_found", "gone")})


def test_few_tasks_are_polled_one_by_one_and_ids_are_polled_at_once() -> None:
    clock = Clock()
    config_ids = [LipSyncTask({"taskId": "x"}), LipSyncTask({"taskId": "y"})]
    core, steps = make_core(config_ids, clock)
    op = next(steps)  # status unknown: no pause before the first look
    assert op == FetchTasks(("x", "y"))
    op = steps.send(
        {"x": LipSyncTask(dto("x", "processing")), "y": LipSyncTask(dto("y", "succeeded"))}
    )
    assert op == Emit((config_ids[1],))
    assert core.stats.modes == ["get"]


def test_detail_queries_come_in_chunks_each_handed_over_at_once() -> None:
    clock = Clock()
    count = FETCH_CHUNK + 3
    tasks = [task(f"t{i}") for i in range(count)]
    _, steps = make_core(tasks, clock)
    sleep_then(steps, clock, next(steps))
    steps.send(listed([], "pending"))
    op = steps.send(listed([], "processing"))
    assert isinstance(op, FetchTasks) and len(op.task_ids) == FETCH_CHUNK
    op = steps.send({i: LipSyncTask(dto(i, "succeeded")) for i in op.task_ids})
    assert isinstance(op, Emit) and len(op.tasks) == FETCH_CHUNK  # before the next chunk
    op = steps.send(None)
    assert op == FetchTasks(tuple(f"t{i}" for i in range(FETCH_CHUNK, count)))


def test_a_task_given_twice_is_watched_once_and_both_objects_are_updated() -> None:
    clock = Clock()
    first, second = task("same"), task("same")
    core, steps = make_core([first, second], clock)
    assert core.total == 1
    op = sleep_then(steps, clock, next(steps))
    assert op == FetchTasks(("same",))
    op = steps.send({"same": LipSyncTask(dto("same", "succeeded"))})
    assert op == Emit((first,))
    assert first.succeeded and second.succeeded


def test_the_deadline_raises_with_the_finished_and_unfinished_tasks() -> None:
    clock = Clock()
    tasks = [task("a"), task("b")]
    core, steps = make_core(tasks, clock, timeout=2.5)
    op = sleep_then(steps, clock, next(steps))
    op = steps.send(
        {"a": LipSyncTask(dto("a", "succeeded")), "b": LipSyncTask(dto("b", "pending"))}
    )
    assert op == Emit((tasks[0],))
    op = steps.send(None)
    assert isinstance(op, Sleep) and op.seconds <= 1.5  # never past the deadline
    clock.now += 5.0
    op = steps.send(None)  # the cycle after the pause still runs...
    assert op == FetchTasks(("b",))
    with pytest.raises(WaitManyTimeoutError) as caught:  # ...then the deadline ends the watch
        steps.send({"b": LipSyncTask(dto("b", "processing"))})
    assert caught.value.unfinished == [tasks[1]] and caught.value.finished == [tasks[0]]
    assert core.snapshot().note == "timed out"


def test_snapshots_count_failures_so_the_bar_is_not_all_green() -> None:
    clock = Clock()
    tasks = [task("a"), task("b")]
    seen = []
    core, steps = make_core(tasks, clock)
    core.on_progress = seen.append
    sleep_then(steps, clock, next(steps))
    steps.send({"a": LipSyncTask(dto("a", "succeeded")), "b": LipSyncTask(dto("b", "failed"))})
    with pytest.raises(StopIteration):
        steps.send(None)
    last = seen[-1]
    assert last.finished and (last.done, last.failed, last.good) == (2, 1, 1)


def test_each_operation_names_what_comes_next_so_a_driver_can_start_it_early() -> None:
    clock = Clock()
    tasks = [task(f"t{i}") for i in range(12)]
    _, steps = make_core(tasks, clock)
    op = sleep_then(steps, clock, next(steps))
    assert op == ListPage("pending", 0, cycle=1)  # how many pages: not known yet
    op = steps.send(listed(["t0"], "pending", more=True))
    assert op == ListPage("pending", 1, cycle=1)
    op = steps.send(listed(["t1"], "pending", offset=1))
    assert op == ListPage("processing", 0, cycle=1)
    op = steps.send(listed([], "processing"))
    assert isinstance(op, FetchTasks)
    assert op.task_ids == ("t2", "t3", "t4", "t5") and op.ahead[:2] == ("t6", "t7")
    for _ in range(3):
        answers = {i: LipSyncTask(dto(i, "processing")) for i in op.task_ids}
        op = steps.send(answers)
    # The next cycle expects two pending pages (last cycle's count); processing waits.
    op = sleep_then(steps, clock, op)
    assert op == ListPage("pending", 0, ahead=(("pending", 100),), cycle=2)


def test_every_page_a_status_took_last_cycle_is_named_ahead_not_only_the_first_ones() -> None:
    # 10,000 tasks take 100 pages a status: with only the first LOOKAHEAD pages named
    # ahead, the rest went one request at a time and the list phase set the lag.
    clock = Clock()
    pages = LOOKAHEAD + 8
    watched = [task(f"t{i}", "processing") for i in range(pages + 5)]
    _, steps = make_core(watched, clock)
    ids = [t.task_id for t in watched] + [f"other{i}" for i in range(pages * LIST_PAGE_SIZE)]

    def page(number: int) -> Page:
        start = number * LIST_PAGE_SIZE
        chunk = ids[start : start + LIST_PAGE_SIZE]
        return listed(chunk, "processing", offset=start, more=number < pages - 1)

    op = sleep_then(steps, clock, next(steps))
    for number in range(pages):  # the first cycle learns how many pages the list takes
        assert isinstance(op, ListPage) and op.offset == number * LIST_PAGE_SIZE
        op = steps.send(page(number))
    op = sleep_then(steps, clock, op)
    for number in range(pages):
        assert isinstance(op, ListPage) and op.offset == number * LIST_PAGE_SIZE
        following = range(number + 1, min(pages, number + 1 + LOOKAHEAD))
        assert op.ahead == tuple(("processing", n * LIST_PAGE_SIZE) for n in following)
        op = steps.send(page(number))
    assert isinstance(op, Sleep)  # every watched task was listed: nothing to ask in detail


def test_a_list_item_that_repeats_a_task_leaves_it_as_it_was() -> None:
    clock = Clock()
    tasks = [task("t0", "processing"), task("t1", "processing"), task("t2", "processing")]
    before = dict(tasks[0].raw)
    _, steps = make_core(tasks, clock)
    op = sleep_then(steps, clock, next(steps))
    same = listed(["t0"], "processing").data[0]
    same.request_id = "req-of-the-page"
    changed = LipSyncTask({"taskId": "t1", "status": "processing", "creditsCharged": 12})
    page = Page(data=[same, changed], limit=100, offset=0, has_more=False)
    op = steps.send(page)
    assert op == FetchTasks(("t2",))
    assert tasks[0].raw == before and tasks[0].request_id is None  # nothing was rebuilt
    assert tasks[1].credits_charged == 12
    assert tasks[1].model == "kitta-lip-sync-v1"  # what the item lacks is kept
