"""`result.export(folder)`: the review folder's files, their content, and escaping."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kitta_notebook import FileConflictError, LipSyncTask, ServerError
from kitta_notebook._written import KEPT, remember, sha256_of
from kitta_notebook.batch import BatchItem, BatchResult, TaskList
from kitta_notebook.batch.export import MANIFEST_FIELDS, _ffmpeg, export_tasks
from kitta_notebook.batch.results import ItemTags
from kitta_notebook.validation import CreateRequest

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
SAMPLE_VIDEO = Path(__file__).parents[2] / "kitta_notebook" / "sandbox" / "samples" / "video.mp4"


def dto(task_id: str, status: str, **extra: object) -> dict[str, object]:
    return {
        "id": f"row_{task_id}",
        "taskId": task_id,
        "type": "lip_sync",
        "status": status,
        "model": "kitta-lip-sync-v1",
        "inputMode": "video",
        "resultVideoUrl": "https://cdn.example.com/r.mp4" if status == "succeeded" else None,
        "errorCode": "provider_error" if status == "failed" else None,
        "errorMessage": HOSTILE if status == "failed" else None,
        "creditsCharged": 12,
        "createdAt": "2026-07-01T08:00:00.000Z",
        "startedAt": "2026-07-01T08:00:03.000Z",
        "completedAt": "2026-07-01T08:01:20.500Z",
        **extra,
    }


def request(audio: str = "https://media.example.com/a.mp3") -> CreateRequest:
    return CreateRequest(
        model="kitta-lip-sync-v1",
        input_mode="video",
        audio_url=audio,
        video_url="https://media.example.com/v.mp4",
    )


def batch() -> BatchResult:
    ok = LipSyncTask(dto("lip_task_ok", "succeeded"))
    bad = LipSyncTask(dto("lip_task_bad", "failed"))
    return BatchResult(
        [
            BatchItem(0, "clip/en", "created", task=ok, labels=("en",), request=request()),
            BatchItem(1, HOSTILE, "created", task=bad, labels=(HOSTILE,), request=request()),
            BatchItem(
                2,
                '=HYPERLINK("http://evil")',
                "rejected",
                error=ServerError(400, "invalid_request", HOSTILE),
                labels=("fr",),
                request=request("https://user:secret-pass@media.example.com/a.mp3?sig=abc"),
            ),
        ]
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_a_batch_export_writes_the_page_and_both_manifests(tmp_path: Path) -> None:
    report = batch().export(tmp_path / "review")
    folder = tmp_path / "review"
    assert {p.name for p in folder.iterdir()} == {"index.html", "manifest.csv", "manifest.json"}
    rows = read_csv(report.manifest_csv)
    assert list(rows[0]) == list(MANIFEST_FIELDS)
    assert [r["task_id"] for r in rows] == ["lip_task_ok", "lip_task_bad", ""]
    assert rows[0]["key"] == "clip/en" and rows[0]["labels"] == "en"
    assert rows[0]["status"] == "succeeded" and rows[0]["credits"] == "12"
    assert rows[0]["processing_seconds"] == "77.5"
    assert rows[0]["audio_url"] == "https://media.example.com/a.mp3"
    assert rows[0]["result_url"] == "https://cdn.example.com/r.mp4" and rows[0]["local_path"] == ""
    assert rows[1]["error"].startswith("provider_error")
    assert rows[2]["outcome"] == "rejected" and rows[2]["error"].startswith("ServerError: HTTP 400")
    manifest = json.loads(report.manifest_json.read_text(encoding="utf-8"))
    tasks = manifest["tasks"]
    assert [t["labels"] for t in tasks] == [["en"], [HOSTILE], ["fr"]]
    assert tasks[1]["key"] == HOSTILE  # kept exact in the data; escaped only where rendered
    assert tasks[0]["completed_at"] == "2026-07-01T08:01:20.500000+00:00"


def test_credentials_never_reach_any_file_and_formulas_are_defused(tmp_path: Path) -> None:
    report = batch().export(tmp_path)
    for path in (report.index_html, report.manifest_csv, report.manifest_json):
        text = path.read_text(encoding="utf-8")
        assert "secret-pass" not in text and "sig=abc" not in text, path.name
    rows = read_csv(report.manifest_csv)
    assert rows[2]["key"] == '\'=HYPERLINK("http://evil")'  # a spreadsheet shows it as text
    assert rows[2]["audio_url"].startswith("https://media.example.com/a.mp3")


def test_the_page_escapes_everything_and_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    page = batch().export(tmp_path).index_html.read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<link" not in page and "@import" not in page and 'src="http' not in page
    assert page.count('class="card"') == 3 and '<span class="label">en</span>' in page
    assert 'href="https://cdn.example.com/r.mp4"' in page  # no kept copy: the online link


@dataclass
class Kept:
    path: str
    sha256: str


def kept_copy(path: Path, data: bytes) -> Path:
    """A result video as the toolkit keeps it: written, and recorded in its index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    remember(path, KEPT, len(data), hashlib.sha256(data).hexdigest(), "lip_task")
    return path


