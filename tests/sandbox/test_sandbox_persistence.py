"""Tasks and balances live in SQLite: a restart with the same file keeps them, and
unfinished tasks carry on."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx

from kitta_notebook.sandbox import Sandbox
from tests.sandbox.sandbox_helpers import TASKS, api_client, video_body, wait_terminal


def test_restart_keeps_tasks_balances_and_results(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    accounts = {"keeper": 100_000}
    # Same port every time: the pending task's input URLs point at the sandbox's samples.
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    opts: dict[str, Any] = {"db": db, "port": port}

    with Sandbox(accounts, time_scale=0.05, **opts) as first, api_client(first, "keeper") as c:
        done = wait_terminal(c, c.post(TASKS, json=video_body(first)).json()["taskId"])
        assert done["status"] == "succeeded"
        balance = first.balance("keeper")
        assert balance < 100_000

    # A very slow clock: this task is still pending when the server stops.
    with Sandbox(accounts, time_scale=1000, **opts) as second, api_client(second, "keeper") as c:
        pending = c.post(TASKS, json=video_body(second, durationSeconds=2)).json()
        assert pending["status"] == "pending"
        assert pending["id"] != done["id"]
        assert c.get(f"{TASKS}/{pending['taskId']}").json()["status"] == "pending"
        balance -= 200

    with Sandbox(accounts, time_scale=0.05, **opts) as third, api_client(third, "keeper") as c:
        again = c.get(f"{TASKS}/{done['taskId']}").json()
        assert again["status"] == "succeeded"
        assert again["createdAt"] == done["createdAt"]
        assert again["completedAt"] == done["completedAt"]
        assert again["resultVideoUrl"].startswith(third.origin)
        video = httpx.get(again["resultVideoUrl"], timeout=20)
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        resumed = wait_terminal(c, pending["taskId"])
        assert resumed["status"] == "succeeded", resumed
        # Not reset to the configured 100_000; the resumed task was reconciled from 200.
        assert third.balance("keeper") == balance + 200 - resumed["creditsCharged"]
        listed = [t["taskId"] for t in c.get(TASKS).json()["data"]]
        assert listed == [pending["taskId"], done["taskId"]]


def test_in_memory_by_default(tmp_path: Path) -> None:
    with Sandbox({"volatile": 1000}, time_scale=0.05) as sb, api_client(sb, "volatile") as c:
        assert c.post(TASKS, json=video_body(sb, durationSeconds=1)).status_code == 202
    with Sandbox({"volatile": 1000}, time_scale=0.05) as sb, api_client(sb, "volatile") as c:
        assert c.get(TASKS).json()["data"] == []
        assert sb.balance("volatile") == 1000
