"""What every benchmark shares: the sandbox process, machine facts, small statistics."""

from __future__ import annotations

import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every child: this checkout first, a throwaway journal folder,
    and never a real token or base URL."""
    env = dict(os.environ)
    for name in ("KITTA_API_TOKEN", "KITTA_BASE_URL"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("KITTA_HOME", os.environ["KITTA_HOME"])
    env.update(extra)
    return env


def use_private_home() -> tempfile.TemporaryDirectory[str]:
    """Journals written during the run go to a temporary folder, not the user's."""
    home = tempfile.TemporaryDirectory(prefix="kitta-bench-home-")
    os.environ["KITTA_HOME"] = home.name
    os.environ.pop("KITTA_API_TOKEN", None)
    os.environ.pop("KITTA_BASE_URL", None)
    return home


def _reader(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


class ServerProcess:
    """The sandbox in a child process (see `_server.py`); a context manager."""

    def __init__(self, *, time_scale: float, cpu: int | None = None) -> None:
        command = [sys.executable, "-m", "benchmarks._server", "--time-scale", str(time_scale)]
        command += ["--token", TOKEN]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=bench_env(),
            cwd=ROOT,
        )
        assert self._process.stdout is not None
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=_reader, args=(self._process.stdout, self._lines), daemon=True
        ).start()
        info = self._read(timeout=60)
        self.base_url: str = info["base_url"]
        self.origin: str = info["origin"]
        self.token: str = info["token"]
        self.samples: dict[str, str] = info["samples"]
        self.pid: int = info["pid"]

    def _read(self, timeout: float) -> Any:
        try:
            return json.loads(self._lines.get(timeout=timeout))
        except queue.Empty:
            self.close()
            raise RuntimeError("the sandbox process did not answer") from None

    def command(self, name: str, **fields: Any) -> Any:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"cmd": name, **fields}) + "\n")
        self._process.stdin.flush()
        return self._read(timeout=30)

    def stats(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = self.command("stats")
        return snapshot

    def reset(self) -> None:
        self.command("reset")

    def faults(self, **config: Any) -> None:
        self.command("faults", config=config or None)

    def reads(self) -> int:
        """List and detail requests received since the last reset."""
        routes = self.stats()["by_route"]
        return int(routes.get("list", 0)) + int(routes.get("get", 0))

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                assert self._process.stdin is not None
                self._process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self._process.stdin.flush()
                self._process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait(timeout=5)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, Any]:
    import httpx

    import kitta_notebook

    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "cpu_model": cpu_model(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "httpx": httpx.__version__,
        "kitta_notebook": kitta_notebook.__version__,
    }


@dataclass
class Figure:
    """One benchmark's outcome: the headline ratio against its baseline, and details."""

    key: str
    title: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "measured": self.measured,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "notes": self.notes,
            "details": self.details,
            "seconds": round(self.seconds, 1),
        }


class Deadline:
    """A wall-clock budget shared by the whole run."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    @property
    def left(self) -> float:
        return self.end - time.monotonic()