class History:
    """What `client.history` answers for the kept copy of one task."""

    def __init__(self, kept: dict[str, Path]) -> None:
        self._kept = {ref: Kept(str(path), sha256_of(path)) for ref, path in kept.items()}

    def get(self, ref: str) -> Any:
        return None

    def kept(self, ref: str) -> Kept | None:
        return self._kept.get(ref)  # as the journal recorded it when the copy was kept


class Owner:
    def __init__(self, history: History) -> None:
        self.history = history

    def as_sync(self) -> Owner:
        return self


def test_kept_videos_are_copied_beside_the_page_and_linked_relatively(tmp_path: Path) -> None:
    kept = kept_copy(tmp_path / "kept" / "result.mp4", SAMPLE_VIDEO.read_bytes())
    hostile_id = "../../etc/passwd" + "x" * 300
    task = LipSyncTask(dto(hostile_id, "succeeded"))
    task._client = Owner(History({hostile_id: kept}))  # type: ignore[assignment]
    tasks = TaskList([task], {hostile_id: ItemTags("clip/zh", ("zh",))})
    report = tasks.export(tmp_path / "out")
    row = report.rows[0]
    assert row.local_path is not None and row.local_path.startswith("videos/0000-")
    copied = tmp_path / "out" / row.local_path
    assert copied.read_bytes() == kept.read_bytes() and copied.parent == tmp_path / "out" / "videos"
    assert len(copied.name) < 100 and "/" not in copied.name.replace("videos/", "")
    page = report.index_html.read_text(encoding="utf-8")
    assert f'src="{row.local_path}"' in page and "https://cdn.example.com" not in page
    assert read_csv(report.manifest_csv)[0]["local_path"] == row.local_path
    assert row.key == "clip/zh" and row.labels == ("zh",)
    if _ffmpeg() is not None:  # imageio-ffmpeg ships one with the sandbox extra
        assert row.poster is not None
        poster = tmp_path / "out" / row.poster
        assert poster.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
        assert f'poster="{row.poster}"' in page
        assert report.posters == 1
    assert report.videos == 1


def test_without_posters_no_ffmpeg_is_run(tmp_path: Path) -> None:
    kept = kept_copy(tmp_path / "r.mp4", SAMPLE_VIDEO.read_bytes())
    task = LipSyncTask(dto("lip_task_1", "succeeded"))
    task._client = Owner(History({"lip_task_1": kept}))  # type: ignore[assignment]
    report = export_tasks([task], tmp_path / "out", posters=False)
    assert (
        report.videos == 1 and report.posters == 0 and not (tmp_path / "out" / "posters").exists()
    )


def test_an_unwritable_folder_is_a_clear_library_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    from kitta_notebook import KittaError

    with pytest.raises(KittaError, match="Choose a folder you can write to"):
        batch().export(blocker / "review")


def test_the_report_names_the_folder_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "<b>review</b>"
    report = batch().export(folder)
    assert "&lt;b&gt;review&lt;/b&gt;" in report._repr_html_() and "<b>" not in report._repr_html_()
    assert "3 rows" in repr(report)


# --- the user's files (issue 17, rule 1) ---------------------------------------------------


def task_with_kept(tmp_path: Path, task_id: str = "lip_task_1") -> tuple[LipSyncTask, Path]:
    kept = kept_copy(tmp_path / "kept" / f"{task_id}.mp4", SAMPLE_VIDEO.read_bytes())
    task = LipSyncTask(dto(task_id, "succeeded"))
    task._client = Owner(History({task_id: kept}))  # type: ignore[assignment]
    return task, kept


