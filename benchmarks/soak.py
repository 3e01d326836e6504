"""Fault soak: create and wait for many tasks against a sandbox that misbehaves on purpose.

The sandbox's `FaultConfig` answers 20 % of API requests with a 500, drops 10 %
of connections without an answer, rate-limits 10 % with a 429 + Retry-After and
adds latency spikes; faulted creates are committed first (the task exists, the
client cannot know). The run checks what the toolkit promises users who pay
for every task:

* every task the server created is known to the client: returned by the
  create, or flagged `may_have_created=True` and matched by the journal's
  `reconcile()` against the server's list (nothing left unresolved);
* nothing is billed twice: the server made exactly as many tasks as the client
  holds plus the matched unknown creates, at most one per logical create, and
  it received exactly the create requests the client sent;
* every task reaches `succeeded` or `failed`; no exception other than ours.

Two modes: `plain` (one `create()` after another, then `wait()` on each) and
`batch` (`create_many` + `wait_many`). Only 127.0.0.1 is contacted.

    python benchmarks/soak.py                   # 300 tasks per mode -> benchmarks/soak_results.json
    python benchmarks/soak.py --tasks 40 --modes plain --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kitta_notebook import KittaClient, KittaError, LipSyncTask  # noqa: E402
from kitta_notebook.sandbox import FaultConfig, Sandbox  # noqa: E402

TOKEN = "soak-token"
RESULTS = Path(__file__).resolve().parent / "soak_results.json"


def soak_faults(seed: int) -> FaultConfig:
    """The issue's mix: 20 % 500s, 10 % drops, 10 % 429s with Retry-After, latency spikes."""
    return FaultConfig(
        error_rate=0.20,
        drop_rate=0.10,
        rate_limit_rate=0.10,
        retry_after=0.05,
        latency_spike_rate=0.05,
        latency_spike=0.25,
        create_fault_after_commit=True,
        task_failure_rate=0.05,
        seed=seed,
    )


@dataclass
class SoakReport:
    mode: str
    tasks: int
    seed: int
    seconds: float = 0.0
    create_requests_sent: int = 0
    create_requests_received: int = 0
    tasks_on_server: int = 0
    creates_accepted: int = 0
    created_returned: int = 0
    rejected: int = 0
    unknown_outcome: int = 0
    unknown_matched: int = 0
    unknown_not_created: int = 0
    unknown_unresolved: int = 0
    duplicate_tasks: int = 0
    lost_tasks: int = 0
    not_terminal: int = 0
    unhandled_exceptions: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    api_requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    final_statuses: dict[str, int] = field(default_factory=dict)
    errors_seen: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        found = []
        if self.lost_tasks:
            found.append(f"{self.lost_tasks} server tasks unknown to the client")
        if self.duplicate_tasks:
            found.append(f"{self.duplicate_tasks} tasks more than creates could explain")
        if self.create_requests_received != self.create_requests_sent:
            found.append(
                f"server received {self.create_requests_received} creates, "
                f"client sent {self.create_requests_sent}"
            )
        if self.tasks_on_server != self.creates_accepted:
            found.append("server task count differs from its accepted creates")
        if self.unknown_unresolved:
            found.append(f"{self.unknown_unresolved} unknown creates left unresolved")
        if self.not_terminal:
            found.append(f"{self.not_terminal} tasks not finished")
        if self.unhandled_exceptions:
            found.append(f"{self.unhandled_exceptions} unhandled exceptions")
        return found


def _requests(tasks: int, sb: Sandbox) -> list[dict[str, Any]]:
    media = sb.samples
    return [
        {"video_url": media["video"], "audio_url": media["audio"], "key": f"soak-{i}"}
        for i in range(tasks)
    ]


