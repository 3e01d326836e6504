"""A review folder for a batch or any list of tasks: `index.html`, two manifests, the videos.

`index.html` is self-contained (inline CSS, no script, no server, no CDN):
open it from disk. Each kept result video (a local copy the client kept) is
copied into `videos/` and played from there by a relative link; a poster
frame goes into `posters/` when ffmpeg is at hand. `manifest.csv` and
`manifest.json` hold one row per task or batch item. Input URLs are
redacted (credentials and signatures removed); every value is escaped in
the HTML, and CSV cells that a spreadsheet would run as a formula are
quoted with a leading apostrophe.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._redact import redact_url
from ..errors import KittaError
from ..models import LipSyncTask
from .export_html import index_html

if TYPE_CHECKING:
    from .results import BatchItem, BatchResult, ItemTags

INPUT_FIELDS = ("audio_url", "video_url", "image_url", "reference_image_url")
MANIFEST_FIELDS = (
    "index", "task_id", "key", "labels", "outcome", "status", "error",
    "credits", "model", "input_mode", *INPUT_FIELDS, "duration_seconds",
    "created_at", "started_at", "completed_at", "processing_seconds",
    "result_url", "local_path", "poster",
)  # fmt: skip
POSTER_SECONDS = 20.0
"""ffmpeg gets this long per poster; past it the card simply has none."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ExportRow:
    """One line of the manifests and one card of `index.html`."""

    index: int
    task_id: str | None
    key: str | None = None
    labels: tuple[str, ...] = ()
    outcome: str | None = None
    status: str | None = None
    error: str | None = None
    credits: int | float | None = None
    model: str | None = None
    input_mode: str | None = None
    audio_url: str | None = None
    video_url: str | None = None
    image_url: str | None = None
    reference_image_url: str | None = None
    duration_seconds: float | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    processing_seconds: float | None = None
    result_url: str | None = None
    local_path: str | None = None
    """The copied video, relative to the export folder."""
    poster: str | None = None
    """The poster frame, relative to the export folder."""


@dataclass
class ExportReport:
    """Where everything went; `rows` are what the manifests hold."""

    folder: Path
    index_html: Path
    manifest_csv: Path
    manifest_json: Path
    rows: list[ExportRow] = field(default_factory=list)
    videos: int = 0
    posters: int = 0

    def __repr__(self) -> str:
        return (
            f"ExportReport({len(self.rows)} rows, {self.videos} videos, {self.posters} posters "
            f"in {str(self.folder)!r})"
        )

    def _repr_html_(self) -> str:
        path = html.escape(self.index_html.as_posix(), quote=True)
        return (
            f"{len(self.rows)} tasks exported ({self.videos} videos, {self.posters} posters): "
            f"<code>{path}</code>"
        )


# --- rows ---------------------------------------------------------------------------------
def _history_facts(task: LipSyncTask) -> tuple[Any, Any]:
    """(journal entry, kept copy) of a task, when the client keeps a journal.

    Only an enrichment: without a journal (or with a broken one) the export
    still has everything the task object knows.
    """
    try:
        history = task._owner()._sync_client().history
        return history.get(task.task_id), history.kept(task.task_id)
    except Exception:
        return None, None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _task_row(index: int, task: LipSyncTask, tags: ItemTags | None) -> tuple[ExportRow, Any]:
    entry, kept = _history_facts(task)
    row = ExportRow(index=index, task_id=task.task_id, status=task.status_text)
    row.key = tags.key if tags is not None else getattr(entry, "key", None)
    row.labels = tuple(tags.labels if tags is not None else getattr(entry, "labels", ()) or ())
    if task.failed:
        row.error = " ".join(x for x in (task.error_code, task.error_message) if x) or "failed"
    row.credits = task.credits_charged
    row.model = task.model or getattr(entry, "model", None)
    row.input_mode = task.input_mode or getattr(entry, "input_mode", None)
    for name in INPUT_FIELDS:
        setattr(row, name, _text(getattr(entry, name, None)))
    row.duration_seconds = getattr(entry, "duration_seconds", None)
    row.created_at = task.created_at.isoformat() if task.created_at else None
    row.started_at = task.started_at.isoformat() if task.started_at else None
    row.completed_at = task.completed_at.isoformat() if task.completed_at else None
    if task.started_at and task.completed_at:
        row.processing_seconds = round((task.completed_at - task.started_at).total_seconds(), 3)
    row.result_url = task.result_video_url
    return row, kept


