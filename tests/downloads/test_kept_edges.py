"""Kept results at their edges: the exact cap, other suffixes, newer bytes, the journal's record.

Gaps found by mutation testing (`make mutate`): each test names the behaviour
that a changed line of `_kept.py` or `_written.py` would break.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook import KittaClient, _kept
from kitta_notebook._fetch import FetchLimits
from kitta_notebook._kept import (
    KEEP_ENV,
    KEEP_MAX_ENV,
    enforce_keep_cap,
    ensure_kept,
    keep_bytes,
    keep_finished,
    keep_folder,
    keep_max_bytes,
    kept_path,
)
from kitta_notebook._written import KEPT, forget, intact, remember
from kitta_notebook.errors import DownloadError, ValidationError
from tests.downloads.download_helpers import finished_task
from tests.downloads.media_host import OK_BODY, MediaHost


def client_keeping(folder: Path | bool | None, *, journal: bool = False) -> KittaClient:
    client = KittaClient("tok-kept-edges", base_url="http://127.0.0.1:9/api", journal=journal)
    client._config.keep_results = folder if not isinstance(folder, Path) else str(folder)
    return client


def test_a_result_exactly_the_cap_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEEP_MAX_ENV, str(len(OK_BODY)))
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, "http://127.0.0.1:9/r.mp4", "lip_task_exact")
    path = keep_bytes(client, task, OK_BODY)
    assert path is not None and path.read_bytes() == OK_BODY


def test_too_large_says_by_how_much_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(KEEP_MAX_ENV, "1000")
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, "http://127.0.0.1:9/r.mp4", "lip_task_big")
    with caplog.at_level(logging.WARNING, logger="kitta_notebook"):
        assert keep_bytes(client, task, OK_BODY) is None
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("the result of lip_task_big was not kept: ")
    assert f"It is {len(OK_BODY):,} bytes, more than {KEEP_MAX_ENV} (1,000 bytes)" in said
    assert said.endswith("The card and download() still fetch it from its link.")
    monkeypatch.setenv(KEEP_MAX_ENV, "0")  # nothing may be kept: the size does not matter
    with pytest.raises(DownloadError) as caught:
        ensure_kept(client, task)
    assert str(caught.value).startswith(f"It is more than {KEEP_MAX_ENV} (0 bytes) allows")
    assert caught.value.reason == "too_large"


def test_a_kept_copy_keeps_the_links_suffix_and_is_found_again(tmp_path: Path) -> None:
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, "http://127.0.0.1:9/result.webm?sig=1", "lip_task_webm")
    path = keep_bytes(client, task, OK_BODY)
    assert path is not None and path.suffix == ".webm"
    assert kept_path(client, task) == path


def test_newer_bytes_of_a_result_replace_its_kept_copy(tmp_path: Path) -> None:
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, "http://127.0.0.1:9/r.mp4", "lip_task_newer")
    first = keep_bytes(client, task, OK_BODY)
    newer = OK_BODY[:-3] + b"new"
    assert keep_bytes(client, task, newer) == first and first is not None
    assert first.read_bytes() == newer and intact(first)


def test_nothing_is_kept_without_a_link_or_with_keeping_off(tmp_path: Path) -> None:
    on = client_keeping(tmp_path / "kept")
    no_link = finished_task(on, "http://127.0.0.1:9/r.mp4", "lip_task_nolink")
    no_link.result_video_url = None
    assert keep_bytes(on, no_link, OK_BODY) is None
    off = client_keeping(False)
    assert keep_bytes(off, finished_task(off, "http://127.0.0.1:9/r.mp4"), OK_BODY) is None
    assert not (tmp_path / "kept").exists()


def test_a_users_file_under_the_kept_name_is_named_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, "http://127.0.0.1:9/r.mp4", "lip_task_theirs")
    path = keep_bytes(client, task, OK_BODY)
    assert path is not None
    forget(path)  # now a file the toolkit does not know: the user's
    with caplog.at_level(logging.WARNING, logger="kitta_notebook"):
        assert keep_bytes(client, task, OK_BODY[:-1] + b"!") is None
    (said,) = [r.getMessage() for r in caplog.records]
    assert str(path) in said and said.endswith("it was left untouched.")
    assert path.read_bytes() == OK_BODY


def test_a_forgotten_file_is_no_longer_ours(tmp_path: Path) -> None:
    """`forget` drops the record and this process's cached verdict, for that file only."""
    ours, other = tmp_path / "a.mp4", tmp_path / "b.mp4"
    for path in (ours, other):
        path.write_bytes(OK_BODY)
        remember(path, KEPT, len(OK_BODY), hashlib.sha256(OK_BODY).hexdigest())
        assert intact(path)
    forget(ours)
    assert not intact(ours) and intact(other)


