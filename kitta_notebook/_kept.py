"""Result videos on disk: `download()` and kept copies.

A download goes through `_fetch` (no token, total deadline, size cap, a check
that a video arrived) into a hidden `.part` file renamed into place once
everything arrived, so a failure (an interrupt included) never leaves a
partial file and a failed re-download leaves the old file intact. An
existing file is replaced by default only when this toolkit wrote it and it
is unchanged (see `_written`); `overwrite=True` replaces any file,
`overwrite=False` none.

Kept results: with `keep_results` on (the client's setting, else
`KITTA_KEEP_RESULTS`; on by default for the embedded sandbox), each result
video the toolkit fetches is also kept under `KITTA_HOME/results` (or a
folder of your choice) and recorded in the journal, so a card plays it after
its link expired or the kernel restarted. Disk use is capped
(`KITTA_KEEP_MAX_BYTES`, default 2 GiB): the oldest of our unchanged kept
files go first, and a result larger than the cap is not kept.

With ``s3://bucket/prefix`` instead of a folder, results are kept in a
team's S3-compatible bucket (`_kept_s3`): the journal records the object,
so a teammate sharing the journal plays and exports it, its bytes checked
against the recorded sha256. The disk cap does not apply there, and nothing
ever deletes an object in the bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._core import check_timeout, kitta_home
from ._fetch import Fetched, FetchLimits, fetch
from ._kept_s3 import check_sha256, is_s3, keep_object, signed_url
from ._written import (
    DOWNLOAD,
    KEPT,
    Written,
    atomic_write,
    check_writable,
    forget,
    intact,
    key_of,
    not_ours,
    remember,
    result_file_name,
    result_suffix,
    result_url,
    safe_stem,
    written_in,
)
from .errors import DownloadError, KittaError, ValidationError

if TYPE_CHECKING:
    from .history.entry import KeptResult
    from .models import LipSyncTask

logger = logging.getLogger("kitta_notebook")

DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3
DEFAULT_DOWNLOAD_TIMEOUT = 600.0
"""Seconds one `download()` may take in total (fetching a fresh link included)."""
KEEP_TIMEOUT = 300.0
KEEP_ENV = "KITTA_KEEP_RESULTS"
KEEP_MAX_ENV = "KITTA_KEEP_MAX_BYTES"
DEFAULT_KEEP_MAX_BYTES = 2 * 1024**3


# --- downloads ---------------------------------------------------------------------------
def save(url: str, target: Path, limits: FetchLimits, sha256: str | None = None) -> Fetched:
    """Fetch `url` into `target` atomically; on any failure no file is left behind.

    With `sha256` (a kept copy's, its link signed just now), other bytes are a failure too.
    """
    try:
        with atomic_write(target) as (handle, _):
            fetched = fetch(url, limits, sink=handle.write, signed_now=sha256 is not None)
            if sha256 is not None:
                check_sha256(fetched, sha256)
            return fetched
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DownloadError(f"Cannot write {target} ({reason}).") from exc


def download_target(task: LipSyncTask, path: str | os.PathLike[str] | None) -> tuple[str, Path]:
    """(URL to fetch, file to write) for a task's result video; folders are created."""
    url = result_url(task)
    default_name = result_file_name(task.task_id, url)
    target = Path(default_name) if path is None else Path(path).expanduser()
    if path is not None and (target.is_dir() or str(path).endswith(("/", "\\"))):
        target = target / default_name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the folder {target.parent} ({exc.strerror or type(exc).__name__}); "
            "pass a path in a folder you can write to."
        ) from exc
    return url, target


def _check_timeout(timeout: float | None) -> float:
    value = check_timeout(DEFAULT_DOWNLOAD_TIMEOUT if timeout is None else timeout)
    if value == math.inf:  # a fetch needs a deadline it can reach
        raise ValidationError([("timeout", "The timeout must be a finite number of seconds.")])
    return value


