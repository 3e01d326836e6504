"""A journal never holds the token, never damages a file it does not own, and
keeps every entry when several processes write at once."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import warnings
from pathlib import Path

import httpx
import pytest

from kitta_notebook import KittaClient, ServerError
from kitta_notebook.errors import JournalCorruptError, JournalWarning
from kitta_notebook.history.journal import Journal, journal_path
from tests.journal.journal_helpers import create, mock_client
from tests.support import dto

CANARY = "canary-tok-7d3f19e2b4c6a8"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


# --- the token never reaches the disk ------------------------------------------------------
def test_no_token_in_journal_files_with_mock_server() -> None:
    """Even when the server echoes the token into an error message and a URL."""
    answers = iter(
        [
            httpx.Response(202, json=dto(taskId="lip_task_a")),
            httpx.Response(
                500, json={"error": {"code": "internal_error", "message": f"bad {CANARY}"}}
            ),
            httpx.Response(400, json={"error": {"code": "invalid_request", "message": CANARY}}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=dto(taskId="lip_task_a", status="succeeded"))
        return next(answers)

    client = mock_client(handler, token=CANARY)
    create(client)
    with pytest.raises(ServerError):
        create(client, audio_url=f"https://media.example.com/a.mp3?sig={CANARY}")
    with pytest.raises(Exception, match="HTTP 400"):
        create(client)
    client.lip_sync.get("lip_task_a")
    client.history.label("lip_task_a", "checked")
    journal = client.journal
    assert journal is not None
    assert len(journal.entries()) == 3
    assert_no_canary(Path(os.environ["KITTA_HOME"]))
    # Also after a checkpoint folds the WAL back into the main file.
    conn = sqlite3.connect(journal.path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert_no_canary(Path(os.environ["KITTA_HOME"]))


def assert_no_canary(home: Path, *, wal: bool = True) -> None:
    files = journal_files(home)
    assert files, "the journal was not written at all"
    names = {p.name for p in files}
    assert not wal or any(n.endswith(".sqlite3-wal") for n in names), names
    for path in files:
        assert CANARY not in str(path)
        data = path.read_bytes()
        assert CANARY.encode() not in data, f"token found in {path}"
        assert CANARY.encode("utf-16-le") not in data, f"token found in {path}"


@pytest.mark.slow
def test_no_token_in_journal_files_against_the_sandbox() -> None:
    from kitta_notebook.sandbox import FaultConfig, Sandbox

    with Sandbox({CANARY: 10_000_000}, time_scale=0.05) as sb:
        client = sb.client(CANARY)
        tasks = [
            client.lip_sync.create(audio_url=sb.samples["audio"], video_url=sb.samples["video"])
            for _ in range(3)
        ]
        for task in tasks:
            task.wait(timeout=60, poll_interval=0.05)
        sb.faults = FaultConfig(error_rate=1.0, routes=("create",))
        with pytest.raises(ServerError):
            client.lip_sync.create(audio_url=sb.samples["audio"], video_url=sb.samples["video"])
        sb.faults = None
        client.history.sync()
        assert_no_canary(Path(os.environ["KITTA_HOME"]))
        client.close()  # closes the journal: its WAL is folded into the main file
    assert_no_canary(Path(os.environ["KITTA_HOME"]), wal=False)


# --- corrupt and foreign files ---------------------------------------------------------------
def _target() -> Path:
    path = journal_path("http://api.test", "tok-test")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _post_counter() -> tuple[KittaClient, list[int]]:
    posts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(1)
            return httpx.Response(202, json=dto())
        return httpx.Response(200, json=dto())

    return mock_client(handler), posts


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database at all\n" * 20,
        b"SQLite format 3\x00" + os.urandom(4000),
        b"\x00" * 50,
    ],
    ids=["text", "sqlite-header-then-garbage", "short"],
)
def test_a_corrupt_file_gives_a_clear_error_and_is_left_untouched(content: bytes) -> None:
    path = _target()
    path.write_bytes(content)
    before = file_digest(path)
    client, posts = _post_counter()
    with pytest.raises(JournalCorruptError) as caught:
        create(client)
    message = str(caught.value)
    assert str(path) in message and "untouched" in message
    assert posts == [], "a create was sent although it could not be journalled"
    assert file_digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_journal_with_damaged_pages_is_refused_and_left_untouched() -> None:
    path = _target()
    journal = Journal(path)
    for i in range(300):
        journal.record_request({"model": "m", "audioUrl": f"https://a.test/{i:0>80}"})
    journal.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[4096 : 4096 * 3] = os.urandom(8192)  # keep the header, ruin the tables
    path.write_bytes(bytes(data))
    before = file_digest(path)
    client, posts = _post_counter()
    with pytest.raises(JournalCorruptError, match="damaged"):
        create(client)
    with pytest.raises(JournalCorruptError):
        Journal(path).entries()
    assert posts == [] and file_digest(path) == before


def test_a_foreign_sqlite_database_is_refused_and_left_untouched() -> None:
    path = _target()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.execute("INSERT INTO songs VALUES ('a')")
    conn.commit()
    conn.close()
    before = file_digest(path)
    client, posts = _post_counter()
    with pytest.raises(JournalCorruptError, match="not a kitta-notebook journal"):
        create(client)
    assert posts == [] and file_digest(path) == before


def test_another_applications_marker_is_refused() -> None:
    path = _target()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 12345")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = file_digest(path)
    with pytest.raises(JournalCorruptError, match="another application"):
        Journal(path).entries()
    assert file_digest(path) == before


def test_a_newer_schema_is_refused() -> None:
    path = _target()
    journal = Journal(path)
    journal.entries()  # creates it
    journal.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with pytest.raises(JournalCorruptError, match="newer kitta-notebook"):
        Journal(path).entries()


def test_reads_through_a_corrupt_journal_only_warn() -> None:
    path = _target()
    path.write_bytes(b"garbage" * 100)
    before = file_digest(path)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=dto(status="processing"))

    client = mock_client(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = client.lip_sync.get("lip_task_1")
    assert task.status_text == "processing"
    assert any(issubclass(w.category, JournalWarning) for w in caught)
    assert file_digest(path) == before


def test_an_empty_file_is_initialised() -> None:
    path = _target()
    path.write_bytes(b"")
    journal = Journal(path)
    assert journal.entries() == []
    assert path.stat().st_size > 0


# --- several processes at once --------------------------------------------------------------
def _writer(home: str, token: str, name: str, count: int, start: object) -> None:
    """Runs in a child process: `count` creates and polls through the real client path."""
    os.environ["KITTA_HOME"] = home
    import httpx as _httpx

    from kitta_notebook import KittaClient as _Client

    counter = {"n": 0}

    def handler(request: _httpx.Request) -> _httpx.Response:
        counter["n"] += 1
        task_id = f"lip_{name}_{counter['n']}"
        if request.method == "POST":
            body = dto(taskId=task_id)
            return _httpx.Response(202, json=body)
        path_id = request.url.path.rsplit("/", 1)[-1]
        return _httpx.Response(200, json=dto(taskId=path_id, status="succeeded"))

    client = _Client(
        token,
        base_url="http://api.test/api",
        http_client=_httpx.Client(transport=_httpx.MockTransport(handler)),
    )
    start.wait(60)  # type: ignore[attr-defined]
    for i in range(count):
        task = client.lip_sync.create(
            audio_url=f"https://media.example.com/{name}/{i}.mp3",
            video_url="https://media.example.com/v.mp4",
            preflight=False,  # the journal's concurrency is under test, not the media
        )
        client.lip_sync.get(task.task_id)


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing() -> None:
    home = os.environ["KITTA_HOME"]
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    count = 150
    procs = [
        context.Process(target=_writer, args=(home, "tok-shared", name, count, start))
        for name in ("a", "b")
    ]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0, 0], "a writer failed (e.g. 'database is locked')"
    journal = Journal(journal_path("http://api.test", "tok-shared"))
    entries = journal.entries()
    assert len(entries) == 2 * count
    assert all(e.outcome == "created" and e.state == "succeeded" for e in entries)
    urls = {e.audio_url for e in entries}
    assert len(urls) == 2 * count
    assert journal.count() == 2 * count
