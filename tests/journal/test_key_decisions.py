"""What a key's journal entries decide: whose process holds it, and which inputs made it.

Gaps found by mutation testing (`make mutate`) in `history/keys.py`: each test names
the behaviour it protects. Real processes for "another kernel of this machine".
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from kitta_notebook.errors import KeyInUseError, KeyReusedError
from kitta_notebook.history import keys
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.keys import (
    HOST,
    SESSION,
    KeyedEntry,
    Owner,
    decide,
    differences,
    pid_alive,
    request_inputs,
    stored_inputs,
)

SHA = "ab" * 32


@pytest.fixture
def other_kernel() -> Iterator[subprocess.Popen[bytes]]:
    """Another live process of this machine."""
    echo = (
        "import signal, sys\n"
        "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # even when started under nohup
        "print('ready', flush=True)\n"
        "for line in sys.stdin:\n"
        "    print(line.strip(), flush=True)"
    )
    proc = subprocess.Popen([sys.executable, "-c", echo], stdin=-1, stdout=-1)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    yield proc
    proc.kill()
    proc.wait(timeout=30)


def test_a_live_process_is_alive_and_left_alive_by_the_check(
    other_kernel: subprocess.Popen[bytes],
) -> None:
    assert pid_alive(other_kernel.pid)
    assert other_kernel.stdin is not None and other_kernel.stdout is not None
    other_kernel.stdin.write(b"still there?\n")  # asking sent it no signal: it answers
    other_kernel.stdin.flush()
    assert other_kernel.stdout.readline() == b"still there?\n"
    assert pid_alive(os.getpid())
    other_kernel.kill()
    other_kernel.wait(timeout=30)
    assert not pid_alive(other_kernel.pid)


@pytest.mark.parametrize(("raised", "alive"), [(PermissionError, True), (OSError, False)])
def test_a_process_that_cannot_be_asked_counts_as_alive_only_when_it_exists(
    monkeypatch: pytest.MonkeyPatch, raised: type[OSError], alive: bool
) -> None:
    """Another user's process (no permission to signal it) may hold a key: keep off it."""

    def kill(pid: int, signal: int) -> None:
        raise raised

    monkeypatch.setattr(keys.os, "kill", kill)
    assert pid_alive(12345) is alive


def test_this_kernel_and_other_machines_never_hold_a_key_elsewhere() -> None:
    now = keys._now()
    assert not Owner(os.getpid(), HOST, SESSION, now).held_elsewhere(None)
    assert not Owner(os.getpid(), "another-machine", "their-session", now).held_elsewhere(None)