@pytest.mark.parametrize(
    "theirs", ["index.html", "manifest.csv", "manifest.json", "videos/0000-lip_task_1.mp4"]
)
def test_an_export_never_overwrites_a_file_of_the_users(tmp_path: Path, theirs: str) -> None:
    folder = tmp_path / "Documents"
    (folder / "videos").mkdir(parents=True)
    (folder / theirs).write_bytes(b"the user's own " + theirs.encode())
    (folder / "notes.txt").write_text("unrelated", encoding="utf-8")
    task, _ = task_with_kept(tmp_path)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(FileConflictError) as caught:
        export_tasks([task], folder, posters=False)
    assert theirs in str(caught.value) and "Nothing was exported" in str(caught.value)
    assert caught.value.paths == [str(folder / theirs)]
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing replaced, no temporary file left


def test_an_export_replaces_its_own_earlier_export_but_not_an_edited_one(tmp_path: Path) -> None:
    folder = tmp_path / "review"
    task, _ = task_with_kept(tmp_path)
    first = export_tasks([task], folder, title="first", posters=False)
    second = export_tasks([task], folder, title="second", posters=False)  # a re-run: fine
    assert "second" in second.index_html.read_text(encoding="utf-8") and first.videos == 1
    second.manifest_csv.write_text("my notes on the review", encoding="utf-8")
    with pytest.raises(FileConflictError, match=r"manifest\.csv"):
        export_tasks([task], folder, title="third", posters=False)
    assert second.manifest_csv.read_text(encoding="utf-8") == "my notes on the review"
    assert "second" in second.index_html.read_text(encoding="utf-8")


