"""How fast the history answers over a 100,000-entry journal, and with how much memory.

Standalone: `python benchmarks/bench_history.py [--entries N] [--out FILE]`.
It fills a journal in a temporary KITTA_HOME, then, in a fresh process (so
imports and caches of the filling step do not count), measures what one
interaction of the history browser costs through `client.history`: the page
of rows, the count (for "page x of y") and the summary strip, for

* the first page (cold: the journal file opened by it, as in a new kernel),
* the next, a middle and the last page (no OFFSET walk over the table),
* a search by URL text (the trigram index), a status filter, a label filter,
* sorting by credits (first and last page),

plus the extra memory (RSS growth over all of it, and the tracemalloc peak of
one interaction) and the journal writes made by polling an unchanged task.
Figures go to `benchmarks/history_results.json`; the targets are < 100 ms per
interaction and < 30 MB extra memory. This is a measurement, not a timed test.
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
LIMIT_MS = 100.0
LIMIT_MB = 30.0
PAGE = 20
STATUSES = ("pending", "processing", "succeeded", "failed", "succeeded", "succeeded")


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


def fill(count: int) -> Path:
    """A journal with `count` tasks: a fifth sent from here, the rest seen on the server."""
    from kitta_notebook.history.journal import Journal

    journal = Journal.for_account(ORIGIN, TOKEN)
    local = count // 5
    remote = [
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
            "createdAt": _iso(1_780_000_000 + i * 60),
            "startedAt": None,
            "completedAt": None,
        }
        for i in range(count - local)
    ]
    for start in range(0, len(remote), 5000):
        journal.record_seen_many(remote[start : start + 5000])
    for i in range(local):
        body = {
            "model": "kitta-lip-sync-v1",
            "inputMode": "video",
            "videoUrl": f"https://media.example.com/campaign-{i % 40}/clip-{i}.mp4",
            "audioUrl": f"https://media.example.com/voice/{i}.mp3",
            "durationSeconds": 5 + i % 30,
        }
        entry_id = journal.record_request(body, key=f"batch-{i}")
        task = {
            "taskId": f"lip_task_local_{i:06d}",
            "status": STATUSES[i % len(STATUSES)],
            "model": "kitta-lip-sync-v1",
            "inputMode": "video",
            "creditsCharged": 50 * (5 + i % 30),
            "createdAt": _iso(1_780_500_000 + i * 60),
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


def median_ms(action: Callable[[], Any], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def measure() -> dict[str, Any]:
    """Runs in the fresh child process."""
    from kitta_notebook import KittaClient

    client = KittaClient(TOKEN, base_url=ORIGIN + "/api")
    history = client.history
    journal = client.journal
    assert journal is not None

    def interaction(offset: int = 0, **filters: Any) -> int:
        """What one click in the browser costs: a page, the count and the summary strip."""
        journal._aggregate_cache = None  # measure the count and summary, not a cache hit
        sort = filters.pop("sort", "created")
        descending = filters.pop("descending", True)
        rows = history.items(**filters, sort=sort, descending=descending, limit=PAGE, offset=offset)
        history.count(**filters)
        history.summary(**filters)
        return len(rows)

    base_rss = rss_mb()
    started = time.perf_counter()
    shown = interaction()
    first_cold_ms = (time.perf_counter() - started) * 1000
    total = history.count()
    last = (total - 1) // PAGE * PAGE
    failed = history.count(status="failed")
    newest_entry = history.items(limit=1)[0].when
    assert newest_entry is not None
    newest = newest_entry.timestamp()
    interactions = {
        "first_page": median_ms(lambda: interaction()),
        "next_page": median_ms(lambda: interaction(PAGE)),
        "middle_page": median_ms(lambda: interaction(total // 2 // PAGE * PAGE)),
        "last_page": median_ms(lambda: interaction(last)),
        "search_url": median_ms(lambda: interaction(search="campaign-7/")),
        "search_url_last_page": median_ms(
            lambda: interaction(
                (history.count(search="campaign-7/") - 1) // PAGE * PAGE, search="campaign-7/"
            )
        ),
        "search_task_id": median_ms(lambda: interaction(search="remote_0421")),
        "filter_failed": median_ms(lambda: interaction(status="failed")),
        "filter_failed_last_page": median_ms(
            lambda: interaction((failed - 1) // PAGE * PAGE, status="failed")
        ),
        "filter_label": median_ms(lambda: interaction(label="wave-1")),
        "filter_since_a_week": median_ms(lambda: interaction(since=newest - 7 * 86_400)),
        "filter_since_half": median_ms(lambda: interaction(since=newest - 35 * 86_400)),
        "filter_mode_image": median_ms(lambda: interaction(mode="image")),
        "sort_by_credits": median_ms(lambda: interaction(sort="credits")),
        "sort_by_credits_last_page": median_ms(lambda: interaction(last, sort="credits")),
        "sort_by_credits_ascending": median_ms(
            lambda: interaction(sort="credits", descending=False)
        ),
        "filter_failed_sorted_by_credits": median_ms(
            lambda: interaction(status="failed", sort="credits")
        ),
    }
    extra_rss = rss_mb() - base_rss
    # Where SQLite has no trigram tokenizer (before 3.34), search scans the URL columns.
    journal._search_index = False
    fallback = {
        "search_url_without_trigram_index": median_ms(
            lambda: interaction(search="campaign-7/"), runs=3
        )
    }
    journal._search_index = True
    tracemalloc.start()
    for offset in (0, last):
        interaction(offset)
        interaction(offset, search="campaign-7/")
        interaction(offset, sort="credits")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    unchanged = journal.get("lip_task_remote_000001")
    assert unchanged is not None and unchanged.dto is not None
    before = journal._read("SELECT updated_ts FROM entries WHERE task_id = ?", [unchanged.task_id])
    conn = sqlite3.connect(journal.path)
    version_before = conn.execute("PRAGMA data_version").fetchone()[0]
    for _ in range(1000):
        journal.record_seen(dict(unchanged.dto))  # what lip_sync.get records per poll
    version_after = conn.execute("PRAGMA data_version").fetchone()[0]
    conn.close()
    after = journal._read("SELECT updated_ts FROM entries WHERE task_id = ?", [unchanged.task_id])
    return {
        "entries": total,
        "search_index": journal.has_search_index,
        "first_page_rows": shown,
        "first_page_cold_ms": round(first_cold_ms, 2),
        "interactions_median_ms": interactions,
        "slowest_interaction_ms": max(interactions.values()),
        "fallback_median_ms": fallback,
        "extra_rss_mb": round(extra_rss, 2),
        "interaction_tracemalloc_peak_mb": round(peak / 2**20, 2),
        "writes_for_1000_polls_of_an_unchanged_task": int(version_after != version_before)
        + int(before != after),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
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
    extra_mb = max(figures["extra_rss_mb"], figures["interaction_tracemalloc_peak_mb"])
    results = {
        **figures,
        "fill_seconds": round(fill_s, 2),
        "journal_size_mb": round(size_mb, 2),
        "targets": {"interaction_ms": LIMIT_MS, "extra_mb": LIMIT_MB},
        "within_targets": figures["first_page_cold_ms"] < LIMIT_MS
        and figures["slowest_interaction_ms"] < LIMIT_MS
        and extra_mb < LIMIT_MB
        and figures["writes_for_1000_polls_of_an_unchanged_task"] == 0,
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
