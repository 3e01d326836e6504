"""Helpers of the crash-safety tests.

* `SandboxProcess`: the sandbox CLI in its own process with a file database;
  it can be SIGKILLed and started again on the same port with the same database.
* `ServerView`: what the server really holds, read over plain HTTP (not through
  a `KittaClient`, so looking never writes to any journal).
* `Kernel`: a real IPython kernel driven with jupyter_client (the pattern of
  ``tests/journal/test_journal_kernel_restart.py``), which can be SIGKILLed.
* `poll_until`: bounded polling; the only way these tests wait for anything.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

import kitta_notebook

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
TERMINAL = ("succeeded", "failed")

_T = TypeVar("_T")


def poll_until(
    probe: Callable[[], _T | None], *, timeout: float, step: float = 0.05, what: str = ""
) -> _T:
    """Call `probe` until it returns something truthy (returned); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what or probe!r}")
        time.sleep(step)  # the pace of a bounded poll, never a synchronisation by itself


class SandboxProcess:
    """``python -m kitta_notebook.sandbox --json ...`` in its own process group."""

    def __init__(self, db: Path, token: str, extra_args: list[str], log: Path) -> None:
        self.db = db
        self.token = token
        self.extra_args = extra_args
        self.log = log
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    @property
    def base_url(self) -> str:
        return str(self.info["baseUrl"])

    @property
    def origin(self) -> str:
        return self.base_url.split("/api")[0]

    @property
    def samples(self) -> dict[str, str]:
        return dict(self.info["samples"])

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        """Start on `self.port` (0 the first time: a free port, kept for restarts)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = [
            sys.executable,
            "-m",
            "kitta_notebook.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--token",
            f"{self.token}:100000000",
            "--db",
            str(self.db),
            "--json",
            *self.extra_args,
        ]
        stderr = self.log.open("a", encoding="utf-8")
        try:
            self.proc = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                start_new_session=True,
            )
        finally:
            stderr.close()
        assert self.proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: IO[str]) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise AssertionError(
                f"the sandbox did not start in {timeout} s\n{self.log_tail()}"
            ) from None
        if line is None:
            raise AssertionError(f"the sandbox CLI exited before it was ready\n{self.log_tail()}")
        self.info = json.loads(line)
        port = int(self.base_url.split(":")[2].split("/")[0])
        assert self.port in (0, port), f"asked for port {self.port}, got {port}"
        self.port = port
        return self.info

    def kill(self) -> None:
        """SIGKILL: no shutdown code of any kind runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


class ServerView:
    """The server's own truth, read with a bare HTTP client and the account's token."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.sandbox = sandbox

    def tasks(self) -> dict[str, str]:
        """Every task of the account: {taskId: status}, all pages."""
        found: dict[str, str] = {}
        offset = 0
        headers = {"Authorization": f"Bearer {self.sandbox.token}"}
        with httpx.Client(timeout=10, trust_env=False) as http:
            while True:
                response = http.get(
                    f"{self.sandbox.base_url}/v1/lip-sync/tasks",
                    params={"limit": 100, "offset": offset},
                    headers=headers,
                )
                response.raise_for_status()
                body = response.json()
                for item in body["data"]:
                    assert item["taskId"] not in found, "the list repeats a task"
                    found[item["taskId"]] = item["status"]
                if not body["pagination"]["hasMore"]:
                    return found
                offset += len(body["data"])

    def count(self) -> int:
        return len(self.tasks())


class Kernel:
    """A real IPython kernel; `run` executes a cell and returns its stdout."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> str:
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind = msg["header"]["msg_type"]
            if kind == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif kind == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        assert reply["content"]["status"] == "ok", "\n".join(errors) or reply["content"]
        return "".join(out)

    def start_cell(self, code: str) -> str:
        """Send a cell and return at once (its reply is never awaited)."""
        return str(self.client.execute(code))

    def json(self, code: str, timeout: float = 60) -> Any:
        lines = [line for line in self.run(code, timeout).splitlines() if line.strip()]
        return json.loads(lines[-1])

    def kill(self) -> None:
        """Die like a crashed kernel: SIGKILL, no cleanup of any kind."""
        self.client.stop_channels()
        self.manager.signal_kernel(signal.SIGKILL)
        self.manager.shutdown_kernel(now=True)  # reaps the dead process

    def stop(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=True)
