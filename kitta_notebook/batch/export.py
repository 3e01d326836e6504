"""A review folder for a batch or any list of tasks: `index.html`, two manifests, the videos.

`index.html` is self-contained (inline CSS, no script, no server, no CDN):
open it from disk. Each kept result video (a local copy the client kept) is
copied into `videos/` and played from there by a relative link; a poster
frame goes into `posters/` when ffmpeg is at hand. `manifest.csv` and
`manifest.json` hold one row per task or batch item. Input URLs are
redacted (credentials and signatures removed); every value is escaped in
the HTML, and CSV cells that a spreadsheet would run as a formula are
quoted with a leading apostrophe.

Exporting never destroys a file of the user's (see `export_tasks`): each file is
written atomically and recorded in the toolkit's index of what it wrote (`_written`),
which tells an earlier export from the user's own files. Only kept copies still
matching their recorded sha256 are copied; a copy in a team's bucket
(``KITTA_KEEP_RESULTS=s3://...``) is fetched by a fresh signed URL, and one that no
longer matches stops the export with a clear error.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fetch import FetchLimits
from .._kept import DEFAULT_DOWNLOAD_TIMEOUT, DEFAULT_MAX_DOWNLOAD_BYTES, fetch_kept
from .._kept_s3 import is_s3
from .._redact import redact_url
from .._written import EXPORT, atomic_write, conflicts, intact, remember
from ..errors import DownloadError, FileConflictError, KittaError
from ..i18n import status_style
from ..models import LipSyncTask
from ..validation import CREATE_FIELDS, URL_FIELDS, check_url

if TYPE_CHECKING:
    from ..history.entry import KeptResult
    from .results import BatchItem, BatchResult, ItemTags

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


MANIFEST_FIELDS = tuple(column.name for column in fields(ExportRow))


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
        path = html.escape(self.index_html.as_posix())
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
        history = task._owner().as_sync().history
        return history.get(task.task_id), history.kept(task.task_id)
    except Exception:
        return None, None


def _task_row(
    index: int, task: LipSyncTask | None, tags: ItemTags | None, request: object = None
) -> tuple[ExportRow, Any]:
    """A task's row (with a batch item's checked `request`, which names what was asked
    when neither the task nor the journal does)."""
    entry, kept = _history_facts(task) if task is not None else (None, None)
    row = ExportRow(index, None if task is None else task.task_id)
    row.key = tags.key if tags is not None else getattr(entry, "key", None)
    row.labels = tuple(tags.labels if tags is not None else getattr(entry, "labels", None) or ())
    for name in CREATE_FIELDS:
        found = (getattr(source, name, None) for source in (task, entry, request))
        setattr(row, name, next((value for value in found if value), None))
    if task is None:
        return row, kept
    row.status = task.status_text
    if task.failed:
        row.error = " ".join(x for x in (task.error_code, task.error_message) if x) or "failed"
    row.credits = task.credits_charged
    for name in ("created_at", "started_at", "completed_at"):
        moment = getattr(task, name)
        setattr(row, name, moment.isoformat() if moment else None)
    if task.started_at and task.completed_at:
        row.processing_seconds = round((task.completed_at - task.started_at).total_seconds(), 3)
    row.result_url = task.result_video_url
    return row, kept


def _item_row(item: BatchItem) -> tuple[ExportRow, Any]:
    row, kept = _task_row(item.index, item.task, item.tags, item.request)
    row.outcome = item.outcome
    if item.error is not None:
        row.error = f"{type(item.error).__name__}: {item.error}"
    return row, kept


# --- files --------------------------------------------------------------------------------
def _ffmpeg() -> str | None:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # the sandbox extra ships one

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:
        return None


@dataclass
class _Planned:
    """One row's video and poster, named before anything is written."""

    row: ExportRow
    source: Path | KeptResult
    """The kept file, or the journal's record of a kept object in a bucket."""
    sha256: str
    video: Path
    poster: Path | None


def _plan(row: ExportRow, kept: Any, folder: Path, posters: bool) -> _Planned | None:
    """Only a kept copy (the journal's `KeptResult`) still as it was kept is exported."""
    if row.task_id is None or kept is None:
        return None
    in_bucket = is_s3(kept.path)
    if not in_bucket and not intact(Path(kept.path), kept.sha256):
        return None
    name = f"{row.index:04d}-{_UNSAFE_NAME.sub('_', row.task_id)[:80] or 'task'}"  # never a path
    poster = folder / "posters" / f"{name}.jpg" if posters else None
    source = kept if in_bucket else Path(kept.path)
    return _Planned(row, source, kept.sha256, folder / "videos" / f"{name}.mp4", poster)


