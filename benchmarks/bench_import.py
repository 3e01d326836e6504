"""(4) `import kitta_notebook` time minus `import httpx`, in fresh subprocesses.

The package imports httpx itself, so the difference is what the package adds.
Measured two ways: in one fresh interpreter, `import httpx` then `import
kitta_notebook` (the second timing is the difference itself, free of the
noise between processes: the headline); and as the difference of medians of
interpreters that import only one of them, alternating.

The children use compiled bytecode, as an installed package does (pip compiles
it): a throwaway cache folder, written by the warm-up imports, even when the
environment says PYTHONDONTWRITEBYTECODE. Without it every import would time
the compiler, not the import.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from ._common import ROOT, Deadline, Figure, bench_env, median

TARGET_MS = 50.0
RUNS = 15
QUICK_RUNS = 5
_INCREMENTAL = (
    "import time; t = time.perf_counter(); import httpx; a = time.perf_counter() - t; "
    "t = time.perf_counter(); import kitta_notebook; b = time.perf_counter() - t; print(a, b)"
)
_PROBE = (
    "import sys, time; t = time.perf_counter(); import {module}; "
    "elapsed = time.perf_counter() - t; "
    "heavy = sorted(m for m in ('asyncio', 'sqlite3', 'IPython', 'ipywidgets', "
    "'kitta_notebook.batch', 'kitta_notebook.history', 'kitta_notebook.media', "
    "'kitta_notebook.sandbox.server', 'fastapi') if m in sys.modules); "
    "print(elapsed, ','.join(heavy))"
)


def _env(cache: str) -> dict[str, str]:
    env = bench_env(PYTHONPYCACHEPREFIX=cache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _probe(module: str, cache: str) -> tuple[float, str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        env=_env(cache),
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    seconds, _, loaded = out.stdout.strip().partition(" ")
    return float(seconds), loaded


def _incremental(cache: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _INCREMENTAL],
        capture_output=True,
        text=True,
        env=_env(cache),
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    first, second = out.stdout.split()
    return float(first), float(second)


def run(deadline: Deadline, quick: bool = False) -> Figure:
    started = time.monotonic()
    runs = QUICK_RUNS if quick else RUNS
    with tempfile.TemporaryDirectory(prefix="kitta-bench-pycache-") as cache:
        return _measure(runs, cache, started)


def _measure(runs: int, cache: str, started: float) -> Figure:
    _probe("httpx", cache)  # warm the disk cache for both and write their bytecode
    _probe("kitta_notebook", cache)
    base: list[float] = []
    ours: list[float] = []
    added: list[float] = []
    httpx_first: list[float] = []
    loaded = ""
    for _ in range(runs):
        base.append(_probe("httpx", cache)[0])
        seconds, loaded = _probe("kitta_notebook", cache)
        ours.append(seconds)
        a, b = _incremental(cache)
        httpx_first.append(a)
        added.append(b)
    extra_ms = median(added) * 1000
    difference_ms = (median(ours) - median(base)) * 1000
    notes = [
        f"Median of {runs} fresh interpreters (bytecode compiled, as installed): "
        "`import kitta_notebook` right after "
        f"`import httpx` takes {extra_ms:.1f} ms (httpx itself {median(httpx_first) * 1000:.1f}"
        " ms there).",
        f"Separate interpreters, alternating: kitta_notebook {median(ours) * 1000:.1f} ms vs "
        f"httpx {median(base) * 1000:.1f} ms, a difference of {difference_ms:.1f} ms (noisier).",
        "Heavy modules loaded by `import kitta_notebook`: "
        + (loaded or "none")
        + " (asyncio, SQLite, IPython, ipywidgets, batches, the history, media and the"
        " sandbox server load on first use).",
    ]
    return Figure(
        key="import_time",
        title="import kitta_notebook minus import httpx (fresh subprocesses)",
        measured=f"{extra_ms:.1f} ms",
        baseline=f"{median(base) * 1000:.1f} ms (httpx)",
        ratio=None,
        target=f"≤ {TARGET_MS:g} ms",
        met=extra_ms <= TARGET_MS,
        notes=notes,
        details={
            "kitta_notebook_ms": [round(x * 1000, 1) for x in ours],
            "httpx_ms": [round(x * 1000, 1) for x in base],
            "added_after_httpx_ms": [round(x * 1000, 1) for x in added],
            "extra_ms": round(extra_ms, 1),
            "difference_of_medians_ms": round(difference_ms, 1),
            "heavy_modules_loaded": loaded.split(",") if loaded else [],
        },
        seconds=time.monotonic() - started,
    )
