"""One key, one charge, across processes: kernels sharing one journal (one `KITTA_HOME`, or
one `KITTA_JOURNAL_URL`: `journal_store` runs each store-level test on both).

Real processes throughout (started together on barrier files, killed with
SIGKILL), the real sandbox over HTTP on 127.0.0.1, creates counted at the
server. The last test needs a transport failure no real server produces on
demand, so it uses `httpx.MockTransport`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import kitta_notebook
from kitta_notebook import (
    APIConnectionError,
    KeyInUseError,
    KittaClient,
    UnresolvedCreateError,
)
from kitta_notebook.history.journal import Journal
from kitta_notebook.sandbox import Sandbox
from tests.journal.journal_helpers import AUDIO, BASE, VIDEO

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
TOKEN = "tok-key-claims"
KEYS = [f"clip-{i}" for i in range(6)]

BATCH_KERNEL = r"""
import json, sys, time
from pathlib import Path
from kitta_notebook import KittaClient

root, me, kernels, base_url, token, video, audio, keys = sys.argv[1:]
keys = json.loads(keys)
requests = [{"video_url": video, "audio_url": audio, "key": key} for key in keys]
client = KittaClient(token, base_url=base_url)
Path(root, f"ready-{me}").touch()
deadline = time.monotonic() + 120
while len(list(Path(root).glob("ready-*"))) < int(kernels):  # the barrier: all start at once
    if time.monotonic() > deadline:
        sys.exit("the other kernel never started")
    time.sleep(0.001)
result = client.lip_sync.create_many(requests, progress=False, concurrency=3)
print(json.dumps([[i.key, i.outcome, i.task.task_id if i.task else None] for i in result]))
"""

SENDING_KERNEL = r"""
import sys
from kitta_notebook import KittaClient

journal = KittaClient(sys.argv[1], base_url=sys.argv[2]).journal  # KITTA_HOME's or the URL's
claim = journal.claim_key("k", {"model": "kitta-lipsync-v1"})
if sys.argv[3] == "send":  # the create is written down as `sending`, then the kernel dies
    journal.record_request({"model": "kitta-lipsync-v1"}, "k", claim=claim.token)
print("ready", flush=True)
sys.stdin.read()  # blocks until killed
"""


@pytest.fixture(scope="module", autouse=True)
def _account(shared_sandbox: Sandbox) -> None:
    shared_sandbox.add_account(TOKEN, 10_000_000)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_a_batch_with_keys_run_twice_from_two_kernels_makes_one_task_per_key(
    sandbox: Sandbox, tmp_path: Path, journal_store: str
) -> None:
    """The issue's new-user check: two kernels, one KITTA_HOME, the same batch at once."""
    kernels = 2
    args = [sandbox.base_url, TOKEN, sandbox.samples["video"], sandbox.samples["audio"]]
    args.append(json.dumps(KEYS))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BATCH_KERNEL, str(tmp_path), str(me), str(kernels), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for me in range(kernels)
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]
    assert sandbox.stats.route("create") == len(KEYS)  # counted at the server
    by_key: dict[str, set[str]] = {}
    for result in results:
        for key, outcome, task_id in result:
            assert outcome in ("created", "existing", "rejected"), (key, outcome)
            if task_id is not None:
                by_key.setdefault(key, set()).add(task_id)
    assert all(len(tasks) == 1 for tasks in by_key.values()), by_key
    assert set(by_key) == set(KEYS)
    # Run once more (a re-run cell): every key is fetched, nothing created.
    sandbox.stats.reset()
    requests = [{"video_url": args[2], "audio_url": args[3], "key": key} for key in KEYS]
    with sandbox.client(TOKEN) as client:
        again = client.lip_sync.create_many(requests, progress=False)
    assert [item.outcome for item in again] == ["existing"] * len(KEYS)
    assert {item.key: {item.task.task_id} for item in again if item.task} == by_key
    assert sandbox.stats.route("create") == 0


@pytest.fixture()
def killed_kernel(
    sandbox: Sandbox, request: pytest.FixtureRequest, journal_store: str
) -> Iterator[KittaClient]:
    """A kernel that claimed key "k" (and with "send", wrote its create down) and was
    then killed with SIGKILL; yields a client of the same journal in this process."""
    client = sandbox.client(TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-c", SENDING_KERNEL, TOKEN, sandbox.base_url, request.param],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    sandbox.stats.reset()
    with client:
        yield client


def create_k(client: KittaClient, sandbox: Sandbox) -> Any:
    return client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"], key="k"
    )


@pytest.mark.parametrize("killed_kernel", ["send"], indirect=True)
def test_a_create_left_sending_by_a_killed_kernel_blocks_its_key(
    killed_kernel: KittaClient, sandbox: Sandbox
) -> None:
    """The dead kernel's create may have reached the server: refuse until reconciled."""
    with pytest.raises(UnresolvedCreateError, match="'k'"):
        create_k(killed_kernel, sandbox)
    assert sandbox.stats.route("create") == 0
    assert [e.outcome for e in killed_kernel.history.unresolved()] == ["sending"]


@pytest.mark.parametrize("killed_kernel", ["claim"], indirect=True)
def test_a_claim_left_by_a_killed_kernel_before_sending_frees_its_key(
    killed_kernel: KittaClient, sandbox: Sandbox
) -> None:
    """It died before its create was written down, so nothing was sent: the key is free."""
    task = create_k(killed_kernel, sandbox)
    assert create_k(killed_kernel, sandbox).task_id == task.task_id
    assert sandbox.stats.route("create") == 1


@pytest.mark.usefixtures("journal_store")
def test_a_create_cut_off_mid_answer_is_sent_once_and_recorded_as_unknown() -> None:
    """`RemoteProtocolError` after the POST went out: the server may have made the task."""
    posts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request)
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = KittaClient("tok-cut", base_url=BASE, http_client=http, max_retries=3)
    fields = dict(video_url=VIDEO, audio_url=AUDIO, preflight=False)
    with pytest.raises(APIConnectionError) as info:
        client.lip_sync.create(**fields, key="cut")
    assert info.value.may_have_created
    assert len(posts) == 1  # never resent, whatever max_retries says
    unknown = client.history.unresolved()
    assert [(e.outcome, e.key) for e in unknown] == [("unknown", "cut")]
    with pytest.raises(UnresolvedCreateError):
        client.lip_sync.create(**fields, key="cut")
    assert len(posts) == 1


def test_a_journal_from_before_key_claims_gets_its_table_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    old = Journal(path)
    old.record_seen({"taskId": "lip_old", "status": "succeeded"})
    old.close()
    with sqlite3.connect(path) as conn:  # as an earlier version wrote it
        conn.execute("DROP TABLE key_claims")
    journal = Journal(path)
    claim = journal.claim_key("after-upgrade", {"model": "m"})
    assert claim.token is not None and journal.count() == 1
    with pytest.raises(KeyInUseError):  # the claim holds (this process holds it)
        journal.claim_key("after-upgrade", {"model": "m"})
