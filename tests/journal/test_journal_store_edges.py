"""The SQLite journal's answers that decide resends, reconciles and kept files.

Gaps found by mutation testing (`make mutate`) in `history/journal.py`: each test names
the behaviour it protects. A real journal file; a real second process where another
kernel's entry is the point.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import kitta_notebook
from kitta_notebook import LipSyncTask
from kitta_notebook.errors import (
    JournalError,
    KeyInUseError,
    KeyReusedError,
    UnresolvedCreateError,
)
from kitta_notebook.history import keys
from kitta_notebook.history.entry import SANDBOX_MEDIA
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.schema import identity_fingerprint, journal_path_for_identity

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
ORIGIN = "http://api.test/api"
BODY = {"model": "kitta-lip-sync-v1", "inputMode": "video"}

LIVE_KERNEL = r"""
import sys
from kitta_notebook.history.entry import SANDBOX_MEDIA
from kitta_notebook.history.journal import Journal

journal = Journal(sys.argv[1])
journal.record_request({"model": "kitta-lip-sync-v1"}, "k")
print("ready", flush=True)
sys.stdin.read()  # stays alive, its create "in flight", until killed
"""


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite3")


@pytest.fixture
def live_kernel(journal: Journal) -> Iterator[subprocess.Popen[str]]:
    """Another process of this machine that wrote a `sending` entry and is still running."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LIVE_KERNEL, str(journal.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait(timeout=30)


def test_a_live_kernels_fresh_sending_entry_is_not_unresolved_until_stale_or_dead(
    journal: Journal, live_kernel: subprocess.Popen[str]
) -> None:
    """Its create may still answer: reconcile must not touch it while its owner lives and
    it is younger than `stale_after`; once stale, or its process dead, it is unresolved."""
    assert journal.unresolved() == []
    assert [e.outcome for e in journal.unresolved(stale_after=0)] == ["sending"]
    live_kernel.send_signal(signal.SIGKILL)
    live_kernel.wait(timeout=30)
    assert [e.key for e in journal.unresolved()] == ["k"]


def test_a_sending_entry_of_this_kernel_no_create_owns_any_more_is_unresolved(
    journal: Journal,
) -> None:
    entry_id = journal.record_request(BODY, "mine")
    assert journal.unresolved() == []  # its create is in flight in this process
    keys.IN_FLIGHT.discard(entry_id)  # the call that wrote it is gone (interrupted)
    assert [e.entry_id for e in journal.unresolved()] == [entry_id]
    with pytest.raises(UnresolvedCreateError):  # not "in use": nothing of ours still sends it
        journal.claim_key("mine", {"model": "kitta-lip-sync-v1"})


def test_create_delays_are_the_last_50_local_creates_from_request_to_createdAt(
    journal: Journal,
) -> None:
    """The reconcile clock learns from this account's own creates, never from tasks only
    seen on the server, and from a bounded sample."""
    for n in range(52):
        entry_id = journal.record_request(BODY)
        created = datetime.now(timezone.utc) + timedelta(seconds=30 + n)
        journal.record_created(
            entry_id, {"taskId": f"lip_task_{n:02d}", "createdAt": created.isoformat()}
        )
    journal.record_seen({"taskId": "lip_task_srv", "createdAt": "2020-01-01T00:00:00Z"})
    delays = journal.create_delays()
    assert len(delays) == 50 and len(journal.create_delays(samples=60)) == 52
    assert all(29 <= d <= 90 for d in delays)
    assert max(delays) > 70  # newest first: the last creates' (longer) delays are kept


def test_a_journal_by_identity_lives_under_its_home_named_by_the_identity(
    tmp_path: Path,
) -> None:
    journal = Journal.for_identity("sandbox:test", home=tmp_path)
    assert journal.path == journal_path_for_identity("sandbox:test", tmp_path)
    assert journal.path.is_relative_to(tmp_path)
    assert journal.account == identity_fingerprint("sandbox:test")
    assert repr(journal) == f"Journal({str(journal.path)!r})"


