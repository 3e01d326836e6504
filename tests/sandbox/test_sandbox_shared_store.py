"""Several sandbox processes on one data folder (the embedded default: one per kernel).

Each works only on tasks it holds a lease on; a task whose process died is adopted
by another once its lease runs out; a restart finds every earlier task.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook.sandbox import DEFAULT_TOKEN, Sandbox
from kitta_notebook.sandbox.store import Store
from tests.sandbox.sandbox_helpers import TASKS, api_client, stored_task, wait_terminal

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def sandbox_process(data_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A CLI sandbox in its own process on ``data_dir``; yields (process, base URL)."""
    args = [sys.executable, "-m", "kitta_notebook.sandbox", "--port", "0", "--json"]
    args += ["--data-dir", str(data_dir), *extra]
    proc = subprocess.Popen(
        args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the CLI prints one line or exits
        if not line:
            pytest.fail(f"the sandbox process did not start: {proc.communicate(timeout=10)}")
        yield proc, json.loads(line)["baseUrl"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_leases_give_each_task_to_one_process(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "s.db"), Store(tmp_path / "s.db")
    try:
        first.ensure_account("t", 10_000)
        task = stored_task(first, "t", price=100, now=1000.0, owner="A", lease_seconds=10)
        assert second.adopt("B", 1005.0, 10) == []  # A's lease still runs
        assert not second.mark_processing(task.task_id, 1005.0, "B")
        first.renew("A", 1009.0, 10)
        assert second.adopt("B", 1015.0, 10) == []  # renewed until 1019
        adopted = second.adopt("B", 1020.0, 10)
        assert [t.task_id for t in adopted] == [task.task_id]
        assert not first.mark_processing(task.task_id, 1021.0, "A")  # A lost it
        assert second.mark_processing(task.task_id, 1021.0, "B")
        first.finish_failed(
            task.task_id, "x", "A may not finish it", 1022.0, refund=True, owner="A"
        )
        assert first.get_task(task.task_id).status == "processing"  # type: ignore[union-attr]
        second.finish_succeeded(task.task_id, "render", 1.0, 1023.0, True, owner="B")
        assert first.get_task(task.task_id).status == "succeeded"  # type: ignore[union-attr]
        first.release("A")
        assert first.adopt("A", 1024.0, 10) == []  # finished tasks are nobody's
    finally:
        first.close()
        second.close()


def test_two_processes_create_and_read_concurrently(tmp_path: Path) -> None:
    with (
        Sandbox(data_dir=tmp_path, time_scale=0.05) as local,
        sandbox_process(tmp_path, "--time-scale", "0.05") as (_, remote_base),
    ):
        remote = httpx.Client(
            base_url=remote_base, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=20
        )
        created: dict[str, list[str]] = {"local": [], "remote": []}
        errors: list[BaseException] = []

        def create(name: str, client: httpx.Client, sb_samples: dict[str, str]) -> None:
            try:
                for _ in range(4):
                    body = {
                        "model": "kitta-lip-sync-v1",
                        "videoUrl": sb_samples["video"],
                        "audioUrl": sb_samples["audio"],
                        "durationSeconds": 1,
                    }
                    response = client.post(TASKS, json=body)
                    assert response.status_code == 202, response.text
                    created[name].append(response.json()["taskId"])
            except BaseException as exc:  # reported below
                errors.append(exc)

        remote_samples = {
            k: v.replace(local.origin, remote_base.removesuffix("/api"))
            for k, v in local.samples.items()
        }
        with api_client(local, DEFAULT_TOKEN) as mine, remote:
            threads = [
                threading.Thread(target=create, args=("local", mine, local.samples)),
                threading.Thread(target=create, args=("remote", remote, remote_samples)),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert not errors, errors
            everything = created["local"] + created["remote"]
            listed = {t["taskId"] for t in mine.get(TASKS, params={"limit": 100}).json()["data"]}
            assert set(everything) <= listed
            for task_id in everything:  # each side reads the other's tasks to the end
                for client in (mine, remote):
                    done = wait_terminal(client, task_id)
                    assert done["status"] == "succeeded", done
                    assert done["resultVideoUrl"].startswith(
                        str(client.base_url).removesuffix("/api/")
                    )
                    assert httpx.get(done["resultVideoUrl"], timeout=20).content[4:8] == b"ftyp"


def test_an_unfinished_task_of_a_dead_process_is_picked_up(tmp_path: Path) -> None:
    # A slow clock: the task is still pending when its process is killed.
    with sandbox_process(tmp_path, "--time-scale", "1000", "--lease-seconds", "1") as (
        proc,
        base,
    ):
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=20
        ) as client:
            origin = base.removesuffix("/api")
            body = {
                "model": "kitta-lip-sync-v1",
                "videoUrl": f"{origin}/samples/video.mp4",
                "audioUrl": f"{origin}/samples/speech-en.wav",
            }
            pending = client.post(TASKS, json=body).json()
            assert pending["status"] == "pending"
        os.kill(proc.pid, signal.SIGKILL)  # no clean stop: its lease is never released
        proc.wait(timeout=20)
    with (
        Sandbox(data_dir=tmp_path, time_scale=0.05, lease_seconds=1) as sb,
        api_client(sb, DEFAULT_TOKEN) as client,
    ):
        # The inputs name the dead process's port: they are read from this sandbox's files.
        done = wait_terminal(client, pending["taskId"], timeout=60)
        assert done["status"] == "succeeded", done
        assert done["creditsCharged"] == pending["creditsCharged"] == 429
        assert httpx.get(done["resultVideoUrl"], timeout=20).content[4:8] == b"ftyp"


def _run(code: str, home: Path) -> dict[str, Any]:
    env = {**os.environ, "KITTA_HOME": str(home), "KITTA_SANDBOX_TIME_SCALE": "0.05"}
    env.pop("KITTA_API_TOKEN", None)
    env.pop("KITTA_BASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


FIRST_KERNEL = """
import json
from kitta_notebook import connect, sample_media
client = connect(quiet=True)
samples = sample_media(client)
task = client.lip_sync.create(video_url=samples["video"], audio_url=samples["audio"])
task = client.lip_sync.wait(task, poll_interval=0.05)
print(json.dumps({"id": task.task_id, "url": task.result_video_url, "base": client.base_url,
                  "identity": getattr(client._config, "journal_identity", None)}))
"""

NEXT_KERNEL = """
import json, httpx
from kitta_notebook import connect
client = connect(quiet=True)
task = client.lip_sync.get("TASK_ID")
video = httpx.get(task.result_video_url, timeout=20)
print(json.dumps({"status": task.status, "url": task.result_video_url, "base": client.base_url,
                  "magic": video.content[4:8].decode("latin-1"), "code": video.status_code}))
"""


def test_the_embedded_sandbox_remembers_across_kernel_restarts(tmp_path: Path) -> None:
    first = _run(FIRST_KERNEL, tmp_path)
    assert first["identity"] == "sandbox:embedded"
    assert (tmp_path / "sandbox" / "sandbox.db").is_file()
    again = _run(NEXT_KERNEL.replace("TASK_ID", first["id"]), tmp_path)
    assert again["status"] == "succeeded"
    assert again["base"] != first["base"]  # a new random port...
    assert again["url"].startswith(again["base"].removesuffix("/api"))  # ...and URLs on it
    assert (again["code"], again["magic"]) == (200, "ftyp")
    assert len(list((tmp_path / "journals").glob("*.sqlite3"))) == 1  # one journal, two ports


def test_a_database_from_before_leases_is_upgraded_and_its_tasks_adopted(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    legacy = sqlite3.connect(path)
    legacy.executescript(
        """
        CREATE TABLE accounts (seq INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL
            UNIQUE, credits INTEGER NOT NULL);
        CREATE TABLE tasks (row INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL UNIQUE,
            token TEXT NOT NULL, status TEXT NOT NULL, model TEXT NOT NULL,
            input_mode TEXT NOT NULL, video_url TEXT, image_url TEXT, audio_url TEXT NOT NULL,
            reference_image_url TEXT, duration_seconds REAL, credits_charged INTEGER NOT NULL,
            created_ts REAL NOT NULL, started_ts REAL, completed_ts REAL, render_key TEXT,
            error_code TEXT, error_message TEXT);
        INSERT INTO accounts (token, credits) VALUES ('t', 5);
        INSERT INTO tasks (task_id, token, status, model, input_mode, audio_url,
            credits_charged, created_ts) VALUES ('lip_task_01', 't', 'pending',
            'kitta-lip-sync-v1', 'video', 'http://x/a', 100, 1.0);
        """
    )
    legacy.close()
    store = Store(path)
    try:
        assert [t.task_id for t in store.adopt("me", 2.0, 10)] == ["lip_task_01"]
        assert store.mark_processing("lip_task_01", 3.0, "me")
        assert store.balance("t") == 5
    finally:
        store.close()
