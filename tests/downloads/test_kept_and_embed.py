"""Kept results and the card's embed fetch, against the hostile media host on 127.0.0.1.

A card shown in a cell never blocks longer than its budget; a kept copy plays
without any network; a refused link reads "link expired" with the way out.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from kitta_notebook import KittaClient
from kitta_notebook._kept import (
    KEEP_ENV,
    KEEP_MAX_ENV,
    enforce_keep_cap,
    keep_folder,
    kept_bytes,
    kept_path,
    prefer_keeping_results,
)
from kitta_notebook.display import video
from kitta_notebook.display.video import (
    EMBED_BUDGET_SECONDS,
    async_fetch_for_embed,
    plan_video,
    video_html,
)
from tests.downloads.download_helpers import finished_task
from tests.downloads.media_host import OK_BODY, MediaHost


def client_keeping(folder: Path | bool | None) -> KittaClient:
    client = KittaClient("tok-kept", base_url="http://127.0.0.1:9/api", journal=False)
    client._config.keep_results = folder if not isinstance(folder, Path) else str(folder)
    return client


@pytest.fixture(autouse=True)
def _empty_embed_cache() -> None:
    video._cache.clear()


# --- the card's budget -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trickle.mp4", "stall.mp4"])
def test_a_slow_host_never_holds_a_card_past_its_budget(
    host: MediaHost, tmp_path: Path, name: str
) -> None:
    task = finished_task(client_keeping(False), host.url(name))
    started = time.monotonic()
    markup = video_html(task, embed=True)
    took = time.monotonic() - started
    assert took < EMBED_BUDGET_SECONDS + 1.5, took
    assert "The video host is slow" in markup and "task.download()" in markup
    assert f'href="{host.url(name)}"' in markup and "<video" not in markup


def test_a_refused_link_without_a_kept_copy_reads_link_expired(host: MediaHost) -> None:
    task = finished_task(client_keeping(False), host.url("expired.mp4"))
    markup = video_html(task, embed=True)
    assert "Link expired" in markup and "task.refresh()" in markup and "<video" not in markup
    zh = video_html(task, embed=True, lang="zh")
    assert "链接已过期" in zh


def test_a_login_page_is_not_embedded_as_a_video(host: MediaHost) -> None:
    markup = video_html(finished_task(client_keeping(False), host.url("login.mp4")), embed=True)
    assert "<video" not in markup and "HTML page" in markup


# --- kept results -------------------------------------------------------------------------------


def test_a_shown_result_is_kept_and_then_plays_without_the_network(
    host: MediaHost, tmp_path: Path
) -> None:
    kept_dir = tmp_path / "kept"
    client = client_keeping(kept_dir)
    first = finished_task(client, host.url("ok.mp4"), "lip_task_keep")
    assert "data:video/mp4;base64," in video_html(first, embed=True)
    kept = kept_path(client, first)
    assert kept is not None and kept.parent == kept_dir and kept.read_bytes() == OK_BODY

    # Later (after a restart, say) the link has expired: the kept copy still plays.
    video._cache.clear()
    before = len(host.requests)
    later = finished_task(client, host.url("expired.mp4"), "lip_task_keep")
    markup = video_html(later, embed=True)
    assert "data:video/mp4;base64," in markup and "Link expired" not in markup
    assert len(host.requests) == before  # no network at all


def test_a_kept_copy_is_embedded_even_for_a_public_link(host: MediaHost, tmp_path: Path) -> None:
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_public")
    task.download(tmp_path / "out")
    public = finished_task(
        client, "https://cdn.example.com/r/lip_task_public.mp4", "lip_task_public"
    )
    assert plan_video(public).action == "embed"
    assert plan_video(public, embed=False).action == "link"
    assert "data:video/mp4;base64," in video_html(public)


def test_a_download_is_kept_and_nothing_when_keeping_is_off(
    host: MediaHost, tmp_path: Path
) -> None:
    on = client_keeping(tmp_path / "kept")
    task = finished_task(on, host.url("ok.mp4"), "lip_task_dl_keep")
    task.download(tmp_path / "mine.mp4")
    assert next(p.name for p in (tmp_path / "kept").iterdir()).startswith("lip_task_dl_keep-")
    off = client_keeping(False)
    finished_task(off, host.url("ok.mp4"), "lip_task_nokeep").download(tmp_path / "other.mp4")
    assert keep_folder(off) is None
    assert len(list((tmp_path / "kept").iterdir())) == 1


def test_async_embed_keeps_too(host: MediaHost, tmp_path: Path) -> None:
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client.as_async(), host.url("ok.mp4"), "lip_task_async_keep")

    async def body() -> None:
        data, problem = await async_fetch_for_embed(task, host.url("ok.mp4"), 10_000_000)
        assert data == OK_BODY and problem is None

    asyncio.run(body())
    assert kept_path(client, task) is not None


def test_disk_use_is_capped_oldest_first(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept_dir = tmp_path / "kept"
    client = client_keeping(kept_dir)
    monkeypatch.setenv(KEEP_MAX_ENV, str(int(len(OK_BODY) * 2.5)))
    names = []
    for i in range(4):
        task = finished_task(client, host.url("ok.mp4"), f"lip_task_cap_{i}")
        task.download(tmp_path / "out")
        kept = kept_path(client, task)
        assert kept is not None
        os.utime(kept, (time.time() - 100 + i, time.time() - 100 + i))  # a clear age order
        names.append(kept.name)
    remaining = sorted(p.name for p in kept_dir.iterdir())
    assert remaining == sorted(names[2:]), remaining
    assert sum(p.stat().st_size for p in kept_dir.iterdir()) == 2 * len(OK_BODY)
    monkeypatch.setenv(KEEP_MAX_ENV, "0")
    assert len(enforce_keep_cap(client)) == 2 and list(kept_dir.iterdir()) == []


def _three_kept(
    host: MediaHost, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[KittaClient, list[Path]]:
    """Three kept results of one size, oldest first, kept with no cap; then a cap with
    room for one, for the test's own `enforce_keep_cap` call."""
    monkeypatch.setenv(KEEP_MAX_ENV, str(100 * len(OK_BODY)))
    client = client_keeping(tmp_path / "kept")
    paths = []
    for i in range(3):
        task = finished_task(client, host.url("ok.mp4"), f"lip_task_{name}_{i}")
        task.download(tmp_path / "out")
        kept = kept_path(client, task)
        assert isinstance(kept, Path)
        os.utime(kept, (time.time() - 100 + i, time.time() - 100 + i))  # a clear age order
        paths.append(kept)
    monkeypatch.setenv(KEEP_MAX_ENV, str(len(OK_BODY)))
    return client, paths


