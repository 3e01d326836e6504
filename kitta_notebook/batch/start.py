"""Everything a `create_many` decides before its first create, shared by both drivers.

1. `plan_batch` (no network): every item checked as a single `create()` would be,
   local files read once; items whose key already has a task are set aside.
2. The driver publishes and probes the rest (`inputs.check_items[_async]`).
3. `build_run`: one table of problems (refuse the batch, or skip those items),
   one warning summary, the credit limit checked; the `CreateRun` to send.
4. With preflight, the driver asks `usage()` for the balance and
   `warn_if_balance_short` says if the estimate exceeds it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import _inputs
from ..errors import BatchValidationError, CreditWarning, ValidationError
from ..price import Price, price_for
from ..server_info import ServerInfo
from .credits import CreditBudget, balance_warning, check_max_credits, refuse_over_limit
from .gate import RateGate
from .inputs import ItemCheck, planner, settle
from .prepare import PlannedItem, PreparedItem, Problem, check_batch, check_concurrency
from .progress import ProgressMode, check_progress
from .results import BatchItem
from .run import CreateRun

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase
    from .._lip_sync import LipSync
    from ..history.keys import KeyClaim


@dataclass(frozen=True)
class BatchOptions:
    """`create_many`'s keyword arguments, checked."""

    concurrency: int
    progress: ProgressMode
    preflight: bool
    skip_invalid: bool
    max_credits: float | None


def check_options(
    *,
    concurrency: object,
    progress: object,
    preflight: object,
    skip_invalid: object,
    max_credits: object,
) -> BatchOptions:
    for name, value in (("preflight", preflight), ("skip_invalid", skip_invalid)):
        if not isinstance(value, bool):
            raise ValidationError([(name, "must be True or False")])
    return BatchOptions(
        concurrency=check_concurrency(concurrency),
        progress=check_progress(progress),
        preflight=bool(preflight),
        skip_invalid=bool(skip_invalid),
        max_credits=check_max_credits(max_credits),
    )


class HeldKeys:
    """The keys a batch claimed, given back when it ends (`release`).

    Thread-safe, and closed by `release`: a claim added later (the async driver's
    planning thread, still running after the batch was cancelled) is given back
    at once instead of holding its key until the kernel ends.
    """

    def __init__(self, client: ClientBase) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._claims: list[KeyClaim] = []
        self._closed = False

    def add(self, claim: KeyClaim) -> None:
        with self._lock:
            if not self._closed:
                self._claims.append(claim)
                return
        self._client._release_keys([claim])

    def release(self) -> None:
        with self._lock:
            self._closed = True
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
    lip_sync: LipSync,
    requests: Iterable[object],
    options: BatchOptions,
    held: HeldKeys,
) -> Planned:
    """Step 1 (blocking: reads files and the journal; the async driver runs it in a thread).

    Each item's key is claimed before anything is published or sent; the claims
    are added to `held`, which the driver gives back when the batch ends.
    """
    client = lip_sync._client
    planned, problems, total = check_batch(requests, planner(client._config))
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
        or any(_inputs.needs_server_info(config, item.fields) for item in planned.to_check)
    )


def known_server_info(lip_sync: LipSync) -> ServerInfo:
    return lip_sync._client._server_info or ServerInfo()


def learn_prices(lip_sync: LipSync, info: ServerInfo, planned: Planned) -> dict[str, Price]:
    """Each model's price: published, else learned from the journal (blocking: SQLite)."""
    models = {str(item.fields.get("model")) for item in planned.to_check}
    if not models:
        return {}
    journal = lip_sync._client.journal
    return {model: _inputs.price_of(info, model, journal) for model in sorted(models)}


def build_run(
    planned: Planned,
    checks: Sequence[ItemCheck],
    info: ServerInfo,
    prices: Mapping[str, Price],
    options: BatchOptions,
    lip_sync: LipSync,
) -> CreateRun:
    """Step 3: refuse, or skip and warn; check the credit limit; nothing is sent here."""
    known = {**prices}
    for check in checks:
        if check.request is not None and check.request.model not in known:
            known[check.request.model] = price_for(info, check.request.model)
    ready, problems = settle(
        checks, planned.problems, planned.total, prices=known, skip_invalid=options.skip_invalid
    )
    items = sorted([*planned.known, *ready], key=lambda item: item.index)
    refuse_over_limit(items, options.max_credits, info, known)
    run = CreateRun(
        items,
        planned.total,
        RateGate(options.concurrency, lip_sync._client._config),
        CreditBudget(options.max_credits, known),
    )
    by_index = {check.item.index: check.item for check in checks}
    for index, found in problems.items():
        item = by_index.get(index)
        key, labels = (item.key, item.labels) if item is not None else (None, ())
        run.record(BatchItem(index, key, "skipped", error=ValidationError(found), labels=labels))
    return run


def warn_if_balance_short(usage: Mapping[str, Any] | None, estimate: int | None) -> None:
    """Step 4: a `CreditWarning` when the estimate exceeds the reported balance."""
    note = balance_warning(usage, estimate)
    if note is not None:
        warnings.warn(CreditWarning(note), stacklevel=5)  # the caller of `create_many`
