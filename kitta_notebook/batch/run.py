"""The bookkeeping of one running `create_many`, shared by the sync and async drivers:
results by index, the rate gate, the credit budget, the clock, and the snapshot and
result built from them. No I/O except `remember_labels` (the journal)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import CreditLimitError, JournalWarning
from ..models import LipSyncTask
from .credits import CreditBudget
from .gate import RateGate, outcome_of
from .prepare import PreparedItem
from .progress import ProgressSnapshot, eta_seconds
from .results import OUTCOMES, BatchItem, BatchResult, Outcome

if TYPE_CHECKING:
    from .._lip_sync import LipSync

CREATE_TITLE = "Creating tasks"
REFUSED_OUTCOMES = ("rejected", "skipped", "not_sent")
"""Outcomes drawn red in the progress bar: nothing was created for them."""


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

    def record(self, item: BatchItem) -> None:
        self.results[item.index] = item

    def snapshot(self, title: str = CREATE_TITLE, finished: bool = False) -> ProgressSnapshot:
        counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        credits: int | float = 0
        for item in self.results.values():
            counts[item.outcome] += 1
            if item.outcome == "created" and item.task is not None:
                credits += item.task.credits_charged or 0
        done = len(self.results)
        shown = {name: n for name, n in counts.items() if n or name == "created"}
        shown["queued"] = self.total - done
        elapsed = time.monotonic() - self.started
        note = ""
        if self.budget.stopped is not None:
            note = self.budget.stopped
        elif self.gate.pause_left() > 0:
            note = f"rate limited: paused {self.gate.pause_left():.1f} s"
        elif self.gate.rate_limited:
            note = f"{self.gate.rate_limited}× rate limited, {self.gate.allowed} in flight"
        else:
            note = self.budget.price_note()
        return ProgressSnapshot(
            title=title,
            done=done,
            total=self.total,
            counts=shown,
            credits=credits,
            elapsed=elapsed,
            eta=eta_seconds(done, self.total, elapsed),
            note=note,
            finished=finished,
            failed=sum(counts[name] for name in REFUSED_OUTCOMES),
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


def placeholder(task_id: str, lip_sync: LipSync) -> LipSyncTask:
    return LipSyncTask({"taskId": task_id}, client=lip_sync._client)


def item_result(
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


def failed(item: PreparedItem, error: Exception, attempts: int, budget: CreditBudget) -> BatchItem:
    """A create that did not return a task; a refused one frees its credit reservation
    (an unknown one keeps it: it may have been charged)."""
    outcome = outcome_of(error)
    if outcome == "rejected":
        budget.released(item)
    else:
        budget.unsure(item)
    return item_result(item, outcome, error=error, attempts=attempts)


def not_sent(item: PreparedItem, budget: CreditBudget) -> BatchItem:
    return item_result(item, "not_sent", error=CreditLimitError(budget.reason()))


def created(
    item: PreparedItem, task: LipSyncTask, attempts: int, budget: CreditBudget
) -> BatchItem:
    budget.charged(item, task.credits_charged)
    return item_result(item, "created", task=task, attempts=attempts)


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
            stacklevel=3,
        )
