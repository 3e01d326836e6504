"""The PostgreSQL journal keeps the SQLite journal's rules, for many accounts in one database.

Against the real throwaway cluster (`tests/plugins/postgres.py`) and the real sandbox. The
history's reads are checked against the SQLite store fed the same tasks: both must give the
same pages, counts and summaries for every sort, direction, filter and offset.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import kitta_notebook
from kitta_notebook import (
    AsyncKittaClient,
    JournalError,
    JournalWarning,
    KittaClient,
    RateLimitError,
    ServerError,
)
from kitta_notebook.history.entry import Query
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.postgres import PostgresJournal
from kitta_notebook.history.store import Sql
from kitta_notebook.sandbox import FaultConfig, Sandbox
from tests.journal.journal_helpers import poll_until
from tests.plugins.postgres import PostgresCluster

psycopg = pytest.importorskip("psycopg")  # the extra [postgres]

REPO = Path(kitta_notebook.__file__).resolve().parent.parent


@pytest.fixture
def token(shared_sandbox: Sandbox) -> str:
    """An account of its own on the shared sandbox: its task list holds this test's only."""
    name = f"pg-{uuid.uuid4().hex[:12]}"
    shared_sandbox.add_account(name, 10_000_000)
    return name


def _media(sandbox: Sandbox) -> dict[str, str]:
    return {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}


def test_the_url_chooses_the_store(
    postgres_db: str, sandbox: Sandbox, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db)
    assert isinstance(given.journal, PostgresJournal)
    monkeypatch.setenv("KITTA_JOURNAL_URL", postgres_db.replace("postgresql://", "postgres://"))
    from_env = KittaClient(token, base_url=sandbox.base_url)
    assert isinstance(from_env.journal, PostgresJournal)
    assert KittaClient(token, base_url=sandbox.base_url, journal=False).journal is None
    own = Journal(Path(str(uuid.uuid4())))
    assert KittaClient(token, base_url=sandbox.base_url, journal=own).journal is own
    monkeypatch.setenv("KITTA_JOURNAL_URL", "mysql://user:pw@127.0.0.1/journal")
    with pytest.raises(JournalError, match="postgresql://") as raised:
        _ = KittaClient(token, base_url=sandbox.base_url).journal
    assert "pw@" not in str(raised.value)


def test_creates_polls_labels_and_notes_are_recorded(
    postgres_db: str, sandbox: Sandbox, token: str
) -> None:
    client = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db)
    task = client.lip_sync.create(**_media(sandbox), key="clip-1")
    again = client.lip_sync.create(**_media(sandbox), key="clip-1")
    assert again.task_id == task.task_id and sandbox.stats.route("create") == 1
    client.history.label(task, "promo", "en")
    client.history.note(task, "first cut")
    journal = client.journal
    assert journal is not None and [e.task_id for e in journal.active()] == [task.task_id]
    finished = client.lip_sync.wait(task, timeout=120)
    assert journal.active() == []  # the live rows: none left to watch
    entry = client.history.get(task)
    assert entry is not None
    assert (entry.state, entry.key, entry.labels, entry.note) == (
        "succeeded",
        "clip-1",
        ("en", "promo"),
        "first cut",
    )
    assert entry.credits == finished.credits_charged and entry.source == "local"
    assert [e.task_id for e in client.history.items(label="promo")] == [task.task_id]


def _xmin(url: str, task_id: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT xmin::text FROM entries WHERE task_id = %s", (task_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_a_poll_that_brings_nothing_new_writes_nothing(
    postgres_db: str, sandbox: Sandbox, token: str
) -> None:
    """Seen by a fresh store (nothing in memory): the row's version stays as it was."""
    client = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db)
    task = client.lip_sync.wait(client.lip_sync.create(**_media(sandbox)), timeout=120)
    before = _xmin(postgres_db, task.task_id)
    fresh = PostgresJournal(postgres_db, account=client.journal.account)  # type: ignore[union-attr]
    assert fresh.record_seen_many([task.raw]) == 0
    assert _xmin(postgres_db, task.task_id) == before
    fresh.record_seen({**task.raw, "note-from-server": "changed"})
    assert _xmin(postgres_db, task.task_id) != before