def test_an_unclaimed_write_under_a_key_that_made_a_task_is_refused_naming_both(
    journal: Journal,
) -> None:
    first = journal.record_request(BODY, "k")
    journal.record_created(first, {"taskId": "lip_task_k"})
    with pytest.raises(KeyReusedError) as caught:
        journal.record_request(BODY, "k")
    assert (caught.value.key, caught.value.task_id, caught.value.differences) == (
        "k",
        "lip_task_k",
        [],
    )
    assert "'k'" in str(caught.value) and "lip_task_k" in str(caught.value)


def test_a_matched_create_takes_the_known_task_or_the_bare_id(journal: Journal) -> None:
    journal.record_seen({"taskId": "lip_task_seen", "status": "succeeded", "creditsCharged": 99})
    seen_entry = journal.record_request(BODY)
    journal.record_outcome(seen_entry, rejected=False, error="HTTP 500")
    journal.record_matched(seen_entry, "lip_task_seen")
    bare_entry = journal.record_request(BODY)
    journal.record_outcome(bare_entry, rejected=False, error="HTTP 500")
    journal.record_matched(bare_entry, "lip_task_new")
    by_task = {e.task_id: e for e in journal.entries()}
    assert by_task["lip_task_seen"].credits == 99
    assert by_task["lip_task_seen"].status == "succeeded"
    assert "lip_task_new" in by_task


def test_a_journal_that_cannot_answer_a_key_lookup_names_its_file(journal: Journal) -> None:
    """A driver error while looking a key up reaches the user as ours, naming the file."""
    journal.record_seen({"taskId": "lip_task_x"})
    with sqlite3.connect(journal.path) as other:  # someone else's tool broke the file
        other.execute("ALTER TABLE entries RENAME TO gone")
    with pytest.raises(JournalError) as caught:
        journal.task_id_for_key("k")
    assert str(journal.path) in str(caught.value) and "no such table" in str(caught.value)


def test_a_download_is_recorded_by_task_id_too(journal: Journal, tmp_path: Path) -> None:
    journal.record_seen({"taskId": "lip_task_d", "status": "succeeded"})
    journal.record_download("lip_task_d", tmp_path / "d.mp4")
    (entry,) = journal.entries()
    assert entry.download_path == str((tmp_path / "d.mp4").absolute())


def test_server_only_tasks_carry_their_model_and_mode(journal: Journal) -> None:
    """Reconcile pairs an unknown create only with a task of the same model and mode."""
    journal.record_seen(
        {"taskId": "lip_task_s", "model": "kitta-lip-sync-pro", "inputMode": "image"}
    )
    journal.record_created(journal.record_request(BODY), {"taskId": "lip_task_l"})
    (candidate,) = journal.server_only_tasks()
    assert (candidate.task_id, candidate.model, candidate.input_mode) == (
        "lip_task_s",
        "kitta-lip-sync-pro",
        "image",
    )
    assert journal.known_task_ids() == {"lip_task_s", "lip_task_l"}
    assert journal.known_task_ids(source="server") == {"lip_task_s"}


def test_the_oldest_kept_results_asked_for_none_are_none(journal: Journal, tmp_path: Path) -> None:
    journal.record_kept("lip_task_a", tmp_path / "a.mp4", 10, "0" * 64)
    journal.record_kept("lip_task_b", tmp_path / "b.mp4", 20, "1" * 64)
    assert journal.kept_oldest(0) == [] and journal.kept_oldest(-3) == []
    assert [k.task_id for k in journal.kept_oldest(1)] == ["lip_task_a"]
    assert journal.kept_total_bytes() == 30


def test_a_live_kernels_sending_key_is_in_use_then_unresolved_once_it_died(
    journal: Journal, live_kernel: subprocess.Popen[str]
) -> None:
    with pytest.raises(KeyInUseError):
        journal.claim_key("k", {"model": "kitta-lip-sync-v1"})
    live_kernel.send_signal(signal.SIGKILL)
    live_kernel.wait(timeout=30)
    (left,) = journal.unresolved()
    with pytest.raises(UnresolvedCreateError) as caught:
        journal.claim_key("k", {"model": "kitta-lip-sync-v1"})
    assert (caught.value.key, caught.value.entry_id) == ("k", left.entry_id)


