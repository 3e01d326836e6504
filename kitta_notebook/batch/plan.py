"""Everything a batch checks before its first create: items, keys, labels, media.

An item is held to exactly the rules of a single `create()` (`media.plan`, the
prober's `prepare_inputs`), plus the batch's own: unique keys, well-formed labels.
What only a batch needs is here too: each local source read once however many items
name it, each distinct content published once, the probes bounded, and one table of
problems (`BatchValidationError`, or the items skipped with `skip_invalid=True`) and
one warning summary instead of one per item.

Steps: `plan_batch` (no network), `check_items` (publish and probe), `settle`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _bridge, media
from .._core import MAX_KEY_LENGTH
from ..errors import BatchValidationError, MediaWarning, ValidationError, bulleted
from ..history.entry import clean_labels, text_problem
from ..media import LocalBlob, MediaStore, Preflight, resolve_store, to_blob
from ..media.local import collect_local_sources
from ..server_info import ServerInfo
from ..validation import CREATE_FIELDS, DEFAULT_MODEL, CreateRequest
from .gate import check_max_credits, listed
from .progress import ProgressMode, check_progress

if TYPE_CHECKING:
    from datetime import datetime

    from .._client import KittaClient as ClientBase
    from .._core import ClientConfig
    from .._lip_sync import LipSync
    from ..history.keys import KeyClaim
    from ..media import Progress, PublishedMedia
    from ..price import Price

MAX_CONCURRENCY = 128
MAX_LABELS = 20
MAX_WARNING_LINES = 10
# Wire (camelCase) names a user may type by habit, mapped to the keyword they meant.
_WIRE_NAMES = {re.sub("_(.)", lambda m: m[1].upper(), name): name for name in CREATE_FIELDS}

Problem = tuple[int, str, str]
"""(item index, field, message): one line of a batch's table of problems."""


@dataclass(frozen=True)
class BatchOptions:
    """`create_many`'s keyword arguments, checked when made (before anything is read)."""

    concurrency: int
    progress: ProgressMode
    preflight: bool
    skip_invalid: bool
    max_credits: float | None

    def __post_init__(self) -> None:
        check_concurrency(self.concurrency)
        check_progress(self.progress)
        for name in ("preflight", "skip_invalid"):
            if not isinstance(getattr(self, name), bool):
                raise ValidationError([(name, "must be True or False")])
        check_max_credits(self.max_credits)


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


@dataclass(frozen=True)
class PlannedItem:
    """One item that passed every check this machine can make alone; `fields` are its
    create arguments, local files read into `LocalBlob`s (not yet published or probed)."""

    index: int
    key: str | None
    fields: dict[str, Any]
    labels: tuple[str, ...] = ()
    claim: KeyClaim | None = None
    """The journal's claim on `key`, held from before publishing until the batch ends."""


@dataclass(frozen=True)
class PreparedItem:
    """One item ready for its turn: the request to send, or the task its key already
    has (then nothing is sent), and what it is estimated to cost."""

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


# --- 1. each item on its own, no network ----------------------------------------------------
def _fields_of(item: object) -> tuple[dict[str, Any], object, object, list[tuple[str, str]]]:
    """(create keyword arguments, key, labels) of one batch item, and its problems."""
    if isinstance(item, Mapping):
        create: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for name, value in item.items():
            if name in CREATE_FIELDS:
                create[name] = value
            elif name not in ("key", "labels"):
                hint = _WIRE_NAMES.get(str(name))
                suggestion = f"; did you mean {hint!r}?" if hint else ""
                problems.append((str(name), f"is not a create argument{suggestion}"))
        return create, item.get("key"), item.get("labels"), problems
    if hasattr(item, "audio_url"):  # a CreateRequest, or any object with its attributes
        create = {name: getattr(item, name) for name in CREATE_FIELDS if hasattr(item, name)}
        return create, getattr(item, "key", None), getattr(item, "labels", None), []
    message = f"must be a dict of create arguments or a CreateRequest, got {type(item).__name__}"
    return {}, None, None, [("", message)]


def _labels_of(raw: object) -> tuple[tuple[str, ...], str | None]:
    """The labels, stripped and deduplicated in order, or why they are refused (each is
    held to the journal's rules, `clean_labels`)."""
    if raw is None:
        return (), None
    values = [raw] if isinstance(raw, str) else raw
    if isinstance(raw, (bytes, Mapping)) or not isinstance(values, Iterable):
        return (), "must be a string or a list of strings"
    values = list(values)
    if not all(isinstance(value, str) for value in values):
        return (), "must be a string or a list of strings"
    try:
        clean_labels(values)
    except ValidationError as error:
        return (), error.problems[0][1]
    labels = tuple(dict.fromkeys(label for value in values if (label := value.strip())))
    if len(labels) > MAX_LABELS:
        return (), f"at most {MAX_LABELS} per item"
    return labels, None


