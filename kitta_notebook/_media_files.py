"""Result files on disk: safe bounded names, and writes that never leave a partial file.

Shared by downloads (`_download`) and kept results (`_kept`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from ._fetch import Fetched, FetchLimits, fetch_async
from .errors import DownloadError, ValidationError

if TYPE_CHECKING:
    from .models import LipSyncTask

DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3
MAX_NAME_CHARS = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10))} | {
    f"lpt{i}" for i in range(10)
}


# --- names and targets ------------------------------------------------------------------
def safe_stem(task_id: object) -> str:
    """A file name stem for a task id: safe characters only, bounded length, never empty.

    An id that had to be changed (unsafe characters, too long) gets a short
    hash of the whole id, so two different ids never share a name.
    """
    raw = str(task_id or "")
    stem = _UNSAFE.sub("_", raw).strip("._") or "result"
    if stem.split(".")[0].lower() in _RESERVED:
        stem = "task_" + stem
    if stem == raw and len(stem) <= MAX_NAME_CHARS:
        return stem
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{stem[: MAX_NAME_CHARS - 11]}-{digest}"


def result_suffix(url: str) -> str:
    suffix = Path(urlsplit(url).path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".mp4"


def result_url(task: LipSyncTask) -> str:
    """The result URL to fetch, or a clear error why there is none."""
    from .validation import check_url

    if not task.result_video_url:
        raise ValidationError(
            [
                (
                    "result_video_url",
                    f"Task {task.task_id} has no result video yet (status {task.status_text}).",
                )
            ]
        )
    url, problem = check_url(task.result_video_url, require_public=False)
    if problem or url is None:
        raise ValidationError([("result_video_url", problem or "It is not a URL.")])
    return url


# --- atomic write ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Saved:
    path: Path
    fetched: Fetched


def open_temp(target: Path) -> tuple[IO[bytes], Path]:
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by the caller)
            mode="wb",
            dir=target.parent,
            prefix=f".{target.name[:40]}.",
            suffix=".part",
            delete=False,
        )
    except OSError as exc:
        raise DownloadError(
            f"Cannot write in {target.parent} ({exc.strerror or type(exc).__name__}); "
            "pass a path in a folder you can write to."
        ) from exc
    return handle, Path(handle.name)


async def save_async(url: str, target: Path, limits: FetchLimits, client: object = None) -> Saved:
    """Fetch `url` into `target` atomically; on any failure no file is left behind."""
    handle, temp = open_temp(target)
    try:
        with handle:
            fetched = await fetch_async(url, limits, sink=handle.write)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError):
            raise DownloadError(
                f"Cannot write {target} ({exc.strerror or type(exc).__name__})."
            ) from exc
        raise
    return Saved(target, fetched)
