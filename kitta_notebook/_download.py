"""Saving result videos: file names, overwriting, and atomic writes.

A download goes through `_fetch` (no token, total deadline, size cap, a
check that a video arrived) into a hidden temporary file next to the target,
renamed into place only when everything arrived: a failure never leaves a
partial file. An existing file is replaced by default only when this toolkit
wrote it and it is unchanged (see `_written`), so re-running a notebook cell
works while a user's own file of that name is never lost; `overwrite=True`
replaces any file, `overwrite=False` none. A downloaded result is also kept
when keeping is on (see `_kept`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._fetch import FetchLimits
from ._kept import keep_file
from ._media_files import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    Saved,
    result_suffix,
    result_url,
    safe_stem,
    save_async,
)
from ._private_loop import run_in_private_loop
from ._written import DOWNLOAD, intact, remember
from .errors import DownloadError, KittaError, ValidationError

if TYPE_CHECKING:
    from .models import LipSyncTask

DEFAULT_DOWNLOAD_TIMEOUT = 600.0
"""Seconds one `download()` may take in total (fetching a fresh link included)."""


def download_target(task: LipSyncTask, path: str | os.PathLike[str] | None) -> tuple[str, Path]:
    """(URL to fetch, file to write) for a task's result video; folders are created."""
    url = result_url(task)
    default_name = safe_stem(task.task_id) + result_suffix(url)
    if path is None:
        target = Path(default_name)
    else:
        target = Path(path).expanduser()
        if target.is_dir() or str(path).endswith(("/", "\\")):
            target = target / default_name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the folder {target.parent} ({exc.strerror or type(exc).__name__}); "
            "pass a path in a folder you can write to."
        ) from exc
    return url, target


def _check_overwrite(target: Path, overwrite: bool | None) -> None:
    """Refuse, before anything is fetched, to replace a file the caller may still want."""
    if overwrite is True or not (target.exists() or target.is_symlink()):
        return
    if overwrite is False:
        raise DownloadError(f"{target} exists already; pass overwrite=True to replace it.")
    if not intact(target):
        raise DownloadError(
            f"{target} exists and was not written by kitta-notebook (or was changed since); "
            "it was left untouched. Pass another path, or overwrite=True to replace it."
        )


def _limits(deadline_at: float, timeout: float) -> FetchLimits:
    remaining = max(0.001, deadline_at - time.monotonic())
    return FetchLimits(deadline=min(timeout, remaining), max_bytes=DEFAULT_MAX_DOWNLOAD_BYTES)


def _check_timeout(timeout: float | None) -> float:
    value = DEFAULT_DOWNLOAD_TIMEOUT if timeout is None else timeout
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError([("timeout", "The timeout must be a number of seconds above 0.")])
    if value == math.inf:  # NaN fails `value > 0` above
        raise ValidationError([("timeout", "The timeout must be a finite number of seconds.")])
    return float(value)


def download(
    client: Any,
    task: LipSyncTask | str,
    path: str | os.PathLike[str] | None,
    *,
    overwrite: bool | None,
    timeout: float | None,
) -> Path:
    """`KittaClient.download`: fetch once more for a fresh link when the old one expired."""
    budget = _check_timeout(timeout)
    deadline_at = time.monotonic() + budget
    snapshot = task if not isinstance(task, str) else client.lip_sync.get(task)
    refreshed = False
    while True:
        url, target = download_target(snapshot, path)
        _check_overwrite(target, overwrite)
        limits = _limits(deadline_at, budget)
        try:
            saved = run_in_private_loop(partial(save_async, url, target, limits))
        except DownloadError as exc:
            if not exc.expired or refreshed:
                raise
            snapshot, refreshed = client.lip_sync.get(snapshot.task_id), True
            continue
        _after_download(client, task, snapshot, saved)
        return saved.path


async def download_async(
    client: Any,
    task: LipSyncTask | str,
    path: str | os.PathLike[str] | None,
    *,
    overwrite: bool | None,
    timeout: float | None,
) -> Path:
    """`AsyncKittaClient.download`, on the running loop."""
    budget = _check_timeout(timeout)
    deadline_at = time.monotonic() + budget
    snapshot = task if not isinstance(task, str) else await client.lip_sync.get(task)
    refreshed = False
    while True:
        url, target = download_target(snapshot, path)
        _check_overwrite(target, overwrite)
        try:
            saved = await save_async(url, target, _limits(deadline_at, budget))
        except DownloadError as exc:
            if not exc.expired or refreshed:
                raise
            snapshot, refreshed = await client.lip_sync.get(snapshot.task_id), True
            continue
        _after_download(client, task, snapshot, saved)
        return saved.path


def _after_download(client: Any, task: object, snapshot: LipSyncTask, saved: Saved) -> None:
    fetched = saved.fetched
    with contextlib.suppress(OSError):  # unrecorded, the file is simply never replaced unasked
        remember(saved.path, DOWNLOAD, fetched.size, fetched.sha256, snapshot.task_id)
    client._record_download(snapshot, saved.path)
    if not isinstance(task, str) and snapshot is not task:
        task._update_from(snapshot)  # type: ignore[attr-defined]
    with contextlib.suppress(KittaError, OSError):
        keep_file(client, snapshot, saved.path, saved.fetched)