@pytest.mark.parametrize("way", ["sync", "async"])
def test_a_result_that_cannot_be_kept_after_a_wait_is_logged_not_raised(
    host: MediaHost, tmp_path: Path, caplog: pytest.LogCaptureFixture, way: str
) -> None:
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("login.mp4"), "lip_task_login_page")
    with caplog.at_level(logging.WARNING, logger="kitta_notebook"):
        if way == "sync":
            keep_finished(client, task)
        else:
            asyncio.run(client.as_async().lip_sync.wait(task))
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("could not keep the result of lip_task_login_page: ")
    assert "HTML page" in said
    assert not (tmp_path / "kept").exists() or list((tmp_path / "kept").iterdir()) == []


def test_the_cap_forgets_the_journals_record_of_a_removed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_keeping(tmp_path / "kept", journal=True)
    journal = client.journal
    assert journal is not None
    tasks = [finished_task(client, "http://127.0.0.1:9/r.mp4", f"lip_task_j{i}") for i in (0, 1)]
    paths = [keep_bytes(client, task, OK_BODY) for task in tasks]
    assert all(journal.kept(task.task_id) is not None for task in tasks)
    # The journal's record of task 1 names another file (kept elsewhere later): it stays.
    elsewhere = tmp_path / "elsewhere.mp4"
    journal.record_kept("lip_task_j1", str(elsewhere), len(OK_BODY), "0" * 64)
    monkeypatch.setenv(KEEP_MAX_ENV, "0")
    assert sorted(enforce_keep_cap(client)) == sorted(p for p in paths if p is not None)
    assert journal.kept("lip_task_j0") is None
    recorded = journal.kept("lip_task_j1")
    assert recorded is not None and recorded.path == str(elsewhere)


@pytest.mark.parametrize(
    ("value", "on"),
    [
        *[("1", True), ("true", True), (" YES ", True), ("on", True)],
        *[("0", False), ("False", False), ("no", False), ("off", False), ("", False)],
    ],
)
def test_keep_results_in_the_environment_reads_yes_and_no(
    monkeypatch: pytest.MonkeyPatch, value: str, on: bool
) -> None:
    monkeypatch.setenv(KEEP_ENV, value)
    found = keep_folder(client_keeping(None))
    assert found == (Path(os.environ["KITTA_HOME"]) / "results" if on else None)


def test_a_kept_folder_may_start_at_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keep_folder(client_keeping("~/kept")) == tmp_path / "kept"  # type: ignore[arg-type]
    monkeypatch.setenv(KEEP_ENV, " ~/env-kept ")
    assert keep_folder(client_keeping(None)) == tmp_path / "env-kept"


@pytest.mark.parametrize(
    ("value", "cap"), [(None, 2 * 1024**3), ("", 2 * 1024**3), (" 4096 ", 4096), ("0", 0)]
)
def test_the_keep_cap_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, cap: int
) -> None:
    if value is None:
        monkeypatch.delenv(KEEP_MAX_ENV, raising=False)
    else:
        monkeypatch.setenv(KEEP_MAX_ENV, value)
    assert keep_max_bytes() == cap


def test_a_negative_keep_cap_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEEP_MAX_ENV, "-1")
    with pytest.raises(ValidationError) as caught:
        keep_max_bytes()
    assert caught.value.fields == {KEEP_MAX_ENV: "It must be 0 or more bytes."}
    monkeypatch.setenv(KEEP_MAX_ENV, "2 GB")
    with pytest.raises(ValidationError) as caught:
        keep_max_bytes()
    assert "'2 GB'" in caught.value.fields[KEEP_MAX_ENV]


