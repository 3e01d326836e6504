"""Regression tests for the journal defects of issue 11: tokens that look like words,
media URLs with credentials, an unusable KITTA_HOME, and polls that rewrite nothing."""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path

import httpx
import pytest

from kitta_notebook import BadRequestError, KittaClient, ServerError
from kitta_notebook._redact import redact_url
from kitta_notebook.errors import JournalError, JournalWarning
from kitta_notebook.history.journal import Journal
from tests.journal.journal_helpers import AUDIO, VIDEO, create, mock_client
from tests.support import dto

MODEL = "kitta-lip-sync-v1"


def server_with_errors(echo: str = "") -> tuple[list[httpx.Request], object]:
    """Answers a first create 202, a second 500, a third 400; details as succeeded."""
    seen: list[httpx.Request] = []
    answers = iter(
        [
            httpx.Response(202, json=dto(taskId="lip_task_a", model=MODEL)),
            httpx.Response(500, json={"error": {"code": "internal_error", "message": "boom"}}),
            httpx.Response(
                400, json={"error": {"code": "invalid_request", "message": f"bad {echo}"}}
            ),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json=dto(taskId="lip_task_a", status="succeeded"))
        return next(answers)

    return seen, handler


# --- the token is never scrubbed by substring ----------------------------------------------
@pytest.mark.usefixtures("journal_store")
@pytest.mark.parametrize("token", ["kitta", "v1", "lip", "media", "example"])
def test_word_like_tokens_leave_every_stored_field_intact_and_searchable(token: str) -> None:
    _, handler = server_with_errors()
    client = mock_client(handler, token=token)
    create(client)
    with pytest.raises(ServerError):
        create(client, video_url="https://media.example.com/kitta-v1/lip.mp4")
    with pytest.raises(BadRequestError):
        create(client)
    client.lip_sync.get("lip_task_a")
    journal = client.journal
    assert journal is not None
    entries = journal.entries(sort="created", descending=False)
    assert len(entries) == 3
    created, unknown, rejected = entries
    assert created.model == MODEL and created.video_url == VIDEO and created.audio_url == AUDIO
    assert created.task_id == "lip_task_a" and created.dto is not None
    assert "***" not in str(created.dto) and "***" not in str(created.request)
    assert unknown.video_url == "https://media.example.com/kitta-v1/lip.mp4"
    assert unknown.outcome_error is not None and "***" not in unknown.outcome_error
    assert "HTTP 500 internal_error" in unknown.outcome_error
    assert (
        rejected.outcome_error is not None and "HTTP 400 invalid_request" in rejected.outcome_error
    )
    assert [e.task_id for e in client.history.items(search="lip_task_a")] == ["lip_task_a"]
    assert len(client.history.items(search="kitta-v1/lip")) == 1
    assert len(client.history.items(search="media.example.com")) == 3


def test_a_server_echoing_the_token_in_an_error_never_puts_it_on_disk() -> None:
    """The server's free-text message is not stored; our own words are."""
    canary = "echo-canary-6c1f0a9d"
    _, handler = server_with_errors(echo=canary)
    client = mock_client(handler, token=canary)
    create(client)
    with pytest.raises(ServerError):
        create(client)
    with pytest.raises(BadRequestError):
        create(client)
    journal = client.journal
    assert journal is not None
    journal.close()
    for path in Path(os.environ["KITTA_HOME"]).rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


# --- media URLs with credentials ------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pass@host.example/clip.mp4", "https://host.example/clip.mp4"),
        ("https://token@host.example:8443/a.mp4?x=1", "https://host.example:8443/a.mp4?x=1"),
        (
            "https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=AKIA%2F1&X-Amz-Date=20260701"
            "&X-Amz-Signature=abc123",
            "https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=REDACTED&X-Amz-Date=20260701"
            "&X-Amz-Signature=REDACTED",
        ),
        (
            "https://b.oss-cn.aliyuncs.com/v.mp4?OSSAccessKeyId=LT&Expires=1&Signature=s%3D",
            "https://b.oss-cn.aliyuncs.com/v.mp4?OSSAccessKeyId=REDACTED&Expires=1"
            "&Signature=REDACTED",
        ),
        (
            "https://cos.example/v.mp4?q-sign-algorithm=sha1&q-signature=ff&sign=1&token=t",
            "https://cos.example/v.mp4?q-sign-algorithm=sha1&q-signature=REDACTED"
            "&sign=REDACTED&token=REDACTED",
        ),
        ("https://media.example.com/v.mp4?n=3", "https://media.example.com/v.mp4?n=3"),
        ("https://media.example.com/a@b.mp4", "https://media.example.com/a@b.mp4"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_the_journal_keeps_only_redacted_media_urls_but_the_request_sends_them_whole() -> None:
    secret_video = "https://alice:s3cret-pw@media.example.com/private/clip.mp4"
    signed_audio = "https://media.example.com/a.mp3?X-Amz-Signature=deadbeef42&n=1"
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            sent.append(request.content)
            return httpx.Response(202, json=dto(taskId="lip_task_r"))
        return httpx.Response(200, json=dto(taskId="lip_task_r"))

    client = mock_client(handler)
    create(client, video_url=secret_video, audio_url=signed_audio)
    assert b"s3cret-pw" in sent[0] and b"deadbeef42" in sent[0]  # the service must fetch it
    entry = client.history.get("lip_task_r")
    assert entry is not None
    assert entry.video_url == "https://media.example.com/private/clip.mp4"
    assert entry.audio_url == "https://media.example.com/a.mp3?X-Amz-Signature=REDACTED&n=1"
    assert entry.request is not None and "s3cret-pw" not in str(entry.request)
    assert "deadbeef42" not in str(entry.request)
    assert client.history.items(search="private/clip")[0].task_id == "lip_task_r"
    journal = client.journal
    assert journal is not None
    journal.close()
    for path in Path(os.environ["KITTA_HOME"]).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"s3cret-pw" not in data and b"deadbeef42" not in data, path


# --- an unusable KITTA_HOME ---------------------------------------------------------------
def _assert_names_the_fix(error: JournalError) -> None:
    text = str(error)
    assert "KITTA_HOME" in text and "journal=False" in text
    assert error.__cause__ is None and error.__suppress_context__


def _posts_counting_client() -> tuple[KittaClient, list[int]]:
    posts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(1)
        return httpx.Response(202 if request.method == "POST" else 200, json=dto())

    return mock_client(handler), posts


def test_kitta_home_pointing_at_a_file_gives_a_journal_error_that_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    monkeypatch.setenv("KITTA_HOME", str(a_file))
    client, posts = _posts_counting_client()
    with pytest.raises(JournalError) as caught:
        create(client)
    _assert_names_the_fix(caught.value)
    assert posts == []  # nothing was sent: no credits spent without a record
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        client.lip_sync.get("lip_task_1")  # a poll still works; the journal only warns
    assert any(issubclass(w.category, JournalWarning) for w in caught_warnings)
    assert a_file.read_text() == "x"


def test_kitta_home_in_a_place_nobody_can_create_folders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KITTA_HOME", "/proc/kitta-home-cannot-exist")
    client, posts = _posts_counting_client()
    with pytest.raises(JournalError) as caught:
        create(client)
    _assert_names_the_fix(caught.value)
    assert posts == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_kitta_home_in_a_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setenv("KITTA_HOME", str(locked))
    try:
        client, posts = _posts_counting_client()
        with pytest.raises(JournalError) as caught:
            create(client)
        _assert_names_the_fix(caught.value)
        assert posts == []
    finally:
        locked.chmod(0o700)


def test_journal_false_still_works_with_an_unusable_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    monkeypatch.setenv("KITTA_HOME", str(a_file))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202 if request.method == "POST" else 200, json=dto())

    client = mock_client(handler, journal=False)
    assert create(client).task_id == "lip_task_1"


# --- polling an unchanged task writes nothing ----------------------------------------------
def test_get_of_an_unchanged_task_never_writes_even_in_a_new_process_view() -> None:
    body = dto(taskId="lip_task_p", status="processing")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    client = mock_client(handler)
    client.lip_sync.get("lip_task_p")
    journal = client.journal
    assert journal is not None
    watcher = sqlite3.connect(journal.path)
    before = watcher.execute("PRAGMA data_version").fetchone()[0]
    changes = journal._connection().total_changes
    for _ in range(20):
        client.lip_sync.get("lip_task_p")
    # A second Journal object on the same file (a new kernel's memory): still no write.
    fresh = Journal(journal.path)
    fresh.record_seen(dict(body))
    fresh.record_seen_many([{k: body[k] for k in ("taskId", "status", "inputMode")}])
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == before
    assert journal._connection().total_changes == changes
    body["status"] = "succeeded"
    client.lip_sync.get("lip_task_p")  # a real change is written
    assert watcher.execute("PRAGMA data_version").fetchone()[0] != before
    entry = fresh.get("lip_task_p")
    assert entry is not None and entry.status == "succeeded"
    watcher.close()
