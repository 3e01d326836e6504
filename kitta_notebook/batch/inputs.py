"""Every batch item's media ready before any create: read once, published once, probed.

The per-item steps are the single create's own (`_inputs.plan`, the prober's
`prepare_inputs`), so an item is held to exactly the rules of `create()`. What
only a batch needs is here: each local source read once however many items name
it, each distinct content published once, every input probed a bounded number at
a time (the client's prober caches per URL, so one clip used by 20 items is probed
once), and one table of problems with one warning summary instead of one per item.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _bridge, _inputs
from ..errors import BatchValidationError, MediaWarning, ValidationError
from ..media import (
    LocalBlob,
    MediaStore,
    Preflight,
    Progress,
    PublishedMedia,
    classify_source,
    resolve_store,
    to_blob,
)
from ..media.prober import prober_of
from ..media.sources import media_fields
from ..price import Price, price_for
from ..server_info import ServerInfo
from ..validation import CreateRequest
from .prepare import PlannedItem, PreparedItem, Problem

if TYPE_CHECKING:
    from datetime import datetime

    from .._core import ClientConfig

MAX_WARNING_LINES = 10


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

    def read(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """`fields` with every local source replaced by its `LocalBlob`."""
        out = dict(fields)
        problems: list[tuple[str, str]] = []
        for name, value in media_fields(fields).items():
            if classify_source(value) != "local" or isinstance(value, LocalBlob):
                continue  # URLs stay; a missing file is `plan`'s to name
            identity = self._identity(value)
            if identity not in self._read:
                try:
                    self._read[identity] = (value, to_blob(value, field=name))
                except ValidationError as error:
                    problems += error.problems
                    continue
            out[name] = self._read[identity][1]
        if problems:
            raise ValidationError(problems)
        return out


def planner(config: ClientConfig) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The per-item check `check_batch` runs: read (once per batch), then `_inputs.plan`."""
    reader = SourceReader()
    return lambda fields: _inputs.plan(config, reader.read(fields))


class PublishOnce:
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


@dataclass(frozen=True)
class MediaStage:
    """What every item's media stage shares: where to publish and at what price."""

    config: ClientConfig
    info: ServerInfo
    store: MediaStore | None
    store_problem: ValidationError | None
    preflight: bool

    def options(self, item: PlannedItem) -> dict[str, Any]:
        model = str(item.fields.get("model"))
        return {
            "store": self.store,
            "preflight": self.preflight,
            "quiet": True,
            "is_official": self.config.is_official,
            "price": price_for(self.info, model),
        }

    def finish(
        self,
        item: PlannedItem,
        fields: Mapping[str, Any],
        checked: Preflight | None,
        published: Mapping[str, PublishedMedia],
    ) -> ItemCheck:
        """Problems stop the item; otherwise the request is built as `create` does."""
        if checked is not None and checked.problems:
            return ItemCheck(item, None, checked, checked.problems)
        try:
            request = _inputs.request_of(self.config, fields, published)
        except ValidationError as error:
            return ItemCheck(item, None, checked, error.problems)
        return ItemCheck(item, request, checked, ())

    def refused_early(self, item: PlannedItem) -> ItemCheck | None:
        """An item with local files and no store to publish them gets the store's message,
        on its first local input (as `create()` names it)."""
        local = [name for name, value in item.fields.items() if isinstance(value, LocalBlob)]
        if local and self.store_problem is not None:
            message = self.store_problem.problems[0][1]
            return ItemCheck(item, None, None, [(local[0], message)])
        return None


def media_stage(
    config: ClientConfig, info: ServerInfo, planned: Sequence[PlannedItem], *, preflight: bool
) -> MediaStage:
    """Choose the store once (only when some item has a local file)."""
    store: MediaStore | None = None
    problem: ValidationError | None = None
    if any(isinstance(v, LocalBlob) for item in planned for v in item.fields.values()):
        sandbox_url = _inputs.sandbox_url(config, info)
        try:
            store = PublishOnce(resolve_store(config.media_store, sandbox_url=sandbox_url))
        except ValidationError as error:
            problem = error
    return MediaStage(config, info, store, problem, preflight)


def check_items(
    stage: MediaStage, planned: Sequence[PlannedItem], concurrency: int
) -> list[ItemCheck]:
    """The sync driver: each item's publish and probes on a bounded pool of threads."""
    prober = prober_of(stage.config)

    def one(item: PlannedItem) -> ItemCheck:
        early = stage.refused_early(item)
        if early is not None:
            return early
        try:
            ready = prober.prepare_inputs(item.fields, **stage.options(item))
        except ValidationError as error:
            return ItemCheck(item, None, None, error.problems)
        return stage.finish(item, ready.fields, ready.preflight, ready.published)

    if not planned:
        return []
    with ThreadPoolExecutor(min(concurrency, len(planned)), "kitta-check") as pool:
        return list(pool.map(one, planned))


async def check_items_async(
    stage: MediaStage, planned: Sequence[PlannedItem], concurrency: int
) -> list[ItemCheck]:
    """`check_items` for the async client, on a worker thread."""
    return await _bridge.run_sync(check_items, stage, planned, concurrency)


def priced(item: PreparedItem, price: Price) -> PreparedItem:
    """The item with its estimate by `price`, from the length it is sent with (after a
    preflight: never below the probed audio)."""
    return replace(item, estimate=price.estimate(item.seconds))


def settle(
    checks: Sequence[ItemCheck],
    problems: Sequence[Problem],
    total: int,
    *,
    prices: Mapping[str, Price],
    skip_invalid: bool,
) -> tuple[list[PreparedItem], dict[int, list[tuple[str, str]]]]:
    """The items ready to send, and the problems of the rest by index.

    Without `skip_invalid`, any problem refuses the whole batch with one
    `BatchValidationError` (one table, by item and input; nothing was sent).
    Uncertain probe outcomes become one `MediaWarning` for the whole batch.
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
        priced(
            PreparedItem(
                check.item.index,
                check.item.key,
                check.request,
                check.item.labels,
                seconds=check.request.duration_seconds,
                claim=check.item.claim,
            ),
            prices[check.request.model],
        )
        for check in checks
        if check.request is not None and check.item.index not in by_index
    ]
    return ready, by_index


def _warn_once(checks: Sequence[ItemCheck]) -> None:
    """One `MediaWarning` listing every input that could not be checked for certain, or
    whose audio and video lengths differ much (each message once, with the items it
    concerns), instead of one warning per item."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for check in checks:
        if check.preflight is not None and check.request is not None:
            for name, message in check.preflight.warnings:
                grouped.setdefault((name, message), []).append(check.item.index)
    if not grouped:
        return
    lines = [
        f"requests[{_indices(indices)}].{name}: {message}"
        for (name, message), indices in grouped.items()
    ]
    if len(lines) > MAX_WARNING_LINES:
        lines = [*lines[:MAX_WARNING_LINES], f"… and {len(lines) - MAX_WARNING_LINES} more"]
    warnings.warn(
        MediaWarning("About some batch inputs (the batch goes on):\n  - " + "\n  - ".join(lines)),
        stacklevel=7,  # the caller of `create_many`, through the driver's start and `settle`
    )


def _indices(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:5])
    return shown + (f", … {len(indices) - 5} more" if len(indices) > 5 else "")
