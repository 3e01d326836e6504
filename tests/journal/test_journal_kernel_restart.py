"""A kernel dies mid-task; a new kernel's `resume()` finds every task and follows
it to the end. Real processes throughout: the sandbox runs from its CLI with a
file database, the kernels are started and killed with jupyter_client.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

import kitta_notebook
from kitta_notebook.history.journal import Journal, journal_path
from tests.journal.journal_helpers import poll_until

pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")
from jupyter_client.manager import KernelManager

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
TOKEN = "restart-token-3e9a"
# Pending 1 s + processing >= 3 s, times 4: each task runs for 16 s or more,
# far longer than the first kernel lives after creating them.
TIME_SCALE = "4"
CREATE_LATENCY = "1.5"  # every create waits this long on the server (to kill mid-request)


@pytest.fixture()
def sandbox_process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The sandbox CLI in its own process, with a file database."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kitta_notebook.sandbox",
            "--port",
            "0",
            "--token",
            f"{TOKEN}:100000000",
            "--db",
            str(tmp_path / "sandbox.sqlite3"),
            "--time-scale",
            TIME_SCALE,
            "--latency",
            CREATE_LATENCY,
            "--fault-routes",
            "create",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    try:
        line = lines.get(timeout=60)
        assert line is not None, "the sandbox CLI exited before it was ready"
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Kernel:
    """A real IPython kernel; `run` executes a cell and returns its stdout."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 120) -> str:
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

    def json(self, code: str) -> Any:
        lines = [line for line in self.run(code).splitlines() if line.strip()]
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


@pytest.mark.slow
def test_resume_after_a_killed_kernel_finds_every_task(
    sandbox_process: dict[str, Any], tmp_path: Path
) -> None:
    home = tmp_path / "kitta-home"
    base_url = sandbox_process["baseUrl"]
    samples = sandbox_process["samples"]
    env = {**os.environ, "KITTA_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("KITTA_API_TOKEN", None)
    env.pop("KITTA_BASE_URL", None)
    setup = (
        "import json, threading\n"
        "import kitta_notebook as kn\n"
        f"client = kn.KittaClient({TOKEN!r}, base_url={base_url!r})\n"
        f"A, V = {samples['audio']!r}, {samples['video']!r}\n"
    )
    origin = base_url.split("/api")[0]
    journal = Journal(journal_path(origin, TOKEN, home))

    first = Kernel(env, tmp_path)
    try:
        created = first.json(
            setup
            + "tasks = [client.lip_sync.create(audio_url=A, video_url=V, duration_seconds=3)\n"
            "         for _ in range(3)]\n"
            "watchers = [t.watch(poll_interval=0.5) for t in tasks]\n"
            "print(json.dumps([t.task_id for t in tasks]))\n"
        )
        assert len(created) == 3
        # A fourth create is on the wire (the server holds it) when the kernel dies.
        first.run(
            "threading.Thread(target=lambda: client.lip_sync.create(audio_url=A, video_url=V),"
            " daemon=True).start()\n"
        )
        poll_until(lambda: any(e.outcome == "sending" for e in journal.entries()), timeout=30)
        before = {e.task_id: e for e in journal.entries() if e.task_id}
        assert set(before) == set(created)
        assert all(e.state in ("pending", "processing") for e in before.values())
    finally:
        first.kill()
    in_flight = [e for e in journal.entries() if e.outcome == "sending"]
    assert len(in_flight) == 1

    second = Kernel(env, tmp_path)
    try:
        resumed = second.json(
            setup + "from kitta_notebook import resume\n"
            "import warnings\n"
            "with warnings.catch_warnings():\n"
            "    warnings.simplefilter('ignore')\n"
            "    resumed = resume(client, poll_interval=0.5)\n"
            "print(json.dumps({'ids': [t.task_id for t in resumed],\n"
            "                  'unresolved': [e.entry_id for e in resumed.unresolved],\n"
            "                  'watchers': len(resumed.watchers)}))\n"
        )
        assert sorted(resumed["ids"]) == sorted(created)
        assert resumed["watchers"] == 3
        # The create cut off mid-request is reported, not forgotten.
        assert resumed["unresolved"] == [in_flight[0].entry_id]

        def all_finished() -> bool:
            states = second.json(
                "print(json.dumps([t.status_text for t in resumed] + "
                "[w.done for w in resumed.watchers]))"
            )
            return all(s in ("succeeded", "failed", True) for s in states)

        poll_until(all_finished, timeout=120, step=0.5)
        statuses = second.json("print(json.dumps([t.status_text for t in resumed]))")
        assert statuses == ["succeeded"] * 3
        # The live views wrote the final states into the journal.
        final = {e.task_id: e.state for e in journal.entries() if e.task_id in created}
        assert final == dict.fromkeys(created, "succeeded")
        # Reconcile settles the cut-off create: matched to a task, or proven never created.
        report = second.json(
            "r = client.history.reconcile(settle=0)\n"
            "print(json.dumps({'matched': r.matched, 'absent': r.absent, "
            "'unresolved': r.unresolved}))"
        )
        assert report["unresolved"] == []
        assert len(report["matched"]) + len(report["absent"]) == 1
        assert journal.unresolved() == []
    finally:
        second.stop()
