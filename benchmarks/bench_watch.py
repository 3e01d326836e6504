"""(2) Requests to watch N tasks to completion, list-based vs naive per-task polling.

For each N, one batch is watched with `AsyncLipSync.watch_many` and an equal
batch, created the same way, with one `wait()` per task (what one writes by
hand), both at the same poll interval. Requests are counted at the server.
Tasks last ~20 poll intervals, like a real ~80 s task polled every 4 s.
Completion-detection lag is when `watch_many` yielded a task minus the
server's `completedAt` (same machine, same clock), for the tasks that finished
while they were watched (a task that finished while the batch was still being
created is counted apart: its "lag" would be the creation time). N = 10,000 is measured for
lag only (one `wait()` per task would take far longer than the watch itself), when the run's
budget leaves room for it: `python -m benchmarks --budget 1500`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._common import TOKEN, Deadline, Figure, ServerProcess, percentile

TARGET_RATIO = 0.10
LAG_SLACK = 0.5
LARGE_LAG_SLACK = 1.0
"""At N = 10,000 the lag target is interval + 1 s (the redesign's 2.0 s at 1 s)."""
LARGE_N = 10_000
# (N, poll interval s, sandbox time scale): a task lasts ~4 x scale seconds.
PLAN = [(50, 1.0, 5.0), (200, 1.0, 5.0), (1000, 1.0, 5.0)]
QUICK_PLAN = [(50, 0.5, 2.5), (200, 0.5, 2.5)]
LAG_ONLY_PLAN = [(LARGE_N, 1.0, 30.0)]  # tasks of ~2 min: longer than creating 10,000


def _requests(sb: ServerProcess, n: int) -> list[dict[str, object]]:
    return [
        {"audio_url": sb.samples["audio"], "video_url": sb.samples["video"], "duration_seconds": 1}
        for _ in range(n)
    ]


async def _ours(sb: ServerProcess, n: int, interval: float) -> dict[str, Any]:
    from kitta_notebook import AsyncKittaClient

    async with AsyncKittaClient(TOKEN, base_url=sb.base_url) as client:
        batch = await client.lip_sync.create_many(_requests(sb, n), concurrency=32, progress=False)
        assert batch.ok, batch
        sb.reset()
        started = time.monotonic()
        watch_began = time.time()
        lags: list[float] = []
        before_watch = 0
        watch = client.lip_sync.watch_many(
            batch.tasks, poll_interval=interval, timeout=900, progress=False
        )
        async for task in watch:
            seen = time.time()
            if task.completed_at is None:
                continue
            if task.completed_at.timestamp() < watch_began:
                before_watch += 1
            else:
                lags.append(seen - task.completed_at.timestamp())
        elapsed = time.monotonic() - started
        stats = watch.stats
    return {
        "requests": sb.reads(),
        "elapsed_s": round(elapsed, 2),
        "lags": lags,
        "cycles": stats.cycles,
        "list_requests": stats.list_requests,
        "get_requests": stats.get_requests,
        "flips": stats.flips,
        "naive_on_same_cycles": stats.naive_requests,
        "finished_before_watch": before_watch,
    }


def _lag_target(n: int, interval: float) -> float:
    return interval + (LARGE_LAG_SLACK if n >= LARGE_N else LAG_SLACK)


async def _naive(sb: ServerProcess, n: int, interval: float) -> dict[str, Any]:
    from kitta_notebook import AsyncKittaClient

    async with AsyncKittaClient(TOKEN, base_url=sb.base_url) as client:
        batch = await client.lip_sync.create_many(_requests(sb, n), concurrency=32, progress=False)
        assert batch.ok, batch
        sb.reset()
        started = time.monotonic()
        lags: list[float] = []

        async def one(task: Any) -> None:
            await client.lip_sync.wait(task, timeout=600, poll_interval=interval)
            seen = time.time()
            if task.completed_at is not None:
                lags.append(seen - task.completed_at.timestamp())

        await asyncio.gather(*(one(t) for t in batch.tasks))
        elapsed = time.monotonic() - started
    return {"requests": sb.reads(), "elapsed_s": round(elapsed, 2), "lags": lags}


def _lag_summary(lags: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(percentile(lags, 0.5), 3),
        "p95_s": round(percentile(lags, 0.95), 3),
        "max_s": round(max(lags), 3) if lags else float("nan"),
    }


def run(deadline: Deadline, quick: bool = False) -> list[Figure]:
    started = time.monotonic()
    rows: dict[str, Any] = {}
    headline: tuple[float, float, float] | None = None
    lag_ok = True
    for n, interval, scale in QUICK_PLAN if quick else PLAN:
        if deadline.left < 4 * 4 * scale + 30:
            rows[str(n)] = {"skipped": "time budget"}
            continue
        with ServerProcess(time_scale=scale) as sb:
            ours = asyncio.run(_ours(sb, n, interval))
            naive = asyncio.run(_naive(sb, n, interval))
        ratio = ours["requests"] / naive["requests"]
        ours_lag = _lag_summary(ours.pop("lags"))
        naive_lag = _lag_summary(naive.pop("lags"))
        lag_target = _lag_target(n, interval)
        lag_ok = lag_ok and ours_lag["p95_s"] <= lag_target
        rows[str(n)] = {
            "poll_interval_s": interval,
            "task_seconds_approx": 4 * scale,
            "ours": ours,
            "naive": naive,
            "ratio": round(ratio, 4),
            "ratio_vs_per_task_on_same_cycles": round(
                ours["requests"] / ours["naive_on_same_cycles"], 4
            ),
            "lag_ours": ours_lag,
            "lag_naive": naive_lag,
            "lag_target_p95_s": lag_target,
        }
        if n == 200:
            headline = (ratio, ours["requests"], naive["requests"])
    for n, interval, scale in [] if quick else LAG_ONLY_PLAN:
        if deadline.left < 4 * 4 * scale + n / 100 + 60:
            rows[str(n)] = {"skipped": "time budget"}
            continue
        with ServerProcess(time_scale=scale) as sb:
            ours = asyncio.run(_ours(sb, n, interval))
        ours_lag = _lag_summary(ours.pop("lags"))
        lag_target = _lag_target(n, interval)
        lag_ok = lag_ok and ours_lag["p95_s"] <= lag_target
        rows[str(n)] = {
            "poll_interval_s": interval,
            "task_seconds_approx": 4 * scale,
            "ours": ours,
            "lag_ours": ours_lag,
            "lag_target_p95_s": lag_target,
        }
    notes = [
        "Ratio = requests (list + detail) counted at the server while watching / the same "
        "for one wait() per task at the same interval, on an equal batch.",
        "Tasks last about 20 intervals (a real task of ~80 s polled every 3–5 s is similar); "
        "shorter tasks relative to the interval raise the ratio, since each finished task "
        "still costs one detail query.",
    ]
    for size, row in rows.items():
        if "ratio" not in row or "lag_naive" not in row:
            continue
        same = row["ratio_vs_per_task_on_same_cycles"]
        kept_up = row["lag_naive"]["p50_s"] <= 1.5 * row["poll_interval_s"]
        notes.append(
            f"N={size}, interval {row['poll_interval_s']} s: {row['ours']['requests']} vs "
            f"{row['naive']['requests']} requests (ratio {row['ratio']:.3f}); against per-task "
            f"polling on the very cycles the watch ran, {same:.3f}. Detection lag p50/p95 "
            f"{row['lag_ours']['p50_s']}/{row['lag_ours']['p95_s']} s (target p95 ≤ "
            f"{row['lag_target_p95_s']} s); naive {row['lag_naive']['p50_s']}/"
            f"{row['lag_naive']['p95_s']} s"
            + (
                "."
                if kept_up
                else " — the naive poller could not keep its interval "
                "(this machine's client CPU), so it sent fewer requests than it meant to and "
                "the measured ratio flatters it."
            )
        )
    lag_rows = {n: row for n, row in rows.items() if "lag_ours" in row}
    lag_notes = [
        "Detection lag = when watch_many yielded a finished task minus the server's "
        "completedAt, over the tasks that finished while watched. The sandbox finishes a "
        "batch's tasks within the seconds it took to create them, so many finished tasks' "
        "detail queries land in the same cycle; how fast the sandbox answers them then sets "
        "the lag.",
    ]
    lag_notes += [
        f"N={n}: p50 {row['lag_ours']['p50_s']} s, p95 {row['lag_ours']['p95_s']} s, max "
        f"{row['lag_ours']['max_s']} s (target p95 ≤ {row['lag_target_p95_s']} s)"
        + ("" if row["lag_ours"]["p95_s"] <= row["lag_target_p95_s"] else " — **missed**")
        + (
            f"; {row['ours']['finished_before_watch']} finished before the watch began"
            if row["ours"].get("finished_before_watch")
            else ""
        )
        + "."
        for n, row in lag_rows.items()
    ]
    worst = max(
        lag_rows.items(),
        key=lambda kv: kv[1]["lag_ours"]["p95_s"] - kv[1]["lag_target_p95_s"],
        default=None,
    )
    lag_figure = Figure(
        key="watch_lag",
        title="Completion-detection lag of watch_many, p95 (N = "
        + (", ".join(f"{int(n):,}" for n in lag_rows) or "none")
        + ")",
        measured=(
            ", ".join(f"{row['lag_ours']['p95_s']} s" for row in lag_rows.values()) or "skipped"
        ),
        baseline="interval " + (f"{worst[1]['poll_interval_s']} s" if worst else "—"),
        ratio=None,
        target=f"p95 ≤ interval + {LAG_SLACK} s (+ {LARGE_LAG_SLACK} s at N = {LARGE_N:,})",
        met=(lag_ok if lag_rows else None),
        notes=lag_notes,
        details={
            n: {"lag": r["lag_ours"], "target_p95_s": r["lag_target_p95_s"]}
            for n, r in lag_rows.items()
        },
        seconds=0.0,
    )
    seconds = time.monotonic() - started
    if headline is None:
        request_figure = Figure(
            key="watch_requests",
            title="Requests to watch N tasks vs naive per-task polling (N = 200)",
            measured="skipped",
            baseline="—",
            ratio=None,
            target=f"≤ {TARGET_RATIO}",
            met=None,
            notes=notes,
            details=rows,
            seconds=seconds,
        )
    else:
        ratio, ours_n, naive_n = headline
        request_figure = Figure(
            key="watch_requests",
            title="Requests to watch N tasks vs naive per-task polling (N = 200)",
            measured=f"{ours_n} requests",
            baseline=f"{naive_n} requests",
            ratio=round(ratio, 4),
            target=f"≤ {TARGET_RATIO}",
            met=ratio <= TARGET_RATIO,
            notes=notes,
            details=rows,
            seconds=seconds,
        )
    return [request_figure, lag_figure]
