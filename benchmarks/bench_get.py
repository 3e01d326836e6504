"""(1) `lip_sync.get` latency against a raw `httpx.Client.get(...).json()` of the same URL.

The sandbox runs in its own process pinned to one CPU, this process on the
other; calls alternate A/B (order flipped every round) so drift hits both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import httpx

from ._common import TOKEN, Deadline, Figure, ServerProcess, median, percentile

TARGET = 1.03
WARMUP = 200
ROUNDS = 1000


def _pair(
    ours: Callable[[], object], raw: Callable[[], object], rounds: int
) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        first, second = (ours, raw) if i % 2 == 0 else (raw, ours)
        t0 = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        t2 = time.perf_counter()
        if first is ours:
            a.append(t1 - t0)
            b.append(t2 - t1)
        else:
            b.append(t1 - t0)
            a.append(t2 - t1)
    return a, b


def run(deadline: Deadline, quick: bool = False) -> Figure:
    from kitta_notebook import KittaClient

    rounds = 300 if quick else ROUNDS
    started = time.monotonic()
    saved = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    two_cpus = saved is not None and len(saved) >= 2
    details: dict[str, object] = {"rounds": rounds}
    with ServerProcess(time_scale=0.05, cpu=min(saved) if two_cpus and saved else None) as sb:
        if two_cpus and saved:
            os.sched_setaffinity(0, {max(saved)})
        try:
            raw = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"})
            results: dict[str, tuple[float, float, float, float]] = {}
            for label, journal in (("default (journal on)", None), ("journal off", False)):
                with KittaClient(TOKEN, base_url=sb.base_url, journal=journal) as client:
                    task = client.lip_sync.create(
                        audio_url=sb.samples["audio"], video_url=sb.samples["video"]
                    )
                    url = f"{sb.base_url}/v1/lip-sync/tasks/{task.task_id}"

                    def ours(c: KittaClient = client, task_id: str = task.task_id) -> object:
                        return c.lip_sync.get(task_id)

                    def plain(u: str = url) -> object:
                        return raw.get(u).json()

                    _pair(ours, plain, WARMUP)
                    a, b = _pair(ours, plain, rounds)
                    results[label] = (median(a), median(b), percentile(a, 0.9), percentile(b, 0.9))
            raw.close()
        finally:
            if saved is not None:
                os.sched_setaffinity(0, saved)
    for label, (ma, mb, pa, pb) in results.items():
        details[label] = {
            "client_median_ms": round(ma * 1000, 3),
            "raw_median_ms": round(mb * 1000, 3),
            "client_p90_ms": round(pa * 1000, 3),
            "raw_p90_ms": round(pb * 1000, 3),
            "ratio": round(ma / mb, 3),
            "overhead_us": round((ma - mb) * 1e6, 1),
        }
    ma, mb, _, _ = results["default (journal on)"]
    ratio = ma / mb
    off = results["journal off"]
    notes = [
        "Loopback, sandbox in its own process on the other CPU; "
        f"{rounds} alternating pairs after {WARMUP} warm-up pairs.",
        f"Without the journal the ratio is {off[0] / off[1]:.3f} "
        f"({(off[0] - off[1]) * 1e6:.0f} µs of client work per call).",
        f"The client's fixed cost is {(ma - mb) * 1e6:.0f} µs per call: "
        f"{(ma - mb) / mb * 100:.0f} % of a loopback request, "
        f"{(ma - mb) / 0.030 * 100:.1f} % of a 30 ms network round trip.",
    ]
    return Figure(
        key="get_latency",
        title="lip_sync.get median latency vs raw httpx get + json()",
        measured=f"{ma * 1000:.3f} ms",
        baseline=f"{mb * 1000:.3f} ms",
        ratio=round(ratio, 3),
        target=f"≤ {TARGET}",
        met=ratio <= TARGET,
        notes=notes,
        details=details,
        seconds=time.monotonic() - started,
    )
