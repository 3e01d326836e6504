"""The new-user check of issue 17: nothing of the user's is lost, against the real sandbox.

`KITTA_KEEP_RESULTS` points at the user's own video folder, with files in it
and a small disk cap; tasks run and finish over HTTP on 127.0.0.1 (results
are kept as they finish, the cap removes old ones), a result is downloaded
over a name the user already uses, and the batch is exported into a folder
that already holds the user's `index.html`. Every file of the user's must
come out byte for byte as it went in.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kitta_notebook import FileConflictError
from kitta_notebook._kept import KEEP_ENV, KEEP_MAX_ENV
from kitta_notebook.errors import DownloadError
from kitta_notebook.sandbox import Sandbox
from tests.downloads.download_helpers import TOKEN


def plant(folder: Path, files: dict[str, bytes]) -> dict[Path, bytes]:
    """The user's files, a year old (the oldest in the folder, first in line for a cap)."""
    year_ago = time.time() - 365 * 86400
    planted = {}
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (year_ago, year_ago))
        planted[path] = data
    return planted


def test_a_new_user_loses_nothing(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    videos, documents = tmp_path / "Videos", tmp_path / "Documents"
    theirs = plant(
        videos,
        {"family-holiday.mov": b"\x00\x00\x00\x14ftypqt  " + os.urandom(50_000), "notes.txt": b"x"},
    )
    theirs |= plant(
        documents,
        {"index.html": b"<h1>my page</h1>", "manifest.csv": b"a,b\n", "thesis.docx": b"PK"},
    )
    monkeypatch.setenv(KEEP_ENV, str(videos))
    item = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    with sandbox.client(TOKEN) as client:
        first = client.lip_sync.create(**item)
        first.wait(timeout=60, poll_interval=0.05)  # kept as it finishes
        kept = client.history.kept(first.task_id)
        assert kept is not None and Path(kept.path).parent == videos
        cap = int(kept.size * 1.5)  # room for one result, not two
        monkeypatch.setenv(KEEP_MAX_ENV, str(cap))

        batch = client.lip_sync.create_many([item, item, item], progress=False)
        done = client.lip_sync.wait_many(batch, timeout=120, poll_interval=0.05, progress=False)
        assert [task.status for task in done] == ["succeeded"] * 3

        with pytest.raises(DownloadError, match="not written by kitta-notebook"):
            done[0].download(videos / "family-holiday.mov")
        with pytest.raises(FileConflictError) as caught:
            batch.export(documents)
        assert sorted(Path(p).name for p in caught.value.paths) == ["index.html", "manifest.csv"]
        report = batch.export(documents / "review")  # a new folder beside the user's files
        again = batch.export(documents / "review")  # and a re-run of that cell
        still_kept = [client.history.kept(task.task_id) for task in done]  # in any order

    for path, data in theirs.items():
        assert path.read_bytes() == data, f"{path.name} was changed or removed"
    ours = [p for p in videos.iterdir() if p not in theirs]
    assert len(ours) >= 1 and sum(p.stat().st_size for p in ours) <= cap
    kept_now = [Path(record.path) for record in still_kept if record is not None]
    assert kept_now and all(path in ours for path in kept_now)  # the cap spared a result
    assert report.videos >= 1 and again.videos == report.videos
    assert (documents / "review" / "index.html").is_file()


def test_the_panel_save_button_never_replaces_a_users_file(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    import asyncio

    pytest.importorskip("ipywidgets")
    from kitta_notebook.widgets import TaskCard

    item = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    with sandbox.client(TOKEN, keep_results=False) as client:
        task = client.lip_sync.create(**item)
        task.wait(timeout=60, poll_interval=0.05)
        mine = plant(tmp_path, {f"{task.task_id}.mp4": b"the user's own file"})
        card = TaskCard(task, download_dir=tmp_path)
        assert asyncio.run(asyncio.wait_for(card.save(), 60)) is None
        assert "not written by kitta-notebook" in card.action_note.value
        assert all(path.read_bytes() == data for path, data in mine.items())
        saved = asyncio.run(asyncio.wait_for(card.save(tmp_path / "result.mp4"), 60))
        assert saved is not None and asyncio.run(asyncio.wait_for(card.save(saved), 60)) == saved
