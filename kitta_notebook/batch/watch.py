"""The polling engine of every watch, free of I/O: `WatchCore`.

Watching N tasks by polling each one costs N requests a cycle. Instead, each
cycle lists the account's `pending` and then `processing` tasks (100 per
page): a watched task in neither list has left the active set, and one detail
query gets its final DTO. The lists are read pending first, so the usual move
(pending to processing) between the two calls still finds the task in the
second list; once no watched task can still be pending, only the processing
list is read. Any other move between calls, or a page boundary shifting while
tasks leave a list, can leave a running task absent from both; its detail then
shows it active and it simply stays watched. When few tasks remain (one task,
for `wait()`), per-task queries are cheaper than the list pages and the cycle
switches to them.

Completion-detection lag is set by how soon a finished task's detail comes
back, so every operation also names what the core will ask for next (`ahead`):
the driver starts those requests at once and keeps a window of them in flight,
and the core hands over each small chunk of finished tasks as soon as its
answers are in, instead of waiting for a whole round.

`WatchCore.steps()` is a generator of operations (`ListPage`, `FetchTasks`,
`Sleep`, `Emit`): its one driver (`follow.BatchWatch`) performs each and sends back
the answer, so this logic exists once and is tested by feeding it plain data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .._core import check_timeout, is_transient
from ..errors import ValidationError, WaitManyTimeoutError
from ..models import LipSyncTask, Page, TaskStatus
from .progress import ProgressSnapshot, eta_seconds
from .results import BatchItem, BatchResult

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase
    from .._core import ClientConfig

DEFAULT_WAIT_MANY_TIMEOUT = 1800.0
"""Finite by default: a batch of long tasks on a busy service may need more than
the single-task 600 s, but a watch must never hang forever."""
LIST_PAGE_SIZE = 100  # the contract's maximum
MAX_LIST_PAGES = 200
"""Pages read per status per cycle (20,000 tasks). Past it, unseen tasks are queried one by one."""
ACTIVE_LIST_STATUSES = (TaskStatus.PENDING.value, TaskStatus.PROCESSING.value)
FETCH_CHUNK = 4
"""Detail queries per `FetchTasks`: finished tasks are handed over chunk by chunk, so
the first of many that end together need not wait for the last one's query."""
LOOKAHEAD = 32
"""Detail queries (or list pages) named in `ahead` at each step, a window that slides on:
enough to keep a driver's window full."""
WATCH_TITLE = "Waiting for tasks"
DEFAULT_WATCH_CONCURRENCY = 8
"""Requests (detail queries, list pages) in flight at once, unless the caller says.

More is not faster on a nearby server: httpx's pool does work per open connection on
every request, and at 10,000 watched tasks on loopback the client's CPU, not the wire,
set the detection lag (p95 4.4 s with 16, 1.9 s with 8). A distant service with a long
round trip may want more."""
Report = Literal["finished", "changes", "polls"]
"""What a watch hands over: each task once when it finishes (`watch_many`), also each
time a poll changed it, or also after every poll that read it."""


# --- operations the drivers perform -------------------------------------------------------
@dataclass(frozen=True)
class ListPage:
    """`lip_sync.list(status=, offset=, limit=LIST_PAGE_SIZE)`; send back the `Page` or the
    exception."""

    status: str
    offset: int
    ahead: tuple[tuple[str, int], ...] = ()
    """`(status, offset)` of the pages of this status the core expects to ask for next in
    this cycle (a hint)."""
    cycle: int = 0
    """Pages started ahead in an earlier cycle are stale: never an answer for this one."""


@dataclass(frozen=True)
class FetchTasks:
    """`lip_sync.get(id)` for each id; send back `{id: LipSyncTask | Exception}`."""

    task_ids: tuple[str, ...]
    ahead: tuple[str, ...] = ()
    """Ids the core will ask for next in this cycle (a hint: a driver may start them now)."""


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Emit:
    """Hand these tasks to the caller (send back None): finished, or (when the watch
    reports them) changed or just polled."""

    tasks: tuple[LipSyncTask, ...]
    finished: bool = True