def test_another_live_process_holds_a_key_until_stale_after_has_passed(
    other_kernel: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner(other_kernel.pid, HOST, "their-session", 100.0)
    monkeypatch.setattr(keys, "_now", lambda: 159.9)
    assert owner.held_elsewhere(60) and owner.held_elsewhere(None)
    monkeypatch.setattr(keys, "_now", lambda: 160.0)
    assert not owner.held_elsewhere(60)  # exactly stale_after old: stale
    assert owner.held_elsewhere(None)


def test_the_inputs_kept_with_an_entry_are_the_ones_compared() -> None:
    kept = {"model": "m", "video_url": "https://media.example.com/v.mp4"}
    request = {"model": "other", "videoUrl": "https://elsewhere.example/x.mp4", "x-inputs": kept}
    assert stored_inputs(request) == kept


def test_an_older_entry_s_inputs_come_from_its_body_and_its_published_files() -> None:
    request = {
        "model": "kitta-lip-sync-v1",
        "inputMode": "video",
        "videoUrl": "https://user:secret@media.example.com/v.mp4?X-Amz-Signature=abc",
        "audioUrl": "https://store.example/a.mp3",
        "x-published": {"audio_url": {"sha256": SHA}},
    }
    inputs = stored_inputs(request)
    assert inputs["model"] == "kitta-lip-sync-v1" and inputs["input_mode"] == "video"
    assert inputs["audio_url"] == "sha256:" + SHA  # a published file compares by content
    assert "secret" not in inputs["video_url"] and "abc" not in inputs["video_url"]
    assert inputs["video_url"].startswith("https://")
    assert set(inputs) == {"model", "input_mode", "video_url", "audio_url"}
    assert stored_inputs({**request, "x-published": "broken"})["audio_url"] == request["audioUrl"]


def test_differences_show_what_changed_as_a_user_reads_it() -> None:
    before = {"model": "m", "video_url": "sha256:" + SHA, "duration_seconds": 4.0}
    now = {"model": "m", "audio_url": "https://media.example.com/a.mp3", "duration_seconds": 5.0}
    assert differences(before, now) == [
        ("video_url", f"a local file (sha256:{SHA[:12]}…)", "not given"),
        ("audio_url", "not given", "'https://media.example.com/a.mp3'"),
        ("duration_seconds", "4.0", "5.0"),
    ]
    assert [name for name, _, _ in differences(before, now, legacy=True)] == [
        "video_url",
        "audio_url",
    ]


def test_the_inputs_compared_are_model_mode_media_by_content_and_duration() -> None:
    planned = {
        "model": "kitta-lip-sync-v1",
        "input_mode": "video",
        "video_url": "https://user:secret@media.example.com/v.mp4",
        "audio_url": SimpleNamespace(sha256=SHA),  # a local file, published
        "image_url": None,
        "duration_seconds": 4.5,
    }
    inputs = request_inputs(planned)
    assert inputs == {
        "model": "kitta-lip-sync-v1",
        "input_mode": "video",
        "video_url": inputs["video_url"],
        "audio_url": "sha256:" + SHA,
        "duration_seconds": 4.5,
    }
    assert "secret" not in inputs["video_url"] and "media.example.com" in inputs["video_url"]
    assert "duration_seconds" not in request_inputs({**planned, "duration_seconds": None})


def test_model_and_mode_changes_are_differences_too() -> None:
    before = {"model": "kitta-lip-sync-v1", "input_mode": "video"}
    now = {"model": "kitta-lip-sync-pro", "input_mode": "image"}
    assert [name for name, _, _ in differences(before, now)] == ["model", "input_mode"]


def keyed(outcome: str, request: dict[str, object], task_id: str | None = None) -> KeyedEntry:
    return KeyedEntry("e1", task_id, outcome, request, Owner(1, "elsewhere", "s", 0.0))


def test_an_older_entry_made_from_other_media_refuses_the_key_but_not_for_its_duration() -> None:
    """Older entries kept no inputs, and their duration may be the measured one."""
    old = keyed("created", {"model": "m", "inputMode": "video", "videoUrl": "https://a/v.mp4"})
    same = {"model": "m", "input_mode": "video", "video_url": "https://a/v.mp4"}
    assert decide("k", [keyed("created", old.request, "lip_task_1")], None, same) == "lip_task_1"
    with_duration = {**same, "duration_seconds": 3.0}
    assert decide("k", [keyed("created", old.request, "lip_task_1")], None, with_duration) == (
        "lip_task_1"
    )
    with pytest.raises(KeyReusedError) as caught:
        decide("k", [keyed("created", old.request, "lip_task_1")], None, {**same, "model": "x"})
    assert caught.value.key == "k" and caught.value.task_id == "lip_task_1"


def test_a_key_claimed_by_another_thread_of_this_kernel_is_in_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keys, "HELD_KEYS", {"k"})  # that thread's claim, not given back yet
    mine = Owner(os.getpid(), HOST, SESSION, keys._now())
    with pytest.raises(KeyInUseError) as caught:
        decide("k", [], mine, None)
    assert caught.value.key == "k"


def test_a_live_kernels_sending_entry_puts_its_key_in_use(
    other_kernel: subprocess.Popen[bytes],
) -> None:
    sending = KeyedEntry("e1", None, "sending", {}, Owner(other_kernel.pid, HOST, "s", keys._now()))
    with pytest.raises(KeyInUseError) as caught:
        decide("k", [sending], None, None)
    assert caught.value.key == "k"


def test_a_key_held_by_a_claim_of_this_kernel_is_in_use_until_given_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads of one kernel with one key: the second must not create while the
    first holds the claim (that would bill twice), and may once it is given back."""
    monkeypatch.setattr(keys, "HELD_KEYS", set())
    journal = Journal(tmp_path / "journal.sqlite3")
    inputs = {"model": "kitta-lip-sync-v1"}
    claim = journal.claim_key("k", inputs)
    assert claim.token is not None and "k" in keys.HELD_KEYS
    try:
        with pytest.raises(KeyInUseError) as caught:
            threading_result(lambda: journal.claim_key("k", inputs))
        assert caught.value.key == "k"
    finally:
        journal.release_keys([claim])
    again = journal.claim_key("k", inputs)
    journal.release_keys([again])


def threading_result(work: Callable[[], object]) -> object:
    """`work()` run on another thread; its exception raised here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def test_the_creator_is_the_hub_user_else_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keys.HUB_USER_ENV, "  mei \n")
    assert keys.creator() == "mei"
    monkeypatch.setenv(keys.HUB_USER_ENV, "   ")
    monkeypatch.setattr(keys.getpass, "getuser", lambda: " analyst ")
    assert keys.creator() == "analyst"
    monkeypatch.delenv(keys.HUB_USER_ENV)
    assert keys.creator() == "analyst"
    monkeypatch.setattr(keys.getpass, "getuser", lambda: "  ")
    assert keys.creator() is None


def test_no_creator_is_guessed_when_the_login_name_cannot_be_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_login_name() -> str:
        raise OSError("no login name")

    monkeypatch.delenv(keys.HUB_USER_ENV, raising=False)
    monkeypatch.setattr(keys.getpass, "getuser", no_login_name)
    assert keys.creator() is None