class _Changed(Exception):
    """A kept copy changed while it was being copied: it is not exported."""


def _put(target: Path, chunks: Iterable[bytes], sha256: str | None = None) -> bool:
    """Write `target` atomically from `chunks` and record it. With `sha256` (a kept
    copy's), bytes that no longer match it are not written: False."""
    target.parent.mkdir(exist_ok=True)
    digest = hashlib.sha256()
    try:
        with atomic_write(target) as (handle, _):
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise _Changed
    except _Changed:
        return False
    remember(target, EXPORT, target.stat().st_size, digest.hexdigest())
    return True


def _copy_video(plan: _Planned) -> bool:
    """Copy the kept video, checking on the way that it is still what was kept."""
    if not isinstance(plan.source, Path):
        plan.video.parent.mkdir(exist_ok=True)
        limits = FetchLimits(DEFAULT_DOWNLOAD_TIMEOUT, DEFAULT_MAX_DOWNLOAD_BYTES)
        try:
            fetched = fetch_kept(plan.source, limits, plan.video)
        except DownloadError as exc:
            raise KittaError(f"The export stopped at task {plan.row.task_id}: {exc}") from exc
        remember(plan.video, EXPORT, fetched.size, fetched.sha256)
    else:
        with plan.source.open("rb") as source:
            if not _put(plan.video, iter(lambda: source.read(1024 * 1024), b""), plan.sha256):
                return False
    plan.row.local_path = f"videos/{plan.video.name}"
    return True


def _make_poster(plan: _Planned, ffmpeg: str | None) -> bool:
    if plan.poster is None or ffmpeg is None:
        return False
    plan.poster.parent.mkdir(exist_ok=True)
    temp = plan.poster.with_name(f".{plan.poster.stem}.{secrets.token_hex(4)}.jpg")
    command = [
        ffmpeg, "-nostdin", "-y", "-loglevel", "error", "-ss", "0.5", "-i", str(plan.video),
        "-frames:v", "1", "-vf", "scale=360:-2", str(temp),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=POSTER_SECONDS)
        frame = temp.read_bytes()
    except (OSError, subprocess.SubprocessError):  # no poster, then
        frame = b""
    finally:
        temp.unlink(missing_ok=True)
    if not frame:
        return False
    _put(plan.poster, [frame])
    plan.row.poster = f"posters/{plan.poster.name}"
    return True


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = "; ".join(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _write(
    rows: list[tuple[ExportRow, Any]], folder: str | Path, *, title: str, posters: bool
) -> ExportReport:
    root = Path(folder).expanduser()
    report = ExportReport(root, root / "index.html", root / "manifest.csv", root / "manifest.json")
    ffmpeg = _ffmpeg() if posters else None
    plans = [_plan(row, kept, root, ffmpeg is not None) for row, kept in rows]
    _refuse_conflicts(root, report, [plan for plan in plans if plan is not None])
    try:
        root.mkdir(parents=True, exist_ok=True)
        for (row, _), plan in zip(rows, plans, strict=True):
            for name in URL_FIELDS:
                value = getattr(row, name)
                setattr(row, name, redact_url(value) if value else value)
            if plan is not None and _copy_video(plan):
                report.videos += 1
                report.posters += _make_poster(plan, ffmpeg)
            report.rows.append(row)
        _put(report.manifest_csv, [_csv(report.rows).encode("utf-8")])
        manifest = {"title": title, "tasks": [asdict(row) for row in report.rows]}
        text = json.dumps(manifest, ensure_ascii=False, indent=1)
        _put(report.manifest_json, [text.encode("utf-8")])
        _put(report.index_html, [index_html(title, report.rows).encode("utf-8")])
    except OSError as exc:  # a kept copy that cannot be read is the KittaError above
        reason = exc.strerror or exc
        raise KittaError(
            f"Could not write the export to {root}: {reason}. Choose a folder you can write to."
        ) from exc
    return report


def _refuse_conflicts(root: Path, report: ExportReport, plans: list[_Planned]) -> None:
    """Refuse, before writing anything, when a file of the user's stands at a target."""
    targets = [report.index_html, report.manifest_csv, report.manifest_json]
    for plan in plans:
        targets += [plan.video] if plan.poster is None else [plan.video, plan.poster]
    found = conflicts(targets)
    if found:
        names = ", ".join(p.relative_to(root).as_posix() for p in found)
        raise FileConflictError(
            f"Nothing was exported: {root} holds files that kitta-notebook did not write "
            f"(or that changed since): {names}. Export into a new or empty folder, "
            "or move those files away.",
            found,
        )


def _csv(rows: list[ExportRow]) -> str:
    stream = io.StringIO(newline="")
    writer = csv.writer(stream)
    writer.writerow(MANIFEST_FIELDS)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in MANIFEST_FIELDS])
    return stream.getvalue()


