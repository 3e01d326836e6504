"""How fast the HistoryBrowser shows its first page over a 10,000-task journal.

Standalone: `python benchmarks/bench_history.py [--entries N] [--out FILE]`.
It fills a journal in a temporary KITTA_HOME, then, in a fresh process (so
imports and caches of the filling step do not count), measures:

* the time from `HistoryBrowser(...)` to its first page being built,
* the extra memory this takes (RSS growth and the tracemalloc peak),
* page turns, a status filter, a search and a sort (median of 5 runs),
* for contrast, loading every entry at once.

Figures go to `benchmarks/history_results.json`; the targets are < 200 ms
and < 30 MB for the first page. This is a measurement, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "history_results.json"
ORIGIN = "http://bench.invalid"
TOKEN = "bench-token"
LIMIT_MS = 200.0
LIMIT_MB = 30.0
STATUSES = ("pending", "processing", "succeeded", "failed", "succeeded", "succeeded")


def fill(count: int) -> Path:
    """A journal with `count` tasks: a fifth sent from here, the rest seen on the server."""
    from kitta_notebook.journal import Journal

    journal = Journal.for_account(ORIGIN, TOKEN)
    local = count // 5
    remote = []
    for i in range(count - local):
        remote.append(
            {
                "id": f"row_{i}",
                "taskId": f"lip_task_remote_{i:06d}",
                "type": "lip_sync",
                "status": STATUSES[i % len(STATUSES)],
                "model": "kitta-lip-sync-v1",
                "inputMode": "image" if i % 4 == 0 else "video",
                "resultVideoUrl": f"https://cdn.example.com/r/{i}.mp4",
                "errorCode": "provider_error" if i % 6 == 3 else None,
                "errorMessage": "no face found" if i % 6 == 3 else None,
                "creditsCharged": 100 + (i * 37) % 4000,
                "createdAt": time.strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1_780_000_000 + i * 60)
                ),
                "startedAt": None,
                "completedAt": None,
            }
        )
    journal.record_seen_many(remote)
    for i in range(local):
        body = {
            "model": "kitta-lip-sync-v1",
            "inputMode": "video",
            "videoUrl": f"https://media.example.com/campaign-{i % 40}/clip-{i}.mp4",
            "audioUrl": f"https://media.example.com/voice/{i}.mp3",
            "durationSeconds": 5 + i % 30,
        }
        entry_id = journal.record_request(ORIGIN, body, key=f"batch-{i}")
        task = {
            "taskId": f"lip_task_local_{i:06d}",
            "status": STATUSES[i % len(STATUSES)],
            "model": "kitta-lip-sync-v1",
            "inputMode": "video",
            "creditsCharged": 50 * (5 + i % 30),
            "createdAt": time.strftime(
                "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1_780_500_000 + i * 60)
            ),
        }
        journal.record_created(entry_id, task)
        if i % 10 == 0:
            journal.set_labels(f"lip_task_local_{i:06d}", ["campaign", f"wave-{i % 3}"])
    journal.close()
    return journal.path


def rss_mb() -> float:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


def median_ms(action: Callable[[], Any], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def measure() -> dict[str, Any]:
    """Runs in the fresh child process."""
    import ipywidgets  # noqa: F401  (imports are not what is measured)

    from kitta_notebook import KittaClient
    from kitta_notebook.widgets.history import HistoryBrowser

    client = KittaClient(TOKEN, base_url=ORIGIN + "/api")
    # Cold: the journal file is opened by this first browser, as in a new kernel.
    base_rss = rss_mb()
    started = time.perf_counter()
    browser = HistoryBrowser(client, sync=False)
    first_ms = (time.perf_counter() - started) * 1000
    extra_rss = rss_mb() - base_rss
    shown = sum(1 for row in browser.rows if row.visible)
    # Allocation peak of building a browser (measured apart: tracing slows Python down).
    tracemalloc.start()
    HistoryBrowser(client, sync=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    warm_ms = median_ms(lambda: HistoryBrowser(client, sync=False))

    journal = browser.journal
    turns = {
        "next_page": median_ms(lambda: browser.go(browser.page + 1)),
        "last_page": median_ms(lambda: browser.go(browser.pages - 1)),
        "filter_failed": median_ms(lambda: browser.set_filters(status="failed")),
        "filter_clear": median_ms(lambda: browser.set_filters(status="")),
        "search_url": median_ms(lambda: browser.set_filters(search="campaign-7/")),
        "sort_by_credits": median_ms(lambda: browser.set_filters(search="", sort="credits:1")),
        "select_row": median_ms(lambda: browser.select(browser.entries[0])),
    }
    started = time.perf_counter()
    everything = journal.entries()
    load_all_ms = (time.perf_counter() - started) * 1000
    del everything
    tracemalloc.start()
    everything = journal.entries()
    _, load_all_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "entries": journal.count(),
        "first_page_rows": shown,
        "first_page_ms": round(first_ms, 2),
        "first_page_warm_median_ms": warm_ms,
        "first_page_extra_rss_mb": round(extra_rss, 2),
        "first_page_tracemalloc_peak_mb": round(peak / 2**20, 2),
        "interactions_median_ms": turns,
        "contrast_load_all": {
            "rows": len(everything),
            "ms": round(load_all_ms, 2),
            "tracemalloc_peak_mb": round(load_all_peak / 2**20, 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure()))
        return 0
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as home:
        os.environ["KITTA_HOME"] = home
        started = time.perf_counter()
        path = fill(args.entries)
        fill_s = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in path.parent.iterdir()) / 2**20
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.run(
            [sys.executable, __file__, "--child"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    results = {
        **figures,
        "fill_seconds": round(fill_s, 2),
        "journal_size_mb": round(size_mb, 2),
        "targets": {"first_page_ms": LIMIT_MS, "first_page_extra_mb": LIMIT_MB},
        "within_targets": figures["first_page_ms"] < LIMIT_MS
        and max(figures["first_page_extra_rss_mb"], figures["first_page_tracemalloc_peak_mb"])
        < LIMIT_MB,
        "environment": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if results["within_targets"] else 2


if __name__ == "__main__":
    raise SystemExit(main())
