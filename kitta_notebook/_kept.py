"""Kept results: local copies of result videos that outlive links and kernels.

With `keep_results` on (the client's setting, else `KITTA_KEEP_RESULTS`; on
by default for the embedded sandbox), each result video the toolkit fetches
is also kept under `KITTA_HOME/results` (or a folder of your choice) and
recorded in the journal (path, size, sha256), so a card plays it after its
link expired or the kernel restarted. Disk use is capped
(`KITTA_KEEP_MAX_BYTES`, default 2 GiB); the oldest kept results go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._fetch import Fetched, FetchLimits
from ._home import kitta_home
from ._media_files import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    open_temp,
    result_suffix,
    result_url,
    safe_stem,
    save_async,
)
from ._private_loop import run_in_private_loop
from .errors import DownloadError, KittaError, ValidationError

logger = logging.getLogger("kitta_notebook")

if TYPE_CHECKING:
    from .models import LipSyncTask

KEEP_ENV = "KITTA_KEEP_RESULTS"
KEEP_MAX_ENV = "KITTA_KEEP_MAX_BYTES"
DEFAULT_KEEP_MAX_BYTES = 2 * 1024**3


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def keep_folder(client: Any) -> Path | None:
    """Where this client keeps result videos, or None when keeping is off.

    Order: the client's `keep_results` (True, False or a folder), then
    `KITTA_KEEP_RESULTS` (1/0 or a folder); off otherwise.
    """
    config = getattr(client, "_config", None)
    setting = getattr(config, "keep_results", None)
    if setting is None:
        env = os.environ.get(KEEP_ENV)
        if env is None:
            return None
        clean = env.strip()
        setting = True if clean.lower() in _TRUE else False if clean.lower() in _FALSE else clean
    if setting is False:
        return None
    if setting is True:
        return kitta_home() / "results"
    return Path(str(setting)).expanduser()


def prefer_keeping_results(client: Any) -> None:
    """Turn keeping on for a client (the embedded sandbox) unless the user decided otherwise."""
    config = getattr(client, "_config", None)
    if config is None or getattr(config, "keep_results", None) is not None:
        return
    if os.environ.get(KEEP_ENV) is None:
        config.keep_results = True


def keep_max_bytes() -> int:
    raw = os.environ.get(KEEP_MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_KEEP_MAX_BYTES
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError(
            [(KEEP_MAX_ENV, f"It must be a whole number of bytes, got {raw!r}.")]
        ) from exc
    if value < 0:
        raise ValidationError([(KEEP_MAX_ENV, "It must be 0 or more bytes.")])
    return value


def _kept_name(client: Any, task: LipSyncTask, suffix: str) -> str:
    origin = str(getattr(getattr(client, "_config", None), "origin", ""))
    tag = hashlib.sha256(f"{origin}\n{task.task_id}".encode("utf-8", "surrogatepass"))
    return f"{safe_stem(task.task_id)[:80]}-{tag.hexdigest()[:8]}{suffix}"


def kept_path(client: Any, task: LipSyncTask) -> Path | None:
    """The kept copy of a task's result, when keeping is on and there is one on disk.

    The file named after the task comes first (no journal query, and a render
    never opens a journal); the journal's record is asked only after a miss.
    """
    folder = keep_folder(client) if client is not None else None
    if folder is None:
        return None
    if task.result_video_url:
        path = folder / _kept_name(client, task, result_suffix(str(task.result_video_url)))
        if path.is_file():
            return path
    recorded = _path_of(_journal_call(getattr(client, "journal", None), "kept", task.task_id))
    return recorded if recorded is not None and recorded.is_file() else None


def _path_of(record: object) -> Path | None:
    if record is None:
        return None
    if isinstance(record, (str, os.PathLike)):
        return Path(record)
    if isinstance(record, dict):
        value = record.get("path")
    elif isinstance(record, tuple) and record:
        value = record[0]
    else:
        value = getattr(record, "path", None)
    return Path(value) if isinstance(value, (str, os.PathLike)) else None


def _journal_call(journal: object, name: str, *args: object) -> Any:
    method = getattr(journal, name, None)
    if not callable(method):
        return None
    try:
        return method(*args)
    except Exception:  # the journal is a convenience here: keeping must not fail a view
        return None


KEEP_TIMEOUT = 300.0


async def ensure_kept_async(client: Any, task: LipSyncTask) -> Path | None:
    """Keep a succeeded task's result when keeping is on and no copy exists yet.

    For code that finishes tasks without showing them (a `wait()`, a batch):
    the result is fetched once, within `KEEP_TIMEOUT`, straight into the
    kept folder. Returns the kept path, or None when keeping is off.
    """
    folder = keep_folder(client)
    if folder is None or not task.succeeded or not task.result_video_url:
        return None
    existing = kept_path(client, task)
    if existing is not None:
        return existing
    url = result_url(task)
    target = folder / _kept_name(client, task, result_suffix(url))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the folder {folder} for kept results "
            f"({exc.strerror or type(exc).__name__}); set KITTA_KEEP_RESULTS to a folder "
            "you can write to, or to 0."
        ) from exc
    limits = FetchLimits(deadline=KEEP_TIMEOUT, max_bytes=DEFAULT_MAX_DOWNLOAD_BYTES)
    saved = await save_async(url, target, limits)
    _record_kept(client, task, saved.path, saved.fetched.size, saved.fetched.sha256)
    return saved.path


def ensure_kept(client: Any, task: LipSyncTask) -> Path | None:
    """`ensure_kept_async` for sync code."""
    if keep_folder(client) is None:
        return None
    return run_in_private_loop(partial(ensure_kept_async, client, task))


def keep_finished(client: Any, task: LipSyncTask) -> None:
    """After a wait: keep a succeeded task's result when keeping is on.

    The wait itself succeeded, so a result host that fails now costs a log line,
    not the caller's task: the card or `download()` can still fetch it later.
    """
    if keep_folder(client) is None or not task.succeeded:
        return
    try:
        ensure_kept(client, task)
    except (KittaError, OSError) as exc:
        logger.warning("could not keep the result of %s: %s", task.task_id, exc)


async def keep_finished_async(client: Any, task: LipSyncTask) -> None:
    """`keep_finished` on the event loop."""
    if keep_folder(client) is None or not task.succeeded:
        return
    try:
        await ensure_kept_async(client, task)
    except (KittaError, OSError) as exc:
        logger.warning("could not keep the result of %s: %s", task.task_id, exc)


def keep_bytes(client: Any, task: LipSyncTask, data: bytes) -> Path | None:
    """Keep fetched result bytes (a card's embed) when keeping is on; the kept path."""
    folder = keep_folder(client)
    if folder is None or not task.result_video_url:
        return None
    target = folder / _kept_name(client, task, result_suffix(str(task.result_video_url)))
    if target.is_file() and target.stat().st_size == len(data):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp = open_temp(target)
    try:
        with handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _record_kept(client, task, target, len(data), hashlib.sha256(data).hexdigest())
    return target


def keep_file(client: Any, task: LipSyncTask, source: Path, fetched: Fetched) -> Path | None:
    """Keep a downloaded result (a hard link where possible, else a copy)."""
    folder = keep_folder(client)
    if folder is None:
        return None
    target = folder / _kept_name(client, task, source.suffix or ".mp4")
    folder.mkdir(parents=True, exist_ok=True)
    if target.resolve() != source.resolve():
        handle, temp = open_temp(target)
        handle.close()
        try:
            temp.unlink()
            try:
                os.link(source, temp)
            except OSError:
                import shutil

                shutil.copyfile(source, temp)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
    _record_kept(client, task, target, fetched.size, fetched.sha256)
    return target


def _record_kept(client: Any, task: LipSyncTask, path: Path, size: int, sha256: str) -> None:
    journal = getattr(client, "journal", None)
    _journal_call(journal, "record_kept", task.task_id, str(path.absolute()), size, sha256)
    enforce_keep_cap(client, protect=path)


def enforce_keep_cap(client: Any, *, protect: Path | None = None) -> list[Path]:
    """Remove the oldest kept results until their total fits the cap; the removed paths."""
    folder = keep_folder(client)
    if folder is None or not folder.is_dir():
        return []
    cap = keep_max_bytes()
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    total = sum(p.stat().st_size for p in files)
    removed: list[Path] = []
    journal = getattr(client, "journal", None)
    for path in files:
        if total <= cap:
            break
        if protect is not None and path.resolve() == protect.resolve():
            continue
        size = path.stat().st_size
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            removed.append(path)
            _forget(journal, path)
    return removed


def _forget(journal: object, path: Path) -> None:
    """Drop the journal's record of a removed kept file."""
    for record in _journal_call(journal, "kept_oldest", 1_000_000) or ():
        recorded = _path_of(record)
        task_id = getattr(record, "task_id", None)
        if task_id is not None and recorded is not None and recorded.name == path.name:
            _journal_call(journal, "forget_kept", task_id)
            return


def kept_total_bytes(client: Any) -> int:
    """Disk used by this client's kept results (for the history summary)."""
    folder = keep_folder(client)
    if folder is None or not folder.is_dir():
        return 0
    return sum(
        p.stat().st_size for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
    )
