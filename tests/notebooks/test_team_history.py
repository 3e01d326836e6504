"""The issue's "done when": two kernels and a papermill job, each with its own `KITTA_HOME`
and the same `KITTA_JOURNAL_URL`, against one sandbox, see one history.

Real processes throughout: two Python kernels started together on barrier files, a real
`papermill` run of the batch notebook, the real sandbox over HTTP on 127.0.0.1 counting
creates, the real throwaway PostgreSQL cluster. Labels live only in the journal (the
server's task list has none), so a kernel that shows another's labels read the shared
journal, not the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import kitta_notebook
from kitta_notebook import KittaClient
from kitta_notebook.sandbox import Sandbox

pytest.importorskip("papermill")
pytest.importorskip("ipywidgets")

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "03_batch_localization.ipynb"
KERNELS = ("a", "b")
RUN_TIMEOUT = 600

KERNEL = r"""
import json, sys, time
from pathlib import Path
from kitta_notebook import KittaClient

root, me, kernels, token, base_url, video, audio = sys.argv[1:]


def wait_for(pattern, count):
    deadline = time.monotonic() + 600
    while len(list(Path(root).glob(pattern))) < count:  # a barrier on files, bounded
        if time.monotonic() > deadline:
            sys.exit(f"{pattern} never appeared")
        time.sleep(0.005)


client = KittaClient(token, base_url=base_url)
Path(root, f"ready-{me}").touch()
wait_for("ready-*", int(kernels))
media = {"video_url": video, "audio_url": audio}
requests = [
    {**media, "key": "team/shared", "labels": ["shared"]},
    {**media, "key": f"team/{me}", "labels": [f"from-{me}"]},
]
batch = client.lip_sync.create_many(requests, progress=False)
print(json.dumps({i.key: [i.outcome, i.task.task_id if i.task else None] for i in batch}))
sys.stdout.flush()
wait_for("read", 1)  # the others (papermill too) are done: what does this kernel see?
seen = client.history.items(limit=100)
print(json.dumps({e.task_id: [e.source, sorted(e.labels)] for e in seen if e.task_id}))
"""


@pytest.fixture
def token(shared_sandbox: Sandbox) -> str:
    name = f"team-{uuid.uuid4().hex[:12]}"
    shared_sandbox.add_account(name, 10_000_000)
    return name


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KITTA_HOME": str(home)}
    env.pop("KITTA_API_TOKEN", None)
    env.pop("KITTA_BASE_URL", None)
    return {**env, **extra}


def _last_json(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_kernels_and_a_papermill_job_see_one_history(
    postgres_db: str,
    sandbox: Sandbox,
    token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    video, audio = sandbox.samples["video"], sandbox.samples["audio"]
    urls = [sandbox.base_url, video, audio]
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    kernels = {
        me: subprocess.Popen(
            [sys.executable, "-c", KERNEL, str(barrier), me, str(len(KERNELS)), token, *urls],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path / f"home-{me}", KITTA_JOURNAL_URL=postgres_db),
        )
        for me in KERNELS
    }
    try:
        created: dict[str, dict[str, list[Any]]] = {}
        for me, proc in kernels.items():
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            created[me] = json.loads(line)
        # One key, one task: the other kernel found it, or was told the key is in use.
        outcomes = sorted(created[me]["team/shared"][0] for me in KERNELS)
        assert outcomes in (["created", "existing"], ["created", "rejected"]), created
        shared = {created[me]["team/shared"][1] for me in KERNELS} - {None}
        assert len(shared) == 1, created

        job = tmp_path / "nightly.ipynb"
        command = [
            sys.executable, "-m", "papermill", str(NOTEBOOK), str(job),
            "--cwd", str(tmp_path), "--kernel", "python3", "--no-progress-bar",
            "-p", "CLIP", "nightly",
            "-p", "SOURCE_VIDEO", video,
            "-p", "SANDBOX_FAILS_ONE", "False",
            "-p", "TIMEOUT", "300",
            "-y", "TRACKS: " + json.dumps({"en": audio}),
        ]  # fmt: skip
        # A scheduled job against a service: its token, URL and media from the environment.
        env = _env(
            tmp_path / "home-job",
            KITTA_JOURNAL_URL=postgres_db,
            KITTA_API_TOKEN=token,
            KITTA_BASE_URL=sandbox.base_url,
        )
        run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        assert run.returncode == 0, run.stderr[-3000:]

        (barrier / "read").touch()
        seen = {}
        for me, proc in kernels.items():
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            seen[me] = _last_json(out)
    finally:
        for proc in kernels.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)

    # The server made one task per key: the shared key, one per kernel, the job's one.
    assert sandbox.stats.route("create") == 4
    # A teammate (this process, a KITTA_HOME of its own) sees every task with its labels.
    monkeypatch.setenv("KITTA_HOME", str(tmp_path / "home-teammate"))
    monkeypatch.setenv("KITTA_JOURNAL_URL", postgres_db)
    with KittaClient(token, base_url=sandbox.base_url) as teammate:
        server = {task.task_id for task in teammate.lip_sync.iter()}
        assert len(server) == 4
        from kitta_notebook.widgets.history import HistoryBrowser

        browser = HistoryBrowser(teammate, sync=False)
        rows = {r.entry.task_id: sorted(r.entry.labels) for r in browser.rows if r.entry}
    expected = {
        shared.pop(): ["shared"],
        created["a"]["team/a"][1]: ["from-a"],
        created["b"]["team/b"][1]: ["from-b"],
    }
    (job_task,) = server - set(expected)
    expected[job_task] = ["en"]  # the notebook labels each item with its language
    assert rows == expected
    for me in KERNELS:  # each kernel read the others' tasks and labels from the journal
        assert seen[me] == {task: ["local", labels] for task, labels in expected.items()}
