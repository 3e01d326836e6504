"""`result.export(folder)`: the review folder's files, their content, and escaping."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
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

    def _sync_client(self) -> Owner:
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