def test_an_unknown_create_is_reconciled_to_its_task(
    postgres_db: str, sandbox: Sandbox, token: str
) -> None:
    client = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db, max_retries=0)
    sandbox.faults = FaultConfig(error_rate=1.0, routes=("create",), create_fault_after_commit=True)
    with pytest.raises(ServerError):
        client.lip_sync.create(**_media(sandbox), key="lost")
    sandbox.faults = None
    [unknown] = client.history.unresolved()
    assert unknown.state == "outcome_unknown"
    report = client.history.reconcile(settle=0)
    [(entry_id, task_id)] = report.matched
    assert entry_id == unknown.entry_id
    assert client.history.unresolved() == []
    assert client.lip_sync.create(**_media(sandbox), key="lost").task_id == task_id
    assert sandbox.stats.route("create") == 1


def test_accounts_share_the_database_and_see_only_their_own(postgres_db: str) -> None:
    ours = PostgresJournal(postgres_db, account="a" * 12)
    theirs = PostgresJournal(postgres_db, account="b" * 12)
    ours.record_seen_many([_dto(0), _dto(1)])
    theirs.record_seen_many([_dto(1), _dto(2)])  # the same task id in both: two rows
    ours.add_labels("task-0001", "mine")
    theirs.record_kept("task-0002", "/tmp/r.mp4", 10, "0" * 64)
    assert {e.task_id for e in ours.entries()} == {"task-0000", "task-0001"}
    assert {e.task_id for e in theirs.entries()} == {"task-0001", "task-0002"}
    assert theirs.get("task-0000") is None
    assert theirs.entries(Query(labels=("mine",))) == [] and ours.count(Query(labels=("mine",)))
    assert ours.kept("task-0002") is None and ours.kept_total_bytes() == 0
    assert theirs.kept_total_bytes() == 10


JAN_2026 = 1767225600.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _dto(i: int) -> dict[str, Any]:
    """A task as the server lists it: some without credits, a few statuses and modes."""
    status = ("pending", "processing", "succeeded", "failed")[i % 4]
    return {
        "taskId": f"task-{i:04d}",
        "status": status,
        "inputMode": "image" if i % 3 == 0 else "video",
        "createdAt": _iso(JAN_2026 + i * 2221 % 1200 * 60),  # each its own minute
        "creditsCharged": None if i % 5 == 0 else (i * 7) % 50,
        "model": "kitta-lip-sync-v1",
        "resultVideoUrl": f"https://cdn.example.com/r/{i}/Clip-{i % 10}.mp4",
        "videoUrl": f"https://media.example.com/in/{i}.mp4",
    }


def test_pages_sorts_filters_and_search_match_the_sqlite_store(
    postgres_db: str, tmp_path: Path
) -> None:
    """1,200 tasks in both stores: every page (near, middle, far), in every order and filter."""
    tasks = [_dto(i) for i in range(1200)]
    stores = [PostgresJournal(postgres_db, account="c" * 12), Journal(tmp_path / "j.sqlite")]
    for store in stores:
        store.record_seen_many(tasks)
        for i in range(0, 1200, 7):
            store.add_labels(f"task-{i:04d}", "seven")
    queries = [
        Query(),
        Query(status=("succeeded", "failed")),
        Query(mode="image", labels=("seven",)),
        Query(search="ASK-011"),  # case-insensitive, as SQLite's
        Query(search="1_"),  # a LIKE wildcard is searched for literally
        Query(since=JAN_2026 + 60 * 100, until=JAN_2026 + 60 * 700),
    ]
    for query in queries:
        for sort in ("created", "credits", "status", "updated"):
            for descending in (True, False):
                for offset in (0, 40, 590, 1150, 1199):  # 1199: a last page of one
                    pages = [
                        s.entries(query, sort=sort, descending=descending, limit=50, offset=offset)
                        for s in stores
                    ]
                    if sort == "updated":  # when each store wrote it: its own order only
                        times = [entry.updated_at for entry in pages[0]]
                        assert times == sorted(times, reverse=descending)  # type: ignore[type-var]
                        continue
                    ids = [[entry.task_id for entry in page] for page in pages]
                    assert ids[0] == ids[1], (query, sort, descending, offset)
        assert stores[0].summary(query) == stores[1].summary(query), query
    for sort in ("created", "credits"):  # all from a far offset, with no limit
        for descending in (True, False):
            rests = [
                [e.task_id for e in s.entries(sort=sort, descending=descending, offset=1150)]
                for s in stores
            ]
            assert len(rests[0]) == 50 and rests[0] == rests[1], (sort, descending)
    assert stores[0].count(Query(search="ASK-011")) == 10
    assert stores[0].count(Query(search="1_")) == 0


