"""The journal's values: states, one entry, the summary strip, a kept result, the filters.

Pure values, shared by every journal store: nothing here opens a file or
talks to a server.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from .._redact import redact_url
from ..errors import ValidationError
from ..models import LipSyncTask, TaskStatus, parse_timestamp

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._client import KittaClient as ClientBase

# Entry outcomes: what the journal knows about the create request itself.
OUTCOME_SENDING = "sending"  # written before the request went out; no answer yet
OUTCOME_CREATED = "created"  # 202 received (or matched later by reconcile)
OUTCOME_UNKNOWN = "unknown"  # the request may have reached the server; no taskId known
OUTCOME_REJECTED = "rejected"  # the server refused it, or it never left: nothing created
OUTCOME_ABSENT = "absent"  # reconcile walked the whole server list: never created
OUTCOME_REMOTE = "remote"  # known only from the server (created elsewhere)

# Derived `state` values beyond the server's statuses (the table's status column).
STATE_OUTCOME_UNKNOWN = "outcome_unknown"
STATE_REJECTED = "rejected"
STATE_NOT_CREATED = "not_created"
STATE_UNKNOWN_STATUS = "unknown"

FINAL_STATES = frozenset(
    {TaskStatus.SUCCEEDED.value, TaskStatus.FAILED.value, STATE_REJECTED, STATE_NOT_CREATED}
)
# Every state a filter may name, in display order.
STATES: tuple[str, ...] = (
    TaskStatus.PENDING.value,
    TaskStatus.PROCESSING.value,
    TaskStatus.SUCCEEDED.value,
    TaskStatus.FAILED.value,
    STATE_OUTCOME_UNKNOWN,
    STATE_REJECTED,
    STATE_NOT_CREATED,
    STATE_UNKNOWN_STATUS,
)

# Request fields holding a media URL (stored without credentials, see `_redact`).
BODY_URLS = ("videoUrl", "imageUrl", "audioUrl", "referenceImageUrl")
ENTRY_URLS = ("video_url", "image_url", "audio_url", "reference_image_url")
# Where a stored request keeps what was published for it, and the inputs its key was
# claimed with (neither is part of what was sent).
PUBLISHED_KEY = "x-published"
INPUTS_KEY = "x-inputs"
MAX_LABEL_LENGTH = 100
# A date filter: naive datetimes and dates are UTC, text is ISO-8601, a number epoch seconds.
DateLike = datetime | date | str | float | None


def now() -> float:
    return time.time()


def dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def ts(value: object) -> float | None:
    moment = parse_timestamp(value)
    return None if moment is None else moment.timestamp()


def number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        found = float(value)
    except ValueError:
        return None
    return found if math.isfinite(found) else None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be kept the same in every journal store, or None: PostgreSQL's
    text refuses NUL, and no store can encode a lone surrogate (not Unicode text)."""
    if "\x00" in value:
        return "must not contain a NUL character (\\x00)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain an unpaired surrogate (it is not valid Unicode text)"
    return None


def storable(value: str) -> str:
    """`value` as every store keeps it: NUL and lone surrogates (a server's text, a search
    typed or pasted) become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", value)


def text(value: object) -> str | None:
    if value is None:
        return None
    return storable(value if isinstance(value, str) else str(value))


def clean_labels(labels: Iterable[str]) -> list[str]:
    """Labels as stored (stripped, deduplicated, sorted); refuses one no store can keep."""
    clean = sorted({x.strip() for x in labels if x and x.strip()})
    for label in clean:
        problem = text_problem(label)
        if problem is None and len(label) > MAX_LABEL_LENGTH:
            problem = f"must be at most {MAX_LABEL_LENGTH} characters"
        if problem is not None:
            raise ValidationError([("labels", f"{label[:40]!r}: {problem}")])
    return clean


def clean_note(note: str | None) -> str | None:
    """A note as stored (None when empty); refuses one no store can keep."""
    problem = None if not note else text_problem(note)
    if problem is not None:
        raise ValidationError([("note", problem)])
    return note or None


def load_json(value: object) -> dict[str, Any] | None:
    if not isinstance(value, str):
        return None
    try:
        loaded = json.loads(value)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def derive_state(outcome: str, status: str | None) -> str:
    """The one column the browser filters on: a task status, or what became of the request."""
    if outcome in (OUTCOME_SENDING, OUTCOME_UNKNOWN):
        return STATE_OUTCOME_UNKNOWN
    if outcome == OUTCOME_REJECTED:
        return STATE_REJECTED
    if outcome == OUTCOME_ABSENT:
        return STATE_NOT_CREATED
    return status or STATE_UNKNOWN_STATUS


def stored_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request body as it may be kept: media URLs without credentials."""
    clean = dict(body)
    for name in BODY_URLS:
        value = clean.get(name)
        if isinstance(value, str):
            clean[name] = redact_url(value)
    return clean


