"""Reconcile as pure code: which server task an unknown create became, if any.

No I/O here: `History.reconcile()` fetches the server's list (and the
clock evidence in its answers), the journal supplies the creates of unknown
outcome and the server-only tasks, and `plan()` decides.

Times on the two sides come from two clocks: `requested` is this machine's,
a task's `createdAt` the server's. The offset between them is learned from
the server's own timestamps (the createdAt of creates this journal saw
answered, the `Date` header of list responses) and a create is declared
"not created" only when no unclaimed task could be it under every offset
the evidence allows, so a skewed server clock never leads to a second bill.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_MAX_SKEW",
    "Candidate",
    "ClockEstimate",
    "DateSample",
    "Pending",
    "ReconcileReport",
    "estimate_clock",
    "plan",
    "undated_candidates",
]

# Assumed bound on |server clock - local clock| when nothing was measured.
DEFAULT_MAX_SKEW = 3600.0
# Longest a create's request may take to reach the server (bounds a delay sample).
CREATE_LATENCY_BOUND = 30.0
# The Date header has whole seconds.
DATE_RESOLUTION = 1.0


@dataclass(frozen=True)
class Pending:
    """A create of unknown outcome: when it was written down and what it asked.

    `local`: written down by this machine, whose clock the evidence measured; another
    machine's (a teammate's, in a shared journal) may be off by anything up to `max_skew`.
    """

    entry_id: str
    requested: float | None
    model: str | None
    input_mode: str | None
    local: bool = True


@dataclass(frozen=True)
class Candidate:
    """A task only the server knows: its createdAt (server clock) when known."""

    task_id: str
    created: float | None
    model: str | None
    input_mode: str | None


@dataclass(frozen=True)
class DateSample:
    """One response's `Date` header, with the local times the request was sent and answered."""

    server: float
    sent: float
    received: float


@dataclass(frozen=True)
class ClockEstimate:
    """What is known of (server clock - local clock), in seconds.

    The offset lies in [`low`, `high`]; `expected` is the best single guess.
    `trusted` is True when the range comes from createdAt values themselves
    (the clock that matters); a `Date` header may come from another machine
    (a proxy) than the one stamping createdAt.
    """

    low: float
    high: float
    expected: float
    trusted: bool
    samples: int = 0


@dataclass
class ReconcileReport:
    """What `reconcile()` did with each unresolved create."""

    matched: list[tuple[str, str]] = field(default_factory=list)  # (entry_id, task_id)
    absent: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    pages: int = 0
    complete: bool = False
    clock: ClockEstimate | None = None

    def __str__(self) -> str:
        return (
            f"reconcile: {len(self.matched)} matched to server tasks, {len(self.absent)} never "
            f"created, {len(self.unresolved)} still unknown ({self.pages} list pages read"
            f"{'' if self.complete else ', list not fully read'})"
        )


