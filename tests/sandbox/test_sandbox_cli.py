"""``python -m kitta_notebook.sandbox`` starts, prints where it serves, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

import kitta_notebook
from tests.sandbox.sandbox_helpers import TASKS

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
Lines = queue.Queue[str | None]
Starter = Callable[..., tuple[subprocess.Popen[str], Lines]]


def _lines(stream: IO[str]) -> Lines:
    """Read a pipe on a thread so the test can wait with a timeout."""
    out: Lines = queue.Queue()

    def pump() -> None:
        for line in stream:
            out.put(line)
        out.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return out


def _next_line(lines: Lines, timeout: float = 30) -> str:
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail("the sandbox CLI printed nothing in time")
    assert line is not None, "the sandbox CLI exited early"
    return line


@pytest.fixture()
def run_cli() -> Iterator[Starter]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], Lines]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "kitta_notebook.sandbox", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        assert proc.stdout is not None
        return proc, _lines(proc.stdout)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_cli_json_mode_serves_and_stops_on_sigterm(run_cli: Starter) -> None:
    proc, lines = run_cli(
        "--token", "cli-token:5000", "--pro-token", "cli-token", "--time-scale", "0.05", "--json"
    )
    info = json.loads(_next_line(lines))
    assert info["token"] == "cli-token"
    assert info["accounts"] == {"cli-token": 5000}
    assert info["proTokens"] == ["cli-token"]
    base = info["baseUrl"]
    assert base.startswith("http://127.0.0.1:") and base.endswith("/api")
    headers = {"Authorization": "Bearer cli-token"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        assert client.get("/v1/openapi.json").status_code == 200
        body = video_body_for(info, model="kitta-lip-sync-pro", durationSeconds=2)
        assert client.post(TASKS, json=body).status_code == 202
        assert client.get("/v1/usage").json()["balance"] == 5000 - 400
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def video_body_for(info: dict[str, object], **extra: object) -> dict[str, object]:
    samples = info["samples"]
    assert isinstance(samples, dict)
    return {
        "model": "kitta-lip-sync-v1",
        "videoUrl": samples["video"],
        "audioUrl": samples["audio"],
        **extra,
    }


def test_cli_text_mode_prints_base_url_and_token(run_cli: Starter) -> None:
    proc, lines = run_cli("--error-rate", "1", "--fault-routes", "usage")
    printed: list[str] = []
    while not printed or not printed[-1].startswith("Press Ctrl-C"):
        printed.append(_next_line(lines))
    text = "".join(printed)
    base = next(line.split()[-1] for line in printed if line.startswith("base URL:"))
    assert "token:    sandbox-token" in text
    with httpx.Client(base_url=base, timeout=10) as client:
        auth = {"Authorization": "Bearer sandbox-token"}
        assert client.get("/v1/usage", headers=auth).status_code == 500  # fault flags applied
        assert client.get(TASKS, headers=auth).status_code == 200
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0


def test_cli_rejects_bad_fault_flags() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "kitta_notebook.sandbox", "--error-rate", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    assert "error_rate" in proc.stderr
