"""Hostile text into either journal store is kept, or refused before anything is sent, the
same way on both: PostgreSQL's text refuses NUL, no store encodes a lone surrogate, and a
label long enough to overflow an index row is refused by the one rule both stores share.

Creates go to the real sandbox over HTTP on 127.0.0.1; each test runs on SQLite and on the
throwaway PostgreSQL cluster (`journal_store`).
"""

from __future__ import annotations

import pytest

from kitta_notebook import KittaClient
from kitta_notebook.errors import ValidationError
from kitta_notebook.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("journal_store")

ODD = '50% a_b c\\d it\'s "q" 🎬中文'
UNSTORABLE = ["a\x00b", "a\ud800b", "x" * 101, "y" * 1_000_000]


def _client(sandbox: Sandbox) -> KittaClient:
    return KittaClient(sandbox.token, base_url=sandbox.base_url)


def _create(client: KittaClient, sandbox: Sandbox, **extra: object) -> str:
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"], **extra
    )
    return task.task_id


def test_odd_labels_notes_and_searches_round_trip(sandbox: Sandbox) -> None:
    client = _client(sandbox)
    task_id = _create(client, sandbox)
    client.history.label(task_id, ODD, "%", "_")
    client.history.note(task_id, ODD * 1000)
    entry = client.history.get(task_id)
    assert entry is not None
    assert set(entry.labels) == {ODD, "%", "_"} and entry.note == ODD * 1000
    assert [e.task_id for e in client.history.items(label="%")] == [task_id]
    searched = f"{entry.video_url} {entry.audio_url} {task_id}"
    # Wildcards match themselves; a mark the team journal's index joins into a letter
    # (`-`, `/`) is still itself, and that letter only itself.
    for search in ("%", "_", "\\", "'", "a\x00b", "a\ud800b", "q", "-q", "/", "视频", "%/_"):
        found = [e.task_id for e in client.history.items(search=search)]
        assert found == ([task_id] if search in searched else []), search
    assert [e.task_id for e in client.history.items(search=task_id[-6:])] == [task_id]
    assert client.history.get("lip\x00x") is None and client.history.get("lip\ud800") is None


@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "surrogate", "101", "1MB"])
def test_a_label_no_store_can_keep_is_refused_and_nothing_is_changed(
    sandbox: Sandbox, bad: str
) -> None:
    client = _client(sandbox)
    task_id = _create(client, sandbox)
    client.history.label(task_id, "kept")
    with pytest.raises(ValidationError, match="labels"):
        client.history.label(task_id, bad)
    entry = client.history.get(task_id)
    assert entry is not None and entry.labels == ("kept",)


@pytest.mark.parametrize("bad", UNSTORABLE[:2], ids=["nul", "surrogate"])
def test_a_note_or_key_no_store_can_keep_is_refused_before_anything_is_sent(
    sandbox: Sandbox, bad: str
) -> None:
    client = _client(sandbox)
    task_id = _create(client, sandbox)
    with pytest.raises(ValidationError, match="note"):
        client.history.note(task_id, bad)
    before = len(client.history.items())
    with pytest.raises(ValidationError, match="key"):
        _create(client, sandbox, key=bad)
    with pytest.raises(ValidationError, match="key"):
        client.lip_sync.create_many(
            [
                {
                    "video_url": sandbox.samples["video"],
                    "audio_url": sandbox.samples["audio"],
                    "key": bad,
                }
            ]
        )
    assert len(client.history.items()) == before and sandbox.stats.creates_accepted == 1


def test_a_server_text_with_nul_or_a_lone_surrogate_is_kept_as_a_replacement_character(
    sandbox: Sandbox,
) -> None:
    client = _client(sandbox)
    journal = client.journal
    assert journal is not None
    journal.record_seen({"taskId": "lip_odd", "status": "succeeded", "model": "m\x00\ud800"})
    entry = journal.get("lip_odd")
    assert entry is not None and entry.model == "m\ufffd\ufffd"
    assert entry.dto is not None and entry.dto["model"] == "m\x00\ud800"