def estimate_clock(
    create_delays: Sequence[float],
    dates: Sequence[DateSample] = (),
    *,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> ClockEstimate:
    """The server clock's offset from the evidence at hand.

    A create delay (createdAt - local request time) is the offset plus the
    request's way there (0 to `CREATE_LATENCY_BOUND`); their median is the
    guess. A `Date` header puts the offset between (date - received) and
    (date + 1 s - sent); the guess is the value in that range nearest to 0.
    When the two kinds disagree the range covers both; with no evidence it
    is ±`max_skew` around 0.
    """
    ranges: list[tuple[float, float]] = []
    expected: float | None = None
    if create_delays:
        ranges.append((min(create_delays) - CREATE_LATENCY_BOUND, max(create_delays)))
        expected = statistics.median(create_delays)
    if dates:
        low = max(d.server - d.received for d in dates)
        high = min(d.server + DATE_RESOLUTION - d.sent for d in dates)
        if low > high:  # samples disagree (the clock stepped): keep them all
            low = min(d.server - d.received for d in dates)
            high = max(d.server + DATE_RESOLUTION - d.sent for d in dates)
        ranges.append((low, high))
        if expected is None:  # clocks are usually in sync: the guess nearest to none
            expected = min(max(0.0, low), high)
    if not ranges:
        return ClockEstimate(-max_skew, max_skew, 0.0, trusted=False, samples=0)
    low = min(r[0] for r in ranges)
    high = max(r[1] for r in ranges)
    assert expected is not None
    return ClockEstimate(
        low, high, expected, trusted=bool(create_delays), samples=len(create_delays) + len(dates)
    )


def _compatible(entry: Pending, task: Candidate) -> bool:
    if entry.model and task.model and entry.model != task.model:
        return False
    return not (entry.input_mode and task.input_mode and entry.input_mode != task.input_mode)


def undated_candidates(pending: Sequence[Pending], candidates: Sequence[Candidate]) -> list[str]:
    """Candidates whose createdAt is unknown (list items): their detail is needed."""
    modes = {e.input_mode for e in pending}
    return [
        c.task_id
        for c in candidates
        if c.created is None and (c.input_mode is None or None in modes or c.input_mode in modes)
    ]


@dataclass(frozen=True)
class _Windows:
    """Where a create's task may have been stamped, on the server's clock."""

    clock: ClockEstimate
    window: float
    margin: float
    max_skew: float

    def likely(self, requested: float) -> tuple[float, float]:
        """Under the measured offset (the first matching pass)."""
        return (
            requested + self.clock.low - self.margin,
            requested + self.clock.high + self.window,
        )

    def possible(self, requested: float) -> tuple[float, float]:
        """Under every offset not ruled out; only a trusted measurement narrows it."""
        low, high = self.clock.low - self.margin, self.clock.high + self.margin
        if not self.clock.trusted:
            low, high = min(low, -self.max_skew), max(high, self.max_skew)
        return requested + low, requested + high + self.window


def plan(
    pending: Sequence[Pending],
    candidates: Sequence[Candidate],
    *,
    clock: ClockEstimate,
    now: float,
    complete: bool,
    window: float = 600.0,
    skew: float = 120.0,
    settle: float = 60.0,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> ReconcileReport:
    """Decide each unknown create: matched to a task, never created, or still unknown.

    1. Pairs inside the measured window, closest to the expected delay first (creates
       written down by this machine only: the evidence measured its clock).
    2. A create left over takes a task from the wider possible window only
       when that pairing is unambiguous (one create, one task).
    3. A create still left over is "not created" only when the whole list
       was read, it is older than `settle`, and no unclaimed compatible task
       lies in its possible window (or has an unknown createdAt).
    """
    report = ReconcileReport(complete=complete, clock=clock)
    windows = _Windows(clock, window, skew, max_skew)
    unmeasured = ClockEstimate(-max_skew, max_skew, 0.0, trusted=False)
    foreign = _Windows(unmeasured, window, skew, max_skew)
    dated = [c for c in candidates if c.created is not None]
    used_entries: set[str] = set()
    used_tasks: set[str] = set()

    pairs: list[tuple[int, float, str, str]] = []
    for entry in pending:
        if entry.requested is None or not entry.local:  # another clock: step 2 only
            continue
        low, high = windows.likely(entry.requested)
        for task in dated:
            assert task.created is not None
            if low <= task.created <= high and _compatible(entry, task):
                # The request's way there: the delay minus the server clock's offset.
                latency = task.created - entry.requested - clock.expected
                if clock.trusted:  # closest to the delay this account's creates showed
                    rank, gap = 0, abs(latency)
                else:  # a task is made after its request: prefer those, then the nearest
                    rank, gap = int(latency < 0), abs(latency)
                pairs.append((rank, gap, entry.entry_id, task.task_id))
    for _rank, _gap, entry_id, task_id in sorted(pairs):
        if entry_id not in used_entries and task_id not in used_tasks:
            used_entries.add(entry_id)
            used_tasks.add(task_id)
            report.matched.append((entry_id, task_id))

    left = [e for e in pending if e.entry_id not in used_entries and e.requested is not None]
    reachable: dict[str, list[str]] = {}
    for entry in left:
        assert entry.requested is not None
        low, high = (windows if entry.local else foreign).possible(entry.requested)
        reachable[entry.entry_id] = [
            t.task_id
            for t in candidates
            if t.task_id not in used_tasks
            and _compatible(entry, t)
            and (t.created is None or low <= t.created <= high)
        ]
    claims: dict[str, int] = {}
    for tasks in reachable.values():
        for task_id in tasks:
            claims[task_id] = claims.get(task_id, 0) + 1
    for entry in left:
        tasks = reachable[entry.entry_id]
        dated_ids = {c.task_id for c in dated}
        if len(tasks) == 1 and claims[tasks[0]] == 1 and tasks[0] in dated_ids:
            used_entries.add(entry.entry_id)
            used_tasks.add(tasks[0])
            report.matched.append((entry.entry_id, tasks[0]))

    for entry in pending:
        if entry.entry_id in used_entries:
            continue
        old_enough = entry.requested is not None and now - entry.requested >= settle
        blocked = bool(reachable.get(entry.entry_id)) or entry.requested is None
        if complete and old_enough and not blocked:
            report.absent.append(entry.entry_id)
        else:
            report.unresolved.append(entry.entry_id)
    return report