def test_the_cap_spares_the_result_it_is_told_to(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result a cell is showing stays, even when it is the oldest: the others go."""
    client, (oldest, middle, newest) = _three_kept(host, tmp_path, "spare", monkeypatch)
    assert enforce_keep_cap(client, protect=oldest) == [middle, newest]
    assert list((tmp_path / "kept").iterdir()) == [oldest]


def test_a_kept_file_that_cannot_be_removed_does_not_stop_the_cap(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the system will not remove (on Windows, one a player has open) is left and
    the next oldest go instead."""
    client, (oldest, middle, newest) = _three_kept(host, tmp_path, "busy", monkeypatch)
    unlink = Path.unlink

    def refusing(path: Path, missing_ok: bool = False) -> None:
        if path == oldest:
            raise PermissionError(13, "The file is in use by another process", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refusing)
    assert enforce_keep_cap(client) == [middle, newest]
    assert oldest.exists()


def test_a_kept_file_removed_by_someone_else_meanwhile_still_counts_as_gone(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removed between the cap's check and its own removal: the space is free all the
    same, so no other result is removed for it."""
    client, (oldest, middle, newest) = _three_kept(host, tmp_path, "gone", monkeypatch)
    unlink = Path.unlink

    def raced(path: Path, missing_ok: bool = False) -> None:
        if path == oldest and path.exists():
            unlink(path)  # someone else's removal, just before the cap's own
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", raced)
    assert enforce_keep_cap(client) == [oldest, middle]
    assert newest.exists()


def test_keep_settings_from_the_client_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(os.environ["KITTA_HOME"])
    monkeypatch.delenv(KEEP_ENV, raising=False)
    assert keep_folder(client_keeping(None)) is None  # off unless asked
    assert keep_folder(client_keeping(True)) == home / "results"
    assert keep_folder(client_keeping(tmp_path)) == tmp_path
    monkeypatch.setenv(KEEP_ENV, "1")
    assert keep_folder(client_keeping(None)) == home / "results"
    assert keep_folder(client_keeping(False)) is None  # the client's own choice wins
    monkeypatch.setenv(KEEP_ENV, str(tmp_path / "env-folder"))
    assert keep_folder(client_keeping(None)) == tmp_path / "env-folder"

    # The embedded sandbox keeps by default, unless the user said otherwise.
    monkeypatch.delenv(KEEP_ENV)
    embedded = client_keeping(None)
    prefer_keeping_results(embedded)
    assert keep_folder(embedded) == home / "results"
    monkeypatch.setenv(KEEP_ENV, "0")
    embedded = client_keeping(None)
    prefer_keeping_results(embedded)
    assert keep_folder(embedded) is None
    explicit = client_keeping(False)
    monkeypatch.delenv(KEEP_ENV)
    prefer_keeping_results(explicit)
    assert keep_folder(explicit) is None


def test_a_bad_keep_cap_is_a_validation_error(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitta_notebook._kept import keep_max_bytes
    from kitta_notebook.errors import ValidationError

    monkeypatch.setenv(KEEP_MAX_ENV, "lots")
    with pytest.raises(ValidationError, match="whole number of bytes"):
        keep_max_bytes()


def test_kept_results_are_recorded_in_the_journal_when_it_can(tmp_path: Path) -> None:
    import hashlib
    from types import SimpleNamespace

    from kitta_notebook._kept import keep_bytes

    class FakeJournal:
        def __init__(self) -> None:
            self.records: dict[str, tuple[str, int, str]] = {}

        def record_kept(self, task_id: str, path: str, size: int, sha256: str) -> None:
            self.records[task_id] = (path, size, sha256)

        def kept(self, task_id: str) -> object:
            found = self.records.get(task_id)
            if found is None:
                return None
            return SimpleNamespace(task_id=task_id, path=found[0], sha256=found[2])

    journal = FakeJournal()
    client = SimpleNamespace(
        _config=SimpleNamespace(keep_results=str(tmp_path / "k"), origin="http://x"),
        journal=journal,
    )
    task = finished_task(client_keeping(False), "http://127.0.0.1:9/r.mp4", "lip_task_j")
    path = keep_bytes(client, task, OK_BODY)
    assert path is not None
    assert journal.records["lip_task_j"] == (
        str(path.absolute()),
        len(OK_BODY),
        hashlib.sha256(OK_BODY).hexdigest(),
    )
    assert kept_path(client, task) == path


def test_ensure_kept_fetches_once_and_only_media(host: MediaHost, tmp_path: Path) -> None:
    from kitta_notebook._kept import ensure_kept
    from kitta_notebook.errors import DownloadError

    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_ensure")
    first = ensure_kept(client, task)
    assert first is not None and first.read_bytes() == OK_BODY
    before = len(host.requests)
    assert ensure_kept(client, task) == first and len(host.requests) == before
    with pytest.raises(DownloadError):
        ensure_kept(client, finished_task(client, host.url("login.mp4"), "lip_task_login"))
    assert [p.name for p in (tmp_path / "kept").iterdir()] == [first.name]  # no partial file
    assert ensure_kept(client_keeping(False), task) is None


# --- the user's files in the kept folder (issue 17, rule 1) ------------------------------------


def users_files(folder: Path) -> dict[str, bytes]:
    """A year-old holiday video and a thesis, already in the folder the user chose."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"family-holiday.mov": b"\x00\x00\x00\x14ftypqt  " + b"h" * 9000, "thesis.docx": b"PK"}
    year_ago = time.time() - 365 * 86400
    for name, data in files.items():
        (folder / name).write_bytes(data)
        os.utime(folder / name, (year_ago, year_ago))
    return files


def test_the_cap_removes_only_kept_results_never_the_users_files(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = tmp_path / "Videos"
    theirs = users_files(videos)
    client = client_keeping(videos)
    cap = int(len(OK_BODY) * 2.5)
    monkeypatch.setenv(KEEP_MAX_ENV, str(cap))
    for i in range(4):
        finished_task(client, host.url("ok.mp4"), f"lip_task_home_{i}").download(tmp_path / "out")
    for name, data in theirs.items():
        assert (videos / name).read_bytes() == data, f"{name} was touched"
    kept = sorted(p.name for p in videos.iterdir() if p.name not in theirs)
    assert [name.split("-")[0] for name in kept] == ["lip_task_home_2", "lip_task_home_3"]
    assert sum((videos / name).stat().st_size for name in kept) == 2 * len(OK_BODY) <= cap
    monkeypatch.setenv(KEEP_MAX_ENV, "0")
    assert len(enforce_keep_cap(client)) == 2
    assert sorted(p.name for p in videos.iterdir()) == sorted(theirs)


def test_a_result_larger_than_the_cap_is_not_kept_and_the_user_is_told(
    host: MediaHost,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kitta_notebook._kept import ensure_kept, keep_bytes
    from kitta_notebook.errors import DownloadError

    kept_dir = tmp_path / "kept"
    client = client_keeping(kept_dir)
    monkeypatch.setenv(KEEP_MAX_ENV, str(len(OK_BODY) - 1))
    task = finished_task(client, host.url("ok.mp4"), "lip_task_huge")
    with caplog.at_level("WARNING", logger="kitta_notebook"):
        assert task.download(tmp_path / "mine.mp4").read_bytes() == OK_BODY  # still downloaded
        assert keep_bytes(client, task, OK_BODY) is None
    assert "lip_task_huge was not kept" in caplog.text and KEEP_MAX_ENV in caplog.text
    with pytest.raises(DownloadError, match=KEEP_MAX_ENV) as caught:
        ensure_kept(client, task)
    assert caught.value.reason == "too_large"
    assert not kept_dir.exists() or list(kept_dir.iterdir()) == []
    assert kept_path(client, task) is None


def test_a_replaced_kept_copy_is_never_played_nor_overwritten(
    host: MediaHost, tmp_path: Path
) -> None:
    """A kept file that no longer holds what was kept is the user's: the link is used (defect 8)."""
    import base64

    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_swapped")
    assert "data:video/mp4;base64," in video_html(task, embed=True)
    kept = kept_path(client, task)
    assert kept is not None
    swapped = OK_BODY[:-4] + b"EVIL"  # same size, other bytes
    kept.write_bytes(swapped)
    video._cache.clear()
    assert kept_path(client, task) is None
    expired = finished_task(client, host.url("expired.mp4"), "lip_task_swapped")
    markup = video_html(expired, embed=True)
    assert "Link expired" in markup and base64.b64encode(swapped).decode() not in markup
    shown = video_html(task, embed=True)  # fetched again from its link ...
    assert base64.b64encode(OK_BODY).decode() in shown
    assert kept.read_bytes() == swapped  # ... and the changed file is not written over


def test_a_kept_copy_is_hashed_once_per_size_and_mtime(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitta_notebook import _written

    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_fast")
    task.download(tmp_path / "out")
    hashed: list[Path] = []
    real = _written.sha256_of
    monkeypatch.setattr(_written, "sha256_of", lambda path: hashed.append(path) or real(path))
    _written._verified.clear()  # as in a new kernel
    for _ in range(5):
        assert kept_path(client, task) is not None
    assert hashed == []  # size and mtime as recorded: no hashing at all
    kept = kept_path(client, task)
    assert kept is not None
    os.utime(kept, (time.time() - 50, time.time() - 50))  # same bytes, another mtime
    for _ in range(5):
        assert kept_path(client, task) == kept
    assert hashed == [kept]


def test_a_kept_copy_is_embedded_only_up_to_the_size_asked(host: MediaHost, tmp_path: Path) -> None:
    """A card embeds a kept file of at most `max_bytes` (its own budget), not one byte more."""
    client = client_keeping(tmp_path / "kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_embed_size")
    task.download(tmp_path / "out")
    assert kept_bytes(client, task, len(OK_BODY), 10.0) == OK_BODY
    assert kept_bytes(client, task, len(OK_BODY) - 1, 10.0) is None
