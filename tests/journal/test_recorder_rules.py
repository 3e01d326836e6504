"""The recorder's own rules: which store a setting chooses and what a wrong one says,
what a failed create leaves in the journal (our words, never the server's), that a key
is given back after its create, and that a journal that cannot write a failure warns."""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import httpx
import pytest

from kitta_notebook import BadRequestError, KittaClient
from kitta_notebook.errors import JournalError, JournalWarning
from kitta_notebook.history.entry import SANDBOX_MEDIA
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.keys import KeyClaim
from kitta_notebook.history.recorder import (
    JOURNAL_URL_ENV,
    JournalRecorder,
    failure_text,
    journal_for_config,
)
from kitta_notebook.history.schema import account_fingerprint, identity_fingerprint
from kitta_notebook.validation import validate_create
from tests.journal.journal_helpers import AUDIO, BASE, VIDEO, mock_client
from tests.support import dto, shown_at


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("mysql://team:hunter2-secret@db.example.com/kitta", "mysql://…"),
        ("MySQL://db.example.com", "MySQL://…"),
        ("mysql://db.example.com/?then=https://other.example.com", "mysql://…"),
        ("team/journal.sqlite3", "a path"),
    ],
)
def test_a_journal_url_that_is_not_postgresql_is_refused_without_its_secrets(
    setting: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = (
        f"The journal must be a postgresql:// or postgres:// URL (given {shown}, through "
        f"journal= or {JOURNAL_URL_ENV}); pass True for this machine's journal."
    )
    for given, environment in ((setting, ""), (None, setting)):  # journal=, or the setting
        monkeypatch.setenv(JOURNAL_URL_ENV, environment)
        client = KittaClient("tok-recorder", base_url=BASE, journal=given)
        with pytest.raises(JournalError) as refused:
            journal_for_config(client._config)  # when the journal is first used
        assert str(refused.value) == expected


def test_a_failed_create_is_recorded_in_our_words_without_the_servers_message() -> None:
    error = BadRequestError(
        400, "invalid_request", "echoing Bearer tok-recorder-secret", request_id="req-1"
    )
    assert failure_text(error) == (
        "BadRequestError: HTTP 400 invalid_request — the server refused the request body or "
        "query; check the fields named above. (request id: req-1)"
    )


def test_without_a_journal_a_key_is_claimed_by_nobody() -> None:
    with KittaClient(None, base_url=BASE) as client:  # no token: no account, no journal
        recorder = JournalRecorder(client._config)
        assert recorder.journal() is None
        assert recorder.claim_key("k", {"model": "m"}) == KeyClaim("k")
        recorder.release_keys([KeyClaim("k", token="t")])  # nothing to give back, no error


def test_a_keys_claim_is_given_back_once_its_create_is_answered() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=dto(taskId="lip_task_given_back"))

    client = mock_client(handler)
    request = validate_create(audio_url=AUDIO, video_url=VIDEO)
    client.lip_sync._create_checked(request, key="k")
    journal = client.recorder.journal()
    assert journal is not None
    with sqlite3.connect(journal.path) as db:
        assert db.execute("SELECT count(*) FROM key_claims").fetchone() == (0,)


def test_a_failure_the_journal_cannot_write_down_is_a_warning_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"code": "invalid_request", "message": "no"}})

    client = mock_client(handler)
    journal = client.recorder.journal()
    assert journal is not None

    def broken(*args: object, **kwargs: object) -> None:
        raise JournalError("the disk is full")

    monkeypatch.setattr(journal, "record_outcome", broken)
    request = validate_create(audio_url=AUDIO, video_url=VIDEO)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(BadRequestError):
            client.lip_sync._create_checked(request)
    shown = _journal_warnings(said)
    assert shown == [
        ("the task journal could not record a failed create: the disk is full", __file__)
    ]


def _journal_warnings(said: list[warnings.WarningMessage]) -> list[tuple[str, str]]:
    """Each journal warning's text and the file it is shown at."""
    return [
        (str(w.message), shown_at(w.filename, __file__))
        for w in said
        if w.category is JournalWarning
    ]


def _breaking(journal: object, *methods: str) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise JournalError("the disk is full")

    for name in methods:
        setattr(journal, name, broken)


def test_a_created_task_the_journal_cannot_write_down_is_a_warning_at_the_callers_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=dto(taskId="lip_task_unwritten"))

    client = mock_client(handler)
    _breaking(client.recorder.journal(), "record_created")
    request = validate_create(audio_url=AUDIO, video_url=VIDEO)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        task = client.lip_sync._create_checked(request)
    assert task.task_id == "lip_task_unwritten"  # the create itself went through
    shown = _journal_warnings(said)
    assert shown == [
        ("the task journal could not record a created task: the disk is full", __file__)
    ]


def test_a_state_the_journal_cannot_write_warns_once_at_the_callers_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=dto(taskId="lip_task_seen"))

    client = mock_client(handler)
    _breaking(client.recorder.journal(), "record_seen", "record_seen_many")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        for _ in range(3):
            assert client.lip_sync.get("lip_task_seen").task_id == "lip_task_seen"
    shown = _journal_warnings(said)
    assert shown == [("the task journal could not record a task: the disk is full", __file__)]


