"""The journal's row model: one entry, the summary strip, a kept result, and states.

Pure values: nothing here opens a file or talks to a server.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from ..models import LipSyncTask, TaskStatus, parse_timestamp
from . import schema

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "SORT_COLUMNS",
    "STATES",
    "JournalEntry",
    "JournalSummary",
    "KeptResult",
    "derive_state",
    "to_timestamp",
]

SortKey = Literal["created", "credits", "updated", "status"]
SORT_COLUMNS: Mapping[str, str] = {
    "created": "sort_ts",
    "credits": "credits",
    "updated": "updated_ts",
    "status": "state",
}
ACTIVE_STATES = frozenset({TaskStatus.PENDING.value, TaskStatus.PROCESSING.value})
FINAL_STATES = frozenset(
    {
        TaskStatus.SUCCEEDED.value,
        TaskStatus.FAILED.value,
        schema.STATE_REJECTED,
        schema.STATE_NOT_CREATED,
    }
)
# Every state a filter may name, in display order.
STATES: tuple[str, ...] = (
    TaskStatus.PENDING.value,
    TaskStatus.PROCESSING.value,
    TaskStatus.SUCCEEDED.value,
    TaskStatus.FAILED.value,
    schema.STATE_OUTCOME_UNKNOWN,
    schema.STATE_REJECTED,
    schema.STATE_NOT_CREATED,
    schema.STATE_UNKNOWN_STATUS,
)


def now() -> float:
    return time.time()


def dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def ts(value: object) -> float | None:
    moment = parse_timestamp(value)
    return None if moment is None else moment.timestamp()


def number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def credits_out(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def derive_state(outcome: str, status: str | None) -> str:
    """The one column the browser filters on: a task status, or what became of the request."""
    if outcome in (schema.OUTCOME_SENDING, schema.OUTCOME_UNKNOWN):
        return schema.STATE_OUTCOME_UNKNOWN
    if outcome == schema.OUTCOME_REJECTED:
        return schema.STATE_REJECTED
    if outcome == schema.OUTCOME_ABSENT:
        return schema.STATE_NOT_CREATED
    return status or schema.STATE_UNKNOWN_STATUS


def to_timestamp(value: datetime | date | str | float | int | None) -> float | None:
    """Epoch seconds for a date filter (naive datetimes and dates are UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a date filter must be a datetime, a date, ISO text or epoch seconds")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    if isinstance(value, str):
        parsed = parse_timestamp(value)
        if parsed is None:
            raise ValueError(f"not an ISO-8601 date or time: {value!r}")
        return parsed.timestamp()
    raise TypeError(f"unsupported date filter {value!r}")


@dataclass(frozen=True)
class KeptResult:
    """A result video kept on this machine (the download side writes it, the journal remembers)."""

    task_id: str
    path: str
    size: int
    sha256: str
    kept_at: datetime


@dataclass(frozen=True)
class JournalEntry:
    """One row of the journal: a create this toolkit sent, or a task seen on the server.

    `state` is what a table shows: the task's status once there is a task,
    else `outcome_unknown`, `rejected` or `not_created`.
    """

    entry_id: str
    task_id: str | None
    source: str
    outcome: str
    state: str
    status: str | None
    model: str | None
    input_mode: str | None
    video_url: str | None
    image_url: str | None
    audio_url: str | None
    reference_image_url: str | None
    duration_seconds: float | None
    credits: int | float | None
    key: str | None
    note: str | None
    download_path: str | None
    labels: tuple[str, ...]
    requested_at: datetime | None
    created_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime | None
    reconciled_at: datetime | None
    outcome_error: str | None = None
    request: dict[str, Any] | None = field(default=None, repr=False)
    dto: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def from_server(self) -> bool:
        """True for a task this journal only knows from the server (created elsewhere)."""
        return self.source == "server"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_active(self) -> bool:
        """A task that exists and has not finished (worth watching)."""
        return self.task_id is not None and not self.is_final and self.outcome != "absent"

    @property
    def needs_reconcile(self) -> bool:
        return self.state == schema.STATE_OUTCOME_UNKNOWN

    @property
    def error_code(self) -> str | None:
        return text(self.dto.get("errorCode")) if self.dto else None

    @property
    def error_message(self) -> str | None:
        return text(self.dto.get("errorMessage")) if self.dto else None

    @property
    def when(self) -> datetime | None:
        """Creation time on the server, else when the request was written down."""
        return self.created_at or self.requested_at

    def task(self, client: ClientBase | None = None) -> LipSyncTask | None:
        """The latest DTO seen as a `LipSyncTask` bound to `client` (None before a taskId)."""
        if self.dto is None or not self.task_id:
            return None
        return LipSyncTask(self.dto, client=client)


@dataclass(frozen=True)
class JournalSummary:
    """Counts by state and credits charged over a filtered set (for the summary strip)."""

    counts: dict[str, int]
    credits: float
    total: int
    kept_bytes: int = 0


ENTRY_COLUMNS = (
    "entry_id, task_id, source, outcome, state, status, model, input_mode, video_url, "
    "image_url, audio_url, reference_image_url, duration_seconds, credits, batch_key, note, "
    "download_path, requested_ts, created_ts, completed_ts, updated_ts, reconciled_ts, "
    "outcome_error, request_json, dto_json, "
    "(SELECT group_concat(label, char(31)) FROM labels l WHERE l.entry_id = entries.entry_id)"
)


def load_json(text: object) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def entry_from_row(row: Sequence[Any]) -> JournalEntry:
    labels = tuple(sorted(row[25].split("\x1f"))) if row[25] else ()
    return JournalEntry(
        entry_id=row[0],
        task_id=row[1],
        source=row[2],
        outcome=row[3],
        state=row[4],
        status=row[5],
        model=row[6],
        input_mode=row[7],
        video_url=row[8],
        image_url=row[9],
        audio_url=row[10],
        reference_image_url=row[11],
        duration_seconds=row[12],
        credits=credits_out(row[13]),
        key=row[14],
        note=row[15],
        download_path=row[16],
        labels=labels,
        requested_at=dt(row[17]),
        created_at=dt(row[18]),
        completed_at=dt(row[19]),
        updated_at=dt(row[20]),
        reconciled_at=dt(row[21]),
        outcome_error=row[22],
        request=load_json(row[23]),
        dto=load_json(row[24]),
    )
