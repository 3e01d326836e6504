"""The logic of `create_many`, shared by the sync and async clients, free of I/O.

It checks a whole batch before anything is sent, decides what each item's
outcome was, and keeps the rate gate that pauses every worker of a batch
after a 429. The drivers in `batch.py` only send, wait and sleep.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

from .errors import (
    APIConnectionError,
    APIError,
    KittaError,
    RateLimitError,
    ValidationError,
)
from .models import LipSyncTask
from .validation import DEFAULT_MODEL, URL_FIELDS, CreateRequest

if TYPE_CHECKING:
    from ._core import ClientConfig
    from ._watch_core import TaskList

ProgressMode = bool | Literal["auto"]
"""`True`: always show progress; `False`: never; `"auto"`: in a notebook, or on a terminal."""

Outcome = Literal["created", "existing", "rejected", "unknown"]
"""What happened to one batch item.

* `created`: the task was created by this run.
* `existing`: its `key` was already known to the recorder; the task was fetched, not created.
* `rejected`: nothing was created (the server refused it, or it never left this machine).
* `unknown`: the request may have reached the server (5xx, read timeout): a task
  may exist and credits may be spent. It was NOT resent.
"""

MAX_CONCURRENCY = 128
MAX_KEY_LENGTH = 200
# A 429 means the server refused the create, so resending is safe; each round
# is one `_create_checked` call (which itself retries 429 `max_retries` times).
MAX_RATE_LIMIT_ROUNDS = 10
# At most this many problems are spelled out in a BatchValidationError's message.
MAX_LISTED_PROBLEMS = 20

CREATE_FIELDS = (
    "audio_url",
    "video_url",
    "image_url",
    "reference_image_url",
    "model",
    "input_mode",
    "duration_seconds",
)
# Wire (camelCase) names a user may type by habit, mapped to the keyword they meant.
_WIRE_NAMES: Mapping[str, str] = {
    **{wire: attr for attr, wire in URL_FIELDS.items()},
    "inputMode": "input_mode",
    "durationSeconds": "duration_seconds",
}


# --- validation of a whole batch ------------------------------------------------------
class BatchValidationError(ValidationError):
    """Some batch items are invalid; nothing at all was sent.

    `problems` lists `("requests[3].audio_url", message)` pairs for every
    problem of every item; `by_index` groups them per item index.
    """

    def __init__(self, problems: Sequence[tuple[int, str, str]], total: int) -> None:
        self.by_index: dict[int, list[tuple[str, str]]] = {}
        for index, name, message in problems:
            self.by_index.setdefault(index, []).append((name, message))
        flat = [(_item_field(index, name), message) for index, name, message in problems]
        super().__init__(flat)
        lines = [f"{name}: {message}" for name, message in flat[:MAX_LISTED_PROBLEMS]]
        if len(flat) > MAX_LISTED_PROBLEMS:
            lines.append(f"… and {len(flat) - MAX_LISTED_PROBLEMS} more (see .problems)")
        self.args = (
            f"{len(self.by_index)} of {total} batch items are invalid; nothing was sent:"
            + "\n  - "
            + "\n  - ".join(lines),
        )


def _item_field(index: int, name: str) -> str:
    return f"requests[{index}]" + (f".{name}" if name else "")


@dataclass(frozen=True)
class PreparedItem:
    """One batch item that passed every check."""

    index: int
    key: str | None
    request: CreateRequest


def _fields_of(item: object) -> tuple[dict[str, Any], object, list[tuple[str, str]]]:
    """(create keyword arguments, key, problems) of one batch item."""
    problems: list[tuple[str, str]] = []
    if isinstance(item, Mapping):
        fields: dict[str, Any] = {}
        key: object = None
        for name, value in item.items():
            if name == "key":
                key = value
            elif name in CREATE_FIELDS:
                fields[name] = value
            else:
                hint = _WIRE_NAMES.get(str(name))
                suggestion = f"; did you mean {hint!r}?" if hint else ""
                problems.append((str(name), f"is not a create argument{suggestion}"))
        return fields, key, problems
    if hasattr(item, "audio_url"):  # a CreateRequest, or any object with its attributes
        fields = {name: getattr(item, name) for name in CREATE_FIELDS if hasattr(item, name)}
        return fields, getattr(item, "key", None), problems
    problems.append(
        ("", f"must be a dict of create arguments or a CreateRequest, got {type(item).__name__}")
    )
    return {}, None, problems


def prepare_batch(
    requests: Iterable[object], validate: Callable[..., CreateRequest]
) -> list[PreparedItem]:
    """Check every item (and every key); raise one `BatchValidationError` listing all problems.

    `validate` is the client's own create check, so a batch item is held to
    exactly the rules of a single `create()`.
    """
    if isinstance(requests, (str, bytes, Mapping)):
        raise ValidationError(
            [("requests", "must be a list of create requests (dicts), not a single value")]
        )
    items = list(requests)
    problems: list[tuple[int, str, str]] = []
    prepared: list[PreparedItem] = []
    keys: dict[str, int] = {}
    for index, item in enumerate(items):
        fields, raw_key, item_problems = _fields_of(item)
        problems.extend((index, name, message) for name, message in item_problems)
        key: str | None = None
        if raw_key is not None:
            if not isinstance(raw_key, str) or not raw_key.strip():
                problems.append((index, "key", "must be a non-empty string"))
            elif len(raw_key) > MAX_KEY_LENGTH:
                problems.append((index, "key", f"must be at most {MAX_KEY_LENGTH} characters"))
            elif raw_key in keys:
                problems.append(
                    (index, "key", f"{raw_key!r} is also the key of requests[{keys[raw_key]}]")
                )
            else:
                key = raw_key
                keys[raw_key] = index
        if item_problems and not fields:
            continue
        try:
            request = validate(
                audio_url=fields.get("audio_url"),
                video_url=fields.get("video_url"),
                image_url=fields.get("image_url"),
                reference_image_url=fields.get("reference_image_url"),
                model=fields.get("model", DEFAULT_MODEL),
                input_mode=fields.get("input_mode"),
                duration_seconds=fields.get("duration_seconds"),
            )
        except ValidationError as exc:
            problems.extend((index, name, message) for name, message in exc.problems)
            continue
        prepared.append(PreparedItem(index, key, request))
    if problems:
        raise BatchValidationError(problems, len(items))
    return prepared


def check_concurrency(concurrency: object) -> int:
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise ValidationError(
            [("concurrency", f"must be a whole number from 1 to {MAX_CONCURRENCY}")]
        )
    return concurrency


def check_progress(progress: object) -> ProgressMode:
    if isinstance(progress, bool):
        return progress
    if progress == "auto":
        return "auto"
    raise ValidationError([("progress", "must be True, False or 'auto'")])


# --- outcomes ----------------------------------------------------------------------------
def outcome_of(error: BaseException) -> Outcome:
    """`rejected` only when the error proves nothing was created; else `unknown`.

    Mirrors how the client tells its recorder: a server's refusal, or a
    connection that was never made, is definite; a 5xx, a read timeout, an
    unreadable 2xx or an interrupt is not.
    """
    if isinstance(error, APIError) and 200 <= error.status_code < 300:
        return "unknown"  # the server accepted something we could not read
    if isinstance(error, (APIError, APIConnectionError)) and not error.may_have_created:
        return "rejected"
    return "unknown"


def may_resend(error: BaseException, rounds: int) -> bool:
    """Whether a failed create may be sent again: only a 429, which created nothing."""
    return isinstance(error, RateLimitError) and rounds < MAX_RATE_LIMIT_ROUNDS


# --- the rate gate -----------------------------------------------------------------------
class RateGate:
    """The pace of one batch, shared by all its workers (threads or asyncio tasks).

    A 429 anywhere in the batch pauses every worker until its `Retry-After`
    (or a backoff when absent) and halves how many creates may be in flight;
    each success lets one more back in, gradually (additive increase). Only
    the numbers live here; the drivers do the waiting.
    """

    def __init__(
        self, limit: int, config: ClientConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._allowed = float(limit)
        self._in_flight = 0
        self._until = 0.0
        self._last_pause = 0.0
        self._strikes = 0
        self.rate_limited = 0
        self.paused_seconds = 0.0
        self.lowest_allowed = limit

    @property
    def allowed(self) -> int:
        """How many creates may be in flight now."""
        with self._lock:
            return max(1, int(self._allowed))

    def pause_left(self) -> float:
        """Seconds until the current pause ends (0 when not paused)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait_time(self) -> float:
        """How long a request about to be sent must wait: the pause, plus a little jitter
        so the workers do not all resume at the same instant."""
        with self._lock:
            left = self._until - self._clock()
            if left <= 0:
                return 0.0
            return left + self._rng.uniform(0.0, min(1.0, 0.2 * self._last_pause))

    def try_enter(self) -> float | None:
        """Take an in-flight slot (None), or say how long to wait before trying again
        (0.0: until another worker leaves)."""
        with self._lock:
            left = self._until - self._clock()
            if left > 0:
                return left + self._rng.uniform(0.0, min(1.0, 0.2 * self._last_pause))
            if self._in_flight >= max(1, int(self._allowed)):
                return 0.0
            self._in_flight += 1
            return None

    def leave(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def on_response(self, status_code: int, retry_after: float | None) -> None:
        """Learn from every response the batch receives."""
        with self._lock:
            now = self._clock()
            if status_code == 429:
                self.rate_limited += 1
                if now >= self._until:  # one cut per pause, however many 429s arrive
                    self._allowed = max(1.0, self._allowed / 2)
                    self.lowest_allowed = min(self.lowest_allowed, int(self._allowed))
                pause = retry_after if retry_after is not None else None
                if pause is None:
                    pause = self._config.backoff(self._strikes)
                self._strikes += 1
                until = now + pause
                if until > self._until:
                    self.paused_seconds += until - max(self._until, now)
                    self._until = until
                    self._last_pause = pause
            elif 200 <= status_code < 300:
                self._strikes = 0
                if self._allowed < self.limit:
                    self._allowed = min(float(self.limit), self._allowed + 1.0 / self._allowed)


ACTIVE_GATE: contextvars.ContextVar[RateGate | None] = contextvars.ContextVar(
    "kitta_batch_gate", default=None
)
"""The gate of the batch the current thread or asyncio task works for (None outside a batch)."""


# --- results -------------------------------------------------------------------------------
@dataclass
class BatchItem:
    """The result of one batch item: a task, an error, or (rarely) both.

    `task` is set for `created` and `existing` items; `error` for `rejected`
    and `unknown` ones (and for an `existing` item whose task could not be
    fetched: then `task` is a bare placeholder with only its id).
    """

    index: int
    key: str | None
    outcome: Outcome
    task: LipSyncTask | None = None
    error: Exception | None = None
    attempts: int = 0
    """Create requests sent for this item (a 429 refusal counts; 0 for `existing`)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def task_id(self) -> str | None:
        return self.task.task_id if self.task is not None else None

    def __repr__(self) -> str:
        parts = [f"index={self.index}", f"outcome={self.outcome!r}"]
        if self.key is not None:
            parts.append(f"key={self.key!r}")
        if self.task is not None:
            parts.append(f"task_id={self.task.task_id!r}")
        if self.error is not None:
            parts.append(f"error={type(self.error).__name__}: {self.error}")
        return f"BatchItem({', '.join(parts)})"


class BatchError(KittaError):
    """`BatchResult.raise_for_errors()`: some items were rejected or have an unknown outcome."""

    def __init__(self, result: BatchResult) -> None:
        self.result = result
        bad = result.errors
        lines = [f"[{i.index}] {i.outcome}: {type(i.error).__name__}: {i.error}" for i in bad[:10]]
        if len(bad) > 10:
            lines.append(f"… and {len(bad) - 10} more")
        super().__init__(
            f"{len(bad)} of {len(result)} batch items did not get a task:\n  " + "\n  ".join(lines)
        )


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
    def tasks(self) -> list[LipSyncTask]:
        """The tasks of `created` and `existing` items, in input order."""
        return [item.task for item in self.items if item.task is not None]

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
    def errors(self) -> list[BatchItem]:
        return [item for item in self.items if item.error is not None]

    @property
    def ok(self) -> bool:
        """True when every item has its task and no error."""
        return not self.errors

    @property
    def counts(self) -> dict[str, int]:
        found = {"created": 0, "existing": 0, "rejected": 0, "unknown": 0}
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
        """Wait for every task of this batch; see `LipSync.wait_many`."""
        tasks = self.tasks
        if not tasks:
            from ._watch_core import TaskList

            return TaskList()
        return tasks[0]._owner()._sync_client().lip_sync.wait_many(tasks, **kwargs)

    async def async_wait(self, **kwargs: Any) -> TaskList:
        """`await` every task of this batch; see `AsyncLipSync.wait_many`."""
        tasks = self.tasks
        if not tasks:
            from ._watch_core import TaskList

            return TaskList()
        return await tasks[0]._owner()._async_client().lip_sync.wait_many(tasks, **kwargs)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={n}" for name, n in self.counts.items() if n)
        return f"BatchResult({len(self)} items: {counts or 'empty'}, {self.elapsed:.1f} s)"

    def to_html(self, lang: str = "en") -> str:
        from .display.gallery import batch_html
        from .i18n import check_lang

        return batch_html(self, lang=check_lang(lang))

    def _repr_html_(self) -> str:
        return self.to_html()


# --- progress ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProgressSnapshot:
    """What a progress view shows; built by the cores, drawn by `widgets/progress.py`."""

    title: str
    done: int
    total: int
    counts: Mapping[str, int]
    """Counts by status or outcome, in display order."""
    credits: int | float | None
    elapsed: float
    eta: float | None
    note: str = ""
    finished: bool = False


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Remaining seconds at the average pace so far; None before the first result."""
    if done <= 0 or total <= 0 or elapsed <= 0:
        return None
    if done >= total:
        return 0.0
    return elapsed / done * (total - done)


@dataclass
class CreateRun:
    """The bookkeeping of one running batch: results by index, the gate, the clock."""

    prepared: list[PreparedItem]
    total: int
    gate: RateGate
    started: float = field(default_factory=time.monotonic)
    results: dict[int, BatchItem] = field(default_factory=dict)

    def record(self, item: BatchItem) -> None:
        self.results[item.index] = item

    def snapshot(self, title: str, finished: bool = False) -> ProgressSnapshot:
        counts = {"created": 0, "existing": 0, "rejected": 0, "unknown": 0}
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
        if self.gate.pause_left() > 0:
            note = f"rate limited: paused {self.gate.pause_left():.1f} s"
        elif self.gate.rate_limited:
            note = f"{self.gate.rate_limited}× rate limited, {self.gate.allowed} in flight"
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
        )

    def result(self) -> BatchResult:
        missing = [p.index for p in self.prepared if p.index not in self.results]
        if missing:  # a driver bug, never a silent loss
            raise RuntimeError(f"batch items {missing[:10]} have no result")
        return BatchResult(
            items=[self.results[p.index] for p in self.prepared],
            elapsed=time.monotonic() - self.started,
            rate_limited=self.gate.rate_limited,
            paused_seconds=self.gate.paused_seconds,
        )
