"""`create_many` against the real sandbox over real HTTP; counts are read at the server."""

from __future__ import annotations

import asyncio
import time

import pytest

from kitta_notebook import (
    APIConnectionError,
    InsufficientCreditsError,
    KittaClient,
    ServerError,
    TaskStatus,
)
from kitta_notebook.batch import BatchValidationError, CreditWarning
from kitta_notebook.sandbox import FaultConfig, Sandbox
from tests.batch.batch_helpers import ITEM_CREDITS, RICH, requests_for


def client(sb: Sandbox, token: str = RICH) -> KittaClient:
    c = sb.client(token)
    c._config.retry_base_delay = 0.01  # keep backoffs short where no Retry-After is sent
    return c


def test_each_item_is_created_once_in_input_order(sandbox: Sandbox) -> None:
    with client(sandbox) as c:
        started = time.monotonic()
        result = c.lip_sync.create_many(requests_for(sandbox, 30), concurrency=8, progress=False)
        took = time.monotonic() - started
    assert 0 < result.elapsed <= took  # the run's own time, on the monotonic clock
    assert result.ok and len(result) == 30 and [item.index for item in result] == list(range(30))
    assert all(i.outcome == "created" and i.attempts == 1 for i in result)
    assert len({t.task_id for t in result.tasks}) == 30
    assert all(t.status == TaskStatus.PENDING and t.model for t in result.tasks)
    assert result.credits == 30 * ITEM_CREDITS
    assert sandbox.stats.creates_accepted == 30 and sandbox.stats.route("create") == 30
    # Before the creates: the price (once per client) and the balance (once per batch).
    assert sandbox.stats.by_method == {"POST": 30, "GET": 2}


def test_invalid_items_are_all_reported_and_nothing_is_sent(sandbox: Sandbox) -> None:
    batch = requests_for(sandbox, 6)
    batch[1]["audio_url"] = "not a url"
    batch[4] = {"video_url": sandbox.samples["video"], "colour": "red"}
    with client(sandbox) as c, pytest.raises(BatchValidationError) as caught:
        c.lip_sync.create_many(batch)
    assert sorted(caught.value.by_index) == [1, 4]
    assert {name for name, _ in caught.value.by_index[4]} == {"colour", "audio_url"}
    assert sandbox.stats.total == 0


def test_credits_running_out_mid_batch_lose_no_item(sandbox: Sandbox) -> None:
    sandbox.add_account("tok-batch-poor", 10 * ITEM_CREDITS)  # exactly 10 tasks
    with client(sandbox, "tok-batch-poor") as c, pytest.warns(CreditWarning, match="6864"):
        result = c.lip_sync.create_many(requests_for(sandbox, 16), concurrency=1, progress=False)
    assert len(result) == 16
    assert [i.outcome for i in result] == ["created"] * 10 + ["rejected"] * 6
    assert all(
        isinstance(i.error, InsufficientCreditsError) and i.task is None for i in result[10:]
    )
    assert sandbox.balance("tok-batch-poor") == 0
    assert sandbox.stats.creates_accepted == 10
    assert sandbox.stats.by_status == {200: 2, 202: 10, 402: 6}  # 200: price and balance


def test_credits_running_out_with_concurrent_workers(sandbox: Sandbox) -> None:
    sandbox.add_account("tok-batch-poor-2", 10 * ITEM_CREDITS)
    with client(sandbox, "tok-batch-poor-2") as c, pytest.warns(CreditWarning):
        result = c.lip_sync.create_many(requests_for(sandbox, 25), concurrency=6, progress=False)
    assert result.counts == {
        "created": 10,
        "existing": 0,
        "rejected": 15,
        "unknown": 0,
        "skipped": 0,
        "not_sent": 0,
    }
    assert all(isinstance(i.error, InsufficientCreditsError) for i in result.rejected)
    assert sandbox.stats.creates_accepted == 10


