"""`create_many`: check a whole batch, then send it on worker threads, each item once.

The route: `plan` checks every item, claims its key, publishes and probes its media;
`start_run` adds the prices and the credit limit (`gate.CreditBudget`) and builds the
`CreateRun` that keeps the books; the workers then send, each create passing the
credit budget and the rate gate (`gate.RateGate`, which the client's request loop
also consults before every attempt). The async `create_many` runs this same code on
a worker thread (`_bridge.run_sync`): a cancelled await sends nothing more.
"""

from __future__ import annotations

import contextvars
import threading
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _bridge, media
from .._core import REQUEST_GATE
from ..errors import (
    CreditLimitError,
    CreditWarning,
    JournalError,
    JournalWarning,
    KittaError,
    ValidationError,
)
from ..models import LipSyncTask
from ..price import Price
from ..server_info import ServerInfo
from .gate import (
    CreditBudget,
    RateGate,
    balance_warning,
    may_resend,
    outcome_of,
    refuse_over_limit,
    total_estimate,
)
from .plan import (
    BatchOptions,
    HeldKeys,
    ItemCheck,
    Planned,
    PreparedItem,
    check_items,
    needs_server_info,
    plan_batch,
    settle,
)
from .progress import ProgressMode, ProgressSnapshot, eta_seconds, open_progress
from .results import OUTCOME_STATUS, BatchItem, BatchResult, Outcome

if TYPE_CHECKING:
    from .._lip_sync import LipSync

CREATE_TITLE = "Creating tasks"


@dataclass
class CreateRun:
    """One running batch: `prepared` are the items to send (or fetch); `results` start
    with the items refused before sending (skipped), and gain one per prepared item."""

    prepared: list[PreparedItem]
    total: int
    gate: RateGate
    budget: CreditBudget
    started: float = field(default_factory=time.monotonic)
    results: dict[int, BatchItem] = field(default_factory=dict)
    journal_failed: JournalError | None = None
    """Set when a create could not be written down: it and every item after it are not
    sent (a create is never sent unrecorded)."""

    def record(self, item: BatchItem) -> None:
        self.results[item.index] = item

    def _note(self) -> str:
        if self.budget.stopped is not None:
            return self.budget.stopped
        if self.gate.pause_left() > 0:
            return f"rate limited: paused {self.gate.pause_left():.1f} s"
        if self.gate.rate_limited:
            return f"{self.gate.rate_limited}× rate limited, {self.gate.allowed} in flight"
        return self.budget.price_note()

    def snapshot(self, finished: bool = False) -> ProgressSnapshot:
        so_far = BatchResult(list(self.results.values()))
        counts = so_far.counts
        done = len(self.results)
        shown = {name: n for name, n in counts.items() if n or name == "created"}
        shown["queued"] = self.total - done
        elapsed = time.monotonic() - self.started
        return ProgressSnapshot(
            title=CREATE_TITLE,
            done=done,
            total=self.total,
            counts=shown,
            credits=so_far.credits,
            elapsed=elapsed,
            eta=eta_seconds(done, self.total, elapsed),
            note=self._note(),
            finished=finished,
            failed=sum(n for name, n in counts.items() if OUTCOME_STATUS[name] == "failed"),
            unsure=counts["unknown"],
        )

    def result(self) -> BatchResult:
        missing = [i for i in range(self.total) if i not in self.results]
        if missing:  # a driver bug, never a silent loss
            raise RuntimeError(f"batch items {missing[:10]} have no result")
        return BatchResult(
            items=[self.results[i] for i in range(self.total)],
            elapsed=time.monotonic() - self.started,
            rate_limited=self.gate.rate_limited,
            paused_seconds=self.gate.paused_seconds,
            credit_stop=self.budget.stopped,
        )


def _result(
    item: PreparedItem,
    outcome: Outcome,
    *,
    task: LipSyncTask | None = None,
    error: Exception | None = None,
    attempts: int = 0,
) -> BatchItem:
    return BatchItem(
        item.index, item.key, outcome, task, error, attempts, item.labels, item.request
    )


# --- before the first create ------------------------------------------------------------
def start_run(
    lip_sync: LipSync, requests: Iterable[object], options: BatchOptions, held: HeldKeys
) -> CreateRun:
    """Everything before the first create: checks, publish and probes, the credit limit."""
    client = lip_sync._client
    planned = plan_batch(lip_sync, requests, options, held)
    if needs_server_info(lip_sync, planned, options):
        info = client.server_info()
    else:
        info = client._server_info or ServerInfo()
    checks = check_items(
        client._config,
        info,
        planned.to_check,
        preflight=options.preflight,
        concurrency=options.concurrency,
    )
    models = {check.request.model for check in checks if check.request is not None}  # sent
    prices = {model: media.price_of(info, model, client.journal) for model in sorted(models)}
    run = _build_run(lip_sync, planned, checks, prices, options)
    estimate = total_estimate(run.prepared)
    if options.preflight and estimate:
        try:
            usage: dict[str, Any] | None = client.usage()
        except KittaError:  # no balance to compare with: the batch goes on unwarned
            usage = None
        note = balance_warning(usage, estimate)
        if note is not None:
            warnings.warn(CreditWarning(note), stacklevel=4)  # the caller of `create_many`
    return run


