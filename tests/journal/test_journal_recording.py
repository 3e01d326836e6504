"""Every create is journalled before it is sent, and its outcome afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import httpx
import pytest

from kitta_notebook import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    InsufficientCreditsError,
    KittaClient,
    ServerError,
)
from kitta_notebook.errors import UnresolvedCreateError
from kitta_notebook.history.entry import JournalEntry
from kitta_notebook.history.journal import Journal, account_fingerprint, journal_path
from kitta_notebook.history.recorder import failure_text
from kitta_notebook.history.store import JournalStore
from kitta_notebook.validation import validate_create
from tests.journal.journal_helpers import (
    AUDIO,
    BASE,
    IMAGE,
    VIDEO,
    create,
    list_body,
    mock_async_client,
    mock_client,
    poll_until,
    reopen,
)
from tests.support import dto, media_host

# Store-level tests run on each store (`journal_store` in conftest.py); the others are
# about the SQLite file itself.
ON_EACH_STORE = pytest.mark.usefixtures("journal_store")


def only_entry(journal: JournalStore) -> JournalEntry:
    entries = journal.entries()
    assert len(entries) == 1, entries
    return entries[0]


def fresh_view(client: KittaClient) -> JournalStore:
    """A second store object on the same journal: proves the data was written."""
    return reopen(client.journal)


def test_constructing_a_client_never_touches_disk(tmp_path: Path) -> None:
    home = Path(os.environ["KITTA_HOME"])
    client = KittaClient("tok-lazy", base_url=BASE)
    assert client.journal is not None
    assert not client.journal.exists
    assert not home.exists() or not any(home.rglob("*"))


def test_journal_path_is_per_origin_and_account_and_never_names_the_token() -> None:
    a = journal_path("http://api.test", "tok-a")
    assert a != journal_path("http://api.test", "tok-b")
    assert a != journal_path("http://other.test", "tok-a")
    assert "tok-a" not in str(a)
    assert account_fingerprint("http://api.test", "tok-a") in a.name
    assert a.parent.parent == Path(os.environ["KITTA_HOME"])


@ON_EACH_STORE
def test_request_is_written_before_it_is_sent() -> None:
    seen_in_handler: list[JournalEntry] = []
    holder: dict[str, KittaClient] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            # Still inside the request: the server has not answered yet.
            seen_in_handler.extend(fresh_view(holder["client"]).entries())
            return httpx.Response(202, json=dto())
        raise AssertionError("unexpected request")

    client = holder["client"] = mock_client(handler)
    task = create(client)
    assert len(seen_in_handler) == 1
    before = seen_in_handler[0]
    assert before.outcome == "sending"
    assert before.state == "outcome_unknown"
    assert before.task_id is None
    assert (before.video_url, before.audio_url, before.input_mode) == (VIDEO, AUDIO, "video")
    assert before.duration_seconds == 4
    assert before.request == {
        "model": "kitta-lip-sync-v1",
        "inputMode": "video",
        "videoUrl": VIDEO,
        "audioUrl": AUDIO,
        "durationSeconds": 4,
    }
    after = only_entry(fresh_view(client))
    assert after.entry_id == before.entry_id
    assert (after.outcome, after.task_id, after.state) == ("created", task.task_id, "pending")
    assert after.credits == 1200
    assert after.dto == task.raw


@ON_EACH_STORE
def test_a_hanging_create_is_visible_before_any_answer_then_unknown_on_5xx() -> None:
    release = threading.Event()
    arrived = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        arrived.set()
        assert release.wait(30), "the test never released the request"
        return httpx.Response(500, json={"error": {"code": "internal_error", "message": "boom"}})

    client = mock_client(handler)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            create(client)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert arrived.wait(30)
        view = fresh_view(client)
        poll_until(lambda: len(view.entries()) == 1)
        pending = only_entry(view)
        assert pending.outcome == "sending" and pending.video_url == VIDEO
        assert view.unresolved() == []  # still on the wire in this process: not abandoned
    finally:
        release.set()
        worker.join(30)
    assert len(errors) == 1 and isinstance(errors[0], ServerError)
    entry = only_entry(fresh_view(client))
    assert entry.outcome == "unknown" and entry.state == "outcome_unknown"
    assert entry.needs_reconcile
    assert entry.outcome_error is not None and "500" in entry.outcome_error
    assert entry.request is not None and entry.request["videoUrl"] == VIDEO
    assert [e.entry_id for e in fresh_view(client).unresolved()] == [entry.entry_id]


@ON_EACH_STORE
def test_read_timeout_on_create_leaves_outcome_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = mock_client(handler)
    with pytest.raises(APITimeoutError):
        create(client, image_url=IMAGE, video_url=None, input_mode="image")
    entry = only_entry(fresh_view(client))
    assert entry.outcome == "unknown"
    assert entry.input_mode == "image" and entry.image_url == IMAGE
    assert entry.outcome_error is not None and "APITimeoutError" in entry.outcome_error


@ON_EACH_STORE
def test_an_interrupt_mid_request_leaves_outcome_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    client = mock_client(handler)
    with pytest.raises(KeyboardInterrupt):
        create(client)
    assert only_entry(fresh_view(client)).outcome == "unknown"


@ON_EACH_STORE
@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequestError), (402, InsufficientCreditsError)],
)
def test_a_definite_rejection_is_kept_as_rejected(status: int, error: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"code": "x", "message": "no"}})

    client = mock_client(handler)
    with pytest.raises(error) as caught:
        create(client)
    entry = only_entry(fresh_view(client))
    assert (entry.outcome, entry.state, entry.task_id) == ("rejected", "rejected", None)
    assert entry.outcome_error == failure_text(caught.value)  # why, in our own words
    assert entry.is_final and not entry.needs_reconcile


@ON_EACH_STORE
def test_a_connection_never_made_is_rejected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = mock_client(handler)
    with pytest.raises(APIConnectionError):
        create(client)
    assert only_entry(fresh_view(client)).outcome == "rejected"


@ON_EACH_STORE
def test_seen_updates_the_latest_dto_and_get_of_a_foreign_task_is_kept_as_remote() -> None:
    state = {"status": "pending"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json=dto())
        task_id = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=dto(taskId=task_id, status=state["status"]))

    client = mock_client(handler)
    task = create(client)
    state["status"] = "succeeded"
    client.lip_sync.get(task.task_id)
    journal = fresh_view(client)
    mine = journal.get(task.task_id)
    assert mine is not None and mine.state == "succeeded" and mine.source == "local"
    client.lip_sync.get("lip_task_elsewhere")
    other = journal.get("lip_task_elsewhere")
    assert other is not None and other.source == "server" and other.from_server
    assert other.outcome == "remote" and other.state == "succeeded"


@ON_EACH_STORE
def test_a_list_item_never_erases_what_a_detail_said() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json=dto(errorMessage=None))
        if request.url.path.endswith("/tasks"):
            return httpx.Response(200, json=list_body([dto(status="failed")]))
        return httpx.Response(200, json=dto(status="failed", errorMessage="bad audio"))

    client = mock_client(handler)
    create(client)
    client.lip_sync.get("lip_task_1")
    client.history.sync()
    entry = fresh_view(client).get("lip_task_1")
    assert entry is not None
    assert entry.error_message == "bad audio" and entry.model == "kitta-lip-sync-v1"
    assert entry.created_at is not None


@ON_EACH_STORE
def test_async_client_records_the_same_way() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if request.method == "POST":
            return httpx.Response(503, text="gateway")
        task_id = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=dto(taskId=task_id, status="processing"))

    async def main() -> None:
        client = mock_async_client(handler)
        with pytest.raises(ServerError):
            await client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
        journal = client.journal
        assert journal is not None
        assert only_entry(journal).outcome == "unknown"
        await client.lip_sync.get("lip_task_9")
        found = journal.get("lip_task_9")
        assert found is not None and found.state == "processing"
        await client.aclose()

    asyncio.run(main())


@ON_EACH_STORE
def test_the_async_twin_and_private_clients_share_the_journal_or_its_absence() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=dto())

    client = mock_client(handler)
    twin = client.as_async()
    assert twin.journal is client.journal
    off = mock_client(handler, token="tok-off", journal=False)
    assert off.journal is None
    assert off.as_async().journal is None


def test_journal_false_writes_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=dto())

    client = mock_client(handler, journal=False)
    create(client)
    client.lip_sync.get("lip_task_1")
    home = Path(os.environ["KITTA_HOME"])
    assert not home.exists() or not any(home.rglob("*"))


def test_an_explicit_journal_object_is_used(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=dto())

    journal = Journal(tmp_path / "mine.sqlite3")
    client = mock_client(handler, journal=journal)
    create(client)
    assert client.journal is journal
    assert only_entry(Journal(tmp_path / "mine.sqlite3")).task_id == "lip_task_1"


@ON_EACH_STORE
def test_download_path_is_recorded(tmp_path: Path) -> None:
    with media_host(b"\x00\x00\x00\x18ftypmp42" + bytes(64)) as base:

        def handler(request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                return httpx.Response(202, json=dto())
            return httpx.Response(200, json=dto(status="succeeded", resultVideoUrl=f"{base}/r.mp4"))

        client = mock_client(handler)
        task = create(client)
        task.refresh()
        saved = task.download(tmp_path / "out.mp4")
    entry = fresh_view(client).get(task.task_id)
    assert entry is not None and entry.download_path == str(saved.absolute())


@ON_EACH_STORE
def test_task_id_for_key_refuses_to_guess_while_an_outcome_is_unknown() -> None:
    answers = iter(
        [
            httpx.Response(400, json={"error": {"code": "invalid_request", "message": "x"}}),
            httpx.Response(500, text="oops"),
            httpx.Response(202, json=dto(taskId="lip_task_k3")),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    client = mock_client(handler)
    journal = client.recorder.journal()
    assert journal is not None
    request = validate_create(audio_url=AUDIO, video_url=VIDEO)
    with pytest.raises(BadRequestError):
        client.lip_sync._create_checked(request, key="k1")
    assert journal.task_id_for_key("k1") is None  # rejected: safe to send again
    with pytest.raises(ServerError):
        client.lip_sync._create_checked(request, key="k2")
    with pytest.raises(UnresolvedCreateError, match="k2"):
        journal.task_id_for_key("k2")
    client.lip_sync._create_checked(request, key="k3")
    assert journal.task_id_for_key("k3") == "lip_task_k3"
    assert journal.task_id_for_key("never") is None


@ON_EACH_STORE
def test_entries_are_written_as_json_with_sorted_keys() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=dto())

    client = mock_client(handler)
    create(client)
    entry = only_entry(fresh_view(client))
    assert json.dumps(entry.request, sort_keys=True)


@ON_EACH_STORE
def test_a_create_answered_with_something_that_is_no_task_is_kept_as_unknown() -> None:
    """A 2xx that is not a task (a proxy's page, a cut-off body): the server took the
    create, so a task may exist and be billed. It is written down as unknown, with why,
    so the key is not sent again before a reconcile."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, text="<html>accepted</html>")

    client = mock_client(handler)
    with pytest.raises(Exception, match="not a JSON object") as caught:
        create(client)
    entry = only_entry(fresh_view(client))
    assert (entry.outcome, entry.state, entry.task_id) == ("unknown", "outcome_unknown", None)
    assert entry.needs_reconcile
    assert entry.outcome_error == failure_text(caught.value)  # its type, status and code
    assert entry.outcome_error.startswith("APIStatusError: HTTP 202 invalid_response")
