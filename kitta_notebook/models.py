"""Typed views of the task DTO and the list page.

The DTO's field names live in `TASK_FIELDS` and nowhere else: parsing, the
sandbox's tests and the display code all read them from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import IO, TYPE_CHECKING, Any, Union

from . import _bridge
from ._redact import clip

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from ._client import AsyncKittaClient, KittaClient
    from .display.follow import LiveTaskView


# A media argument of a create: an http(s) URL, or a local file to publish first
# (a path, bytes, or an open binary file with a name).
MediaInput = Union[str, "os.PathLike[str]", bytes, IO[bytes]]


class TaskStatus(str, Enum):
    """The four statuses the contract documents.

    The server may one day send another value; such a status is kept as a
    plain string on the task (never a crash) and counts as not finished.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED})
ACTIVE_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.PROCESSING})


_KNOWN_STATUSES: Mapping[str, TaskStatus] = {status.value: status for status in TaskStatus}
"""A dict lookup, not `TaskStatus(text)`: statuses are parsed for every list item."""


def parse_status(value: object) -> TaskStatus | str | None:
    """A known status as `TaskStatus`, an unknown one as the string received."""
    if value is None:
        return None
    text = str(value)
    return _KNOWN_STATUSES.get(text, text)


# DTO JSON name -> attribute name. One table for parsing and for display.
TASK_FIELDS: Mapping[str, str] = {
    "id": "id",
    "taskId": "task_id",
    "type": "type",
    "status": "status",
    "model": "model",
    "inputMode": "input_mode",
    "resultVideoUrl": "result_video_url",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "creditsCharged": "credits_charged",
    "createdAt": "created_at",
    "startedAt": "started_at",
    "completedAt": "completed_at",
}
TIMESTAMP_FIELDS = frozenset({"createdAt", "startedAt", "completedAt"})
# What the list endpoint returns for each item (a subset of the DTO).
LIST_ITEM_FIELDS = frozenset(
    {"taskId", "type", "status", "inputMode", "resultVideoUrl", "creditsCharged"}
)


def parse_timestamp(value: object) -> datetime | None:
    """An aware datetime from ISO-8601 text; None when absent or unreadable.

    Naive timestamps are read as UTC. An unreadable one is not an error: the
    text stays available in `task.raw`.
    """
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _credits(value: object) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return _credits(number)
    return None


def _parser_for(json_name: str) -> Callable[[object], object]:
    if json_name in TIMESTAMP_FIELDS:
        return parse_timestamp
    return {"status": parse_status, "creditsCharged": _credits}.get(json_name, _optional_str)


# (JSON name, attribute, parser) for every DTO field, decided once: tasks are parsed per poll.
_FIELD_PARSERS = tuple(
    (json_name, attr, _parser_for(json_name)) for json_name, attr in TASK_FIELDS.items()
)