WatchOp = ListPage | FetchTasks | Sleep | Emit


@dataclass
class WatchStats:
    """What one watch cost, for tests, benchmarks and the curious."""

    cycles: int = 0
    list_requests: int = 0
    get_requests: int = 0
    flips: int = 0
    """Tasks absent from both lists whose detail showed them still running."""
    naive_requests: int = 0
    """What per-task polling on the same cycles would have sent: active tasks summed over cycles."""
    modes: list[str] = field(default_factory=list)
    errors: int = 0
    """Passing errors polled through (a timeout, a 5xx, a 429)."""
    last_error: Exception | None = None

    @property
    def requests(self) -> int:
        return self.list_requests + self.get_requests


_ABSENT = object()


def _task_of(item: object, client: ClientBase, position: int) -> LipSyncTask:
    if isinstance(item, LipSyncTask):
        return item
    if isinstance(item, BatchItem):
        if item.task is None:
            raise ValidationError(
                [(f"tasks[{position}]", f"batch item {item.index} has no task ({item.outcome})")]
            )
        return item.task
    if isinstance(item, str) and item.strip():
        # A placeholder filled in by the first list or detail query (no request now).
        return LipSyncTask({"taskId": item.strip()}, client=client)
    raise ValidationError(
        [(f"tasks[{position}]", f"must be a LipSyncTask or a task id, got {item!r}")]
    )


def collect_tasks(tasks: Iterable[object], client: ClientBase) -> list[LipSyncTask]:
    """The tasks to watch, as task objects, in input order (a BatchResult gives its tasks)."""
    if isinstance(tasks, (str, LipSyncTask)):
        raise ValidationError([("tasks", "must be a list of tasks or task ids")])
    source: Iterable[object] = tasks.tasks if isinstance(tasks, BatchResult) else tasks
    return [_task_of(item, client, position) for position, item in enumerate(source)]


def _merge_list_item(task: LipSyncTask, item: LipSyncTask) -> bool:
    """Take a list item's fields (a subset of the DTO) without losing the others; True
    when that changed the task.

    Most items of a cycle repeat what their task already says: those cost a few
    comparisons, not a new task object (at 10,000 tasks, a cycle reads 10,000 items).
    """
    known = task.raw
    if all(known.get(name, _ABSENT) == value for name, value in item.raw.items()):
        return False
    merged = {**task.raw, **item.raw}
    task._update_from(LipSyncTask(merged, request_id=item.request_id))
    return True


