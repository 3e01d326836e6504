"""Check a whole batch before anything is sent: every item, every key, every label.

A batch item is held to exactly the rules of a single `create()` (the
client's own check is passed in), plus the batch's own: unique keys and
well-formed labels. One `BatchValidationError` names every problem by index
(or, with `skip_invalid=True`, the problem items are left out and reported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BatchValidationError, ValidationError
from ..validation import DEFAULT_MODEL, URL_FIELDS, CreateRequest

if TYPE_CHECKING:
    from ..history.keys import KeyClaim

MAX_CONCURRENCY = 128
MAX_KEY_LENGTH = 200
MAX_LABELS = 20
MAX_LABEL_LENGTH = 100

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


Problem = tuple[int, str, str]
"""(item index, field, message): one line of a batch's table of problems."""


@dataclass(frozen=True)
class PlannedItem:
    """One batch item that passed every check this machine can make alone.

    `fields` are its create arguments, local files read into `LocalBlob`s (not yet
    published, not yet probed).
    """

    index: int
    key: str | None
    fields: dict[str, Any]
    labels: tuple[str, ...] = ()
    claim: KeyClaim | None = None
    """The journal's claim on `key`, held from before publishing until the batch ends."""


@dataclass(frozen=True)
class PreparedItem:
    """One batch item ready for its turn: the request to send, or the task its key
    already has (then nothing is sent), and what it is estimated to cost."""

    index: int
    key: str | None
    request: CreateRequest | None
    labels: tuple[str, ...] = ()
    known_task_id: str | None = None
    """The task the journal already has for this item's key: fetched, not created."""
    lookup_error: Exception | None = None
    """Why the journal could not say whether the key has a task (the item is refused)."""
    estimate: int | None = None
    """Credits by the price (published, or an upper bound learned from charges seen)."""
    seconds: float | None = None
    """The audio length it is priced by (the one sent as `durationSeconds`)."""
    claim: KeyClaim | None = None
    """The journal's claim on `key`, sent with the create."""


@dataclass
class _Fields:
    create: dict[str, Any]
    key: object = None
    labels: object = None


def _fields_of(item: object) -> tuple[_Fields, list[tuple[str, str]]]:
    """(create keyword arguments, key, labels) of one batch item, and its problems."""
    problems: list[tuple[str, str]] = []
    if isinstance(item, Mapping):
        found = _Fields({})
        for name, value in item.items():
            if name == "key":
                found.key = value
            elif name == "labels":
                found.labels = value
            elif name in CREATE_FIELDS:
                found.create[name] = value
            else:
                hint = _WIRE_NAMES.get(str(name))
                suggestion = f"; did you mean {hint!r}?" if hint else ""
                problems.append((str(name), f"is not a create argument{suggestion}"))
        return found, problems
    if hasattr(item, "audio_url"):  # a CreateRequest, or any object with its attributes
        create = {name: getattr(item, name) for name in CREATE_FIELDS if hasattr(item, name)}
        return _Fields(create, getattr(item, "key", None), getattr(item, "labels", None)), problems
    problems.append(
        ("", f"must be a dict of create arguments or a CreateRequest, got {type(item).__name__}")
    )
    return _Fields({}), problems


def _labels_of(raw: object) -> tuple[tuple[str, ...], str | None]:
    """The labels, stripped and deduplicated in order, or why they are refused."""
    if raw is None:
        return (), None
    values: Iterable[object] = (raw,) if isinstance(raw, str) else raw  # type: ignore[assignment]
    if isinstance(raw, (bytes, Mapping)) or not isinstance(values, Iterable):
        return (), "must be a string or a list of strings"
    labels: list[str] = []
    for value in values:
        if not isinstance(value, str):
            return (), "must be a string or a list of strings"
        label = value.strip()
        if len(label) > MAX_LABEL_LENGTH:
            return (), f"each must be at most {MAX_LABEL_LENGTH} characters"
        if label and label not in labels:
            labels.append(label)
    if len(labels) > MAX_LABELS:
        return (), f"at most {MAX_LABELS} per item"
    return tuple(labels), None


def check_batch(
    requests: Iterable[object], plan: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[list[PlannedItem], list[Problem], int]:
    """Check every item (and every key) without any network: the items that passed,
    every problem of the others by index, and how many items there are.

    `plan` is the single create's own check (`_inputs.plan`: local files read, every
    rule applied), so a batch item is held to exactly the rules of a single `create()`.
    """
    if isinstance(requests, (Mapping, str, bytes)) or not isinstance(requests, Iterable):
        raise ValidationError(
            [("requests", "must be a list of create requests (dicts), not a single value")]
        )
    items = list(requests)
    problems: list[Problem] = []
    planned: list[PlannedItem] = []
    keys: dict[str, int] = {}
    for index, item in enumerate(items):
        found_before = len(problems)
        fields, item_problems = _fields_of(item)
        problems.extend((index, name, message) for name, message in item_problems)
        key: str | None = None
        raw_key = fields.key
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
        labels, label_problem = _labels_of(fields.labels)
        if label_problem is not None:
            problems.append((index, "labels", label_problem))
        if item_problems and not fields.create:
            continue
        create = fields.create
        try:
            ready = plan(
                {
                    "audio_url": create.get("audio_url"),
                    "video_url": create.get("video_url"),
                    "image_url": create.get("image_url"),
                    "reference_image_url": create.get("reference_image_url"),
                    "model": create.get("model", DEFAULT_MODEL),
                    "input_mode": create.get("input_mode"),
                    "duration_seconds": create.get("duration_seconds"),
                }
            )
        except ValidationError as exc:
            problems.extend((index, name, message) for name, message in exc.problems)
            continue
        if len(problems) == found_before:
            planned.append(PlannedItem(index, key, ready, labels))
    return planned, problems, len(items)


def prepare_batch(
    requests: Iterable[object], plan: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[PlannedItem]:
    """`check_batch`, refusing the whole batch with one `BatchValidationError` listing
    every problem by index when any item has one."""
    planned, problems, total = check_batch(requests, plan)
    if problems:
        raise BatchValidationError(problems, total)
    return planned


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
