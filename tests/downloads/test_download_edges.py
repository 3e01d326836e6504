"""Downloads: where the file goes, a task given by id, the refreshed link, the total deadline.

Gaps found by mutation testing (`make mutate`): each test names the behaviour
that a changed line of `_kept.py` would break.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from kitta_notebook import KittaClient, LipSyncTask
from kitta_notebook.errors import DownloadError, ValidationError
from tests.downloads.download_helpers import finished_task
from tests.downloads.media_host import OK_BODY, MediaHost


def offline_client(keep: Path | None = None) -> KittaClient:
    """A client whose API is unreachable: only the media host answers."""
    client = KittaClient("tok-file-mutants", base_url="http://127.0.0.1:9/api", journal=False)
    client._config.keep_results = str(keep) if keep is not None else False
    return client


def test_without_a_path_the_video_lands_in_the_working_folder(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = finished_task(offline_client(), host.url("ok.mp4")).download()
    assert path.resolve() == tmp_path / "lip_task_dl.mp4"
    assert path.read_bytes() == OK_BODY


@pytest.mark.parametrize("separator", ["/", "\\"])
def test_a_path_ending_in_a_separator_is_a_new_folder(
    host: MediaHost, tmp_path: Path, separator: str
) -> None:
    """`download("out/")` (or `out\\` as typed on Windows) means a folder, not a file name."""
    path = finished_task(offline_client(), host.url("ok.mp4")).download(
        str(tmp_path / "out") + separator
    )
    assert path.name == "lip_task_dl.mp4" and path.read_bytes() == OK_BODY
    assert path.parent.parent == tmp_path


def test_missing_folders_on_the_way_are_created(host: MediaHost, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.mp4"
    assert finished_task(offline_client(), host.url("ok.mp4")).download(target) == target
    assert target.read_bytes() == OK_BODY


def test_a_folder_that_cannot_be_made_is_named_with_the_reason(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    task = finished_task(offline_client(), host.url("ok.mp4"))
    with pytest.raises(DownloadError) as caught:
        task.download(blocker / "sub" / "out.mp4")
    assert str(caught.value) == (
        f"Cannot create the folder {blocker / 'sub'} (Not a directory); "
        "pass a path in a folder you can write to."
    )
    # An OS error without a text still says what went wrong.
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: (_ for _ in ()).throw(PermissionError()))
    with pytest.raises(DownloadError, match=r"\(PermissionError\)"):
        task.download(tmp_path / "new" / "out.mp4")


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (True, "above 0"),
        ("10", "above 0"),
        (0, "above 0"),
        (float("nan"), "above 0"),
        (float("inf"), "finite"),
    ],
)
def test_a_bad_timeout_is_refused_naming_the_setting(
    host: MediaHost, tmp_path: Path, bad: object, said: str
) -> None:
    task = finished_task(offline_client(), host.url("ok.mp4"))
    before = len(host.requests)
    with pytest.raises(ValidationError) as caught:
        task.download(tmp_path, timeout=bad)  # type: ignore[arg-type]
    message = caught.value.fields["timeout"]
    assert message.startswith("The timeout must be") and said in message, message
    assert message.endswith("seconds above 0." if said == "above 0" else "seconds.")
    assert len(host.requests) == before and list(tmp_path.iterdir()) == []


def fake_lookup(client: KittaClient, url: str) -> list[str]:
    """Make `client.lip_sync.get(id)` answer a finished task at `url`; the ids asked for."""
    asked: list[str] = []

    def get(task_id: str) -> LipSyncTask:
        asked.append(task_id)
        return finished_task(client, url, task_id)

    async def get_async(task_id: str) -> LipSyncTask:
        asked.append(task_id)
        return finished_task(client.as_async(), url, task_id)

    client.lip_sync.get = get  # type: ignore[method-assign]
    client.as_async().lip_sync.get = get_async  # type: ignore[method-assign]
    return asked


def test_a_task_given_by_id_is_looked_up_then_saved(host: MediaHost, tmp_path: Path) -> None:
    client = offline_client()
    asked = fake_lookup(client, host.url("ok.mp4"))
    path = client.download("lip_task_by_id", tmp_path)
    assert path == tmp_path / "lip_task_by_id.mp4" and path.read_bytes() == OK_BODY
    async_path = asyncio.run(client.as_async().download("lip_task_by_id2", tmp_path))
    assert async_path == tmp_path / "lip_task_by_id2.mp4"
    assert async_path.read_bytes() == OK_BODY
    assert asked == ["lip_task_by_id", "lip_task_by_id2"]


def test_an_async_download_refreshes_an_expired_link_once(host: MediaHost, tmp_path: Path) -> None:
    client = offline_client()
    asked = fake_lookup(client, host.url("ok.mp4"))
    stale = finished_task(client.as_async(), host.url("expired.mp4"), "lip_task_stale")
    path = asyncio.run(client.as_async().download(stale, tmp_path))
    assert path.read_bytes() == OK_BODY and asked == ["lip_task_stale"]
    assert stale.result_video_url == host.url("ok.mp4")  # the caller's task sees the new link
    # A link that stays expired is fetched twice, refreshed once, then reported.
    asked = fake_lookup(client, host.url("expired.mp4"))
    still = finished_task(client.as_async(), host.url("expired.mp4"), "lip_task_still")
    before = len(host.requests)
    with pytest.raises(DownloadError) as caught:
        asyncio.run(client.as_async().download(still, tmp_path / "again.mp4"))
    assert caught.value.expired and len(host.requests) - before == 2
    assert asked == ["lip_task_still"]


def test_an_async_download_respects_overwrite(host: MediaHost, tmp_path: Path) -> None:
    client = offline_client().as_async()
    task = finished_task(client, host.url("ok.mp4"))
    target = tmp_path / "result.mp4"
    asyncio.run(client.download(task, target))
    with pytest.raises(DownloadError, match="overwrite=True"):
        asyncio.run(client.download(task, target, overwrite=False))
    target.write_bytes(b"the user's own video")
    before = len(host.requests)
    with pytest.raises(DownloadError, match="not written by kitta-notebook"):
        asyncio.run(client.download(task, target))
    assert target.read_bytes() == b"the user's own video" and len(host.requests) == before
    assert asyncio.run(client.download(task, target, overwrite=True)).read_bytes() == OK_BODY


def test_the_total_deadline_covers_a_slow_link_refresh(host: MediaHost, tmp_path: Path) -> None:
    """The refresh after an expired link spends the same budget: no fresh full timeout."""
    client = offline_client()
    never = threading.Event()
    refreshed_at: list[float] = []

    def slow_get(task_id: str) -> LipSyncTask:
        never.wait(2.2)  # a slow API: longer than the whole budget of 2 s
        refreshed_at.append(time.monotonic())
        return finished_task(client, host.url("stall.mp4"), task_id)

    client.lip_sync.get = slow_get  # type: ignore[method-assign]
    task = finished_task(client, host.url("expired.mp4"))
    with pytest.raises(DownloadError) as caught:
        task.download(tmp_path, timeout=2.0)
    after_refresh = time.monotonic() - refreshed_at[0]
    assert caught.value.reason == "timeout" and after_refresh < 0.9, after_refresh
    assert list(tmp_path.iterdir()) == []


def test_a_download_with_keeping_on_is_also_kept(host: MediaHost, tmp_path: Path) -> None:
    client = offline_client(keep=tmp_path / "kept")
    path = finished_task(client, host.url("ok.mp4"), "lip_task_keep").download(tmp_path / "a.mp4")
    kept = list((tmp_path / "kept").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("lip_task_keep-")
    assert kept[0].suffix == ".mp4" and kept[0].read_bytes() == path.read_bytes() == OK_BODY


def test_a_download_succeeds_when_keeping_it_fails(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keeping is a convenience: a bad keep setting or an unusable index never fails a download."""
    client = offline_client(keep=tmp_path / "kept")
    monkeypatch.setenv("KITTA_KEEP_MAX_BYTES", "lots")  # a ValidationError when keeping
    path = finished_task(client, host.url("ok.mp4")).download(tmp_path / "a.mp4")
    assert path.read_bytes() == OK_BODY and not (tmp_path / "kept").exists()
    monkeypatch.delenv("KITTA_KEEP_MAX_BYTES")
    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder")
    monkeypatch.setenv("KITTA_HOME", str(home))  # the index of written files cannot be opened
    path = finished_task(client, host.url("ok.mp4")).download(tmp_path / "b.mp4")
    assert path.read_bytes() == OK_BODY


def test_the_journal_records_where_a_download_was_saved(host: MediaHost, tmp_path: Path) -> None:
    client = KittaClient("tok-file-mutants", base_url="http://127.0.0.1:9/api")
    client._config.keep_results = False
    task = finished_task(client, host.url("ok.mp4"), "lip_task_journal")
    path = task.download(tmp_path / "out.mp4")
    journal = client.journal
    assert journal is not None
    entry = journal.get("lip_task_journal")
    assert entry is not None and entry.download_path == str(path.absolute())