# --- index.html: static, self-contained, every value escaped ---
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;
margin:24px;color:#1f2328;background:#f6f8fa;font-size:14px;line-height:1.45}
h1{font-size:20px;margin:0 0 4px}.summary{color:#59636e;margin-bottom:16px}
.grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;
flex:1 1 320px;max-width:480px;min-width:280px}
.key{font-weight:700;word-break:break-all}.label{display:inline-block;padding:0 8px;
border-radius:999px;background:#ddf4ff;color:#0a3069;font-size:12px;margin-left:4px}
.badge{display:inline-block;padding:1px 10px;border-radius:999px;font-weight:600;font-size:12px}
video,img.poster{width:100%;border-radius:6px;background:#000;margin:6px 0}
table{border-collapse:collapse;width:100%}td{padding:1px 8px 1px 0;vertical-align:top}
td.k{color:#59636e;white-space:nowrap}.error{color:#9b1c1c}code{word-break:break-all}
""".strip()


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _badge(row: ExportRow) -> str:
    name = row.status or row.outcome or "unknown"
    style = status_style(row.status)  # no status (an item without a task): unknown's
    return (
        f'<span class="badge" data-status="{esc(name)}" '
        f'style="color:{style.color};background:{style.background}">{esc(name)}</span>'
    )


def _media(row: ExportRow) -> str:
    if row.local_path:
        poster = f' poster="{esc(row.poster)}"' if row.poster else ""
        return (
            f'<video controls preload="metadata" playsinline{poster} '
            f'src="{esc(row.local_path)}"></video>'
        )
    url, _ = check_url(row.result_url, require_public=False)  # http(s) only, never script
    if url:
        return (
            f'<p><a href="{esc(url)}" target="_blank" rel="noopener noreferrer">'
            "Result video (online; the link may expire)</a></p>"
        )
    return ""


_FACTS = (
    ("model", "model"), ("mode", "input_mode"), ("audio", "audio_url"), ("video", "video_url"),
    ("image", "image_url"), ("created", "created_at"), ("completed", "completed_at"),
)  # fmt: skip
"""(label, field) of the facts a card shows after its credits, when known; URLs as code."""


def _facts(row: ExportRow) -> str:
    pairs = [("task", f"<code>{esc(row.task_id)}</code>" if row.task_id else "—")]
    if row.outcome:
        pairs.append(("outcome", esc(row.outcome)))
    pairs.append(("credits", esc(row.credits) if row.credits is not None else "—"))
    for label, name in _FACTS:
        value = esc(getattr(row, name))
        if value:
            pairs.append((label, f"<code>{value}</code>" if name.endswith("_url") else value))
    if row.processing_seconds is not None:
        pairs.append(("processing", f"{row.processing_seconds:.1f} s"))
    if row.error:
        pairs.append(("error", f'<span class="error">{esc(row.error)}</span>'))
    cells = "".join(f'<tr><td class="k">{name}</td><td>{value}</td></tr>' for name, value in pairs)
    return f"<table>{cells}</table>"


def _card(row: ExportRow) -> str:
    head = [f'<span class="key">{esc(row.key)}</span>'] if row.key else []
    head += [f'<span class="label">{esc(label)}</span>' for label in row.labels]
    head.append(_badge(row))
    return (
        f'<div class="card" data-task-id="{esc(row.task_id)}">'
        f"<div>{' '.join(head)}</div>{_media(row)}{_facts(row)}</div>"
    )


def index_html(title: str, rows: list[ExportRow]) -> str:
    """The whole page."""
    succeeded = sum(1 for row in rows if row.status == "succeeded")
    failed = sum(1 for row in rows if row.error)  # a failed task's row always has one
    credits = sum(row.credits or 0 for row in rows)
    summary = (
        f"{len(rows)} tasks · {succeeded} succeeded · {failed} with an error · "
        f"{credits:,} credits · manifests: "
        '<a href="manifest.csv">manifest.csv</a>, <a href="manifest.json">manifest.json</a>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><div class="summary">{summary}</div>'
        f'<div class="grid">{"".join(_card(row) for row in rows)}</div></body></html>'
    )


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

    `folder` may be new, hold other files, or hold an earlier export (replaced).
    A file there that the export would write but that kitta-notebook did not
    write (say your own `index.html`) is never replaced: `FileConflictError`
    names it and nothing is written. `tags` names tasks by id (key and labels);
    without it, the journal's are used when the client keeps one. Returns an
    `ExportReport`.
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
