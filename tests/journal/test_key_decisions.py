"""What a key's journal entries decide: whose process holds it, and which inputs made it.

Gaps found by mutation testing (`make mutate`) in `history/keys.py`: each test names
the behaviour it protects. Real processes for "another kernel of this machine".
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kitta_notebook.history import keys
from kitta_notebook.history.keys import HOST, SESSION, Owner, differences, pid_alive, stored_inputs

SHA = "ab" * 32


@pytest.fixture
def other_kernel() -> Iterator[subprocess.Popen[bytes]]:
    """Another live process of this machine."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    yield proc
    proc.kill()
    proc.wait(timeout=30)


def test_a_live_process_is_alive_and_left_alive_by_the_check(
    other_kernel: subprocess.Popen[bytes],
) -> None:
    assert pid_alive(other_kernel.pid) and pid_alive(os.getpid())
    assert other_kernel.poll() is None  # asking sent it no signal
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
