"""What a batch hands back: one `BatchItem` per request, the `BatchResult`, and `TaskList`.

Plain data with views attached: nothing here sends a request except the
convenience `wait()`, which goes through the client that made the tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, overload

from ..errors import BatchError, ValidationError
from ..i18n import check_lang
from ..models import LipSyncTask
from .export import ExportReport, export_batch, export_tasks

if TYPE_CHECKING:
    from ..validation import CreateRequest


Outcome = Literal["created", "existing", "rejected", "unknown", "skipped", "not_sent"]
"""What happened to one batch item.

* `created`: the task was created by this run.
* `existing`: its `key` was already known to the recorder; the task was fetched, not created.
* `rejected`: nothing was created (the server refused it, or it never left this machine).
* `unknown`: the request may have reached the server (5xx, read timeout): a task
  may exist and credits may be spent. It was NOT resent.
* `skipped`: the item is invalid or its media have a definite problem, and the batch
  ran with `skip_invalid=True`; nothing was sent for it (`problems` says why).
* `not_sent`: `max_credits` was reached before this item's turn, or the journal could not
  write a create down (a `JournalError`: no item after it is sent); nothing was sent.
"""

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

# The task status whose colours each outcome is drawn with (`queued`: not sent yet).
OUTCOME_STATUS: dict[str, str] = {
    "created": "succeeded",
    "existing": "succeeded",
    "rejected": "failed",
    "unknown": "unknown",
    "skipped": "failed",
    "not_sent": "failed",
    "queued": "pending",
}


@dataclass(frozen=True)
class ItemTags:
    """The caller's names for one task: its batch `key` and its `labels`."""

    key: str | None = None
    labels: tuple[str, ...] = ()


@dataclass
class BatchItem:
    """The result of one batch item: a task, an error, or (rarely) both.

    `task` is set for `created` and `existing` items; `error` for `rejected`,
    `unknown`, `skipped` (a `ValidationError` with the item's `problems`) and
    `not_sent` (a `CreditLimitError` or `JournalError`) ones, and for an `existing` item whose task
    could not be fetched: then `task` is a bare placeholder with only its id.
    """

    index: int
    key: str | None
    outcome: Outcome
    task: LipSyncTask | None = None
    error: Exception | None = None
    attempts: int = 0
    """Create requests sent for this item (a 429 refusal counts; 0 for `existing`)."""
    labels: tuple[str, ...] = ()
    """The item's `labels` as given (e.g. the language of a dubbed track)."""
    request: CreateRequest | None = None
    """The checked request: what was sent (or, for a rejected item, would have been)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def task_id(self) -> str | None:
        return self.task.task_id if self.task is not None else None

    @property
    def problems(self) -> list[tuple[str, str]]:
        """Why a `skipped` item was not sent: (field, message) pairs."""
        return list(self.error.problems) if isinstance(self.error, ValidationError) else []

    @property
    def tags(self) -> ItemTags:
        return ItemTags(self.key, self.labels)

    def __repr__(self) -> str:
        parts = [f"index={self.index}", f"outcome={self.outcome!r}"]
        if self.key is not None:
            parts.append(f"key={self.key!r}")
        if self.labels:
            parts.append(f"labels={list(self.labels)!r}")
        if self.task is not None:
            parts.append(f"task_id={self.task.task_id!r}")
        if self.error is not None:
            parts.append(f"error={type(self.error).__name__}: {self.error}")
        return f"BatchItem({', '.join(parts)})"


def tags_of(items: Iterable[BatchItem]) -> dict[str, ItemTags]:
    """Task id -> key and labels, for views that show tasks by the caller's names."""
    return {
        item.task.task_id: item.tags
        for item in items
        if item.task is not None and (item.key is not None or item.labels)
    }


class TaskList(list[LipSyncTask]):
    """The tasks `wait_many` returns, in input order; shows as a gallery in a notebook.

    `tags` maps a task id to the key and labels it was created with (filled
    when the tasks came from a `BatchResult`), so views and reports can name
    each task the way the caller did.
    """

    def __init__(
        self, tasks: Iterable[LipSyncTask] = (), tags: Mapping[str, ItemTags] | None = None
    ) -> None:
        super().__init__(tasks)
        self.tags: dict[str, ItemTags] = dict(tags or {})

    @property
    def succeeded(self) -> list[LipSyncTask]:
        return [task for task in self if task.succeeded]

    @property
    def failed(self) -> list[LipSyncTask]:
        return [task for task in self if task.failed]

    def gallery(self, **options: Any) -> Any:
        """A `Gallery` view of these tasks (options: lang, embed, max_cards)."""
        options.setdefault("tags", self.tags)
        from ..display.gallery import Gallery  # imported when used (`.importlinter`)

        return Gallery(self, **options)

    def export(self, folder: str | Path, **options: Any) -> ExportReport:
        """Write a review folder: `index.html`, `manifest.csv`, `manifest.json` and the
        kept videos beside them; see `kitta_notebook.batch.export.export_tasks`."""
        return export_tasks(self, folder, tags=self.tags, **options)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return dict(self.gallery()._repr_mimebundle_())