class WatchCore:
    """The state of one `watch_many`: which tasks are still active, and the cycle.

    Tasks are updated in place; a task id given twice is watched once and
    every object for it is updated.
    """

    def __init__(
        self,
        tasks: Sequence[LipSyncTask],
        *,
        config: ClientConfig,
        timeout: float | None,
        poll_interval: float | None,
        report: Report = "finished",
        on_progress: Callable[[ProgressSnapshot], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tasks = list(tasks)
        self.timeout = check_timeout(DEFAULT_WAIT_MANY_TIMEOUT if timeout is None else timeout)
        config.poll_delay(poll_interval)  # refuse a bad interval now, not at the first sleep
        self._config = config
        self._poll_interval = poll_interval
        self.report = report
        self.on_progress = on_progress
        """Called with a snapshot after every cycle (the drivers plug a progress view in)."""
        self._clock = clock
        self._started = clock()
        self._deadline = self._started + self.timeout
        self._objects: dict[str, list[LipSyncTask]] = {}
        for task in self.tasks:
            self._objects.setdefault(task.task_id, []).append(task)
        self.active: dict[str, None] = {}  # an ordered set
        self.finished: list[str] = []
        self.stats = WatchStats()
        self._list_cost = len(ACTIVE_LIST_STATUSES)  # pages per list cycle, learnt as we go
        self._pages: dict[str, int] = {}  # pages each status took last cycle
        self._note = ""

    # --- facts -----------------------------------------------------------------------
    def _first(self, task_id: str) -> LipSyncTask:
        return self._objects[task_id][0]

    @property
    def total(self) -> int:
        """Distinct tasks watched (a task given twice counts once)."""
        return len(self._objects)

    @property
    def unfinished_tasks(self) -> list[LipSyncTask]:
        return [self._first(task_id) for task_id in self.active]

    @property
    def finished_tasks(self) -> list[LipSyncTask]:
        return [self._first(task_id) for task_id in self.finished]

    def use_list_mode(self) -> bool:
        """Lists are worth it when they cost fewer requests than one query per task."""
        return len(self.active) > self._list_cost

    def snapshot(self, finished: bool = False, note: str = "") -> ProgressSnapshot:
        counts = dict.fromkeys((status.value for status in TaskStatus), 0)
        credits: int | float = 0
        for task_id in self._objects:
            task = self._first(task_id)
            status = task.status_text if task.status_text in counts else "unknown"
            counts[status] = counts.get(status, 0) + 1
            credits += task.credits_charged or 0
        done = len(self.finished)
        total = len(self._objects)
        elapsed = self._clock() - self._started
        return ProgressSnapshot(
            title=WATCH_TITLE,
            done=done,
            total=total,
            counts=counts,
            credits=credits,
            elapsed=elapsed,
            eta=eta_seconds(done, total, elapsed),
            note=note or self._note,
            finished=finished,
            failed=counts["failed"],
        )

    def _report(self, finished: bool = False, note: str = "") -> None:
        self._note = note or self._note  # e.g. "timed out" stays on the final view
        if self.on_progress is not None:
            self.on_progress(self.snapshot(finished, note))

    # --- applying answers ----------------------------------------------------------------
    def _apply_detail(self, task_id: str, fresh: LipSyncTask) -> bool:
        """Update every object of the task from its detail; True when that changed it."""
        changed = fresh.raw != self._first(task_id).raw
        for task in self._objects[task_id]:
            task._update_from(fresh)
            if task._client is None:
                task._client = fresh._client
        return changed

    def _passing(self, error: Exception) -> None:
        """Poll through a passing error; raise a lasting one."""
        if not is_transient(error):
            raise error
        self.stats.errors += 1
        self.stats.last_error = error

    def _apply_fetches(
        self, results: object, expected: Sequence[str], absent: bool
    ) -> tuple[list[str], list[str]]:
        """Apply detail answers: (the ids that finished, those the report names besides)."""
        if not isinstance(results, Mapping):
            raise TypeError("FetchTasks expects a mapping of task id to task or exception")
        done: list[str] = []
        other: list[str] = []
        for task_id in expected:
            answer = results.get(task_id)
            if isinstance(answer, LipSyncTask):
                changed = self._apply_detail(task_id, answer)
                if answer.is_terminal:
                    done.append(task_id)
                    continue
                if absent:
                    self.stats.flips += 1  # it moved between the list calls: keep watching
                if self.report == "polls" or (changed and self.report == "changes"):
                    other.append(task_id)
            elif isinstance(answer, Exception):
                self._passing(answer)
                if self.report == "polls":  # the caller hears of the poll (`stats.last_error`)
                    other.append(task_id)
            else:
                raise TypeError(f"no answer for task {task_id}")
        return done, other

    def _others(self, task_ids: Iterable[str]) -> Emit | None:
        shown = tuple(self._first(task_id) for task_id in task_ids)
        return Emit(shown, finished=False) if shown else None

    def _finish(self, done: Iterable[str]) -> Emit | None:
        # In the order given (the drivers ask in watch order): scanning every active task
        # for each small chunk would cost O(N) per chunk at 10,000 tasks.
        ordered = [task_id for task_id in dict.fromkeys(done) if task_id in self.active]
        if not ordered:
            return None
        for task_id in ordered:
            del self.active[task_id]
            self.finished.append(task_id)
        return Emit(tuple(self._first(task_id) for task_id in ordered))

    # --- the cycle ---------------------------------------------------------------------------
    def steps(self) -> Generator[WatchOp, object, None]:
        """The whole watch as operations; raises `WaitManyTimeoutError` at the deadline."""
        for task_id in self._objects:
            if self._first(task_id).is_terminal:
                self.finished.append(task_id)
            else:
                self.active[task_id] = None
        if self.finished:
            yield Emit(tuple(self.finished_tasks))
        self._report()
        # Poll at once when some status is unknown (ids given): else the first answer
        # would only come after a whole interval.
        immediate = any(not isinstance(self._first(i).status, TaskStatus) for i in self.active)
        cycle_started = self._clock() if not immediate else None
        while self.active:
            if cycle_started is not None:
                remaining = self._deadline - self._clock()
                if remaining <= 0:
                    self._report(finished=True, note="timed out")
                    raise WaitManyTimeoutError(
                        self.unfinished_tasks, self.finished_tasks, self.timeout
                    )
                pause = self._config.poll_delay(self._poll_interval)
                pause -= self._clock() - cycle_started  # cycles start `pause` apart
                if pause > 0:
                    yield Sleep(min(pause, remaining))
            cycle_started = self._clock()
            self.stats.cycles += 1
            self.stats.naive_requests += len(self.active)
            if self.use_list_mode():
                self.stats.modes.append("list")
                yield from self._list_cycle()
            else:
                self.stats.modes.append("get")
                yield from self._fetch(tuple(self.active), absent=False)
            self._report()
        self._report(finished=True)

    def _fetch(self, task_ids: Sequence[str], absent: bool) -> Generator[WatchOp, object, None]:
        """Detail queries in chunks, handing over each chunk's finished tasks at once."""
        for start in range(0, len(task_ids), FETCH_CHUNK):
            end = start + FETCH_CHUNK
            chunk = tuple(task_ids[start:end])
            results = yield FetchTasks(chunk, tuple(task_ids[end : end + LOOKAHEAD]))
            self.stats.get_requests += len(chunk)
            done, other = self._apply_fetches(results, chunk, absent=absent)
            for emit in (self._others(other), self._finish(done)):
                if emit is not None:
                    yield emit

    def _statuses_to_list(self) -> tuple[str, ...]:
        """`processing`, plus `pending` while a watched task may still be pending.

        A task never goes back to pending, so once every watched task has been
        seen processing, the pending list cannot hold any of them.
        """
        may_be_pending = any(
            self._first(task_id).status != TaskStatus.PROCESSING for task_id in self.active
        )
        return ACTIVE_LIST_STATUSES if may_be_pending else (TaskStatus.PROCESSING.value,)

    def _list_cycle(self) -> Generator[WatchOp, object, None]:
        seen: dict[str, LipSyncTask] = {}
        pages = 0
        for status in self._statuses_to_list():
            # The pages this status took last cycle may be read at once, `LOOKAHEAD` of
            # them named ahead of each read (a window that slides to the last page: at
            # 10,000 tasks a status takes 100 pages); the next status waits for this one,
            # so a task moving between them is still found.
            expected = self._pages.get(status, 1)
            offset = 0
            for read in range(MAX_LIST_PAGES):
                window = range(read + 1, min(expected, read + 1 + LOOKAHEAD))
                starts = (LIST_PAGE_SIZE * page for page in window)
                ahead = tuple((status, start) for start in starts if start > offset)
                answer = yield ListPage(status, offset, ahead=ahead, cycle=self.stats.cycles)
                self.stats.list_requests += 1
                pages += 1
                self._pages[status] = read + 1
                if isinstance(answer, Exception):
                    self._passing(answer)
                    return  # an incomplete picture proves nothing: try next cycle
                if not isinstance(answer, Page):
                    raise TypeError("ListPage expects a Page or an exception")
                for item in answer.data:
                    if item.task_id in self.active:
                        seen[item.task_id] = item
                if answer.next_offset is None:
                    break
                offset = answer.next_offset
        self._list_cost = max(1, pages)
        other = []
        for task_id, item in seen.items():
            changed = [_merge_list_item(task, item) for task in self._objects[task_id]]
            if self.report == "polls" or (changed[0] and self.report == "changes"):
                other.append(task_id)
        emit = self._others(other)
        if emit is not None:
            yield emit
        # Absent from both lists: finished, or moved between the two calls. Ask.
        absent = tuple(task_id for task_id in self.active if task_id not in seen)
        yield from self._fetch(absent, absent=True)