def test_a_replaced_kept_copy_is_not_exported(tmp_path: Path) -> None:
    """A kept file that no longer matches its recorded sha256 is never copied (defect 8)."""
    task, kept = task_with_kept(tmp_path)
    data = bytearray(kept.read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes
    kept.write_bytes(bytes(data))
    report = export_tasks([task], tmp_path / "out", posters=False)
    assert report.videos == 0 and report.rows[0].local_path is None
    assert not (tmp_path / "out" / "videos").exists()
    page = report.index_html.read_text(encoding="utf-8")
    assert 'href="https://cdn.example.com/r.mp4"' in page  # the link instead
    assert kept.read_bytes() == bytes(data)  # and the changed file is left alone


# --- rows of rejected items, default titles, posters (gaps found by `make mutate`) ---------


def test_a_rejected_item_keeps_its_place_and_what_was_asked(tmp_path: Path) -> None:
    """An item that never became a task still shows its index and its request's settings."""
    asked = CreateRequest(
        model="kitta-lip-sync-v1",
        input_mode="video",
        audio_url="https://media.example.com/a.mp3",
        video_url="https://media.example.com/v.mp4",
        duration_seconds=12.5,
    )
    refused = ServerError(400, "invalid_request", "no")
    result = BatchResult([BatchItem(7, "late", "rejected", error=refused, request=asked)])
    report = result.export(tmp_path / "out")
    (row,) = read_csv(report.manifest_csv)
    assert row["index"] == "7" and row["key"] == "late" and row["task_id"] == ""
    assert row["model"] == "kitta-lip-sync-v1" and row["input_mode"] == "video"
    assert row["duration_seconds"] == "12.5"
    assert row["video_url"] == "https://media.example.com/v.mp4"


def test_exports_have_default_titles(tmp_path: Path) -> None:
    from kitta_notebook.batch.export import export_batch

    task, _ = task_with_kept(tmp_path)
    for report, title in (
        (export_tasks([task], tmp_path / "tasks", posters=False), "Kitta tasks"),
        (export_batch(batch(), tmp_path / "batch"), "Kitta batch"),
    ):
        assert json.loads(report.manifest_json.read_text(encoding="utf-8"))["title"] == title
        assert f"<title>{title}</title>" in report.index_html.read_text(encoding="utf-8")


def test_the_report_repr_names_the_folder(tmp_path: Path) -> None:
    report = batch().export(tmp_path / "review")
    assert repr(str(tmp_path / "review")) in repr(report)


def fake_ffmpeg(folder: Path, script: str) -> None:
    """An `ffmpeg` on PATH running `script` (Python; `out` is the image file it was asked for)."""
    folder.mkdir()
    path = folder / "ffmpeg"
    head = f"#!{sys.executable}\nimport sys, time\nout = sys.argv[-1]\n"
    path.write_text(head + script + "\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.mark.parametrize(
    "script",
    [
        # failed after leaving half an image, and said so on stderr
        "open(out, 'wb').write(b'half'); print('ffmpeg noise', file=sys.stderr); sys.exit(1)",
        "open(out, 'wb').close()",  # an empty image
        "sys.exit(0)",  # said yes, wrote nothing
        "time.sleep(8); open(out, 'wb').write(b'late')",  # too slow: cut off
    ],
    ids=["failed-after-writing", "empty-image", "no-image", "too-slow"],
)
def test_a_poster_ffmpeg_cannot_make_costs_the_poster_not_the_export(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    script: str,
) -> None:
    from kitta_notebook.batch import export

    fake_ffmpeg(tmp_path / "bin", script)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(export, "POSTER_SECONDS", 1.0)
    task, _ = task_with_kept(tmp_path)
    report = export_tasks([task], tmp_path / "out")
    assert report.videos == 1 and report.posters == 0 and report.rows[0].poster is None
    posters = tmp_path / "out" / "posters"
    assert not posters.exists() or list(posters.iterdir()) == []
    assert "poster=" not in report.index_html.read_text(encoding="utf-8")
    assert "ffmpeg noise" not in capfd.readouterr().err  # ffmpeg's chatter stays out of the cell


def test_without_tags_the_journal_fills_in_what_the_task_does_not_say(tmp_path: Path) -> None:
    entry = SimpleNamespace(
        key="clip/journal",
        labels=("a", "b"),
        model="kitta-lip-sync-v1",
        input_mode="image",
        audio_url="https://media.example.com/a.mp3",
        video_url=None,
        image_url="https://media.example.com/face.png",
        reference_image_url=None,
        duration_seconds=4.5,
    )
    task = LipSyncTask(dto("lip_task_j", "succeeded", model=None, inputMode=None))
    history = History({})
    history.get = lambda ref: entry if ref == "lip_task_j" else None  # type: ignore[method-assign]
    task._client = Owner(history)  # type: ignore[assignment]
    report = export_tasks([task], tmp_path / "out", posters=False)
    (row,) = read_csv(report.manifest_csv)
    assert row["key"] == "clip/journal" and row["labels"] == "a; b"
    assert row["model"] == "kitta-lip-sync-v1" and row["input_mode"] == "image"
    assert row["audio_url"] == "https://media.example.com/a.mp3" and row["video_url"] == ""
    assert row["image_url"] == "https://media.example.com/face.png"
    assert row["duration_seconds"] == "4.5"
    (written,) = json.loads(report.manifest_json.read_text(encoding="utf-8"))["tasks"]
    assert list(written) == list(MANIFEST_FIELDS) and written["labels"] == ["a", "b"]


def test_a_failed_tasks_error_names_its_code_and_message(tmp_path: Path) -> None:
    said = LipSyncTask(dto("lip_task_said", "failed"))
    silent = LipSyncTask(dto("lip_task_silent", "failed", errorCode=None, errorMessage=None))
    rows = read_csv(export_tasks([said, silent], tmp_path, posters=False).manifest_csv)
    assert rows[0]["error"] == f"provider_error {HOSTILE}"
    assert rows[1]["error"] == "failed"


def test_a_kept_copy_that_differs_from_what_was_kept_is_not_copied(tmp_path: Path) -> None:
    """Checked twice: against the journal's sha256, and again while copying."""
    task, kept = task_with_kept(tmp_path)
    history = History({"lip_task_1": kept})
    history._kept["lip_task_1"] = Kept(str(kept), "0" * 64)  # the journal recorded other bytes
    task._client = Owner(history)  # type: ignore[assignment]
    report = export_tasks([task], tmp_path / "a", posters=False)
    assert report.videos == 0 and report.rows[0].local_path is None
    # Bytes swapped with size and mtime unchanged: only the copy's own hash sees it.
    info = kept.stat()
    data = bytearray(kept.read_bytes())
    data[0] ^= 0xFF
    kept.write_bytes(bytes(data))
    os.utime(kept, ns=(info.st_atime_ns, info.st_mtime_ns))
    task._client = Owner(History({"lip_task_1": kept}))  # type: ignore[assignment]
    task._client.history._kept["lip_task_1"] = Kept(str(kept), sha256_of_bytes(SAMPLE_VIDEO))  # type: ignore[attr-defined]
    report = export_tasks([task], tmp_path / "b", posters=False)
    assert report.videos == 0 and report.rows[0].local_path is None
    assert list((tmp_path / "b" / "videos").iterdir()) == []  # no copy, no temporary file


def sha256_of_bytes(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_copied_videos_have_short_readable_names(tmp_path: Path) -> None:
    kept = kept_copy(tmp_path / "kept" / "result.mp4", SAMPLE_VIDEO.read_bytes())
    ids = ("a/b c", "x" * 300, "")
    tasks = [LipSyncTask(dto(task_id, "succeeded")) for task_id in ids]
    for task in tasks:
        task._client = Owner(History({task.task_id: kept}))  # type: ignore[assignment]
    report = export_tasks(tasks, tmp_path / "out", posters=False)
    assert [row.local_path for row in report.rows] == [
        "videos/0000-a_b_c.mp4",
        f"videos/0001-{'x' * 80}.mp4",  # cut at 80 characters
        "videos/0002-task.mp4",
    ]


@pytest.mark.parametrize("how", ["tasks", "batch"])
def test_posters_are_made_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from kitta_notebook.batch.export import export_batch

    fake_ffmpeg(tmp_path / "bin", "open(out, 'wb').write(b'\\xff\\xd8 a poster')")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    task, _ = task_with_kept(tmp_path)
    if how == "tasks":
        report = export_tasks([task], tmp_path / "out")
    else:
        report = export_batch(
            BatchResult([BatchItem(0, "k", "created", task=task)]), tmp_path / "out"
        )
    assert report.posters == 1 and report.rows[0].poster == "posters/0000-lip_task_1.jpg"
    assert (
        tmp_path / "out" / "posters" / "0000-lip_task_1.jpg"
    ).read_bytes() == b"\xff\xd8 a poster"


def test_what_a_task_does_not_know_stays_empty(tmp_path: Path) -> None:
    running = LipSyncTask(
        dto(
            "lip_task_run",
            "processing",
            model=None,
            inputMode=None,
            createdAt=None,
            completedAt=None,
        )
    )
    (row,) = read_csv(export_tasks([running], tmp_path, posters=False).manifest_csv)
    assert row["model"] == row["input_mode"] == row["created_at"] == row["completed_at"] == ""
    assert row["started_at"] == "2026-07-01T08:00:03+00:00" and row["processing_seconds"] == ""
    queued = LipSyncTask(dto("lip_task_q", "queued", startedAt=None, completedAt=None))
    (row,) = read_csv(export_tasks([queued], tmp_path / "q", posters=False).manifest_csv)
    assert row["created_at"] == "2026-07-01T08:00:00+00:00" and row["started_at"] == ""


def test_every_copied_video_and_poster_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ffmpeg(tmp_path / "bin", "open(out, 'wb').write(b'\\xff\\xd8 a poster')")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    tasks = [task_with_kept(tmp_path, f"lip_task_{i}")[0] for i in range(2)]
    report = export_tasks(tasks, tmp_path / "out", title="中文 review")
    assert report.videos == 2 and report.posters == 2
    assert "中文 review" in report.manifest_json.read_text(encoding="utf-8")  # not \\u escapes


def test_a_users_poster_is_never_replaced_and_ignored_without_posters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    (folder / "posters").mkdir(parents=True)
    theirs = folder / "posters" / "0000-lip_task_1.jpg"
    theirs.write_bytes(b"the user's own picture")
    (folder / "index.html").write_bytes(b"the user's own page")
    task, _ = task_with_kept(tmp_path)
    fake_ffmpeg(tmp_path / "bin", "open(out, 'wb').write(b'\\xff\\xd8 a poster')")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    with pytest.raises(FileConflictError) as caught:
        export_tasks([task], folder)
    said = str(caught.value)
    assert "index.html, posters/0000-lip_task_1.jpg." in said
    assert said.endswith("or move those files away.")
    (folder / "index.html").unlink()
    report = export_tasks([task], folder, posters=False)  # no poster written: no conflict
    assert report.videos == 1 and theirs.read_bytes() == b"the user's own picture"


def test_an_unwritable_folder_names_the_systems_reason(tmp_path: Path) -> None:
    from kitta_notebook import KittaError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(KittaError) as caught:
        batch().export(blocker / "review")
    assert f"{blocker / 'review'}: Not a directory. Choose" in str(caught.value)