def _key_problem(raw: object, keys: Mapping[str, int]) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return "must be a non-empty string"
    if len(raw) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters"
    if (problem := text_problem(raw)) is not None:
        return problem
    if raw in keys:
        return f"{raw!r} is also the key of requests[{keys[raw]}]"
    return None


def check_batch(
    requests: Iterable[object], plan: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[list[PlannedItem], list[Problem], int]:
    """Every item (and key) checked without any network: the items that passed, every
    problem of the others by index, and how many items there are.

    `plan` is the single create's own check (`media.plan`), so a batch item is held
    to exactly the rules of a single `create()`.
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
        create, raw_key, raw_labels, item_problems = _fields_of(item)
        problems.extend((index, name, message) for name, message in item_problems)
        key_problem = None if raw_key is None else _key_problem(raw_key, keys)
        if key_problem is not None:
            problems.append((index, "key", key_problem))
        elif isinstance(raw_key, str):
            keys[raw_key] = index
        labels, label_problem = _labels_of(raw_labels)
        if label_problem is not None:
            problems.append((index, "labels", label_problem))
        if item_problems and not create:
            continue
        try:
            ready = plan(
                {name: create.get(name) for name in CREATE_FIELDS}
                | {"model": create.get("model", DEFAULT_MODEL)}
            )
        except ValidationError as exc:
            problems.extend((index, name, message) for name, message in exc.problems)
            continue
        if len(problems) == found_before:
            key = raw_key if isinstance(raw_key, str) else None
            planned.append(PlannedItem(index, key, ready, labels))
    return planned, problems, len(items)


class SourceReader:
    """Reads each local source once per batch: 20 items naming one clip read it once
    (a file object could not even be read twice)."""

    def __init__(self) -> None:
        self._read: dict[object, tuple[object, LocalBlob]] = {}

    @staticmethod
    def _identity(value: object) -> object:
        if isinstance(value, (str, os.PathLike)):
            return ("path", str(Path(os.fsdecode(os.fspath(value)).strip()).expanduser().resolve()))
        return ("object", id(value))  # the value is kept alive below, so its id stays its own

    def _once(self, value: object, *, field: str) -> LocalBlob:
        identity = self._identity(value)
        if identity not in self._read:
            self._read[identity] = (value, to_blob(value, field=field))
        return self._read[identity][1]

    def read(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """`fields` with every local source replaced by its `LocalBlob` (URLs stay)."""
        return {**fields, **collect_local_sources(fields, self._once)}


class HeldKeys:
    """The keys a batch claimed, given back when it ends (`release`); the batch claims
    and releases them on its one thread (the async batch runs it on a worker thread)."""

    def __init__(self, client: ClientBase) -> None:
        self._client = client
        self._claims: list[KeyClaim] = []

    def add(self, claim: KeyClaim) -> None:
        self._claims.append(claim)

    def release(self) -> None:
        claims, self._claims = self._claims, []
        self._client._release_keys(claims)


@dataclass(frozen=True)
class Planned:
    """A batch after the checks this machine makes alone."""

    to_check: list[PlannedItem]
    """Items to create: their media are published and probed next."""
    known: list[PreparedItem]
    """Items whose key already has a task (or whose key could not be looked up)."""
    problems: list[Problem]
    total: int


def plan_batch(
    lip_sync: LipSync, requests: Iterable[object], options: BatchOptions, held: HeldKeys
) -> Planned:
    """Step 1 (reads files and the journal). Each item's key is claimed before anything
    is published or sent; the claims go to `held`, given back when the batch ends."""
    client = lip_sync._client
    reader = SourceReader()
    planned, problems, total = check_batch(
        requests, lambda fields: media.plan(client._config, reader.read(fields))
    )
    if problems and not options.skip_invalid:
        raise BatchValidationError(problems, total)
    to_check: list[PlannedItem] = []
    known: list[PreparedItem] = []
    keyed = client.journal is not None  # without a journal a key only names its item
    for item in planned:
        try:
            claim = client._claim_key(item.key, item.fields) if keyed else None
        except Exception as exc:  # in use, reused with other inputs, or unresolved
            known.append(PreparedItem(item.index, item.key, None, item.labels, lookup_error=exc))
            continue
        if claim is not None and claim.task_id is not None:
            known.append(PreparedItem(item.index, item.key, None, item.labels, claim.task_id))
            continue
        if claim is not None:
            held.add(claim)
        to_check.append(replace(item, claim=claim))
    return Planned(to_check, known, problems, total)


def needs_server_info(lip_sync: LipSync, planned: Planned, options: BatchOptions) -> bool:
    """The server's price and kind are needed to probe and estimate (preflight, the
    credit limit) and to choose a store for local files; `preflight=False` with no
    limit and no local file costs no extra request, as with `create()`."""
    config = lip_sync._client._config
    return bool(planned.to_check) and (
        options.preflight
        or options.max_credits is not None
        or any(media.needs_server_info(config, item.fields) for item in planned.to_check)
    )


# --- 2. publish and probe ---------------------------------------------------------------------
class PublishOnce(MediaStore):
    """A `MediaStore` that publishes each distinct content once per batch, however many
    items (and threads) ask for it; the store itself is content-addressed."""

    def __init__(self, store: MediaStore) -> None:
        self.store = store
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._done: dict[str, PublishedMedia] = {}

    def describe(self) -> str:
        return self.store.describe()

    def exists(self, key: str) -> bool:
        return self.store.exists(key)

    def upload(self, blob: LocalBlob, key: str, progress: Progress | None) -> None:
        self.store.upload(blob, key, progress)

    def url_for(self, key: str) -> tuple[str, datetime | None]:
        return self.store.url_for(key)

    def publish(
        self, source: object, *, progress: Progress | None = None, quiet: bool = False
    ) -> PublishedMedia:
        blob = to_blob(source)
        with self._guard:
            lock = self._locks.setdefault(blob.sha256, threading.Lock())
        with lock:
            done = self._done.get(blob.sha256)
            if done is None:
                done = self._done[blob.sha256] = self.store.publish(
                    blob, progress=progress, quiet=quiet
                )
                return done
        return replace(done, file_name=blob.name, uploaded_bytes=0)


@dataclass(frozen=True)
class ItemCheck:
    """One item after its media stage: the request to send, or its problems."""

    item: PlannedItem
    request: CreateRequest | None
    preflight: Preflight | None
    problems: Sequence[tuple[str, str]]


def check_items(
    config: ClientConfig,
    info: ServerInfo,
    planned: Sequence[PlannedItem],
    *,
    preflight: bool,
    concurrency: int,
) -> list[ItemCheck]:
    """Step 2: each item's publish and probes, `concurrency` items at a time. The store
    is chosen once, and only when some item has a local file."""
    store: MediaStore | None = None
    if any(isinstance(v, LocalBlob) for item in planned for v in item.fields.values()):
        sandbox_url = media.sandbox_url(config, info)
        with contextlib.suppress(ValidationError):  # no store: each item names it, as create()
            store = PublishOnce(resolve_store(config.media_store, sandbox_url=sandbox_url))

    def one(item: PlannedItem) -> ItemCheck:
        _bridge.check_cancelled()  # a cancelled async caller: publish and probe no more
        try:
            ready = media.prepare(
                config, info, item.fields, preflight=preflight, store=store, quiet=True
            )
        except ValidationError as error:  # the same checks as create()
            return ItemCheck(item, None, None, error.problems)
        return ItemCheck(item, ready.request, ready.preflight, ())

    if not planned:
        return []
    with ThreadPoolExecutor(min(concurrency, len(planned)), "kitta-check") as pool:
        # Each item in a copy of this context, so it sees the async caller's cancel.
        started = [pool.submit(contextvars.copy_context().run, one, item) for item in planned]
        return [future.result() for future in started]


# --- 3. one table of problems, one warning ------------------------------------------------
def settle(
    checks: Sequence[ItemCheck],
    problems: Sequence[Problem],
    total: int,
    *,
    prices: Mapping[str, Price],
    skip_invalid: bool,
) -> tuple[list[PreparedItem], dict[int, list[tuple[str, str]]]]:
    """The items ready to send, priced, and the problems of the rest by index.

    Without `skip_invalid`, any problem refuses the whole batch with one
    `BatchValidationError` (nothing was sent). Uncertain probe outcomes become one
    `MediaWarning` for the whole batch.
    """
    found = list(problems) + [
        (check.item.index, name, message) for check in checks for name, message in check.problems
    ]
    if found and not skip_invalid:
        raise BatchValidationError(sorted(found, key=lambda p: p[0]), total)
    _warn_once(checks)
    by_index: dict[int, list[tuple[str, str]]] = {}
    for index, name, message in found:
        by_index.setdefault(index, []).append((name, message))
    ready = [
        PreparedItem(
            check.item.index,
            check.item.key,
            check.request,
            check.item.labels,
            estimate=prices[check.request.model].estimate(check.request.duration_seconds),
            seconds=check.request.duration_seconds,
            claim=check.item.claim,
        )
        for check in checks
        if check.request is not None and check.item.index not in by_index
    ]
    return ready, by_index


def _warn_once(checks: Sequence[ItemCheck]) -> None:
    """One `MediaWarning` listing every input that could not be checked for certain, or
    whose audio and video lengths differ much (each message once, with its items)."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for check in checks:
        if check.preflight is not None and check.request is not None:
            for name, message in check.preflight.warnings:
                grouped.setdefault((name, message), []).append(check.item.index)
    if not grouped:
        return
    lines = [
        f"requests[{listed(indices)}].{name}: {message}"
        for (name, message), indices in grouped.items()
    ]
    warnings.warn(
        MediaWarning(
            "About some batch inputs (the batch goes on):" + bulleted(lines, MAX_WARNING_LINES)
        ),
        stacklevel=7,  # the caller of `create_many`, through the client, the start and `settle`
    )