def download(
    client: Any,
    task: LipSyncTask | str,
    path: str | os.PathLike[str] | None,
    *,
    overwrite: bool | None,
    timeout: float | None,
) -> Path:
    """`KittaClient.download`: fetch once more for a fresh link when the old one expired.

    An existing file is replaced by default only when this toolkit wrote it and
    it is unchanged (`_written.check_writable`); the download is also kept when
    keeping is on.
    """
    deadline_at = time.monotonic() + _check_timeout(timeout)
    snapshot = task if not isinstance(task, str) else client.lip_sync.get(task)
    for attempt in ("first", "fresh link"):
        url, target = download_target(snapshot, path)
        check_writable(target, overwrite)
        remaining = max(0.001, deadline_at - time.monotonic())
        limits = FetchLimits(remaining, DEFAULT_MAX_DOWNLOAD_BYTES)
        try:
            fetched = save(url, target, limits)
            break
        except DownloadError as exc:
            if not exc.expired:
                raise
            if attempt == "fresh link":
                fetched = _from_bucket_instead(client, snapshot, target, limits, exc)
                break
            snapshot = client.lip_sync.get(snapshot.task_id)
    with contextlib.suppress(OSError):  # unrecorded, the file is simply never replaced unasked
        remember(target, DOWNLOAD, fetched.size, fetched.sha256, snapshot.task_id)
    client.recorder.downloaded(snapshot, target)
    if not isinstance(task, str) and snapshot is not task:
        task._update_from(snapshot)
    with contextlib.suppress(KittaError, OSError):
        keep_file(client, snapshot, target, fetched.size, fetched.sha256)
    return target


def _from_bucket_instead(
    client: Any, task: LipSyncTask, target: Path, limits: FetchLimits, expired: DownloadError
) -> Fetched:
    """After the task's link stayed expired: its kept copy in the team's bucket, if any."""
    kept = kept_path(client, task)
    if kept is None or isinstance(kept, Path):
        raise expired
    return fetch_kept(kept, limits, target)


def ensure_kept(client: Any, task: LipSyncTask) -> Path | str | None:
    """Keep a succeeded task's result when keeping is on and no copy exists yet.

    For code that finishes tasks without showing them (a `wait()`, a batch):
    the result is fetched once, within `KEEP_TIMEOUT` and the disk cap,
    straight into the kept folder (or the bucket). Returns the kept path (or
    ``s3://`` location), or None when keeping is off; a result larger than the
    cap, or a file of the user's under the kept name, is a `DownloadError` and
    nothing is written.
    """
    place = keep_place(client)
    if place is None or not task.succeeded or not task.result_video_url:
        return None
    existing = kept_path(client, task)
    if existing is not None:
        return existing if isinstance(existing, Path) else existing.path
    url = result_url(task)
    name = _kept_name(client, task, result_suffix(url))
    if isinstance(place, str):
        with tempfile.TemporaryDirectory(prefix="kitta-keep-") as temp:
            source = Path(temp) / name
            fetched = save(url, source, FetchLimits(KEEP_TIMEOUT, DEFAULT_MAX_DOWNLOAD_BYTES))
            return _keep_in_bucket(client, task, place, name, source, fetched.sha256)
    folder = place
    target = folder / name
    cap = keep_max_bytes()
    if cap == 0:
        raise DownloadError(_too_large(None, cap), reason="too_large")
    _make_folder(folder)
    problem = not_ours(target)
    if problem is not None:
        raise DownloadError(problem)
    limits = FetchLimits(deadline=KEEP_TIMEOUT, max_bytes=min(cap, DEFAULT_MAX_DOWNLOAD_BYTES))
    try:
        fetched = save(url, target, limits)
    except DownloadError as exc:
        if exc.reason == "too_large" and cap < DEFAULT_MAX_DOWNLOAD_BYTES:
            raise DownloadError(_too_large(None, cap), reason="too_large") from exc
        raise
    _record_kept(client, task, target, fetched.size, fetched.sha256)
    return target


def keep_finished(client: Any, task: LipSyncTask) -> None:
    """After a wait: keep a succeeded task's result when keeping is on.

    The wait itself succeeded, so a result host that fails now costs a log line,
    not the caller's task: the card or `download()` can still fetch it later.
    """
    try:
        ensure_kept(client, task)
    except (KittaError, OSError) as exc:
        logger.warning("could not keep the result of %s: %s", task.task_id, exc)


