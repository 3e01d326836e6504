"""Many tasks at once: `create_many`, `watch_many`, `wait_many`.

The normal entry points are the client's methods (the async client has the
same names, awaitable):

>>> batch = client.lip_sync.create_many(
...     [{"audio_url": a, "video_url": v, "key": f"clip-{i}"} for i, (a, v) in enumerate(pairs)]
... )
>>> done = client.lip_sync.wait_many(batch)     # or: for task in ...watch_many(batch)

Inside: `prepare` checks a whole batch before anything is sent, `inputs`
publishes and probes every item's media, `credits` keeps `max_credits`,
`start` decides everything before the first create, `run` keeps the books,
`gate` paces it after a 429, `watch_core` decides every watch cycle without
I/O; `create`, `watch` and their `async_` twins are the thin drivers; `progress` is the
snapshot and text bar, `progress_html` the notebook view, `progress_choice`
picks one; `results` holds what comes back; `export`
writes a review folder.
"""

from __future__ import annotations

from ..errors import (
    BatchError,
    BatchValidationError,
    CreditLimitError,
    CreditWarning,
    WaitManyTimeoutError,
)
from .async_watch import AsyncBatchWatch
from .create import create_many
from .export import ExportReport, export_tasks
from .progress import ProgressMode, ProgressSnapshot, ProgressView
from .results import BatchItem, BatchResult, ItemTags, Outcome, TaskList
from .watch import BatchWatch, wait_many, watch_many
from .watch_core import DEFAULT_WAIT_MANY_TIMEOUT, WatchStats

__all__ = [
    "DEFAULT_WAIT_MANY_TIMEOUT",
    "AsyncBatchWatch",
    "BatchError",
    "BatchItem",
    "BatchResult",
    "BatchValidationError",
    "BatchWatch",
    "CreditLimitError",
    "CreditWarning",
    "ExportReport",
    "ItemTags",
    "Outcome",
    "ProgressMode",
    "ProgressSnapshot",
    "ProgressView",
    "TaskList",
    "WaitManyTimeoutError",
    "WatchStats",
    "create_many",
    "export_tasks",
    "wait_many",
    "watch_many",
]