class LipSyncTask:
    """One lip-sync task as the server last described it.

    Tasks from `get`/`create` carry the full DTO; tasks from `list` carry the
    subset the list endpoint returns, with the other fields `None`
    (`is_partial` tells which). `raw` keeps the JSON exactly as received,
    unknown fields included. A task remembers the client that fetched it, so
    `refresh()`, `wait()`, `download()` and `watch()` work on it directly.
    """

    id: str | None
    task_id: str
    type: str | None
    status: TaskStatus | str | None
    model: str | None
    input_mode: str | None
    result_video_url: str | None
    error_code: str | None
    error_message: str | None
    credits_charged: int | float | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        request_id: str | None = None,
        client: KittaClient | AsyncKittaClient | None = None,
    ) -> None:
        self._client = client
        self._apply(raw, request_id)

    def _apply(self, raw: Mapping[str, Any], request_id: str | None) -> None:
        self.raw: dict[str, Any] = dict(raw)
        self.request_id = request_id
        fields = self.__dict__  # every parser maps None to None: absent fields skip it
        for json_name, attr, parse in _FIELD_PARSERS:
            value = raw.get(json_name)
            fields[attr] = None if value is None else parse(value)
        self.task_id = self.task_id or ""

    def _update_from(self, other: LipSyncTask) -> None:
        """Take another snapshot's state in place (used by refresh/wait)."""
        self._apply(other.raw, other.request_id)

    # --- derived facts -------------------------------------------------
    @property
    def is_terminal(self) -> bool:
        """True once the task is `succeeded` or `failed`; unknown statuses are not."""
        return isinstance(self.status, TaskStatus) and self.status.is_terminal

    @property
    def succeeded(self) -> bool:
        return self.status == TaskStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.status == TaskStatus.FAILED

    @property
    def is_partial(self) -> bool:
        """True for a list item: the list endpoint omits id, model, errors and times."""
        return not (set(self.raw) - LIST_ITEM_FIELDS)

    @property
    def status_text(self) -> str:
        """The status as a plain string (`"unknown"` when the server sent none)."""
        if self.status is None:
            return "unknown"
        return str(self.status)

    @property
    def elapsed_seconds(self) -> float | None:
        """Seconds from creation to completion (or to now while running)."""
        if self.created_at is None:
            return None
        end = self.completed_at or datetime.now(timezone.utc)
        return max(0.0, (end - self.created_at).total_seconds())

    # --- actions (delegate to the client that made this task) -----------
    def _owner(self) -> KittaClient:
        if self._client is None:
            raise RuntimeError(
                "This task is not bound to a client. Fetch it with client.lip_sync.get(task_id)."
            )
        return self._client.as_sync()

    @property
    def client(self) -> KittaClient:
        """The client that made or fetched this task (its sync face; `.as_async()` gives
        the other). `RuntimeError` for a task built by hand, bound to no client."""
        return self._owner()

    def refresh(self) -> LipSyncTask:
        """Fetch the task again (for a new status or a fresh result URL); updates in place."""
        self._update_from(self._owner().lip_sync.get(self.task_id))
        return self

    async def async_refresh(self) -> LipSyncTask:
        """`refresh()`, awaitable."""
        return await _bridge.run_sync(self.refresh)

    def wait(
        self,
        timeout: float | None = None,
        poll_interval: float | None = None,
        *,
        raise_on_failure: bool = True,
    ) -> LipSyncTask:
        """Block until the task finishes; updates this object in place. See `LipSync.wait`."""
        return self._owner().lip_sync.wait(
            self, timeout=timeout, poll_interval=poll_interval, raise_on_failure=raise_on_failure
        )

    async def async_wait(
        self,
        timeout: float | None = None,
        poll_interval: float | None = None,
        *,
        raise_on_failure: bool = True,
    ) -> LipSyncTask:
        """`wait()`, awaitable; cancelling the await stops the polling."""
        return await _bridge.run_sync(
            self.wait, timeout, poll_interval, raise_on_failure=raise_on_failure
        )

    def download(
        self,
        path: str | Path | None = None,
        *,
        overwrite: bool | None = None,
        timeout: float | None = None,
    ) -> Path:
        """Save the result video to `path` (a file or a folder); returns the file path.

        Same rules as `client.download()`: an existing file is replaced only when
        kitta-notebook wrote it and it is unchanged (`overwrite=True`: any file),
        `timeout` bounds the whole transfer (default 600 s), and only a complete
        video is written. Result hosts never see the token.
        """
        return self._owner().download(self, path, overwrite=overwrite, timeout=timeout)

    async def async_download(
        self, path: str | Path | None = None, *, overwrite: bool | None = None
    ) -> Path:
        """`download()`, awaitable."""
        return await _bridge.run_sync(self.download, path, overwrite=overwrite)

    def watch(
        self,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        embed: bool | None = None,
        lang: str = "en",
    ) -> LiveTaskView:
        """Show this task and update it live until it finishes; returns at once.

        In a notebook the view updates in place and ends as static HTML; in a
        script it prints one short line per change. `embed` inlines the result
        video (default: only when the browser could not reach its URL).
        """
        from .display.follow import watch_task  # the view, imported when used (`.importlinter`)

        return watch_task(
            self, poll_interval=poll_interval, timeout=timeout, embed=embed, lang=lang
        )

    # --- representations --------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON as received from the server."""
        return dict(self.raw)

    def __repr__(self) -> str:
        def short(value: object) -> str:
            return repr(clip(value, 200))

        parts = [f"task_id={short(self.task_id)}", f"status={short(self.status_text)}"]
        if self.model:
            parts.append(f"model={short(self.model)}")
        if self.credits_charged is not None:
            parts.append(f"credits_charged={self.credits_charged!r}")
        if self.result_video_url:
            parts.append(f"result_video_url={short(self.result_video_url)}")
        if self.error_code or self.error_message:
            parts.append(f"error={short(self.error_code)}: {short(self.error_message)}")
        return f"LipSyncTask({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LipSyncTask):
            return NotImplemented
        return self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .display.html import task_mimebundle  # the view, imported when shown (`.importlinter`)

        return task_mimebundle(self)


PollCallback = Callable[["LipSyncTask", "Exception | None"], None]


@dataclass
class Page:
    """One page of `GET /v1/lip-sync/tasks`: list items plus pagination."""

    data: list[LipSyncTask]
    limit: int
    offset: int
    has_more: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    request_id: str | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[LipSyncTask]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> LipSyncTask:
        return self.data[index]

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, or None on the last page."""
        return self.offset + len(self.data) if self.has_more and self.data else None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .display.html import page_mimebundle

        return page_mimebundle(self)
