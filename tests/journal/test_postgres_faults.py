"""A team journal that cannot be used stops a create before it is sent, and says why.

Each fault against the real throwaway cluster (`tests/plugins/postgres.py`) and the real
sandbox: the client raises `JournalError` naming the problem, the sandbox received no create,
and the URL's password is in no message, repr, log or warning, even when the server's own
error echoes it.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest

from kitta_notebook import JournalError, KittaClient
from kitta_notebook.history import postgres
from kitta_notebook.history.postgres import SCHEMA_VERSION, PostgresJournal
from kitta_notebook.sandbox import Sandbox
from tests.plugins.postgres import PostgresCluster, _free_port

psycopg = pytest.importorskip("psycopg")  # the extra [postgres]

TOKEN = "sandbox-token"
PASSWORD = "s3cret-Pa55word-xyz"


def _create(sandbox: Sandbox, journal: object, key: str | None = None) -> None:
    client = KittaClient(TOKEN, base_url=sandbox.base_url, journal=journal, max_retries=0)
    client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"], key=key
    )


@pytest.fixture
def refused(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> Iterator[Callable[[str, str], JournalError]]:
    """Creates through a journal URL that must fail: with and without a key, each must raise
    `JournalError` before the sandbox sees a create; returns the error, checked for secrets."""

    def attempt(url: str, secret: str = PASSWORD) -> JournalError:
        caplog.set_level(logging.DEBUG)
        errors: list[JournalError] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for key in (None, "one-key"):
                with pytest.raises(JournalError) as raised:
                    _create(sandbox, url, key)
                errors.append(raised.value)
        assert sandbox.stats.route("create") == 0  # nothing sent that was not written down
        journal = PostgresJournal(url, account="0" * 12)
        shown = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(journal)]
        shown += [str(w.message) for w in caught] + [caplog.text]
        assert not [text for text in shown if secret in text], shown
        return errors[0]

    yield attempt


def test_an_unreachable_database(refused: Callable[[str], JournalError]) -> None:
    error = refused(f"postgresql://kitta:{PASSWORD}@127.0.0.1:{_free_port()}/journal")
    assert "could not be reached" in str(error)
    assert "KITTA_JOURNAL_URL" in str(error)


def test_a_wrong_password(
    postgres_cluster: PostgresCluster, refused: Callable[[str], JournalError]
) -> None:
    role = postgres_cluster.login_role("the-right-one-123")
    error = refused(postgres_cluster.url("postgres", user=role, password=PASSWORD))
    assert "password authentication failed" in str(error)


def test_a_missing_database(
    postgres_cluster: PostgresCluster, refused: Callable[[str], JournalError]
) -> None:
    role = postgres_cluster.login_role(PASSWORD)
    error = refused(postgres_cluster.url("no_such_journal", user=role, password=PASSWORD))
    assert 'database "no_such_journal" does not exist' in str(error)


def test_a_role_that_may_not_create_the_tables(
    postgres_cluster: PostgresCluster, postgres_db: str, refused: Callable[[str], JournalError]
) -> None:
    role = postgres_cluster.login_role(PASSWORD)  # may connect, may not create in `public`
    database = postgres_db.rsplit("/", 1)[1]
    error = refused(postgres_cluster.url(database, user=role, password=PASSWORD))
    assert "refused this role" in str(error)
    assert "permission denied" in str(error)


def test_a_role_that_may_only_read(
    postgres_cluster: PostgresCluster, postgres_db: str, refused: Callable[[str], JournalError]
) -> None:
    PostgresJournal(postgres_db, account="a" * 12).count()  # the owner made the tables
    role = postgres_cluster.login_role(PASSWORD)
    database = postgres_db.rsplit("/", 1)[1]
    postgres_cluster.execute(
        f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"', database=database
    )
    error = refused(postgres_cluster.url(database, user=role, password=PASSWORD))
    assert "permission denied for table" in str(error)


@pytest.mark.parametrize("echoed", ["echo-me-password-42", "p@ss:w/rd 42%"])
def test_a_server_echoing_the_password_never_shows_it(
    postgres_cluster: PostgresCluster, refused: Callable[[str, str], JournalError], echoed: str
) -> None:
    """The password as the user name: the server answers 'role "<password>" does not exist'
    (a password with URL characters is given percent-encoded, and echoed decoded)."""
    encoded = quote(echoed, safe="")
    error = refused(postgres_cluster.url("postgres", user=encoded, password=encoded), echoed)
    assert "does not exist" in str(error) and encoded not in str(error)


def test_a_database_gone_away_stops_creates_until_it_is_back(
    postgres_cluster: PostgresCluster, postgres_db: str, sandbox: Sandbox
) -> None:
    """The connection killed and new ones refused: the next create raises before it is sent;
    once the database takes connections again, creates are recorded and sent as before."""
    database = postgres_db.rsplit("/", 1)[1]
    client = KittaClient(TOKEN, base_url=sandbox.base_url, journal=postgres_db, max_retries=0)
    media = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    first = client.lip_sync.create(**media)
    postgres_cluster.execute(
        f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid != pg_backend_pid()",
    )
    with pytest.raises(JournalError, match="could not be"):
        client.lip_sync.create(**media)
    assert sandbox.stats.route("create") == 1
    postgres_cluster.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    second = client.lip_sync.create(**media)
    assert sandbox.stats.route("create") == 2
    journal = client.journal
    assert journal is not None
    assert {e.task_id for e in journal.entries()} == {first.task_id, second.task_id}


def test_a_newer_schema_is_refused_with_the_fix(postgres_db: str) -> None:
    PostgresJournal(postgres_db, account="a" * 12).count()
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("UPDATE journal_schema SET version = %s", (SCHEMA_VERSION + 1,))
    newer = PostgresJournal(postgres_db, account="a" * 12)
    with pytest.raises(JournalError) as refused:
        newer.count()
    assert str(refused.value) == (
        f"the team journal at {newer.where} has schema version {SCHEMA_VERSION + 1}, newer "
        f"than this kitta-notebook knows ({SCHEMA_VERSION}): upgrade kitta-notebook "
        "(pip install -U kitta-notebook)."
    )


def test_without_psycopg_the_error_names_the_extra(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(JournalError, match=r"pip install 'kitta-notebook\[postgres\]'"):
        _create(sandbox, f"postgresql://kitta@127.0.0.1:{_free_port()}/journal")
    assert sandbox.stats.route("create") == 0


def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    refused: Callable[[str], JournalError], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listening socket that never speaks (a hung host): each create gives up in bounded time."""
    monkeypatch.setattr(postgres, "CONNECT_TIMEOUT_SECONDS", 2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing is ever read or sent
        port = silent.getsockname()[1]
        started = time.monotonic()
        error = refused(f"postgresql://kitta:{PASSWORD}@127.0.0.1:{port}/journal")
        assert time.monotonic() - started < 2 * 2 + 5  # two creates, each one timeout
    assert "could not be reached" in str(error)


def test_a_statement_blocked_by_a_lock_fails_within_the_statement_timeout(
    postgres_db: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_SECONDS", 1)
    client = KittaClient(TOKEN, base_url=sandbox.base_url, journal=postgres_db, max_retries=0)
    media = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    assert client.journal is not None and client.journal.count() == 0  # connected
    with psycopg.connect(postgres_db) as blocker:  # holds the table until the block ends
        blocker.execute("LOCK TABLE entries IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(JournalError, match="statement timeout"):
            client.lip_sync.create(**media)
        assert time.monotonic() - started < 10
    assert sandbox.stats.route("create") == 0
    client.lip_sync.create(**media)  # the lock gone, the same client goes on
    assert sandbox.stats.route("create") == 1


def test_the_password_is_in_no_row_and_no_repr_after_a_create(
    postgres_cluster: PostgresCluster, postgres_db: str, sandbox: Sandbox
) -> None:
    database = postgres_db.rsplit("/", 1)[1]
    PostgresJournal(postgres_db, account="a" * 12).count()  # the owner made the tables
    role = postgres_cluster.login_role(PASSWORD)
    postgres_cluster.execute(
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        database=database,
    )
    url = postgres_cluster.url(database, user=role, password=PASSWORD)
    client = KittaClient(TOKEN, base_url=sandbox.base_url, journal=url, max_retries=0)
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"], key="k"
    )
    client.history.label(task, "checked")
    assert PASSWORD not in repr(client) + repr(client.journal) + repr(client._config)
    shown, account = repr(client.journal), getattr(client.journal, "account", "?")
    assert shown.startswith("PostgresJournal(") and database in shown and account in shown
    with psycopg.connect(postgres_db) as conn:
        tables = ("entries", "labels", "kept", "key_claims", "journal_schema")
        rows = [conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables]
    assert task.task_id in str(rows) and PASSWORD not in str(rows)


def test_a_database_gone_mid_batch_sends_nothing_unrecorded_and_the_batch_resumes(
    postgres_cluster: PostgresCluster, postgres_db: str, shared_sandbox: Sandbox
) -> None:
    """From the third create on, the server cuts the journal's connection as the entry is
    written (a trigger ends its own backend): those items are reported not sent, the server
    got only the creates written down, and once the database is back a re-run sends the rest."""
    token = f"pg-gone-{uuid.uuid4().hex[:8]}"
    shared_sandbox.add_account(token, 10_000_000)
    database = postgres_db.rsplit("/", 1)[1]
    client = KittaClient(token, base_url=shared_sandbox.base_url, journal=postgres_db)
    journal = client.journal
    assert journal is not None and journal.count() == 0  # the tables exist
    postgres_cluster.execute(
        "CREATE FUNCTION gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF (SELECT count(*) FROM entries) >= 3 THEN "
        "PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$",
        "CREATE TRIGGER gone AFTER INSERT ON entries FOR EACH ROW EXECUTE FUNCTION gone()",
        database=database,
    )
    media = {
        "video_url": shared_sandbox.samples["video"],
        "audio_url": shared_sandbox.samples["audio"],
    }
    requests = [{**media, "key": f"clip-{i}"} for i in range(5)]
    first = client.lip_sync.create_many(requests, progress=False, concurrency=1)
    assert [item.outcome for item in first] == ["created"] * 2 + ["not_sent"] * 3
    assert all(isinstance(item.error, JournalError) for item in first[2:])

    def server_tasks() -> set[str]:
        return {t.task_id for t in client.lip_sync.list(limit=100).data}

    assert server_tasks() == {e.task_id for e in journal.entries()}  # none billed unrecorded
    postgres_cluster.execute("DROP TRIGGER gone ON entries", database=database)
    again = client.lip_sync.create_many(requests, progress=False, concurrency=1)
    assert [item.outcome for item in again] == ["existing"] * 2 + ["created"] * 3
    assert len(server_tasks()) == 5 and server_tasks() == {e.task_id for e in journal.entries()}