def _build_run(
    lip_sync: LipSync,
    planned: Planned,
    checks: list[ItemCheck],
    prices: dict[str, Price],
    options: BatchOptions,
) -> CreateRun:
    """Refuse, or skip and warn; check the credit limit; nothing is sent here."""
    ready, problems = settle(
        checks, planned.problems, planned.total, prices=prices, skip_invalid=options.skip_invalid
    )
    items = sorted([*planned.known, *ready], key=lambda item: item.index)
    refuse_over_limit(items, options.max_credits, prices)
    run = CreateRun(
        items,
        planned.total,
        RateGate(options.concurrency, lip_sync._client._config),
        CreditBudget(options.max_credits, prices),
    )
    by_index = {check.item.index: check.item for check in checks}
    for index, found in problems.items():
        item = by_index.get(index)
        key, labels = (item.key, item.labels) if item is not None else (None, ())
        run.record(BatchItem(index, key, "skipped", error=ValidationError(found), labels=labels))
    return run


# --- sending ----------------------------------------------------------------------------
class _Stopped(Exception):
    """The batch was interrupted before this item was sent."""


def _wait_on(slots: threading.Condition, stop: threading.Event, seconds: float) -> None:
    """Wait for a turn; give up when the batch or its async caller was stopped (checked
    at least every second, however long a 429's pause)."""
    if stop.is_set():
        raise _Stopped
    _bridge.check_cancelled()
    slots.wait(timeout=min(seconds, 1.0))


def _create_one(
    lip_sync: LipSync,
    item: PreparedItem,
    run: CreateRun,
    slots: threading.Condition,
    stop: threading.Event,
) -> BatchItem:
    """One item on a worker thread: fetch its key's task, or create it exactly once."""
    if item.lookup_error is not None:
        return _result(item, "rejected", error=item.lookup_error)
    if item.known_task_id is not None:
        known = item.known_task_id
        try:
            return _result(item, "existing", task=lip_sync.get(known))
        except Exception as exc:  # the placeholder keeps the id: nothing is lost
            placeholder = LipSyncTask({"taskId": known}, client=lip_sync._client)
            return _result(item, "existing", task=placeholder, error=exc)
    request = item.request
    if request is None:  # nothing to send (never the case for a checked item)
        return _result(item, "not_sent", error=CreditLimitError(run.budget.reason()))
    with slots:  # a provisional price: one create at a time until a charge confirms it
        while (turn := run.budget.turn(item)) == "wait":
            _wait_on(slots, stop, 1.0)
    if turn == "stop":
        return _result(item, "not_sent", error=CreditLimitError(run.budget.reason()))
    attempts = 0
    while True:
        with slots:
            while (wait := run.gate.try_enter()) is not None:
                _wait_on(slots, stop, wait if wait > 0 else 1.0)
        try:
            if stop.is_set():
                raise _Stopped
            _bridge.check_cancelled()  # the last point where stopping sends nothing
            if run.journal_failed is not None:
                raise run.journal_failed
            attempts += 1
            task = lip_sync._create_checked(request, item.key, claim=item.claim)
        except (_Stopped, _bridge.CallCancelled):
            raise
        except Exception as exc:
            if may_resend(exc, attempts):
                continue
            outcome = outcome_of(exc)
            if isinstance(exc, JournalError):  # not written down, not sent: nor the rest
                run.journal_failed = run.journal_failed or exc
            run.budget.settled(item, outcome)
            return _result(item, outcome, error=exc, attempts=attempts)
        finally:
            run.gate.leave()
            with slots:
                slots.notify_all()
        run.budget.charged(item, task.credits_charged)
        return _result(item, "created", task=task, attempts=attempts)


def create_many(
    lip_sync: LipSync, requests: Iterable[object], options: BatchOptions
) -> BatchResult:
    """See `LipSync.create_many` (which checks its `options`)."""
    held = HeldKeys(lip_sync._client)  # the items' keys, from before publishing to the end
    try:
        run = start_run(lip_sync, requests, options, held)
        if run.prepared:
            _send_all(lip_sync, run, options.progress)
        result = run.result()
    finally:
        held.release()
    remember_labels(lip_sync, result)
    return result


def _send_all(lip_sync: LipSync, run: CreateRun, progress: ProgressMode) -> None:
    view = open_progress(progress, CREATE_TITLE, run.total)
    slots = threading.Condition()
    stop = threading.Event()

    def work(item: PreparedItem) -> BatchItem:
        try:
            return _create_one(lip_sync, item, run, slots, stop)
        finally:
            with slots:  # the budget has counted this item: a waiting turn may go on
                slots.notify_all()

    def in_context(item: PreparedItem) -> Future[BatchItem]:
        # Each worker sees the batch's gate and the async caller's cancel event.
        context = contextvars.copy_context()
        context.run(REQUEST_GATE.set, run.gate)
        return pool.submit(context.run, work, item)

    pool = ThreadPoolExecutor(min(run.gate.limit, len(run.prepared)), "kitta")
    try:
        for future in as_completed([in_context(item) for item in run.prepared]):
            run.record(future.result())
            if view is not None:
                view.update(run.snapshot())
    except BaseException:
        stop.set()  # an interrupt: nothing more is sent (a waiting turn gives up)
        with slots:
            slots.notify_all()
        raise
    finally:  # the creates in flight finish first, each recorded by the client's recorder
        pool.shutdown(wait=True, cancel_futures=True)
        if view is not None:
            view.close(run.snapshot(finished=True))


def remember_labels(lip_sync: LipSync, result: BatchResult) -> None:
    """Write each item's labels into the client's journal, so the history and later views
    of these tasks show them too. Without a journal there is nowhere to write them."""
    journal = lip_sync._client.journal
    labelled = [(i.task.task_id, i.labels) for i in result if i.task is not None and i.labels]
    if journal is None or not labelled:
        return
    try:
        for task_id, labels in labelled:
            journal.add_labels(task_id, *labels)
    except Exception as exc:  # the tasks exist either way; only the labels are not kept
        warnings.warn(
            JournalWarning(f"the batch's labels were not recorded in the journal: {exc}"),
            stacklevel=4,  # the caller of `client.lip_sync.create_many`
        )