def test_a_key_claimed_again_returns_its_task_or_refuses_other_inputs(journal: Journal) -> None:
    inputs = {"model": "kitta-lip-sync-v1", "video_url": "https://media.example.com/v.mp4"}
    claim = journal.claim_key("k", inputs)
    entry_id = journal.record_request(BODY, "k", claim=claim.token)
    journal.record_created(entry_id, {"taskId": "lip_task_k"})
    journal.release_keys([claim])
    again = journal.claim_key("k", dict(inputs))
    assert (again.key, again.task_id, again.token) == ("k", "lip_task_k", None)
    other = {**inputs, "video_url": "https://media.example.com/other.mp4"}
    with pytest.raises(KeyReusedError) as caught:
        journal.claim_key("k", other)
    assert caught.value.task_id == "lip_task_k"
    assert [name for name, _, _ in caught.value.differences] == ["video_url"]


def test_a_failed_create_is_no_longer_in_flight_and_keeps_2000_characters_of_its_error(
    journal: Journal,
) -> None:
    entry_id = journal.record_request(BODY, "k")
    journal.record_outcome(entry_id, rejected=False, error="e" * 5000)
    (entry,) = journal.unresolved()  # ours, but its call has ended: reconcile may take it
    assert entry.entry_id == entry_id and entry.outcome == "unknown"
    assert entry.outcome_error == "e" * 2000


def test_notes_and_labels_find_a_task_first_seen_now_and_drop_blank_labels(
    journal: Journal,
) -> None:
    task = LipSyncTask({"taskId": "lip_task_n", "status": "succeeded"})
    journal.set_note(task, "keep this one")
    journal.set_labels("lip_task_n", ["fr", "  ", "", " de "])
    (entry,) = journal.entries()
    assert (entry.task_id, entry.note, entry.labels) == (
        "lip_task_n",
        "keep this one",
        ("de", "fr"),
    )
    with pytest.raises(KeyError, match="lip_task_unknown"):
        journal.set_note("lip_task_unknown", "x")


def test_undated_tasks_are_the_known_ones_without_createdAt(journal: Journal) -> None:
    journal.record_seen({"taskId": "lip_task_u"})
    journal.record_seen({"taskId": "lip_task_d", "createdAt": "2026-01-01T00:00:00Z"})
    assert journal.undated_task_ids(["lip_task_u", "lip_task_d", "lip_task_x"]) == ["lip_task_u"]


def test_a_create_whose_claim_was_taken_over_is_refused_naming_its_key(journal: Journal) -> None:
    """Another kernel took the key over as left behind: this create must not be written."""
    claim = journal.claim_key("k", {"model": "kitta-lip-sync-v1"})
    with sqlite3.connect(journal.path) as other:
        other.execute("UPDATE key_claims SET token = 'another-kernel' WHERE batch_key = 'k'")
    with pytest.raises(KeyInUseError) as caught:
        journal.record_request(BODY, "k", claim=claim.token)
    assert caught.value.key == "k" and journal.entries() == []


def test_closing_a_journal_closes_its_database_connection(journal: Journal) -> None:
    """A closed journal holds no open SQLite handle (a kernel that closes its client must
    not keep the file open); it opens again on the next use."""
    journal.record_seen({"taskId": "lip_task_c"})
    conn = journal._conn
    assert conn is not None
    journal.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")
    assert [e.task_id for e in journal.entries()] == ["lip_task_c"]


def test_counts_see_what_another_kernel_wrote_since_they_were_read(journal: Journal) -> None:
    """Two kernels share one journal: a count remembered by one must not hide the other's
    new entries (the history's summary strip and page count)."""
    journal.record_seen({"taskId": "lip_task_a", "status": "succeeded"})
    assert (journal.summary().total, journal.count()) == (1, 1)
    other = Journal(journal.path)  # another kernel: a connection of its own
    other.record_seen({"taskId": "lip_task_b", "status": "failed"})
    other.close()
    assert (journal.summary().total, journal.count()) == (2, 2)
    assert journal.summary().counts.keys() >= {"failed"}


def test_an_unresolved_create_names_the_machine_that_sent_it(journal: Journal) -> None:
    """A team's history says where a create of unknown outcome was sent from (that machine
    is the one whose log can tell); never another column of its owner."""
    entry_id = journal.record_request(BODY, None)
    journal.record_outcome(entry_id, rejected=False, error="read timeout")
    (unresolved,) = journal.unresolved()
    assert (unresolved.entry_id, unresolved.host) == (entry_id, keys.HOST)
    assert unresolved.host != keys.SESSION