def dto_values(merged: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a task's DTO fills (model, mode, credits, the DTO itself, its times)."""
    return {
        "model": text(merged.get("model")),
        "input_mode": text(merged.get("inputMode")),
        "credits": number(merged.get("creditsCharged")),
        "dto_json": json.dumps(dict(merged), sort_keys=True),
        "created_ts": ts(merged.get("createdAt")),
        "completed_ts": ts(merged.get("completedAt")),
    }


def created_columns(task_id: str, merged: Mapping[str, Any], *, reconciled: bool) -> dict[str, Any]:
    """An entry's columns once its create became `task_id` (`merged`: the task's DTO)."""
    seen = seen_columns(merged, OUTCOME_CREATED, new=False)
    moment = seen["updated_ts"] if reconciled else None
    return {"task_id": task_id, "outcome": OUTCOME_CREATED, **seen, "reconciled_ts": moment}


def seen_columns(merged: Mapping[str, Any], outcome: str, *, new: bool) -> dict[str, Any]:
    """The columns a task's DTO `merged` sets on its entry; a `new` row without the
    server's createdAt sorts by when it was first seen."""
    moment, status, dto = now(), text(merged.get("status")), dto_values(merged)
    created = dto["created_ts"]
    return {
        **{"status": status, "state": derive_state(outcome, status), **dto},
        **{"updated_ts": moment, "sort_ts": moment if new and created is None else created},
    }


def to_timestamp(value: DateLike) -> float | None:
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


def kept_location(path: str | os.PathLike[str]) -> str:
    """How the journal records a kept copy: a file by its absolute path, an object in
    a team's bucket (``s3://bucket/key``) as given, so every teammate finds it."""
    location = os.fspath(path)
    return location if "://" in location else str(Path(location).absolute())


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
    creator: str | None = None
    """Who sent the create (JupyterHub's user, else the OS user); None for a task first
    seen on the server, whose creator is not known."""
    account: str | None = None
    """The account's fingerprint (`schema.account_fingerprint`), never its token."""
    host: str | None = field(default=None, repr=False)
    """The machine whose clock stamped `requested_at` (read for unresolved creates only)."""
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
    def needs_reconcile(self) -> bool:
        return self.state == STATE_OUTCOME_UNKNOWN

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
    """Counts by state and credits charged over a filtered set (for the summary strip).

    `more`: a count capped at `total` found more entries (a search over a large history is
    not counted to the end); `counts` and `credits` are then empty, not a part shown as all.
    """

    counts: dict[str, int]
    credits: float
    total: int
    kept_bytes: int = 0
    more: bool = False


class Filters(TypedDict, total=False):
    """The filters of a history read (`History.items`, `count`, `summary`), each optional."""

    status: str | TaskStatus | Iterable[str | TaskStatus] | None
    mode: str | None
    since: DateLike
    until: DateLike
    label: str | Iterable[str] | None
    search: str | None
    source: str | None
    creator: str | Iterable[str] | None


@dataclass(frozen=True)
class Query:
    """The filters shared by the history API and the browser (each store turns them into
    its own query language)."""

    status: tuple[str, ...] = ()
    mode: str | None = None
    since: float | None = None
    until: float | None = None
    labels: tuple[str, ...] = ()
    search: str | None = None
    source: str | None = None
    creator: tuple[str, ...] = ()

    @classmethod
    def build(cls, **filters: Unpack[Filters]) -> Query:
        status, label = filters.get("status"), filters.get("label")
        search, source = filters.get("search"), filters.get("source")
        creator = filters.get("creator")
        if source not in (None, "local", "server"):
            raise ValueError("source must be 'local', 'server' or None")
        statuses = [status] if isinstance(status, (str, TaskStatus)) else status or ()
        labels = [label] if isinstance(label, str) else label or ()
        creators = [creator] if isinstance(creator, str) else creator or ()
        return cls(
            status=tuple(str(s) for s in statuses),
            mode=filters.get("mode") or None,
            since=to_timestamp(filters.get("since")),
            until=to_timestamp(filters.get("until")),
            labels=tuple(storable(x.strip()) for x in labels if x.strip()),
            search=storable((search or "").strip()) or None,
            source=source,
            creator=tuple(dict.fromkeys(storable(x.strip()) for x in creators if x.strip())),
        )

    @property
    def facets_only(self) -> bool:
        """True when only status, mode and source filter (what kept totals can answer)."""
        return (
            self.since is None
            and self.until is None
            and not self.labels
            and not self.search
            and not self.creator
        )


# --- the embedded sandbox's own media, recorded without its port -------------------------
# The sandbox serves its samples and published files at its own origin, whose port changes
# with every start. A journal chosen by identity (the sandbox's) records such a URL as
# ``kitta-sandbox:/path`` and reads it back against the sandbox running now, so "What was
# sent", "Compare with input" and an export's input links work after a restart.
SANDBOX_MEDIA = "kitta-sandbox:"


def portable(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """A create body or a key's inputs with every URL served at `origin` made port-free."""
    prefix = origin.rstrip("/").lower() + "/"
    found = dict(values)
    for name in (*BODY_URLS, *ENTRY_URLS):
        url = found.get(name)
        if isinstance(url, str) and url.lower().startswith(prefix):
            found[name] = SANDBOX_MEDIA + url[len(prefix) - 1 :]
    return found


def resolved_url(url: str | None, origin: str | None) -> str | None:
    """A recorded URL as the running sandbox serves it (others unchanged)."""
    if url is None or origin is None or not url.startswith(SANDBOX_MEDIA + "/"):
        return url
    return origin.rstrip("/") + url[len(SANDBOX_MEDIA) :]


def resolved_entry(entry: JournalEntry, origin: str | None) -> JournalEntry:
    """An entry whose input URLs (columns and recorded request) point at `origin`."""
    if origin is None:
        return entry
    changes: dict[str, Any] = {
        name: resolved_url(getattr(entry, name), origin)
        for name in ENTRY_URLS
        if (getattr(entry, name) or "").startswith(SANDBOX_MEDIA)
    }
    request = entry.request
    if request is not None and any(
        str(request.get(name) or "").startswith(SANDBOX_MEDIA) for name in BODY_URLS
    ):
        changes["request"] = {
            key: resolved_url(value, origin) if key in BODY_URLS else value
            for key, value in request.items()
        }
    return replace(entry, **changes) if changes else entry