def test_rate_limits_pause_the_batch_and_create_each_item_exactly_once(sandbox: Sandbox) -> None:
    sandbox.faults = FaultConfig(rate_limit_rate=0.4, retry_after=0.05, routes=("create",), seed=7)
    with client(sandbox) as c:
        result = c.lip_sync.create_many(requests_for(sandbox, 40), concurrency=8, progress=False)
        # The pace is kept by the client's request loop, not by hooks left on the user's pool.
        assert c._http.event_hooks == {"request": [], "response": []}
    refused = sandbox.stats.faults.get("rate_limit", 0)
    assert refused > 0
    assert result.ok and len({t.task_id for t in result.tasks}) == 40
    assert sandbox.stats.creates_accepted == 40  # server side: exactly one task per item
    assert sandbox.stats.by_status == {200: 2, 202: 40, 429: refused}  # 200: price, balance
    assert result.rate_limited == refused  # the batch saw every 429 and paused for it
    assert result.paused_seconds >= 0.05 and result.elapsed >= 0.05
    assert sum(i.attempts for i in result) >= 40


def test_a_create_that_may_have_reached_the_server_is_never_resent(sandbox: Sandbox) -> None:
    """500s and dropped connections AFTER the server made the task: the client cannot
    know, so the item is 'unknown' and the create is not sent again."""
    sandbox.faults = FaultConfig(
        error_rate=0.3, drop_rate=0.2, routes=("create",), create_fault_after_commit=True, seed=3
    )
    with client(sandbox) as c:
        result = c.lip_sync.create_many(requests_for(sandbox, 30), concurrency=8, progress=False)
    faults = sandbox.stats.faults
    assert faults.get("error", 0) > 0 and faults.get("drop", 0) > 0
    assert sandbox.stats.by_method["POST"] == 30  # one create per item, never two
    assert sandbox.stats.creates_accepted == 30
    unknown = result.unknown
    assert len(unknown) == faults["error"] + faults["drop"] and len(result.created) == 30 - len(
        unknown
    )
    for item in unknown:
        assert isinstance(item.error, (ServerError, APIConnectionError))
        assert item.error.may_have_created and "may have been created" in str(item.error)


def test_a_rerun_with_keys_fetches_instead_of_creating(sandbox: Sandbox) -> None:
    with client(sandbox) as c:
        first = c.lip_sync.create_many(
            requests_for(sandbox, 10, keys="clip"), concurrency=4, progress=False
        )
        assert first.ok
        again = c.lip_sync.create_many(
            requests_for(sandbox, 12, keys="clip"), concurrency=4, progress=False
        )
    assert [i.outcome for i in again] == ["existing"] * 10 + ["created"] * 2
    assert [t.task_id for t in again.tasks[:10]] == [t.task_id for t in first.tasks]
    assert all(i.attempts == 0 for i in again.existing) and again.credits == 2 * ITEM_CREDITS
    assert sandbox.stats.creates_accepted == 12


def test_a_key_whose_earlier_create_is_unresolved_is_not_sent_again(sandbox: Sandbox) -> None:
    sandbox.faults = FaultConfig(error_rate=1.0, routes=("create",), create_fault_after_commit=True)
    with client(sandbox) as c:
        first = c.lip_sync.create_many(requests_for(sandbox, 3, keys="risky"), progress=False)
        assert [i.outcome for i in first] == ["unknown"] * 3
        sandbox.faults = None
        again = c.lip_sync.create_many(requests_for(sandbox, 3, keys="risky"), progress=False)
    assert [i.outcome for i in again] == ["rejected"] * 3  # the journal's answer
    assert all("may have reached the server" in str(i.error) for i in again)
    assert sandbox.stats.by_method["POST"] == 3  # only the first batch sent creates


def test_the_async_twin_pauses_on_rate_limits_too(sandbox: Sandbox) -> None:
    sandbox.faults = FaultConfig(rate_limit_rate=0.4, retry_after=0.05, routes=("create",), seed=11)

    async def run() -> None:
        async with sandbox.async_client(RICH) as c:
            c._config.retry_base_delay = 0.01
            result = await c.lip_sync.create_many(
                requests_for(sandbox, 40), concurrency=8, progress=False
            )
            assert result.ok and len({t.task_id for t in result.tasks}) == 40
            assert result.rate_limited == sandbox.stats.faults["rate_limit"] > 0
            assert result.paused_seconds >= 0.05

    asyncio.run(run())
    assert sandbox.stats.creates_accepted == 40