def run_soak(
    tasks: int,
    *,
    mode: str = "plain",
    seed: int = 1,
    time_scale: float = 0.02,
    wait_timeout: float = 120.0,
    poll_interval: float = 0.05,
    concurrency: int = 8,
    faults: FaultConfig | None = None,
) -> SoakReport:
    """One soak run against a fresh sandbox; see the module docstring."""
    report = SoakReport(mode=mode, tasks=tasks, seed=seed)
    started = time.monotonic()
    sent = Counter[str]()

    def count(request: httpx.Request) -> None:
        if request.method == "POST":
            sent["create"] += 1

    errors: Counter[str] = Counter()
    with Sandbox({TOKEN: 10**12}, time_scale=time_scale) as sb:
        http = httpx.Client(follow_redirects=False, event_hooks={"request": [count]})
        client = KittaClient(TOKEN, base_url=sb.base_url, http_client=http, max_retries=3)
        client._config.retry_base_delay = 0.02
        client._config.retry_max_delay = 0.2
        items = _requests(tasks, sb)
        sb.faults = faults or soak_faults(seed)
        sb.stats.reset()
        created: list[LipSyncTask] = []
        unknown = 0
        # --- create --------------------------------------------------------------------
        if mode == "plain":
            for item in items:
                fields = {k: v for k, v in item.items() if k != "key"}
                try:
                    created.append(client.lip_sync.create(**fields))
                except KittaError as exc:
                    errors[type(exc).__name__] += 1
                    if getattr(exc, "may_have_created", False):
                        unknown += 1
                    else:
                        report.rejected += 1
                except Exception as exc:
                    errors[type(exc).__name__] += 1
                    report.unhandled_exceptions += 1
        elif mode == "batch":
            try:
                result = client.lip_sync.create_many(items, concurrency=concurrency, progress=False)
            except Exception as exc:
                errors[type(exc).__name__] += 1
                report.unhandled_exceptions += 1
            else:
                created = [item.task for item in result.created if item.task is not None]
                unknown = len(result.unknown)
                report.rejected = len(result.rejected)
                for item in result.errors:
                    errors[type(item.error).__name__] += 1
        else:
            raise ValueError(f"unknown mode {mode!r}")
        report.created_returned = len(created)
        report.unknown_outcome = unknown
        # --- wait (faults still on) -----------------------------------------------------------
        try:
            if mode == "plain":
                for task in created:
                    client.lip_sync.wait(
                        task,
                        timeout=wait_timeout,
                        poll_interval=poll_interval,
                        raise_on_failure=False,
                    )
            elif created:
                client.lip_sync.wait_many(
                    created, timeout=wait_timeout, poll_interval=poll_interval, progress=False
                )
        except KittaError as exc:
            errors[f"wait: {type(exc).__name__}"] += 1
        except Exception as exc:
            errors[f"wait: {type(exc).__name__}"] += 1
            report.unhandled_exceptions += 1
        # --- truth ---------------------------------------------------------------------------
        sb.faults = None
        stats = sb.stats.snapshot()
        report.create_requests_sent = sent["create"]
        report.create_requests_received = stats["by_route"].get("create", 0)
        report.creates_accepted = stats["creates_accepted"]
        report.faults_injected = dict(stats["faults"])
        report.api_requests = stats["total"]
        report.statuses = {str(k): v for k, v in sorted(stats["by_status"].items())}
        if client.journal is not None:
            reconciled = client.history.reconcile(settle=0.0)
            report.unknown_matched = len(reconciled.matched)
            report.unknown_not_created = len(reconciled.absent)
            report.unknown_unresolved = len(reconciled.unresolved)
            matched_ids = {task_id for _, task_id in reconciled.matched}
        else:
            report.unknown_unresolved = unknown
            matched_ids = set()
        with sb.client(journal=False) as truth:
            server = {t.task_id: t for t in truth.lip_sync.iter()}
            for task_id in matched_ids:  # found by reconcile: wait for them as well
                truth.lip_sync.wait(
                    task_id, timeout=wait_timeout, poll_interval=poll_interval,
                    raise_on_failure=False,
                )  # fmt: skip
            final = {t.task_id: t for t in truth.lip_sync.iter()}
        report.tasks_on_server = len(server)
        known = {t.task_id for t in created} | matched_ids
        report.lost_tasks = len(set(server) - known)
        report.duplicate_tasks = max(0, len(server) - len(created) - len(matched_ids))
        report.duplicate_tasks += len(created) - len({t.task_id for t in created})
        report.final_statuses = dict(Counter(t.status_text for t in final.values()))
        report.not_terminal = sum(not t.is_terminal for t in final.values())
        report.errors_seen = dict(errors)
        client.close()
    report.seconds = round(time.monotonic() - started, 2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--modes", default="plain,batch")
    parser.add_argument("--seed", type=int, default=20260701)
    parser.add_argument("--no-write", action="store_true", help="do not write soak_results.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("KITTA_HOME", tempfile.mkdtemp(prefix="kitta-soak-home-"))
    reports = []
    for mode in args.modes.split(","):
        report = run_soak(args.tasks, mode=mode.strip(), seed=args.seed)
        reports.append(report)
        status = "OK" if report.ok else "PROBLEMS: " + "; ".join(report.problems())
        print(f"{mode}: {report.tasks} tasks in {report.seconds} s — {status}")
        print(json.dumps(asdict(report), indent=2, sort_keys=True))
    if not args.no_write:
        payload = {
            "command": "python benchmarks/soak.py " + " ".join(argv or sys.argv[1:]),
            "fault_config": asdict(soak_faults(args.seed)),
            "runs": [asdict(r) | {"ok": r.ok, "problems": r.problems()} for r in reports],
        }
        RESULTS.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
