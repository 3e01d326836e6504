"""`resume()`: pick up the tasks that were running when the last kernel died."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import KittaError, NotFoundError
from ..models import LipSyncTask
from .base import journal_of
from .entry import STATES, JournalEntry
from .reconcile import ReconcileReport

if TYPE_CHECKING:
    from .._client import KittaClient

__all__ = ["ResumedTasks", "resume", "state_names"]


class ResumedTasks(list[LipSyncTask]):
    """The tasks `resume()` re-attached to, plus what it could not resolve."""

    def __init__(self, tasks: Iterable[LipSyncTask] = ()) -> None:
        super().__init__(tasks)
        self.watchers: list[Any] = []
        self.unresolved: list[JournalEntry] = []
        self.missing: list[JournalEntry] = []
        self.reconcile_report: ReconcileReport | None = None

    def __repr__(self) -> str:
        states = ", ".join(f"{t.task_id}: {t.status_text}" for t in self)
        extra = f"; {len(self.unresolved)} of unknown outcome" if self.unresolved else ""
        return f"ResumedTasks([{states}]{extra})"


def resume(
    client: KittaClient,
    *,
    watch: bool = True,
    reconcile: bool = True,
    lang: str = "en",
    poll_interval: float | None = None,
    timeout: float | None = None,
) -> ResumedTasks:
    """Pick up the tasks that were running when the last kernel died.

    Unknown-outcome creates are reconciled against the server's list first;
    then every journalled task that had not finished is fetched again and,
    with `watch=True`, shown with a live view (`task.watch()`). Returns the
    tasks; `.unresolved` lists creates whose outcome is still unknown.
    (`kitta_notebook.resume()` takes no client: it uses `connect()`.)
    """
    journal = journal_of(client)
    result = ResumedTasks()
    if reconcile and journal.unresolved():
        try:
            result.reconcile_report = client.history.reconcile()
        except KittaError as exc:
            warnings.warn(f"resume(): could not reconcile with the server: {exc}", stacklevel=2)
    result.unresolved = journal.unresolved()
    for entry in journal.active():
        assert entry.task_id is not None
        try:
            task = client.lip_sync.get(entry.task_id)
        except NotFoundError:
            result.missing.append(entry)
            continue
        except KittaError:
            # The server is unreachable right now: keep the last state; the view polls on.
            stale = entry.task(client)
            if stale is None:
                continue
            task = stale
        result.append(task)
    if watch:
        for task in result:
            result.watchers.append(
                task.watch(lang=lang, poll_interval=poll_interval, timeout=timeout)
            )
    if result.unresolved:
        warnings.warn(
            f"resume(): {len(result.unresolved)} create(s) of unknown outcome remain; "
            "see client.history.unresolved() and client.history.reconcile().",
            stacklevel=2,
        )
    return result


def state_names() -> tuple[str, ...]:
    """Every state a status filter may name."""
    return STATES