def test_a_task_listed_before_its_creates_answer_keeps_what_was_seen_and_its_labels(
    journal: Journal,
) -> None:
    """Another kernel lists the account while this create waits for its answer: the row seen
    first is merged into the create's entry, its labels and facts kept, and the entry is a
    plain create (not one found by reconcile)."""
    entry_id = journal.record_request(BODY, None)
    journal.record_seen(
        {"taskId": "lip_task_m", "status": "processing", "model": "kitta-lip-sync-v1",
         "creditsCharged": 1200, "createdAt": "2026-07-01T08:00:00Z"}
    )  # fmt: skip
    journal.set_labels("lip_task_m", ["from-the-list"])
    journal.record_created(entry_id, {"taskId": "lip_task_m", "status": "pending"})
    (entry,) = journal.entries()
    assert (entry.entry_id, entry.task_id, entry.labels) == (
        entry_id, "lip_task_m", ("from-the-list",)
    )  # fmt: skip
    assert (entry.model, entry.credits) == ("kitta-lip-sync-v1", 1200)
    assert entry.reconciled_at is None


def test_a_claim_taken_over_from_a_dead_kernel_is_ours_to_give_back(journal: Journal) -> None:
    """A claim left by a killed kernel is taken over; the new claim names its key, so
    giving it back frees the key for every kernel (a teammate's create of that key)."""
    journal.claim_key("k", {"model": "kitta-lip-sync-v1"})
    with sqlite3.connect(journal.path) as other:  # as a kernel killed since wrote it
        other.execute("UPDATE key_claims SET pid = 999999999, session = 'dead-kernel'")
    claim = journal.claim_key("k", {"model": "kitta-lip-sync-v1"})
    assert (claim.key, claim.task_id) == ("k", None) and claim.token
    journal.release_keys([claim])
    with sqlite3.connect(journal.path) as other:
        assert other.execute("SELECT count(*) FROM key_claims").fetchone() == (0,)


def test_a_poll_adds_to_what_the_journal_knows_and_never_erases_it(journal: Journal) -> None:
    """A list item is a subset of a detail answer: the entry keeps the detail's result,
    its completion time (also against a list that says null) and the create's outcome."""
    entry_id = journal.record_request(BODY, None)
    journal.record_created(entry_id, {"taskId": "lip_p", "status": "pending"})
    detail = {
        "taskId": "lip_p",
        "status": "succeeded",
        "resultVideoUrl": "https://cdn.example.com/r.mp4",
        "completedAt": "2026-01-01T00:00:10Z",
    }
    assert journal.record_seen_many([detail]) == 0  # known: updated, not added
    listed = {"taskId": "lip_p", "status": "succeeded", "completedAt": None}
    assert journal.record_seen_many([listed]) == 0
    entry = journal.get("lip_p")
    assert entry is not None and entry.dto is not None
    assert (entry.outcome, entry.source, entry.state) == ("created", "local", "succeeded")
    assert entry.dto["resultVideoUrl"] == "https://cdn.example.com/r.mp4"
    assert entry.completed_at == datetime(2026, 1, 1, 0, 0, 10, tzinfo=timezone.utc)
    assert journal.record_seen_many([{"taskId": "lip_new", "status": "pending"}]) == 1


def test_a_sandboxs_recorded_media_are_read_back_at_its_origin_of_today(journal: Journal) -> None:
    """The embedded sandbox's media are written down port-free; a restarted sandbox on
    another port still plays and compares them from where it serves them now."""
    body = {**BODY, "videoUrl": f"{SANDBOX_MEDIA}/media/v.mp4", "audioUrl": "https://cdn.test/a"}
    entry_id = journal.record_request(body)
    journal.media_origin = "http://127.0.0.1:45679"
    entry = journal.get(entry_id)
    assert entry is not None and entry.request is not None
    assert entry.video_url == entry.request["videoUrl"] == "http://127.0.0.1:45679/media/v.mp4"
    assert entry.audio_url == entry.request["audioUrl"] == "https://cdn.test/a"
