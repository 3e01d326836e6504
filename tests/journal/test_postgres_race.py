"""One key, one charge, across processes on different machines sharing one team database.

Real processes (started together on barrier files, killed with SIGKILL), each posing as
another machine (its own host name: the process ids of another machine tell nothing, only
the database does), the real sandbox counting creates, the real throwaway cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kitta_notebook
from kitta_notebook import KeyInUseError
from kitta_notebook.history.entry import Query
from kitta_notebook.history.postgres import PostgresJournal
from kitta_notebook.sandbox import Sandbox

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
KEYS = [f"clip-{i}" for i in range(6)]

MACHINE = r"""
import sys
from kitta_notebook.history import keys
keys.HOST = "machine-" + sys.argv[1]  # another machine: its pids mean nothing here
"""

BATCH_KERNEL = (
    MACHINE
    + r"""
import json, time
from pathlib import Path
from kitta_notebook import KittaClient

me, root, kernels, url, base_url, token, video, audio, names = sys.argv[1:]
requests = [{"video_url": video, "audio_url": audio, "key": k} for k in json.loads(names)]
client = KittaClient(token, base_url=base_url, journal=url)
client.journal.count()  # connected, schema made: the race is the creates'
Path(root, f"ready-{me}").touch()
deadline = time.monotonic() + 120
while len(list(Path(root).glob("ready-*"))) < int(kernels):  # the barrier: all start at once
    if time.monotonic() > deadline:
        sys.exit("the other kernel never started")
    time.sleep(0.001)
result = client.lip_sync.create_many(requests, progress=False, concurrency=3)
print(json.dumps([[i.key, i.outcome, i.task.task_id if i.task else None] for i in result]))
"""
)

CLAIMING_KERNEL = (
    MACHINE
    + r"""
from kitta_notebook.history.postgres import PostgresJournal

journal = PostgresJournal(sys.argv[2], account=sys.argv[3])
claim = journal.claim_key("k", {"model": "kitta-lip-sync-v1"})
if sys.argv[4] == "send":  # the create is written down as `sending`, then the kernel waits
    journal.record_request({"model": "kitta-lip-sync-v1"}, "k", claim=claim.token)
print("ready", flush=True)
sys.stdin.read()  # blocks until killed
"""
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture
def token(shared_sandbox: Sandbox) -> str:
    name = f"pg-race-{uuid.uuid4().hex[:8]}"
    shared_sandbox.add_account(name, 10_000_000)
    return name


def test_two_machines_running_one_batch_with_keys_make_one_task_per_key(
    sandbox: Sandbox, postgres_db: str, token: str, tmp_path: Path
) -> None:
    kernels = 2
    args = [postgres_db, sandbox.base_url, token, sandbox.samples["video"]]
    args += [sandbox.samples["audio"], json.dumps(KEYS)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BATCH_KERNEL, str(me), str(tmp_path), str(kernels), *args],
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
    assert sandbox.stats.route("create") == len(KEYS)  # counted at the server
    by_key: dict[str, set[str]] = {}
    for out, _err in outputs:
        for key, outcome, task_id in json.loads(out.strip().splitlines()[-1]):
            assert outcome in ("created", "existing", "rejected"), (key, outcome)
            if task_id is not None:
                by_key.setdefault(key, set()).add(task_id)
    assert set(by_key) == set(KEYS) and all(len(t) == 1 for t in by_key.values()), by_key
    with sandbox.client(token, journal=postgres_db) as client:
        entries = client.history.items()
        journal = client.journal
        assert journal is not None  # its kept totals, written by racing processes, = its rows
        assert journal.summary(Query()) == journal.summary(Query(since=0.0)), journal.summary()
    assert sorted(e.key for e in entries if e.key) == sorted(KEYS)  # one entry per key


@pytest.fixture(params=["claim", "send"])
def other_machine(
    request: pytest.FixtureRequest, postgres_db: str
) -> Iterator[subprocess.Popen[str]]:
    """A process posing as another machine that claimed key "k" (with "send", it also wrote
    its create down) and waits; killed with SIGKILL at the end if still alive."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIMING_KERNEL, "b", postgres_db, "a" * 12, request.param],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait(timeout=30)


def test_a_key_held_on_another_machine_waits_until_that_process_is_gone(
    other_machine: subprocess.Popen[str], postgres_db: str
) -> None:
    """While the other machine's process lives, its key is in use and its `sending` create is
    not taken for left behind; once it is killed, the database tells at once."""
    journal = PostgresJournal(postgres_db, account="a" * 12)
    with pytest.raises(KeyInUseError):
        journal.claim_key("k", {"model": "kitta-lip-sync-v1"})
    assert journal.unresolved() == []
    other_machine.send_signal(signal.SIGKILL)
    other_machine.wait(timeout=30)
    _wait_until_the_server_drops_its_session(postgres_db)
    left_behind = [e.key for e in journal.unresolved()]
    if other_machine.args[-1] == "send":  # it may have reached the server: for reconcile
        assert left_behind == ["k"]
    else:  # only a claim: taken over
        assert left_behind == []
        assert journal.claim_key("k", {"model": "kitta-lip-sync-v1"}).token is not None


def _wait_until_the_server_drops_its_session(url: str) -> None:
    """The server notices a killed client's closed socket at its next read: bounded poll."""
    import time

    import psycopg

    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid != pg_backend_pid() AND application_name = 'kitta-notebook' "
                "AND backend_type = 'client backend'"
            ).fetchone()
            if row is not None and row[0] <= 1:  # only this test's own store
                return
            time.sleep(0.05)
    raise AssertionError("the server kept the killed process's session")


def test_writers_of_one_account_take_turns_and_other_accounts_do_not_wait(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account's write lock (see `postgres`'s docstring) is what makes a key's check and
    claim one step across machines: while another connection holds it, this account's claim
    waits (here, out to a one-second statement timeout), another account's goes ahead."""
    import psycopg

    from kitta_notebook import JournalError
    from kitta_notebook.history import postgres

    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_SECONDS", 1)
    ours, theirs = (PostgresJournal(postgres_db, account=a * 12) for a in "ab")
    ours.count(), theirs.count()  # connected, schema made
    with psycopg.connect(postgres_db) as other_writer:  # one transaction until the block ends
        other_writer.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("a" * 12,))
        with pytest.raises(JournalError, match="statement timeout"):
            ours.claim_key("k", {"model": "m"})
        assert theirs.claim_key("k", {"model": "m"}).token is not None
    assert ours.claim_key("k", {"model": "m"}).token is not None
