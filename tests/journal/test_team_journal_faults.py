"""The team database goes away in the middle of a batch: nothing is lost, nothing is billed
twice, and the batch resumes once the database is back.

The real sandbox counts the creates it received; the real throwaway cluster is cut off from
an admin connection (new connections refused, every backend of the database terminated)
once the sandbox has received a few creates of the batch.
"""

from __future__ import annotations

import threading
import uuid
import warnings

import pytest

from kitta_notebook import KittaClient
from kitta_notebook.errors import JournalError, JournalWarning
from kitta_notebook.sandbox import Sandbox
from tests.journal.journal_helpers import poll_until
from tests.plugins.postgres import PostgresCluster

ITEMS = 40
CUT_AFTER = 3


@pytest.fixture
def token(shared_sandbox: Sandbox) -> str:
    """An account of its own: its task list holds this test's tasks only."""
    name = f"team-{uuid.uuid4().hex[:12]}"
    shared_sandbox.add_account(name, 10_000_000)
    return name


def _cut_off(cluster: PostgresCluster, database: str) -> None:
    cluster.execute(
        f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid != pg_backend_pid()",
    )


def _server_task_ids(client: KittaClient) -> set[str]:
    return {task.task_id for task in client.lip_sync.iter()}


def test_the_database_going_away_mid_batch_loses_nothing_and_the_batch_resumes(
    postgres_cluster: PostgresCluster, postgres_db: str, sandbox: Sandbox, token: str
) -> None:
    database = postgres_db.rsplit("/", 1)[1]
    client = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db, max_retries=0)
    media = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    requests = [{**media, "key": f"clip-{i}"} for i in range(ITEMS)]

    def cut_when_some_were_sent() -> None:
        poll_until(lambda: sandbox.stats.route("create") >= CUT_AFTER, timeout=120, step=0.001)
        _cut_off(postgres_cluster, database)

    cutter = threading.Thread(target=cut_when_some_were_sent)
    cutter.start()
    with warnings.catch_warnings():  # what could not be recorded after a send is warned about
        warnings.simplefilter("ignore", JournalWarning)
        batch = client.lip_sync.create_many(requests, progress=False, concurrency=1)
    cutter.join(120)
    sent = sandbox.stats.route("create")
    outcomes = [item.outcome for item in batch]
    assert CUT_AFTER <= sent < ITEMS, outcomes  # the fault came in the middle of the batch
    # Every item after the fault: not sent, saying the journal is why.
    refused = [item for item in batch if item.outcome == "not_sent"]
    assert len(refused) == ITEMS - sent, outcomes
    assert all(isinstance(item.error, JournalError) for item in refused)
    # One failure stops the batch: the later items were not each tried (each a connect
    # timeout when the database's host does not answer), they carry the first one's error.
    assert len({id(item.error) for item in refused}) == 1
    assert all(
        item.index > max(i.index for i in batch if i.outcome != "not_sent") for item in refused
    )

    postgres_cluster.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    journal = client.journal
    assert journal is not None
    # No create was sent unrecorded: each one the server received has its journal row.
    assert journal.count() == sent
    client.history.reconcile(settle=0)  # the one answered while the database was gone
    on_server = _server_task_ids(client)
    assert len(on_server) == sent
    assert on_server <= {entry.task_id for entry in journal.entries()}

    again = client.lip_sync.create_many(requests, progress=False, concurrency=1)
    assert [item.outcome for item in again].count("created") == ITEMS - sent, [
        (item.outcome, item.error) for item in again
    ]
    assert {item.outcome for item in again} <= {"created", "existing"}
    on_server = _server_task_ids(client)
    assert len(on_server) == ITEMS == sandbox.stats.route("create")  # no key billed twice
    assert {item.task.task_id for item in again if item.task} == on_server
    assert on_server == {entry.task_id for entry in journal.entries()}