@dataclass
class BatchResult(Sequence[BatchItem]):
    """Every item of a `create_many` batch, in input order; none is ever left out.

    Iterate it, index it, or use the views: `tasks`, `created`, `rejected`,
    `unknown`, `errors`. `wait()` waits for all its tasks; in a notebook it
    shows a summary table.
    """

    items: list[BatchItem]
    elapsed: float = 0.0
    rate_limited: int = 0
    """429 answers met during the batch (each paused the whole batch)."""
    paused_seconds: float = 0.0
    """Seconds the whole batch spent paused on `Retry-After`."""
    credit_stop: str | None = None
    """Why the batch stopped sending (`max_credits` reached), or None when it did not."""

    @overload
    def __getitem__(self, index: int) -> BatchItem: ...
    @overload
    def __getitem__(self, index: slice) -> list[BatchItem]: ...
    def __getitem__(self, index: int | slice) -> BatchItem | list[BatchItem]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[BatchItem]:
        return iter(self.items)

    def _with(self, *outcomes: Outcome) -> list[BatchItem]:
        return [item for item in self.items if item.outcome in outcomes]

    @property
    def tasks(self) -> TaskList:
        """The tasks of `created` and `existing` items, in input order, with their keys
        and labels (`wait_many(result.tasks)` hands them on to its gallery and export)."""
        return TaskList((item.task for item in self.items if item.task is not None), self.tags)

    @property
    def tags(self) -> dict[str, ItemTags]:
        """Task id -> the key and labels its item was given."""
        return tags_of(self.items)

    @property
    def created(self) -> list[BatchItem]:
        return self._with("created")

    @property
    def existing(self) -> list[BatchItem]:
        return self._with("existing")

    @property
    def rejected(self) -> list[BatchItem]:
        return self._with("rejected")

    @property
    def unknown(self) -> list[BatchItem]:
        """Items whose create may have reached the server: check before creating them again."""
        return self._with("unknown")

    @property
    def skipped(self) -> list[BatchItem]:
        """Invalid items left out by `skip_invalid=True`; see each item's `problems`."""
        return self._with("skipped")

    @property
    def not_sent(self) -> list[BatchItem]:
        """Items never sent because `max_credits` was reached (see `credit_stop`)."""
        return self._with("not_sent")

    @property
    def errors(self) -> list[BatchItem]:
        return [item for item in self.items if item.error is not None]

    @property
    def ok(self) -> bool:
        """True when every item has its task and no error."""
        return not self.errors

    @property
    def counts(self) -> dict[str, int]:
        found: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for item in self.items:
            found[item.outcome] += 1
        return found

    @property
    def credits(self) -> int | float:
        """Credits charged for the tasks this run created, as last known: the create's
        estimate, or the final charge once the tasks were refreshed (e.g. by `wait()`)."""
        return sum(
            item.task.credits_charged or 0
            for item in self.items
            if item.outcome == "created" and item.task is not None
        )

    def raise_for_errors(self) -> BatchResult:
        """Raise `BatchError` when any item failed; return self otherwise (for chaining)."""
        if self.errors:
            raise BatchError(self)
        return self

    def wait(self, **kwargs: Any) -> TaskList:
        """Wait for every task of this batch; see `LipSync.wait_many`.

        Async code: `await client.lip_sync.wait_many(result)`.
        """
        tasks = self.tasks
        if not tasks:
            return TaskList()
        return tasks[0]._owner().as_sync().lip_sync.wait_many(self, **kwargs)

    def gallery(self, **options: Any) -> Any:
        """A `Gallery` of this batch's tasks, each with its key and labels (as last known:
        call `wait()` first for the finished videos)."""
        from ..display.gallery import Gallery

        return Gallery(self, **options)

    def export(self, folder: str | Path, **options: Any) -> ExportReport:
        """Write a review folder of this batch (rejected and unknown items included);
        see `kitta_notebook.batch.export.export_tasks`."""
        return export_batch(self, folder, **options)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={n}" for name, n in self.counts.items() if n)
        stop = f"; {self.credit_stop}" if self.credit_stop else ""
        return f"BatchResult({len(self)} items: {counts or 'empty'}, {self.elapsed:.1f} s{stop})"

    def to_html(self, lang: str = "en") -> str:
        from ..display.gallery import batch_html

        return batch_html(self, lang=check_lang(lang))

    def _repr_html_(self) -> str:
        return self.to_html()
