"""`AsyncLipSync.create_many`: the async twin of `create.py`, on asyncio tasks.

Same checks, same gate, same budget, same outcomes (all from `start`, `inputs`
and `run`); only the waiting differs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import KittaError, RateLimitError
from .credits import total_estimate
from .gate import ACTIVE_GATE, install_hooks, may_resend
from .inputs import check_items_async, media_stage
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
    from .._async_lip_sync import AsyncLipSync

_T = TypeVar("_T")


async def gather_or_cancel(coroutines: list[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run all; if one raises (or we are cancelled), cancel the rest and wait for them."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def start_run(
    lip_sync: AsyncLipSync,
    requests: Iterable[object],
    options: BatchOptions,
    held: HeldKeys,
) -> CreateRun:
    """Everything before the first create; see `create.start_run`."""
    client = lip_sync._client
    planned = await asyncio.to_thread(plan_batch, lip_sync, requests, options, held)
    info = (
        await client.server_info()
        if needs_server_info(lip_sync, planned, options)
        else known_server_info(lip_sync)
    )
    stage = media_stage(client._config, info, planned.to_check, preflight=options.preflight)
    checks = await check_items_async(stage, planned.to_check, options.concurrency)
    prices = await asyncio.to_thread(learn_prices, lip_sync, info, planned)
    run = build_run(planned, checks, info, prices, options, lip_sync)
    estimate = total_estimate(run.prepared)
    if options.preflight and estimate:
        usage: dict[str, Any] | None
        try:
            usage = await client.usage()
        except KittaError:
            usage = None
        warn_if_balance_short(usage, estimate)
    return run


async def _create_one(
    lip_sync: AsyncLipSync, item: PreparedItem, run: CreateRun, slots: asyncio.Condition
) -> BatchItem:
    """One item on the event loop: fetch its key's task, or create it exactly once."""
    if item.lookup_error is not None:
        return item_result(item, "rejected", error=item.lookup_error)
    if item.known_task_id is not None:
        known = item.known_task_id
        try:
            return item_result(item, "existing", task=await lip_sync.get(known))
        except Exception as exc:
            return item_result(item, "existing", task=placeholder(known, lip_sync), error=exc)
    request = item.request
    if request is None:
        return not_sent(item, run.budget)
    async with slots:  # a provisional price: one create at a time until a charge confirms it
        while (turn := run.budget.turn(item)) == "wait":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(slots.wait(), timeout=1.0)
    if turn == "stop":
        return not_sent(item, run.budget)
    gate = run.gate
    attempts = 0
    while True:
        async with slots:
            while (wait := gate.try_enter()) is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(slots.wait(), timeout=wait if wait > 0 else 1.0)
        try:
            attempts += 1
            task = await lip_sync._create_checked(request, item.key, claim=item.claim)
        except RateLimitError as exc:
            if may_resend(exc, attempts):
                continue
            return failed(item, exc, attempts, run.budget)
        except Exception as exc:
            return failed(item, exc, attempts, run.budget)
        finally:
            gate.leave()
            async with slots:
                slots.notify_all()
        return created(item, task, attempts, run.budget)


async def create_many(
    lip_sync: AsyncLipSync,
    requests: Iterable[object],
    *,
    concurrency: int = 8,
    progress: ProgressMode = "auto",
    preflight: bool = True,
    skip_invalid: bool = False,
    max_credits: float | None = None,
) -> BatchResult:
    """See `AsyncLipSync.create_many`."""
    options = check_options(
        concurrency=concurrency,
        progress=progress,
        preflight=preflight,
        skip_invalid=skip_invalid,
        max_credits=max_credits,
    )
    held = HeldKeys(lip_sync._client)  # the items' keys, from before publishing to the end
    try:
        return await _create_many(lip_sync, requests, options, held)
    finally:
        held.release()  # one short write, even when cancelled


async def _create_many(
    lip_sync: AsyncLipSync,
    requests: Iterable[object],
    options: BatchOptions,
    held: HeldKeys,
) -> BatchResult:
    run = await start_run(lip_sync, requests, options, held)
    if not run.prepared:
        return run.result()
    install_hooks(lip_sync._client._http)
    view = open_progress(options.progress, CREATE_TITLE, run.total)
    slots = asyncio.Condition()
    queue = iter(run.prepared)

    async def worker() -> None:
        ACTIVE_GATE.set(run.gate)  # this task's own context: never seen outside the batch
        for item in queue:
            run.record(await _create_one(lip_sync, item, run, slots))
            async with slots:  # the budget has counted this item: a waiting turn may go on
                slots.notify_all()
            if view is not None:
                view.update(run.snapshot())

    try:
        await gather_or_cancel([worker() for _ in range(min(run.gate.limit, len(run.prepared)))])
    finally:
        if view is not None:
            view.close(run.snapshot(finished=True))
    result = run.result()
    await asyncio.to_thread(remember_labels, lip_sync, result)  # SQLite: off the event loop
    return result