def test_two_services_never_share_a_kept_copy(tmp_path: Path) -> None:
    """The kept name holds the task id (cut short) and a tag of the service it came from."""
    here, there = client_keeping(tmp_path), client_keeping(tmp_path)
    there._config.base_url = "http://127.0.0.2:9/api"
    long_id = "lip_task_" + "x" * 200
    names = [
        keep_bytes(client, finished_task(client, "http://127.0.0.1:9/r.mp4", long_id), OK_BODY)
        for client in (here, there)
    ]
    assert names[0] is not None and names[1] is not None and names[0] != names[1]
    for name in names:
        stem, tag = name.stem.rsplit("-", 1)  # type: ignore[union-attr]
        assert stem == long_id[:80] and len(tag) == 8


def test_a_task_id_that_is_not_valid_unicode_is_kept_under_its_own_name(tmp_path: Path) -> None:
    """A server may send a lone surrogate in a JSON id: its result is still kept, and
    two such ids never share a kept copy."""
    client = client_keeping(tmp_path)
    paths = [
        keep_bytes(client, finished_task(client, "http://127.0.0.1:9/r.mp4", task_id), OK_BODY)
        for task_id in ("lip_task_\udc80", "lip_task_\udc81")
    ]
    assert paths[0] is not None and paths[1] is not None and paths[0] != paths[1]
    assert all(path.read_bytes() == OK_BODY for path in paths)  # type: ignore[union-attr]