def _item_row(item: BatchItem) -> tuple[ExportRow, Any]:
    if item.task is not None:
        row, kept = _task_row(item.index, item.task, item.tags)
    else:
        row, kept = ExportRow(index=item.index, task_id=None, key=item.key), None
        row.labels = item.labels
    row.outcome = item.outcome
    if item.error is not None:
        row.error = f"{type(item.error).__name__}: {item.error}"
    request = item.request
    if request is not None:
        row.model = row.model or request.model
        row.input_mode = row.input_mode or request.input_mode
        for name in INPUT_FIELDS:
            setattr(row, name, getattr(row, name) or getattr(request, name))
        if row.duration_seconds is None:
            row.duration_seconds = request.duration_seconds
    return row, kept


# --- files --------------------------------------------------------------------------------
def _safe_name(index: int, task_id: str) -> str:
    """A short file name no task id can turn into a path or an error."""
    return f"{index:04d}-{_UNSAFE_NAME.sub('_', task_id)[:80] or 'task'}"


def _ffmpeg() -> str | None:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # the sandbox extra ships one

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:
        return None


def _poster(ffmpeg: str, video: Path, poster: Path) -> bool:
    command = [
        ffmpeg, "-nostdin", "-y", "-loglevel", "error", "-ss", "0.5", "-i", str(video),
        "-frames:v", "1", "-vf", "scale=360:-2", str(poster),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=POSTER_SECONDS)
    except (OSError, subprocess.SubprocessError):
        poster.unlink(missing_ok=True)
        return False
    return poster.is_file() and poster.stat().st_size > 0


def _copy_kept(row: ExportRow, kept: Any, folder: Path, ffmpeg: str | None) -> tuple[int, int]:
    """Copy a kept video beside the page (and make its poster); (videos, posters) added."""
    source = Path(str(getattr(kept, "path", "") or ""))
    if row.task_id is None or not source.name or not source.is_file():
        return 0, 0
    name = _safe_name(row.index, row.task_id)
    target = folder / "videos" / f"{name}.mp4"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, target)
    row.local_path = f"videos/{target.name}"
    if ffmpeg is None:
        return 1, 0
    poster = folder / "posters" / f"{name}.jpg"
    poster.parent.mkdir(exist_ok=True)
    if not _poster(ffmpeg, target, poster):
        return 1, 0
    row.poster = f"posters/{poster.name}"
    return 1, 1


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = "; ".join(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _redact_inputs(row: ExportRow) -> None:
    for name in INPUT_FIELDS:
        value = getattr(row, name)
        if value:
            setattr(row, name, redact_url(value))


def _write(
    rows: list[tuple[ExportRow, Any]], folder: str | Path, *, title: str, posters: bool
) -> ExportReport:
    root = Path(folder).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
        ffmpeg = _ffmpeg() if posters else None
        report = ExportReport(
            root, root / "index.html", root / "manifest.csv", root / "manifest.json"
        )
        for row, kept in rows:
            _redact_inputs(row)
            if kept is not None:
                videos, frames = _copy_kept(row, kept, root, ffmpeg)
                report.videos += videos
                report.posters += frames
            report.rows.append(row)
        with report.manifest_csv.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(MANIFEST_FIELDS)
            for row in report.rows:
                writer.writerow([_cell(getattr(row, name)) for name in MANIFEST_FIELDS])
        manifest = {"title": title, "tasks": [_json_row(row) for row in report.rows]}
        report.manifest_json.write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        report.index_html.write_text(index_html(title, report.rows), encoding="utf-8")
    except OSError as exc:
        raise KittaError(
            f"Could not write the export to {root}: {exc.strerror or exc}. "
            "Choose a folder you can write to."
        ) from exc
    return report


def _json_row(row: ExportRow) -> dict[str, Any]:
    data = asdict(row)
    data["labels"] = list(row.labels)
    return data


# --- entry points -------------------------------------------------------------------------
def export_tasks(
    tasks: Iterable[LipSyncTask],
    folder: str | Path,
    *,
    tags: Mapping[str, ItemTags] | None = None,
    title: str = "Kitta tasks",
    posters: bool = True,
) -> ExportReport:
    """Write `index.html`, `manifest.csv`, `manifest.json` and the kept videos to `folder`.

    `tags` names tasks by id (key and labels); without it, the journal's are
    used when the client keeps one. Returns an `ExportReport`.
    """
    found = dict(tags or {})
    rows = [_task_row(i, t, found.get(t.task_id)) for i, t in enumerate(tasks)]
    return _write(rows, folder, title=title, posters=posters)


def export_batch(
    result: BatchResult,
    folder: str | Path,
    *,
    title: str = "Kitta batch",
    posters: bool = True,
) -> ExportReport:
    """`export_tasks` for a batch: every item, rejected and unknown ones included."""
    return _write([_item_row(item) for item in result], folder, title=title, posters=posters)