# --- kept copies -------------------------------------------------------------------------
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def keep_folder(client: Any) -> Path | None:
    """The folder where this client keeps result videos, or None (off, or a bucket)."""
    place = keep_place(client)
    return place if isinstance(place, Path) else None


def keep_place(client: Any) -> Path | str | None:
    """Where this client keeps result videos: a folder, an ``s3://bucket/prefix``, or
    None when keeping is off. The one place that decides.

    Order: the client's `keep_results` (True, False, a folder or an s3:// URL), then
    `KITTA_KEEP_RESULTS` (1/0, a folder or an s3:// URL); off otherwise.
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
    if is_s3(setting):
        return str(setting).strip()
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
    """The kept file's name: the task id and a tag of the service, so two never share one."""
    origin_and_id = f"{client._config.origin}\n{task.task_id}"
    tag = hashlib.sha256(origin_and_id.encode("utf-8", "surrogatepass"))
    return f"{safe_stem(task.task_id)[:80]}-{tag.hexdigest()[:8]}{suffix}"


def kept_path(client: Any, task: LipSyncTask) -> Path | KeptResult | None:
    """The kept copy of a task's result, when keeping is on: an intact file on
    disk, or the journal's record of an object in a team's bucket (checked when read).

    Intact: written by this toolkit and still holding the bytes it recorded
    (checked once per size and mtime, so cards stay fast). A copy that was
    replaced or changed is never played or exported: the task's link is used
    instead, and the changed file is left alone.
    """
    place = keep_place(client) if client is not None else None
    if place is None:
        return None
    if isinstance(place, Path) and task.result_video_url:
        path = place / _kept_name(client, task, result_suffix(str(task.result_video_url)))
        if intact(path):
            return path
    record = _journal_call(client.journal, "kept", task.task_id)
    if record is not None and is_s3(record.path):
        return record  # type: ignore[no-any-return]
    if record is None or not intact(Path(record.path), record.sha256):
        return None
    return Path(record.path)


def fetch_kept(record: KeptResult, limits: FetchLimits, target: Path | None = None) -> Fetched:
    """A kept object in a bucket, through a fresh signed URL, checked against its
    recorded sha256: into `target` (other bytes leave no file) or into memory."""
    url = signed_url(record.path, KEEP_ENV)
    try:
        if target is not None:
            return save(url, target, limits, record.sha256)
        fetched = fetch(url, limits, signed_now=True)
        check_sha256(fetched, record.sha256)
        return fetched
    except DownloadError as exc:
        if exc.reason == "changed":
            logger.warning("the kept result of %s is not used: %s", record.task_id, exc)
        if exc.reason == "denied":  # the link was signed just now: not an expired one
            raise DownloadError(
                f"The team's bucket refused the kept copy {record.path}: {exc.arrived}, "
                "access denied. Check the storage credentials (AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY), the KITTA_MEDIA_* settings and the bucket's policy.",
                url=exc.url,
                status_code=exc.status_code,
                arrived=exc.arrived,
                reason="denied",
            ) from None
        raise


def kept_bytes(client: Any, task: LipSyncTask, max_bytes: int, deadline: float) -> bytes | None:
    """The kept copy's bytes, when there is one within `max_bytes` (a bucket's within
    `deadline` seconds)."""
    kept = kept_path(client, task)
    if isinstance(kept, Path):
        return None if kept.stat().st_size > max_bytes else kept.read_bytes()
    if kept is None or kept.size > max_bytes:
        return None
    return fetch_kept(kept, FetchLimits(deadline, max_bytes)).data


def _journal_call(journal: object, name: str, *args: object) -> Any:
    method = getattr(journal, name, None)
    if not callable(method):
        return None
    try:
        return method(*args)
    except Exception:  # the journal is a convenience here: keeping must not fail a view
        return None


