"""Run every benchmark, then write `benchmarks/results.json` and `benchmarks/RESULTS.md`.

    python -m benchmarks            # or: python benchmarks/run.py   (make bench)
    python -m benchmarks --quick    # smaller sizes, for a smoke test
    python -m benchmarks --only get_latency,import_time
    python -m benchmarks --budget 1500   # room for the N = 10,000 watch (~11 min more)

The whole run is bounded (a benchmark that would not fit in what is left of
the budget is skipped and says so). Against the sandbox on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (
    bench_create,
    bench_get,
    bench_import,
    bench_kernel,
    bench_postgres,
    bench_throughput,
    bench_watch,
)
from benchmarks._common import Deadline, Figure, machine_facts, use_private_home

HERE = Path(__file__).resolve().parent
BUDGET_SECONDS = 570.0
# Rough worst-case seconds each needs; skipped when less than this is left.
BENCHMARKS: list[tuple[str, Callable[[Deadline, bool], Figure | list[Figure]], float]] = [
    ("import_time", bench_import.run, 30),
    ("get_latency", bench_get.run, 40),
    ("sandbox_throughput", bench_throughput.run, 40),
    ("create_many", bench_create.run, 90),
    ("kernel_responsiveness", bench_kernel.run, 60),
    ("watch_requests", bench_watch.run, 120),
    # The team journal (a throwaway PostgreSQL cluster; `--budget 1500` leaves room for them).
    ("postgres_overhead", bench_postgres.overhead, 60),
    ("postgres_keyed_creates", bench_postgres.keyed_creates, 300),
    ("postgres_history", bench_postgres.history, 420),
]


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _failed(key: str, error: BaseException, seconds: float) -> Figure:
    return Figure(
        key=key,
        title=key,
        measured="error",
        baseline="—",
        ratio=None,
        target="—",
        met=None,
        notes=[f"{type(error).__name__}: {error}"],
        details={"traceback": traceback.format_exc()},
        seconds=seconds,
    )


def _skipped(key: str, reason: str) -> Figure:
    return Figure(key, key, "skipped", "—", None, "—", None, notes=[reason])


def markdown(results: dict[str, object], figures: list[Figure]) -> str:
    machine = results["machine"]
    assert isinstance(machine, dict)
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['started']} in {results['duration_s']} s with `python -m benchmarks`"
        f"{' --quick' if results.get('quick') else ''}: Python {machine['python']}, "
        f"{machine['cpu_count']} CPUs ({machine['cpu_model']}), httpx {machine['httpx']}, "
        f"kitta-notebook {machine['kitta_notebook']}. Load average at start "
        f"{machine['load_average_at_start']} (a shared machine: other work ran meanwhile).",
        "",
        "Everything runs against the sandbox on 127.0.0.1; each figure is measured against its "
        "own baseline in the same run.",
        "",
        "| # | Benchmark | Measured | Baseline | Ratio | Target | Met |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, figure in enumerate(figures, 1):
        met = {True: "yes", False: "**no**", None: "—"}[figure.met]
        ratio = "—" if figure.ratio is None else f"{figure.ratio:g}"
        lines.append(
            f"| {number} | {figure.title} | {figure.measured} | {figure.baseline} | {ratio} "
            f"| {figure.target} | {met} |"
        )
    lines.append("")
    for number, figure in enumerate(figures, 1):
        lines.append(f"**{number}. {figure.title}.** " + " ".join(figure.notes))
        lines.append("")
    return "\n".join(lines)


# Sections that their own benchmark scripts write into RESULTS.md (bench_media,
# bench_history, bench_postgres); a run of the main table keeps them as they are.
OWN_SECTIONS = ("## Media", "## History", "## PostgreSQL")


def _own_sections(report: Path) -> str:
    if not report.exists():
        return ""
    text = report.read_text()
    starts = [text.index(title) for title in OWN_SECTIONS if title in text]
    return "\n" + text[min(starts) :] if starts else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    parser.add_argument("--only", default="", help="comma-separated benchmark keys")
    parser.add_argument("--output", default=str(HERE), help="folder for the result files")
    parser.add_argument(
        "--budget", type=float, default=BUDGET_SECONDS, help="seconds the whole run may take"
    )
    args = parser.parse_args(argv)
    wanted = {k.strip() for k in args.only.split(",") if k.strip()}
    unknown = wanted - {key for key, _, _ in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}")

    home = use_private_home()
    deadline = Deadline(args.budget)
    started = time.monotonic()
    results: dict[str, object] = {
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "machine": machine_facts(),
    }
    figures: list[Figure] = []
    try:
        for key, run, need in BENCHMARKS:
            if wanted and key not in wanted:
                continue
            if deadline.left < need:
                figures.append(_skipped(key, f"skipped: {deadline.left:.0f} s left of the budget"))
                continue
            print(f"[bench] {key} …", file=sys.stderr, flush=True)
            before = _load()
            t0 = time.monotonic()
            try:
                outcome = run(deadline, args.quick)
                produced = outcome if isinstance(outcome, list) else [outcome]
            except Exception as exc:  # one broken benchmark must not lose the others
                produced = [_failed(key, exc, time.monotonic() - t0)]
            for figure in produced:
                figure.details["load_average_before_after"] = [before, _load()]
                figures.append(figure)
                verdict = {True: "met", False: "NOT met", None: "n/a"}[figure.met]
                print(
                    f"[bench] {figure.key}: {figure.measured} ({verdict})",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        home.cleanup()
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["benchmarks"] = {figure.key: figure.to_json() for figure in figures}
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    report = output / "RESULTS.md"
    report.write_text(markdown(results, figures) + _own_sections(report))
    print(f"[bench] wrote {output / 'results.json'} and {output / 'RESULTS.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
