"""`create_many` (sync): check a batch, then send it on worker threads, each item once.

The decisions (what is valid, which outcome an error means, the pace after a
429, the credit limit) live in `start`, `inputs`, `gate`, `credits` and `run`;
the driver only probes, sends, waits and reports.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from .. import _bridge
from ..errors import KittaError, RateLimitError
from .credits import total_estimate
from .gate import ACTIVE_GATE, may_resend
from .inputs import check_items, media_stage
from .prepare import PreparedItem
from .progress import ProgressMode
from .progress_choice import open_progress
from .results import BatchItem, BatchResult
from .run import (
    CREATE_TITLE,
    CreateRun,
    created,
    failed,
    item_result,
    not_sent,
    placeholder,
    remember_labels,
)
from .start import (
    BatchOptions,
    HeldKeys,
    build_run,
    check_options,
    known_server_info,
    learn_prices,
    needs_server_info,
    plan_batch,
    warn_if_balance_short,
)

if TYPE_CHECKING:
    from .._lip_sync import LipSync


def start_run(
    lip_sync: LipSync, requests: Iterable[object], options: BatchOptions, held: HeldKeys
) -> CreateRun:
    """Everything before the first create: checks, publish and probes, the credit limit."""
    client = lip_sync._client
    planned = plan_batch(lip_sync, requests, options, held)
    info = (
        client.server_info()
        if needs_server_info(lip_sync, planned, options)
        else known_server_info(lip_sync)
    )
    stage = media_stage(client._config, info, planned.to_check, preflight=options.preflight)
    checks = check_items(stage, planned.to_check, options.concurrency)
    prices = learn_prices(lip_sync, info, planned)
    run = build_run(planned, checks, info, prices, options, lip_sync)
    estimate = total_estimate(run.prepared)
    if options.preflight and estimate:
        warn_if_balance_short(_usage_or_none(lip_sync), estimate)
    return run


def _usage_or_none(lip_sync: LipSync) -> dict[str, Any] | None:
    try:
        return lip_sync._client.usage()
    except KittaError:  # no balance to compare with: the batch goes on unwarned
        return None


class _Stopped(Exception):
    """The batch was interrupted before this item was sent."""


def _create_one(
    lip_sync: LipSync,
    item: PreparedItem,
    run: CreateRun,
    slots: threading.Condition,
    stop: threading.Event,
) -> BatchItem:
    """One item on a worker thread: fetch its key's task, or create it exactly once."""
    if item.lookup_error is not None:
        return item_result(item, "rejected", error=item.lookup_error)
    if item.known_task_id is not None:
        known = item.known_task_id
        try:
            return item_result(item, "existing", task=lip_sync.get(known))
        except Exception as exc:
            return item_result(item, "existing", task=placeholder(known, lip_sync), error=exc)
    request = item.request
    if request is None:
        return not_sent(item, run.budget)
    with slots:  # a provisional price: one create at a time until a charge confirms it
        while (turn := run.budget.turn(item)) == "wait":
            if stop.is_set():
                raise _Stopped
            slots.wait(timeout=1.0)
    if turn == "stop":
        return not_sent(item, run.budget)
    gate = run.gate
    attempts = 0
    while True:
        with slots:
            while (wait := gate.try_enter()) is not None:
                if stop.is_set():
                    raise _Stopped
                slots.wait(timeout=wait if wait > 0 else 1.0)
        try:
            if stop.is_set():
                raise _Stopped
            attempts += 1
            task = lip_sync._create_checked(request, item.key, claim=item.claim)
        except RateLimitError as exc:
            if may_resend(exc, attempts):
                continue
            return failed(item, exc, attempts, run.budget)
        except _Stopped:
            raise
        except Exception as exc:
            return failed(item, exc, attempts, run.budget)
        finally:
            gate.leave()
            with slots:
                slots.notify_all()
        return created(item, task, attempts, run.budget)


def create_many(
    lip_sync: LipSync,
    requests: Iterable[object],
    *,
    concurrency: int = 8,
    progress: ProgressMode = "auto",
    preflight: bool = True,
    skip_invalid: bool = False,
    max_credits: float | None = None,
) -> BatchResult:
    """See `LipSync.create_many`."""
    options = check_options(
        concurrency=concurrency,
        progress=progress,
        preflight=preflight,
        skip_invalid=skip_invalid,
        max_credits=max_credits,
    )
    held = HeldKeys(lip_sync._client)  # the items' keys, from before publishing to the end
    try:
        return _create_many(lip_sync, requests, options, held)
    finally:
        held.release()


def _create_many(
    lip_sync: LipSync, requests: Iterable[object], options: BatchOptions, held: HeldKeys
) -> BatchResult:
    run = start_run(lip_sync, requests, options, held)
    if not run.prepared:
        return run.result()
    view = open_progress(options.progress, CREATE_TITLE, run.total)
    slots = threading.Condition()
    stop = threading.Event()

    def work(item: PreparedItem) -> BatchItem:
        token = ACTIVE_GATE.set(run.gate)
        try:
            return _create_one(lip_sync, item, run, slots, stop)
        finally:
            ACTIVE_GATE.reset(token)
            with slots:  # the budget has counted this item: a waiting turn may go on
                slots.notify_all()

    workers = min(run.gate.limit, len(run.prepared))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kitta")
    try:
        futures: list[Future[BatchItem]] = [pool.submit(work, item) for item in run.prepared]
        for future in as_completed(futures):
            run.record(future.result())
            if view is not None:
                view.update(run.snapshot())
            _bridge.check_cancelled()  # an awaiting caller was cancelled: send no more
    except BaseException:
        # An interrupt: send nothing more, let the creates in flight finish (each
        # is recorded by the client's recorder), then stop.
        stop.set()
        with slots:
            slots.notify_all()
        pool.shutdown(wait=True, cancel_futures=True)
        if view is not None:
            view.close(run.snapshot(finished=True))
        raise
    pool.shutdown(wait=True)
    if view is not None:
        view.close(run.snapshot(finished=True))
    result = run.result()
    remember_labels(lip_sync, result)
    return result
