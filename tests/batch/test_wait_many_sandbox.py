"""`wait_many` / `watch_many` against the real sandbox; requests are counted at the server.

The sandbox's clock runs at 0.1: a task is pending ~0.1 s and processing >= 0.3 s.
"""

from __future__ import annotations

import asyncio

from kitta_notebook import KittaClient, LipSyncTask, TaskStatus
from kitta_notebook.sandbox import FaultConfig, Sandbox
from tests.batch.batch_helpers import RICH, requests_for

INTERVAL = 0.05


def create(sb: Sandbox, client: KittaClient, count: int) -> list[LipSyncTask]:
    batch = client.lip_sync.create_many(requests_for(sb, count), concurrency=16, progress=False)
    assert batch.ok
    sb.stats.reset()
    return batch.tasks


def api_reads(sb: Sandbox) -> int:
    return sb.stats.route("list") + sb.stats.route("get")


def test_wait_many_sees_every_task_finish_with_its_final_detail(sandbox: Sandbox) -> None:
    with sandbox.client(RICH) as c:
        tasks = create(sandbox, c, 30)
        done = c.lip_sync.wait_many(tasks, timeout=30, poll_interval=INTERVAL, progress=False)
    assert [t.task_id for t in done] == [t.task_id for t in tasks]
    assert all(a is b for a, b in zip(done, tasks, strict=True))  # updated in place
    for task in done:
        assert task.status == TaskStatus.SUCCEEDED and task.result_video_url
        assert not task.is_partial and task.completed_at and task.started_at  # a detail DTO


def test_fewer_requests_than_naive_polling_at_the_same_interval() -> None:
    """20 tasks of ~2 s polled every 0.1 s, by list cycles and by one `wait()` per task.

    A sandbox of its own: its slower clock gives each task ~20 cycles, like a real
    task of ~80 s polled every 4 s.
    """
    n, interval = 20, 0.1
    with Sandbox(accounts={RICH: 10_000_000}, time_scale=0.5) as sb, sb.client(RICH) as c:
        watched = create(sb, c, n)
        watch = c.lip_sync.watch_many(watched, timeout=30, poll_interval=interval, progress=False)
        assert len(list(watch)) == n
        ours = api_reads(sb)
        assert ours == watch.stats.requests

        polled = create(sb, c, n)

        async def naive() -> None:  # what one would write by hand: one wait() per task
            async with sb.async_client(RICH) as ac:
                await asyncio.gather(
                    *(ac.lip_sync.wait(t, timeout=30, poll_interval=interval) for t in polled)
                )

        asyncio.run(naive())
        theirs = api_reads(sb)
    assert ours * 2 < theirs, (ours, theirs, watch.stats)
    # The same comparison on the very cycles this watch ran (independent of server speed).
    assert watch.stats.requests * 4 < watch.stats.naive_requests, watch.stats


def test_many_tasks_with_failures_and_page_shifts_all_end_with_the_truth() -> None:
    """120 tasks (two pages of pending), some failing: tasks leave the lists while they
    are paged through, so some may go missing from both lists while still running.

    A sandbox of its own whose slower clock keeps every task running for a few dozen
    cycles after the batch is created, whatever this machine's speed.
    """
    faults = FaultConfig(task_failure_rate=0.3, seed=5)
    with (
        Sandbox(accounts={RICH: 10_000_000}, time_scale=0.5, faults=faults) as sb,
        sb.client(RICH) as c,
    ):
        tasks = create(sb, c, 120)
        watch = c.lip_sync.watch_many(tasks, timeout=30, poll_interval=0.02, progress=False)
        order = [t.task_id for t in watch]
        assert sorted(order) == sorted(t.task_id for t in tasks)  # each exactly once
        assert watch.stats.requests * 5 < watch.stats.naive_requests, watch.stats
        sb.faults = None
        for task in tasks:
            truth = c.lip_sync.get(task.task_id)
            assert task.is_terminal and task.status == truth.status
    failed = [t for t in tasks if t.failed]
    assert failed and all(t.error_code == "provider_error" for t in failed)


def test_the_async_watch_yields_tasks_as_they_finish(sandbox: Sandbox) -> None:
    with sandbox.client(RICH) as c:
        first = create(sandbox, c, 12)

    async def run() -> list[str]:
        async with sandbox.async_client(RICH) as ac:
            later = await ac.lip_sync.create_many(requests_for(sandbox, 12), progress=False)
            seen: list[str] = []
            async for task in ac.lip_sync.watch_many(
                [*first, *later.tasks], timeout=30, poll_interval=INTERVAL, progress=False
            ):
                assert task.is_terminal
                seen.append(task.task_id)
            done = await ac.lip_sync.wait_many(seen[:3], timeout=5, progress=False)
            assert all(t.succeeded for t in done)
            return seen

    seen = asyncio.run(run())
    assert len(seen) == 24 and len(set(seen)) == 24
    first_ids = {t.task_id for t in first}
    # The earlier batch finishes first (list-based detection keeps creation order roughly).
    assert sum(task_id in first_ids for task_id in seen[:12]) >= 9
