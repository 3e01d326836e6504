"""(6) Sandbox GET throughput: detail queries per second on two cores.

The sandbox runs in its own process pinned to one CPU; the load comes from a
second process pinned to the other (`_load.py`: raw asyncio HTTP/1.1 with
keep-alive, so the generator is not the limit), over loopback only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ._common import ROOT, TOKEN, Deadline, Figure, ServerProcess, bench_env

TARGET = 1500.0
CONNECTIONS = (1, 8, 32)
SECONDS = 5.0


def run(deadline: Deadline, quick: bool = False) -> Figure:
    from kitta_notebook import KittaClient

    started = time.monotonic()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu = cpus[0] if len(cpus) >= 2 else None
    load_cpu = cpus[1] if len(cpus) >= 2 else None
    seconds = 2.0 if quick else SECONDS
    rates: dict[str, float] = {}
    with ServerProcess(time_scale=0.05, cpu=server_cpu) as sb:
        with KittaClient(TOKEN, base_url=sb.base_url, journal=False) as client:
            task = client.lip_sync.create(
                audio_url=sb.samples["audio"], video_url=sb.samples["video"]
            )
            task.wait(timeout=60, poll_interval=0.05)
        url = f"{sb.base_url}/v1/lip-sync/tasks/{task.task_id}"
        for connections in CONNECTIONS:
            command = [sys.executable, "-m", "benchmarks._load", url, TOKEN]
            command += ["--connections", str(connections), "--seconds", str(seconds)]
            if load_cpu is not None:
                command += ["--cpu", str(load_cpu)]
            out = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=bench_env(),
                cwd=ROOT,
                timeout=seconds + 60,
                check=True,
            )
            result = json.loads(out.stdout)
            if result["errors"]:
                raise RuntimeError(f"the load generator saw errors: {result}")
            rates[str(connections)] = round(result["requests"] / result["seconds"], 1)
    best = max(rates.values())
    pinned = "pinned to one CPU each" if server_cpu is not None else "not pinned (one CPU)"
    notes = [
        f"Detail GETs of one finished task, {seconds:g} s per setting after 1 s warm-up; "
        f"server and load generator in separate processes, {pinned}.",
        "Requests per second by open connections: "
        + ", ".join(f"{c}: {r:,.0f}" for c, r in rates.items())
        + ".",
    ]
    return Figure(
        key="sandbox_throughput",
        title="Sandbox GET throughput (2 cores, loopback, load from another process)",
        measured=f"{best:,.0f} req/s",
        baseline="—",
        ratio=None,
        target=f"≥ {TARGET:,.0f} req/s",
        met=best >= TARGET,
        notes=notes,
        details={"requests_per_second_by_connections": rates, "cpus": cpus},
        seconds=time.monotonic() - started,
    )
