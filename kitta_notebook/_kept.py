"""Kept results: local copies of result videos that outlive links and kernels.

With `keep_results` on (the client's setting, else `KITTA_KEEP_RESULTS`; on
by default for the embedded sandbox), each result video the toolkit fetches
is also kept under `KITTA_HOME/results` (or a folder of your choice) and
recorded in the journal (path, size, sha256), so a card plays it after its
link expired or the kernel restarted. Disk use is capped
(`KITTA_KEEP_MAX_BYTES`, default 2 GiB); the oldest kept results go first,
and a result larger than the cap is not kept. The folder may hold the user's
own files: only results this toolkit wrote there, still unchanged (see
`_written`), are ever counted, replaced, removed or played.
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
from ._written import KEPT, Written, conflicts, forget, intact, key_of, remember, written_in
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
    setting = client._config.keep_results
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
    config = client._config
    if config.keep_results is None and os.environ.get(KEEP_ENV) is None:
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
    origin = str(client._config.origin)
    tag = hashlib.sha256(f"{origin}\n{task.task_id}".encode("utf-8", "surrogatepass"))
    return f"{safe_stem(task.task_id)[:80]}-{tag.hexdigest()[:8]}{suffix}"


def kept_path(client: Any, task: LipSyncTask) -> Path | None:
    """The kept copy of a task's result, when keeping is on and an intact one is on disk.

    Intact: written by this toolkit and still holding the bytes it recorded
    (see `_written`; checked once per size and mtime, so cards stay fast). A
    copy that was replaced or changed is never played or exported: the task's
    link is used instead, and the changed file is left alone.
    """
    folder = keep_folder(client) if client is not None else None
    if folder is None:
        return None
    if task.result_video_url:
        path = folder / _kept_name(client, task, result_suffix(str(task.result_video_url)))
        if intact(path):
            return path
    record = _journal_call(client.journal, "kept", task.task_id)
    if record is None or not intact(Path(record.path), record.sha256):
        return None
    return Path(record.path)


def _path_of(record: Any) -> Path | None:
    """The file of the journal's `KeptResult`, if it has one."""
    return None if record is None else Path(record.path)


def _journal_call(journal: object, name: str, *args: object) -> Any:
    method = getattr(journal, name, None)
    if not callable(method):
        return None
    try:
        return method(*args)
    except Exception:  # the journal is a convenience here: keeping must not fail a view
        return None


KEEP_TIMEOUT = 300.0


def _not_kept(task: LipSyncTask, why: str) -> None:
    logger.warning("the result of %s was not kept: %s", task.task_id, why)


def _too_large(size: int | None, cap: int) -> str:
    what = "It is" if size is None else f"It is {size:,} bytes,"
    return (
        f"{what} more than {KEEP_MAX_ENV} ({cap:,} bytes) allows, so the cap holds. "
        "The card and download() still fetch it from its link."
    )


def _in_the_way(target: Path) -> str | None:
    """Why `target` must not be written: a file there that this toolkit did not write."""
    if not conflicts([target]):
        return None
    return (
        f"{target} exists and was not written by kitta-notebook (or was changed since); "
        "it was left untouched."
    )


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the folder {folder} for kept results "
            f"({exc.strerror or type(exc).__name__}); set KITTA_KEEP_RESULTS to a folder "
            "you can write to, or to 0."
        ) from exc


