"""The index of files the toolkit wrote: one spelling per file, in doubt the file is the user's.

Gaps found by mutation testing (`make mutate`) in `_written.py`.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from kitta_notebook import _written
from kitta_notebook._written import KEPT, atomic_write, conflicts, intact, remember, written_in
from kitta_notebook.errors import DownloadError
from tests.downloads.media_host import OK_BODY

SHA = hashlib.sha256(OK_BODY).hexdigest()


def ours(path: Path, data: bytes = OK_BODY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    remember(path, KEPT, len(data), hashlib.sha256(data).hexdigest(), "lip_task")
    return path


def test_a_file_is_ours_under_any_spelling_of_its_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    link = tmp_path / "link"
    real.mkdir()
    link.symlink_to(real, target_is_directory=True)
    ours(link / "a.mp4")
    _written._verified.clear()  # a new process: only the index on disk knows
    assert intact(real / "a.mp4") and intact(tmp_path / "real" / ".." / "link" / "a.mp4")
    assert [w.path.name for w in written_in(real, KEPT)] == ["a.mp4"]


def test_the_index_lives_in_a_new_kitta_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITTA_HOME", str(tmp_path / "a" / "b" / "home"))
    path = ours(tmp_path / "x.mp4")
    _written._verified.clear()
    assert intact(path) and (tmp_path / "a" / "b" / "home" / _written.INDEX_NAME).is_file()


def test_when_the_index_cannot_be_read_every_file_is_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ours(tmp_path / "x.mp4")
    _written._verified.clear()
    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder")
    monkeypatch.setenv("KITTA_HOME", str(home))
    assert not intact(path) and conflicts([path]) == [path]
    with pytest.raises(OSError):
        remember(path, KEPT, len(OK_BODY), SHA)


def test_a_file_that_changed_size_or_bytes_is_no_longer_ours(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept, grown, swapped, touched = (
        ours(tmp_path / f"{n}.mp4") for n in ("kept", "grown", "swapped", "touched")
    )
    grown.write_bytes(OK_BODY + b"more")
    swapped.write_bytes(OK_BODY[:-1] + b"!")  # same size, other bytes, new mtime
    os.utime(swapped, ns=(2, 2))
    os.utime(touched, ns=(1, 1))  # only the mtime moved: the bytes are checked, still ours
    _written._verified.clear()
    with caplog.at_level("WARNING", logger="kitta_notebook"):
        assert not intact(grown) and not intact(swapped) and intact(touched)
    assert [r.getMessage() for r in caplog.records] == [
        f"{swapped} changed since kitta-notebook wrote it; it is left alone"
    ]
    assert intact(touched, SHA) and not intact(touched, "0" * 64)
    _written._verified.clear()
    assert intact(kept, SHA) and not intact(kept, "0" * 64)  # unchanged: the recorded sha256


def test_a_folder_or_a_dangling_link_is_never_ours(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    dangling = tmp_path / "gone.mp4"
    dangling.symlink_to(tmp_path / "nowhere.mp4")
    missing = tmp_path / "missing.mp4"
    assert not intact(folder) and not intact(dangling) and not intact(missing)
    assert conflicts([folder, dangling, missing]) == [folder, dangling]


def test_written_in_lists_one_folder_oldest_first(tmp_path: Path) -> None:
    first = ours(tmp_path / "kept" / "b.mp4")
    second = ours(tmp_path / "kept" / "a.mp4")
    ours(tmp_path / "kept" / "sub" / "c.mp4")  # a subfolder is another folder
    ours(tmp_path / "kept2" / "d.mp4")  # so is a folder whose name starts the same
    found = written_in(tmp_path / "kept", KEPT)
    assert [w.path for w in found] == [first, second]
    assert found[0].task_id == "lip_task" and found[0].size == len(OK_BODY)
    assert found[0].kind == KEPT
    assert found[0].sha256 == SHA and found[0].written_ts <= found[1].written_ts
    assert written_in(tmp_path / "kept", "export") == []


def test_a_task_id_or_name_that_is_not_valid_utf8_is_recorded(tmp_path: Path) -> None:
    """A lone surrogate (a task id from a JSON escape, a file name of undecodable bytes)
    is recorded like any other, never a raw UnicodeEncodeError."""
    target = tmp_path / "lip_\ud800.mp4"
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(100)
    try:
        target.write_bytes(data)
    except UnicodeEncodeError:  # a file system that refuses such names has nothing to record
        target = tmp_path / "plain.mp4"
        target.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    _written.remember(target, "download", len(data), digest, task_id="lip_\ud800")
    assert _written.intact(target, digest)


def test_a_write_into_a_missing_folder_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "result.mp4"
    with pytest.raises(DownloadError) as caught, atomic_write(target):
        pass
    assert str(caught.value) == (
        f"Cannot write in {target.parent} (No such file or directory); "
        "pass a path in a folder you can write to."
    )
    assert list(tmp_path.iterdir()) == []


def test_a_written_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """A result may show a person: other accounts on a shared machine cannot read it."""
    target = tmp_path / "result.mp4"
    with atomic_write(target) as (handle, _):
        handle.write(OK_BODY)
    assert target.read_bytes() == OK_BODY and stat.S_IMODE(target.stat().st_mode) == 0o600
