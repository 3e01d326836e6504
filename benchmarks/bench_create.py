"""(3) 1,000 creates with `create_many(concurrency=32)` against 1,000 sequential `create()`.

Run twice: on bare loopback, where the one-process sandbox is the bottleneck
and concurrency can only overlap its ~1 ms of work, and with 50 ms of latency
added to every create by the sandbox's fault injector, standing in for a real
network round trip. Duplicates are checked at the server: it must have
accepted exactly as many creates as were asked for, with distinct task ids.
"""

from __future__ import annotations

import time
from typing import Any

from ._common import TOKEN, Deadline, Figure, ServerProcess

TARGET = 10.0
COUNT = 1000
QUICK_COUNT = 200
CONCURRENCY = 32
LATENCY = 0.050


def _requests(sb: ServerProcess, n: int) -> list[dict[str, Any]]:
    return [
        {"audio_url": sb.samples["audio"], "video_url": sb.samples["video"], "duration_seconds": 1}
        for _ in range(n)
    ]


def _one_setting(sb: ServerProcess, n: int, latency: float) -> dict[str, Any]:
    from kitta_notebook import KittaClient

    sb.faults(latency=latency, routes=["create"]) if latency else sb.faults()
    out: dict[str, Any] = {"latency_s": latency, "count": n}
    with KittaClient(TOKEN, base_url=sb.base_url) as client:
        requests = _requests(sb, n)
        sb.reset()
        started = time.perf_counter()
        sequential = [client.lip_sync.create(**r) for r in requests]
        out["sequential_s"] = round(time.perf_counter() - started, 3)
        out["sequential_server_creates"] = sb.stats()["creates_accepted"]
        out["sequential_distinct_ids"] = len({t.task_id for t in sequential})

        sb.reset()
        started = time.perf_counter()
        batch = client.lip_sync.create_many(requests, concurrency=CONCURRENCY, progress=False)
        out["concurrent_s"] = round(time.perf_counter() - started, 3)
        stats = sb.stats()
        out["concurrent_server_creates"] = stats["creates_accepted"]
        out["concurrent_posts"] = stats["by_method"].get("POST", 0)
        out["concurrent_distinct_ids"] = len({t.task_id for t in batch.tasks})
        out["concurrent_ok"] = batch.ok
    sb.faults()
    out["speedup"] = round(out["sequential_s"] / out["concurrent_s"], 2)
    out["duplicates"] = out["concurrent_server_creates"] - n + (n - out["concurrent_distinct_ids"])
    return out


def run(deadline: Deadline, quick: bool = False) -> Figure:
    n = QUICK_COUNT if quick else COUNT
    started = time.monotonic()
    # A slow clock keeps the tasks pending, so rendering does not load the server meanwhile.
    with ServerProcess(time_scale=100.0) as sb:
        loopback = _one_setting(sb, n, 0.0)
        emulated = None
        if deadline.left > n * (LATENCY + 0.01) + 60:
            emulated = _one_setting(sb, n, LATENCY)
    details = {"loopback": loopback, "emulated_latency": emulated or {"skipped": "time budget"}}
    headline = emulated or loopback
    no_duplicates = all(
        d["duplicates"] == 0 and d["concurrent_server_creates"] == d["count"]
        for d in (loopback, emulated)
        if d is not None
    )
    notes = [
        f"{n} creates, concurrency {CONCURRENCY}, default client (journal on). Server-side "
        f"accepted creates: {headline['concurrent_server_creates']} of {n}, "
        f"{headline['concurrent_distinct_ids']} distinct task ids, "
        f"{headline['concurrent_posts']} POSTs.",
        f"Bare loopback: {loopback['sequential_s']} s sequential vs {loopback['concurrent_s']} s "
        f"concurrent = {loopback['speedup']}× — the single-process sandbox does each create's "
        "work (SQLite, one event loop) one at a time, so concurrency can only overlap the "
        "network, which loopback does not have.",
    ]
    if emulated is not None:
        notes.append(
            f"With {LATENCY * 1000:.0f} ms added to every create by FaultConfig(latency=...) "
            f"(an emulated network round trip): {emulated['sequential_s']} s vs "
            f"{emulated['concurrent_s']} s = {emulated['speedup']}× (the headline figure)."
        )
    speedup = float(headline["speedup"])
    return Figure(
        key="create_many",
        title=f"{n} creates: create_many(concurrency={CONCURRENCY}) vs sequential create()",
        measured=f"{headline['concurrent_s']} s",
        baseline=f"{headline['sequential_s']} s",
        ratio=speedup,
        target=f"≥ {TARGET:g}× faster, 0 duplicates",
        met=speedup >= TARGET and no_duplicates,
        notes=notes,
        details=details,
        seconds=time.monotonic() - started,
    )