async def ensure_kept_async(client: Any, task: LipSyncTask) -> Path | None:
    """Keep a succeeded task's result when keeping is on and no copy exists yet.

    For code that finishes tasks without showing them (a `wait()`, a batch):
    the result is fetched once, within `KEEP_TIMEOUT` and the disk cap,
    straight into the kept folder. Returns the kept path, or None when keeping
    is off; a result larger than the cap, or a file of the user's under the
    kept name, is a `DownloadError` and nothing is written.
    """
    folder = keep_folder(client)
    if folder is None or not task.succeeded or not task.result_video_url:
        return None
    existing = kept_path(client, task)
    if existing is not None:
        return existing
    url = result_url(task)
    target = folder / _kept_name(client, task, result_suffix(url))
    cap = keep_max_bytes()
    if cap == 0:
        raise DownloadError(_too_large(None, cap), reason="too_large")
    _make_folder(folder)
    problem = _in_the_way(target)
    if problem is not None:
        raise DownloadError(problem)
    limits = FetchLimits(deadline=KEEP_TIMEOUT, max_bytes=min(cap, DEFAULT_MAX_DOWNLOAD_BYTES))
    try:
        saved = await save_async(url, target, limits)
    except DownloadError as exc:
        if exc.reason == "too_large" and cap < DEFAULT_MAX_DOWNLOAD_BYTES:
            raise DownloadError(_too_large(None, cap), reason="too_large") from exc
        raise
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
    try:
        ensure_kept(client, task)
    except (KittaError, OSError) as exc:
        logger.warning("could not keep the result of %s: %s", task.task_id, exc)


async def keep_finished_async(client: Any, task: LipSyncTask) -> None:
    """`keep_finished` on the event loop."""
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
    sha256 = hashlib.sha256(data).hexdigest()
    if intact(target, sha256):
        return target
    if not _fits(task, len(data)):
        return None
    _make_folder(folder)
    problem = _in_the_way(target)
    if problem is not None:
        _not_kept(task, problem)
        return None
    handle, temp = open_temp(target)
    try:
        with handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _record_kept(client, task, target, len(data), sha256)
    return target


def keep_file(client: Any, task: LipSyncTask, source: Path, fetched: Fetched) -> Path | None:
    """Keep a downloaded result (a hard link where possible, else a copy)."""
    folder = keep_folder(client)
    if folder is None or not _fits(task, fetched.size):
        return None
    target = folder / _kept_name(client, task, source.suffix or ".mp4")
    _make_folder(folder)
    if target.resolve() != source.resolve():
        problem = _in_the_way(target)
        if problem is not None:
            _not_kept(task, problem)
            return None
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


def _fits(task: LipSyncTask, size: int) -> bool:
    """Whether one result of `size` bytes can be kept at all (else the user is told)."""
    cap = keep_max_bytes()
    if size <= cap:
        return True
    _not_kept(task, _too_large(size, cap))
    return False


def _record_kept(client: Any, task: LipSyncTask, path: Path, size: int, sha256: str) -> None:
    remember(path, KEPT, size, sha256, task.task_id)
    _journal_call(client.journal, "record_kept", task.task_id, str(path.absolute()), size, sha256)
    enforce_keep_cap(client, protect=path)


def enforce_keep_cap(client: Any, *, protect: Path | None = None) -> list[Path]:
    """Remove the oldest kept results until their total fits the cap; the removed paths.

    Only results this toolkit kept in the folder, still byte for byte as it
    wrote them, count and may go: every other file there is the user's.
    """
    folder = keep_folder(client)
    if folder is None or not folder.is_dir():
        return []
    cap = keep_max_bytes()
    journal = client.journal
    kept = _intact_kept(folder, journal)
    total = sum(record.size for record in kept)
    keep = None if protect is None else key_of(protect)
    removed: list[Path] = []
    for record in kept:
        if total <= cap:
            break
        if key_of(record.path) == keep:
            continue
        try:
            record.path.unlink(missing_ok=True)
        except OSError:
            continue
        _forget(record, journal)
        total -= record.size
        removed.append(record.path)
    return removed


def _intact_kept(folder: Path, journal: object) -> list[Written]:
    """The kept results in `folder` still as written, oldest first; others are forgotten."""
    found = []
    for record in written_in(folder, KEPT):
        if intact(record.path):  # the index holds record.sha256: checked against it
            found.append(record)
        else:  # gone, or changed by someone else: no longer ours to count or remove
            _forget(record, journal)
    return found


def _forget(record: Written, journal: object) -> None:
    """Drop a kept file from the index, and the journal's record when it names that file."""
    forget(record.path)
    if record.task_id is None:
        return
    recorded = _path_of(_journal_call(journal, "kept", record.task_id))
    if recorded is not None and key_of(recorded) == key_of(record.path):
        _journal_call(journal, "forget_kept", record.task_id)