def _too_large(size: int | None, cap: int) -> str:
    what = "It is" if size is None else f"It is {size:,} bytes,"
    return (
        f"{what} more than {KEEP_MAX_ENV} ({cap:,} bytes) allows, so the cap holds. "
        "The card and download() still fetch it from its link."
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


def _may_keep(task: LipSyncTask, target: Path, size: int) -> bool:
    """Whether a result of `size` bytes may be kept at `target` (else the log says why)."""
    cap = keep_max_bytes()
    problem = _too_large(size, cap) if size > cap else None
    if problem is None:
        _make_folder(target.parent)
        problem = not_ours(target)
    if problem is not None:
        logger.warning("the result of %s was not kept: %s", task.task_id, problem)
    return problem is None


def keep_bytes(client: Any, task: LipSyncTask, data: bytes) -> Path | None:
    """Keep fetched result bytes (a card's embed) in the kept folder; the kept path.

    Not in a bucket: a card must not wait for an upload (a wait, a batch and
    `download()` keep there).
    """
    folder = keep_folder(client)
    if folder is None or not task.result_video_url:
        return None
    target = folder / _kept_name(client, task, result_suffix(str(task.result_video_url)))
    sha256 = hashlib.sha256(data).hexdigest()
    if intact(target, sha256):
        return target
    if not _may_keep(task, target, len(data)):
        return None
    with atomic_write(target) as (handle, _):
        handle.write(data)
    _record_kept(client, task, target, len(data), sha256)
    return target


def keep_file(
    client: Any, task: LipSyncTask, source: Path, size: int, sha256: str
) -> Path | str | None:
    """Keep a downloaded result (a hard link where possible, else a copy, or an upload)."""
    place = keep_place(client)
    if place is None:
        return None
    name = _kept_name(client, task, source.suffix or ".mp4")
    if isinstance(place, str):
        return _keep_in_bucket(client, task, place, name, source, sha256)
    target = place / name
    if not _may_keep(task, target, size):
        return None
    if target.resolve() != source.resolve():
        with atomic_write(target) as (handle, temp):
            handle.close()
            temp.unlink()
            try:
                os.link(source, temp)
            except OSError:
                shutil.copyfile(source, temp)
    _record_kept(client, task, target, size, sha256)
    return target


def _record_kept(client: Any, task: LipSyncTask, path: Path, size: int, sha256: str) -> None:
    remember(path, KEPT, size, sha256, task.task_id)
    _journal_call(client.journal, "record_kept", task.task_id, str(path.absolute()), size, sha256)
    enforce_keep_cap(client, protect=path)


def _keep_in_bucket(
    client: Any, task: LipSyncTask, bucket: str, name: str, source: Path, sha256: str
) -> str:
    """Upload once (the journal's record of the same bytes means it is there) and record."""
    recorded = _journal_call(client.journal, "kept", task.task_id)
    if recorded is not None and is_s3(recorded.path) and recorded.sha256 == sha256:
        return str(recorded.path)
    location, size, digest = keep_object(bucket, name, source, KEEP_ENV)
    _journal_call(client.journal, "record_kept", task.task_id, location, size, digest)
    return location


def enforce_keep_cap(client: Any, *, protect: Path | None = None) -> list[Path]:
    """Remove the oldest kept results until their total fits the cap; the removed paths.

    Only results this toolkit kept in the folder, still byte for byte as it
    wrote them, count and may go: every other file there is the user's.
    """
    folder = keep_folder(client)
    if folder is None or not folder.is_dir():
        return []
    cap = keep_max_bytes()
    kept = []
    for record in written_in(folder, KEPT):
        if intact(record.path):  # the index holds record.sha256: checked against it
            kept.append(record)
        else:  # gone, or changed by someone else: no longer ours to count or remove
            _forget_kept(record, client.journal)
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
        _forget_kept(record, client.journal)
        total -= record.size
        removed.append(record.path)
    return removed


def _forget_kept(record: Written, journal: object) -> None:
    """Drop a kept file from the index, and the journal's record when it names that file."""
    forget(record.path)
    if record.task_id is None:
        return
    recorded = _journal_call(journal, "kept", record.task_id)
    if recorded is not None and key_of(Path(recorded.path)) == key_of(record.path):
        _journal_call(journal, "forget_kept", record.task_id)
