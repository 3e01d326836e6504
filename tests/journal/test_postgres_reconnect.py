"""A kernel left idle while the team's database restarted (its connections ended) records
and sends its next create as usual: the idle connection is checked and made again, instead
of refusing the create with "could not be reached". Real cluster, real sandbox."""

from __future__ import annotations

import pytest

from kitta_notebook import KittaClient
from kitta_notebook.history import postgres
from kitta_notebook.sandbox import Sandbox
from tests.plugins.postgres import PostgresCluster

pytestmark = pytest.mark.slow


def test_the_first_create_after_the_database_restarted_is_recorded_and_sent(
    postgres_cluster: PostgresCluster,
    postgres_db: str,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every reuse counts as idle: the test need not wait IDLE_CHECK_SECONDS.
    monkeypatch.setattr(postgres, "IDLE_CHECK_SECONDS", 0.0, raising=False)
    client = KittaClient(sandbox.token, base_url=sandbox.base_url, journal=postgres_db)
    media = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    first = client.lip_sync.create(**media)
    database = postgres_db.rsplit("/", 1)[1]
    postgres_cluster.execute(  # what a restart does to the kernel's connection
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid != pg_backend_pid()"
    )
    second = client.lip_sync.create(**media)
    assert sandbox.stats.creates_accepted == 2
    journal = client.journal
    assert journal is not None
    assert {e.task_id for e in journal.entries()} == {first.task_id, second.task_id}
    journal.close()


def test_the_connection_asks_for_tcp_keepalives_and_its_limits(postgres_db: str) -> None:
    """A network that drops a team's connection silently (no reset) is found by TCP
    keepalives within about a minute; each statement has its timeout and the server sees
    who is connected."""
    journal = postgres.PostgresJournal(postgres_db, account="k" * 12)
    journal.count()
    asked = journal._conn.info.get_parameters()
    assert {name: asked.get(name) for name in KEEPALIVES} == KEEPALIVES
    assert asked["connect_timeout"] == str(postgres.CONNECT_TIMEOUT_SECONDS)
    assert asked["application_name"] == "kitta-notebook"
    timeout = journal._read("SHOW statement_timeout")[0][0]
    assert timeout == f"{postgres.STATEMENT_TIMEOUT_SECONDS}s"
    journal.close()


KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