def test_a_sandboxs_media_are_claimed_without_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded sandbox gets another port after a restart: a key's inputs from its own
    media are kept port-free, so the same request under the same key is the same one."""
    monkeypatch.setenv("KITTA_HOME", str(tmp_path))
    origin = "http://127.0.0.1:45678"
    with KittaClient("tok-sandbox", base_url=f"{origin}/api") as client:
        client._config.journal_identity = "sandbox-rules"
        audio, video = f"{origin}/media/a.wav", "https://cdn.example.com/v.mp4"
        claim = client.recorder.claim_key("k", {"audio_url": audio, "video_url": video})
        journal = client.recorder.journal()
        assert claim.token and journal is not None
        with sqlite3.connect(journal.path) as db:
            (stored,) = db.execute("SELECT inputs_json FROM key_claims").fetchone()
    assert json.loads(stored) == {"audio_url": f"{SANDBOX_MEDIA}/media/a.wav", "video_url": video}


def test_a_create_of_a_sandboxs_media_is_written_down_without_its_port() -> None:
    origin = BASE.removesuffix("/api")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=dto(taskId="lip_task_portable"))

    client = mock_client(handler)
    client._config.journal_identity = "sandbox-rules"
    request = validate_create(audio_url=f"{origin}/media/a.wav", video_url=VIDEO)
    client.lip_sync._create_checked(request)
    journal = client.recorder.journal()
    assert journal is not None
    with sqlite3.connect(journal.path) as db:
        (stored,) = db.execute("SELECT request_json FROM entries").fetchone()
    sent = json.loads(stored)
    assert (sent["audioUrl"], sent["videoUrl"]) == (f"{SANDBOX_MEDIA}/media/a.wav", VIDEO)


def test_a_sandboxs_journal_is_the_one_of_its_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITTA_HOME", str(tmp_path))
    with KittaClient("tok-identity", base_url=BASE) as client:
        client._config.journal_identity = "sandbox-rules"
        journal = client.recorder.journal()
        assert isinstance(journal, Journal)
        assert journal.path == Journal.for_identity("sandbox-rules").path
        assert journal.media_origin == client._config.origin


def test_each_account_and_the_sandbox_have_their_own_rows_in_a_team_database(
    postgres_db: str,
) -> None:
    """One PostgreSQL database, many accounts: each sees only its own history."""
    first = KittaClient("tok-account-a", base_url=BASE, journal=postgres_db)
    second = KittaClient("tok-account-b", base_url=BASE, journal=postgres_db)
    sandboxed = KittaClient("tok-account-a", base_url=BASE, journal=postgres_db)
    sandboxed._config.journal_identity = "sandbox-rules"
    accounts = [getattr(c.recorder.journal(), "account", None) for c in (first, second, sandboxed)]
    assert accounts == [
        account_fingerprint(first._config.origin, "tok-account-a"),
        account_fingerprint(first._config.origin, "tok-account-b"),
        identity_fingerprint("sandbox-rules"),
    ]
    for client in (first, second, sandboxed):
        client.close()


def test_a_clients_journal_follows_its_token_kitta_home_and_base_url_when_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook that enters another token or sets KITTA_HOME after making its client
    writes to the journal of the new account or folder from then on (never the old
    account's), and reuses it while nothing changed."""
    monkeypatch.setenv("KITTA_HOME", str(tmp_path / "first"))
    with KittaClient("tok-moving", base_url=BASE) as client:
        first = client.recorder.journal()
        assert first is not None and first.path.is_relative_to(tmp_path / "first")
        assert client.recorder.journal() is first
        client.set_token("tok-moving-other")
        other = client.recorder.journal()
        assert other is not None and other.path != first.path
        assert client.recorder.journal() is other
        monkeypatch.setenv("KITTA_HOME", str(tmp_path / "second"))
        second = client.recorder.journal()
        assert second is not None and second.path.is_relative_to(tmp_path / "second")
        client._config.base_url = "http://127.0.0.2:9/api"
        third = client.recorder.journal()
        assert third is not None and third.path != second.path


def test_closing_a_client_never_opens_nor_refuses_its_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving a `with` block after a refused journal raises nothing more, and a client
    that never used its journal does not make one to close it."""
    monkeypatch.setenv("KITTA_HOME", str(tmp_path))
    refused = KittaClient("tok-closing", base_url=BASE, journal="mysql://team:pw@db/k")
    with refused as client, pytest.raises(JournalError):
        client.history.count()
    with KittaClient("tok-closing", base_url=BASE):
        pass
    assert list(tmp_path.rglob("*.sqlite3*")) == []
    with KittaClient("tok-closing", base_url=BASE) as client:
        assert client.history.count() == 0  # used: made, and closed on leaving
        assert any(path.name.endswith("-wal") for path in tmp_path.rglob("*.sqlite3*"))
    assert [path.suffix for path in tmp_path.rglob("*.sqlite3*")] == [".sqlite3"]  # no -wal
    mine = Journal(tmp_path / "given" / "mine.sqlite3")
    with KittaClient("tok-closing", base_url=BASE, journal=mine) as client:
        assert client.history.count() == 0
    assert [path.name for path in (tmp_path / "given").iterdir()] == ["mine.sqlite3"]