def test_a_kept_folder_is_made_with_its_parents_or_named_in_the_error(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_keeping(tmp_path / "a" / "b" / "kept")
    path = ensure_kept(client, finished_task(client, host.url("ok.mp4"), "lip_task_deep"))
    assert path is not None and path.parent == tmp_path / "a" / "b" / "kept"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    client = client_keeping(blocker / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_blocked")
    with pytest.raises(DownloadError) as caught:
        ensure_kept(client, task)
    said = str(caught.value)
    assert str(blocker / "kept") in said and "(Not a directory)" in said
    assert said.endswith("set KITTA_KEEP_RESULTS to a folder you can write to, or to 0.")
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: (_ for _ in ()).throw(PermissionError()))
    with pytest.raises(DownloadError, match=r"\(PermissionError\)"):
        ensure_kept(client_keeping(tmp_path / "new"), task)


def test_only_a_succeeded_task_with_a_link_is_fetched_for_keeping(
    host: MediaHost, tmp_path: Path
) -> None:
    client = client_keeping(tmp_path / "kept")
    failed = finished_task(client, host.url("ok.mp4"), "lip_task_failed")
    failed.status = "failed"
    no_link = finished_task(client, host.url("ok.mp4"), "lip_task_no_link")
    no_link.result_video_url = None
    before = len(host.requests)
    assert ensure_kept(client, failed) is None and ensure_kept(client, no_link) is None
    assert len(host.requests) == before and not (tmp_path / "kept").exists()


def test_a_page_that_is_not_a_video_keeps_its_reason_under_a_keep_cap(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEEP_MAX_ENV, "1000000")
    client = client_keeping(tmp_path / "kept")
    with pytest.raises(DownloadError) as caught:
        ensure_kept(client, finished_task(client, host.url("login.mp4"), "lip_task_page"))
    assert caught.value.reason == "not_media"


@pytest.mark.parametrize("way", ["ensure_kept", "download"])
def test_a_users_file_under_the_kept_name_is_never_replaced(
    host: MediaHost, tmp_path: Path, caplog: pytest.LogCaptureFixture, way: str
) -> None:
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_mine")
    first = ensure_kept(client, task)
    assert first is not None
    forget(first)
    first.write_bytes(b"the user's own video")  # the same name, now the user's file
    with caplog.at_level(logging.WARNING, logger="kitta_notebook"):
        if way == "ensure_kept":
            with pytest.raises(DownloadError) as caught:
                ensure_kept(client, task)
            assert str(first) in str(caught.value)
        else:
            assert task.download(tmp_path / "mine.mp4").read_bytes() == OK_BODY
            (said,) = [r.getMessage() for r in caplog.records]
            assert said.startswith("the result of lip_task_mine was not kept: ")
            assert str(first) in said
    assert first.read_bytes() == b"the user's own video"


def test_where_hard_links_are_impossible_a_download_is_kept_as_a_copy(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another disk (or a file system without hard links) gets a copy of the download."""

    def no_links(source: object, target: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_copy")
    saved = task.download(tmp_path / "mine.mp4")
    kept = kept_path(client, task)
    assert kept is not None and kept.read_bytes() == saved.read_bytes() == OK_BODY
    assert kept.stat().st_ino != saved.stat().st_ino
    assert [p.name for p in (tmp_path / "kept").iterdir()] == [kept.name]  # no temporary file


def keep_three(client: KittaClient) -> list[Path]:
    paths = []
    for i in range(3):
        task = finished_task(client, "http://127.0.0.1:9/r.mp4", f"lip_task_c{i}")
        path = keep_bytes(client, task, OK_BODY)
        assert path is not None
        paths.append(path)
    return paths


@pytest.mark.parametrize(("fit", "removed"), [(3, 0), (2, 1), (1, 2)])
def test_the_cap_removes_just_enough_of_the_oldest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fit: int, removed: int
) -> None:
    client = client_keeping(tmp_path / "kept")
    paths = keep_three(client)
    monkeypatch.setenv(KEEP_MAX_ENV, str(fit * len(OK_BODY)))  # exactly `fit` results
    assert enforce_keep_cap(client) == paths[:removed]
    assert sorted(tmp_path.joinpath("kept").iterdir()) == sorted(paths[removed:])


def test_a_kept_copy_someone_changed_is_dropped_from_the_journal_and_left_alone(
    tmp_path: Path,
) -> None:
    client = client_keeping(tmp_path / "kept", journal=True)
    journal = client.journal
    assert journal is not None
    paths = keep_three(client)
    paths[0].write_bytes(b"edited by hand")
    assert enforce_keep_cap(client) == []
    assert journal.kept("lip_task_c0") is None and journal.kept("lip_task_c1") is not None
    assert paths[0].read_bytes() == b"edited by hand"


def test_the_cap_with_keeping_off_removes_nothing(tmp_path: Path) -> None:
    assert enforce_keep_cap(client_keeping(False)) == []


def test_a_kept_copy_is_found_through_the_journal_after_the_folder_moved(tmp_path: Path) -> None:
    client = client_keeping(tmp_path / "old", journal=True)
    journal = client.journal
    assert journal is not None
    task = finished_task(client, "http://127.0.0.1:9/r.mp4", "lip_task_moved")
    path = keep_bytes(client, task, OK_BODY)
    client._config.keep_results = str(tmp_path / "new")
    assert path is not None and kept_path(client, task) == path
    assert kept_path(None, task) is None  # a task without a client has no kept copy
    journal.record_kept("lip_task_moved", str(path), len(OK_BODY), "0" * 64)
    assert kept_path(client, task) is None  # the journal recorded other bytes: not played


def test_a_keep_cap_at_the_download_limit_names_the_download_limit(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a keep cap below the download limit is blamed: raising a cap that equals the
    limit would not let the result in."""
    limit = len(OK_BODY) - 1
    monkeypatch.setattr(_kept, "DEFAULT_MAX_DOWNLOAD_BYTES", limit)
    client = client_keeping(tmp_path / "kept")
    for cap, blamed in ((limit, False), (limit - 1, True)):
        monkeypatch.setenv(KEEP_MAX_ENV, str(cap))
        with pytest.raises(DownloadError) as caught:
            ensure_kept(client, finished_task(client, host.url("ok.mp4"), f"lip_task_{cap}"))
        assert caught.value.reason == "too_large"
        assert (KEEP_MAX_ENV in str(caught.value)) is blamed
        assert not list((tmp_path / "kept").iterdir())


def test_a_result_that_cannot_be_written_names_the_file_and_the_systems_reason(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills up while the result arrives: the error names the file and the
    system's reason, or the kind of error when the system gave none."""
    limits = FetchLimits(deadline=30, max_bytes=10_000_000)
    target = tmp_path / "r.mp4"
    for failure, reason in (
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), os.strerror(errno.ENOSPC)),
        (OSError("the quota is used up"), "OSError"),
    ):

        def failing_write(path: Path, failure: OSError = failure) -> Any:
            raise failure

        monkeypatch.setattr(_kept, "atomic_write", failing_write)
        with pytest.raises(DownloadError) as caught:
            _kept.save(host.url("ok.mp4"), target, limits)
        assert str(caught.value) == f"Cannot write {target} ({reason})."
        assert not target.exists()
