"""Many tasks at once: `create_many`, `watch_many`, `wait_many`.

The normal entry points are the client's methods (the async client has the
same names, awaitable):

>>> batch = client.lip_sync.create_many(
...     [{"audio_url": a, "video_url": v, "key": f"clip-{i}"} for i, (a, v) in enumerate(pairs)]
... )
>>> done = client.lip_sync.wait_many(batch)     # or: for task in ...watch_many(batch)

Inside: `plan` checks a whole batch before anything is sent (items, keys, media),
`gate` holds the credit budget and the pace after a 429, `create` sends; `follow` is
the one follower (behind `wait`, `watch_many`, `wait_many`) on the I/O-free engine in
`watch`;
`progress` is the snapshot and its views;
`results` what comes back; `export` writes a review folder (files and an HTML page).
"""

from __future__ import annotations

from ..errors import (
    BatchError,
    BatchValidationError,
    CreditLimitError,
    CreditWarning,
    WaitManyTimeoutError,
)
from .export import ExportReport, export_tasks
from .follow import AsyncBatchWatch, BatchWatch, follow
from .progress import ProgressMode, ProgressSnapshot, ProgressView
from .results import BatchItem, BatchResult, ItemTags, Outcome, TaskList
from .watch import DEFAULT_WAIT_MANY_TIMEOUT, WatchStats

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
    "export_tasks",
    "follow",
]