def test_a_search_is_paged_in_the_order_of_every_page_through_tied_times(
    postgres_db: str,
) -> None:
    """A search's page is read from its index nearest first, which orders by time alone:
    tasks listed with the same second (a batch) are cut at a page's edge in (time, entry)
    order, as the history's other pages are: no task twice, none left out."""
    tasks = [{**_dto(i), "createdAt": _iso(JAN_2026 + i // 40)} for i in range(400)]
    store = PostgresJournal(postgres_db, account="b" * 12)
    store.record_seen_many(tasks)
    for descending in (True, False):
        every = store.entries(descending=descending, limit=400)
        for term in ("example.com/in/1", "ASK-03", "in/3", "nothing-such"):
            expected = [
                e.task_id
                for e in every
                if term.lower() in str(e.video_url) + " " + str(e.task_id).lower()
            ]
            for size in (7, 40):
                pages = [
                    store.entries(Query(search=term), descending=descending, limit=size, offset=at)
                    for at in range(0, 400, size)
                ]
                found = [entry.task_id for page in pages for entry in page]
                assert found == expected, (term, descending, size)
    store.close()


@pytest.mark.parametrize("tie_order", ["ASC", "DESC"])
def test_a_search_page_does_not_depend_on_which_tied_rows_the_index_gives_first(
    postgres_db: str, tie_order: str
) -> None:
    """The search index orders by distance in time only: among tasks of one second it may
    give any of them first, so a page ending on a second's first row read must still be cut
    in (time, entry) order. Here the index is made to give them in either entry order."""
    tasks = [{**_dto(i), "createdAt": _iso(JAN_2026 + i // 10)} for i in range(60)]
    store = PostgresJournal(postgres_db, account="d" * 12)
    store.record_seen_many(tasks)
    read = store._read

    def ties_in_a_chosen_order(sql: str, params: Sequence[object] = ()) -> list[Any]:
        return read(sql.replace(" LIMIT ?", f", entry_id {tie_order} LIMIT ?"), params)

    for descending in (True, False):
        every = [e.task_id for e in store.entries(descending=descending, limit=60)]
        store._read = ties_in_a_chosen_order  # type: ignore[method-assign]
        for size in (10, 11, 3):  # a page ends on a second's first row, or within one
            pages = [
                store.entries(Query(search="task-"), descending=descending, limit=size, offset=at)
                for at in range(0, 60, size)
            ]
            assert [e.task_id for page in pages for e in page] == every, (descending, size)
        store._read = read  # type: ignore[method-assign]
    store.close()


def test_kept_totals_and_day_counts_answer_as_the_rows_do_after_every_kind_of_write(
    postgres_db: str, tmp_path: Path
) -> None:
    """Counts, summaries (per state, mode, label) and far pages read from the kept totals
    (deltas folded on the way) give what the SQLite store gives over its rows."""
    tasks = [{**_dto(i), "createdAt": _iso(JAN_2026 + i * 5 * 3600 + i % 7)} for i in range(1500)]
    stores = [PostgresJournal(postgres_db, account="f" * 12), Journal(tmp_path / "j.sqlite")]
    for store in stores:
        store.record_seen_many(tasks)  # a statement (and its deltas) per task
        for i in range(0, 1500, 3):
            store.add_labels(f"task-{i:04d}", "three", "x")
        for i in range(0, 1500, 9):  # relabelled, restated, recharged
            store.remove_labels(f"task-{i:04d}", "three")
            store.record_seen({**tasks[i], "status": "failed", "creditsCharged": 3})
    queries = [
        Query(),
        Query(status=("failed",)),
        Query(mode="image", source="server"),
        Query(labels=("three",)),
        Query(labels=("three",), status=("failed", "succeeded")),
        Query(labels=("x",), status=("failed",)),  # restated after they were labelled
        Query(labels=("three", "x")),
    ]
    for query in queries:
        assert stores[0].summary(query) == stores[1].summary(query), query
    with psycopg.connect(postgres_db) as conn:  # folded: about one row per group left
        assert conn.execute("SELECT count(*) FROM totals").fetchone()[0] < 100
    # The days are skipped only for the time order of everything: a filter or another order
    # over many days pages as the rows do, near and far, with a limit, none or 0.
    for query in (Query(), Query(since=JAN_2026 + 100 * 5 * 3600)):  # 1,400 since
        for sort in ("created", "credits"):
            for descending in (True, False):
                for offset in (0, 40, 501, 700, 749, 750, 751, 1001, 1477):
                    pages = [
                        s.entries(query, sort=sort, descending=descending, limit=30, offset=offset)
                        for s in stores
                    ]
                    ids = [[entry.task_id for entry in page] for page in pages]
                    assert ids[0] == ids[1], (query, sort, descending, offset)
                    if query == Query():
                        assert len(ids[0]) == min(30, 1500 - offset), offset
                rests = [
                    [
                        e.task_id
                        for e in s.entries(query, sort=sort, descending=descending, offset=at)
                    ]
                    for s in stores
                    for at in (40, 801)
                ]
                assert rests[:2] == rests[2:] and rests[1], (query, sort, descending)
                assert [s.entries(query, sort=sort, limit=0, offset=40) for s in stores] == [[], []]
    with psycopg.connect(postgres_db) as conn:  # the pages skipped whole days
        assert conn.execute("SELECT count(DISTINCT day) FROM day_totals").fetchone()[0] > 300


def test_a_role_that_may_only_read_reads_the_totals_unfolded(
    postgres_cluster: PostgresCluster, postgres_db: str
) -> None:
    """Folding the deltas is a write; a read-only role's count is right without it."""
    writer = PostgresJournal(postgres_db, account="f" * 12)
    writer.record_seen_many([_dto(i) for i in range(600)])  # 600 statements: 600 delta rows
    role = postgres_cluster.login_role("pw-read-only-1")
    database = postgres_db.rsplit("/", 1)[1]
    postgres_cluster.execute(
        f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"', database=database
    )
    url = postgres_cluster.url(database, user=role, password="pw-read-only-1")
    reader = PostgresJournal(url, account="f" * 12)
    assert reader.count() == 600 and reader.summary() == writer.summary()
    reader.close()


def test_a_search_is_counted_again_once_the_database_changed(postgres_db: str) -> None:
    """A search's aggregate is read once per snapshot: a count and a summary share it, a
    write (from any connection) makes the next one read again."""
    store = PostgresJournal(postgres_db, account="f" * 12)
    store.record_seen_many([_dto(i) for i in range(30)])
    assert store.count(Query(search="ask-001")) == 10
    other = PostgresJournal(postgres_db, account="f" * 12)  # another connection writes
    other.record_seen({**_dto(40), "taskId": "new-task-0010"})
    assert store.count(Query(search="ask-001")) == 11
    assert store.summary(Query(search="ask-001")).total == 11
    other.close()


def test_url_search_uses_a_trigram_index_or_says_it_scans(
    postgres_cluster: PostgresCluster, postgres_db: str
) -> None:
    owner = PostgresJournal(postgres_db, account="d" * 12)
    assert owner.has_search_index  # the superuser created pg_trgm and the index
    owner.record_seen_many([_dto(i) for i in range(20_000)])
    clause, params = owner._where(Query(search="task-0012"))  # the query a search runs
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("ANALYZE entries")
        scoped = Sql(None, owner.account, format_style=True)
        sql, values = scoped.text(f"EXPLAIN SELECT count(*) FROM entries{clause}", params)
        plan = str(conn.execute(sql.encode(), values).fetchall())
    assert "entries_search" in plan  # its expression is the index's
    database = postgres_cluster.create_database()
    role = postgres_cluster.login_role("pw-for-search-1")
    postgres_cluster.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"', database=database)
    url = postgres_cluster.url(database, user=role, password="pw-for-search-1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = PostgresJournal(url, account="d" * 12)
        assert not plain.has_search_index
    said = [str(w.message) for w in caught if w.category is JournalWarning]
    assert said == [
        f"the team journal at {plain.where} has no URL search index: this role may not CREATE "
        "EXTENSION pg_trgm and btree_gist (and the index on entries); search scans the "
        "account's rows. The database's owner can create them."
    ]
    with warnings.catch_warnings(record=True) as again:  # said once per database and process
        warnings.simplefilter("always")
        other = PostgresJournal(url, account="e" * 12)
        assert not other.has_search_index
    assert not any("pg_trgm" in str(w.message) for w in again)
    other.close()
    plain.record_seen_many([_dto(i) for i in range(20)])
    assert plain.count(Query(search="task-001")) == 10  # found by a scan
    # A page and a capped count in time order too, without the index's `<->` (btree_gist)
    page = plain.entries(Query(search="task-001"), limit=4, offset=8)
    newest = sorted((_dto(i) for i in range(10, 20)), key=lambda t: t["createdAt"], reverse=True)
    assert [entry.task_id for entry in page] == [task["taskId"] for task in newest[8:]]
    assert plain.summary(Query(search="task-001"), at_most=3).more
    plain.close()
    postgres_cluster.drop_database(database)


def test_threads_share_one_store(postgres_db: str) -> None:
    store = PostgresJournal(postgres_db, account="e" * 12)
    errors: list[BaseException] = []

    def work(start: int) -> None:
        try:
            for i in range(start, start + 25):
                store.record_seen(_dto(i))
                store.add_labels(f"task-{i:04d}", f"t{start}")
                store.entries(limit=5)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 25,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and store.count() == 150
    assert store.count(Query(labels=("t50",))) == 25


def test_clients_of_one_account_share_one_journal_and_its_connection(postgres_db: str) -> None:
    """Every client of one account and database in a process uses one journal (one
    connection to a team's database, whose connections are few); another account or
    identity has its own."""
    api = "https://api.example.com"
    first = PostgresJournal.for_account(postgres_db, api, "tok-1")
    assert PostgresJournal.for_account(postgres_db, api, "tok-1") is first
    assert PostgresJournal.for_account(postgres_db, api, "tok-2") is not first
    who = PostgresJournal.for_identity(postgres_db, "sandbox")
    assert PostgresJournal.for_identity(postgres_db, "sandbox") is who
    assert who is not first


def test_kept_results_are_indexed(postgres_db: str) -> None:
    store = PostgresJournal(postgres_db, account="f" * 12)
    store.record_kept("t1", "/kept/t1.mp4", 100, "1" * 64)
    store.record_kept("t2", "/kept/t2.mp4", 50, "2" * 64)
    store.record_kept("t1", "/kept/t1-again.mp4", 120, "3" * 64)  # replaces the first copy
    kept = store.kept("t1")
    assert kept is not None and (kept.path, kept.size) == ("/kept/t1-again.mp4", 120)
    assert store.kept_total_bytes() == 170
    assert [k.task_id for k in store.kept_oldest(1)] == ["t2"]
    store.forget_kept("t2")
    assert store.kept("t2") is None and store.kept_total_bytes() == 120


KERNEL = r"""
import sys
from kitta_notebook import KittaClient

base_url, token, video, audio = sys.argv[1:]
client = KittaClient(token, base_url=base_url)  # the journal: KITTA_JOURNAL_URL
print(client.lip_sync.create(video_url=video, audio_url=audio).task_id)
"""


def test_kernels_with_their_own_homes_share_one_history_told_apart_by_creator(
    postgres_db: str, sandbox: Sandbox, token: str, tmp_path: Path
) -> None:
    made: dict[str, str] = {}
    for user in ("ana", "bo"):
        env = {**os.environ, "PYTHONPATH": str(REPO), "KITTA_HOME": str(tmp_path / user)}
        env |= {"KITTA_JOURNAL_URL": postgres_db, "JUPYTERHUB_USER": user}
        args = [sandbox.base_url, token, sandbox.samples["video"], sandbox.samples["audio"]]
        done = subprocess.run(
            [sys.executable, "-c", KERNEL, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        made[user] = done.stdout.strip().splitlines()[-1]
    client = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db)
    assert client.history.creators() == ["ana", "bo"]
    [bos] = client.history.items(creator="bo")
    assert bos.task_id == made["bo"] and bos.creator == "bo"
    assert bos.account == client.journal.account  # type: ignore[union-attr]
    assert {e.task_id for e in client.history.items()} == set(made.values())


def test_the_async_client_records_through_its_worker_threads(
    postgres_db: str, sandbox: Sandbox, token: str
) -> None:
    async def run() -> str:
        async with AsyncKittaClient(
            token, base_url=sandbox.base_url, journal=postgres_db
        ) as client:
            task = await client.lip_sync.create(**_media(sandbox), key="async-1")
            again = await client.lip_sync.create(**_media(sandbox), key="async-1")
            assert again.task_id == task.task_id
            return task.task_id

    task_id = asyncio.run(run())
    entry = PostgresJournal(postgres_db, account=_account(sandbox, token)).get(task_id)
    assert entry is not None and entry.key == "async-1" and sandbox.stats.route("create") == 1


def _account(sandbox: Sandbox, token: str) -> str:
    from kitta_notebook.history.schema import account_fingerprint

    return account_fingerprint(sandbox.base_url.split("/api")[0], token)


def test_a_keyed_create_gives_its_claim_back_in_the_round_trip_that_records_its_task(
    postgres_db: str, sandbox: Sandbox, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim goes with the answer's row (the entry holds the key from then on), so the
    release after the create has nothing left to send; a create that failed still gives
    its claim back through `release_keys`, and its key is free again."""
    client = KittaClient(token, base_url=sandbox.base_url, journal=postgres_db, max_retries=0)
    journal = client.journal
    assert isinstance(journal, PostgresJournal)
    released: list[int] = []
    real_sql, real_release = journal._sql, journal.release_keys

    def counted_release(claims: Any) -> None:
        calls = [0]

        def counting(work: Any) -> Any:
            calls[0] += 1
            return real_sql(work)

        monkeypatch.setattr(journal, "_sql", counting)
        try:
            real_release(claims)
        finally:
            monkeypatch.setattr(journal, "_sql", real_sql)
        released.append(calls[0])

    monkeypatch.setattr(journal, "release_keys", counted_release)

    def claims_left() -> int:
        with psycopg.connect(postgres_db) as conn:
            return int(conn.execute("SELECT count(*) FROM key_claims").fetchone()[0])  # type: ignore[index]

    task = client.lip_sync.create(**_media(sandbox), key="clip-a")
    assert released == [0] and claims_left() == 0
    assert client.lip_sync.create(**_media(sandbox), key="clip-a").task_id == task.task_id
    sandbox.faults = FaultConfig(rate_limit_rate=1.0, routes=("create",))
    with pytest.raises(RateLimitError):  # refused: nothing created, the key is free again
        client.lip_sync.create(**_media(sandbox), key="clip-b")
    assert released[-1] == 1 and claims_left() == 0  # given back by the release
    sandbox.faults = FaultConfig()
    retried = client.lip_sync.create(**_media(sandbox), key="clip-b")
    assert retried.task_id != task.task_id and sandbox.stats.route("create") == 3


def test_a_capped_search_count_is_exact_up_to_its_cap_and_says_more_beyond(
    postgres_db: str,
) -> None:
    """Through the search index, nearest first: a cap equal to the matches still counts
    them all (one state only, or several), one fewer says there are more."""
    journal = PostgresJournal(postgres_db, account="e" * 12)
    assert journal.has_search_index
    alike = [{**_dto(i), "taskId": f"alike-{i}", "status": "succeeded"} for i in range(4)]
    journal.record_seen_many([*alike, *(_dto(i) for i in range(4, 10))])
    for search, matches in (("alike-", 4), ("task-00", 6)):
        exact = journal.summary(Query(search=search), at_most=matches)
        assert (exact.more, exact.total, sum(exact.counts.values())) == (False, matches, matches)
        over = journal.summary(Query(search=search), at_most=matches - 1)
        assert over.more and over.counts == {}
    journal.close()


def test_closing_a_team_journal_ends_its_connection(postgres_db: str) -> None:
    journal = PostgresJournal(postgres_db, account="f" * 12)
    journal.count()
    sessions = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'kitta-notebook'"
    )
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        assert conn.execute(sessions).fetchone() == (1,)
        journal.close()
        poll_until(lambda: conn.execute(sessions).fetchone() == (0,))  # the server's view
    assert journal.count() == 0  # used again: connects again
    journal.close()
