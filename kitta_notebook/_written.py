"""Files the toolkit writes: result names, atomic writes, and the index of what it wrote.

The index (`KITTA_HOME/written.sqlite`, shared by every process, account and
journal of this machine) records each download, kept result and export (path,
size, mtime, sha256, kind). A file counts as ours only while it still holds
what was written: same size and, when its mtime moved, the same sha256.
Anything else at a path, a user's file or a kept copy someone replaced, is
never overwritten, removed or served.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from ._core import kitta_home
from .errors import DownloadError, ValidationError
from .validation import check_url

if TYPE_CHECKING:
    import sqlite3

    from .models import LipSyncTask

logger = logging.getLogger("kitta_notebook")

MAX_NAME_CHARS = 100
INDEX_NAME = "written.sqlite"
KEPT, DOWNLOAD, EXPORT = "kept", "download", "export"


# --- names --------------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10))} | {
    f"lpt{i}" for i in range(10)
}


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


def result_file_name(task_id: object, url: str) -> str:
    """A result's default file name: the task id made safe, with the URL's extension."""
    return safe_stem(task_id) + result_suffix(url)


def result_url(task: LipSyncTask) -> str:
    """The result URL to fetch, or a clear error why there is none."""
    if not task.result_video_url:
        message = f"Task {task.task_id} has no result video yet (status {task.status_text})."
        raise ValidationError([("result_video_url", message)])
    url, problem = check_url(task.result_video_url, require_public=False)
    if problem or url is None:
        raise ValidationError([("result_video_url", problem or "It is not a URL.")])
    return url


# --- atomic writes ------------------------------------------------------------------------
class atomic_write:
    """`with atomic_write(target) as (handle, path)`: a hidden `.part` file beside
    `target` that replaces it when the block ends normally; on any failure (an
    interrupt included) it is removed instead.

    A class, not a generator: an interrupt that lands just after the file was created
    (inside `__enter__`) still removes it; a generator's cleanup would wait for its
    frame, which the interrupt's traceback keeps alive.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        # Named before it exists, so a cleanup knows it whenever the interrupt lands.
        self.temp = target.parent / f".{target.name[:40]}.{secrets.token_hex(6)}.part"
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> tuple[IO[bytes], Path]:
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            self.handle = os.fdopen(os.open(self.temp, flags, 0o600), "wb")
        except OSError as exc:
            self._discard()
            raise DownloadError(
                f"Cannot write in {self.target.parent} ({exc.strerror or type(exc).__name__}); "
                "pass a path in a folder you can write to."
            ) from exc
        except BaseException:
            self._discard()
            raise
        return self.handle, self.temp

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if self.handle is not None:
                self.handle.close()
            if kind is None:
                os.replace(self.temp, self.target)
                return
        except BaseException:
            self._discard()
            raise
        self._discard()

    def _discard(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(Exception):
                self.handle.close()
        with contextlib.suppress(OSError):
            self.temp.unlink()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the index of what we wrote -----------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS written (
    path TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    task_id TEXT,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    written_ts REAL NOT NULL
)
"""
_VERIFIED_LIMIT = 4096
# (path, size, mtime_ns) -> sha256 of a file this process found intact ("" when it is
# not ours): a card shown again hashes nothing, and a changed file has a new key.
_verified: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Written:
    path: Path
    kind: str
    task_id: str | None
    size: int
    sha256: str
    written_ts: float


def key_of(path: Path) -> str:
    """One spelling per file: the absolute path through the real folder."""
    absolute = Path(os.path.abspath(path))
    return _storable(str(absolute.parent.resolve() / absolute.name))


def _storable(text: str) -> str:
    """`text` as SQLite can store it: a lone surrogate (a name that is not valid UTF-8, a
    task id from a JSON escape) is spelled out as `\\udxxx` instead of failing."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@contextlib.contextmanager
def _index() -> Iterator[sqlite3.Connection]:
    import sqlite3  # loaded when a file is first written, not at `import kitta_notebook`

    home = kitta_home()
    home.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(home / INDEX_NAME, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise OSError(f"cannot open {home / INDEX_NAME}: {exc}") from exc
    try:
        conn.execute(_SCHEMA)
        yield conn
    except sqlite3.Error as exc:  # callers handle file trouble as OSError
        raise OSError(f"cannot use {home / INDEX_NAME}: {exc}") from exc
    finally:
        conn.close()


def remember(path: Path, kind: str, size: int, sha256: str, task_id: str | None = None) -> None:
    """Record a file just written (atomically, by us) with the bytes it holds."""
    info = path.stat()
    task = None if task_id is None else _storable(task_id)
    row = (key_of(path), kind, task, int(size), info.st_mtime_ns, sha256, time.time())
    with _index() as conn:
        conn.execute("INSERT OR REPLACE INTO written VALUES (?, ?, ?, ?, ?, ?, ?)", row)
    with _lock:
        _verified[(key_of(path), info.st_size, info.st_mtime_ns)] = sha256


def forget(path: Path) -> None:
    """Stop counting `path` as ours (it was removed, or someone else changed it)."""
    key = key_of(path)
    with _index() as conn:
        conn.execute("DELETE FROM written WHERE path = ?", (key,))
    with _lock:
        for cached in [k for k in _verified if k[0] == key]:
            del _verified[cached]


def intact(path: Path, sha256: str | None = None) -> bool:
    """Whether `path` is a file we wrote and still holds what we wrote (and `sha256`, if given).

    False for anything unknown, changed or unreadable, and when the index
    cannot be read: in doubt, a file is the user's.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return False
        key = key_of(path)
        cache_key = (key, info.st_size, info.st_mtime_ns)
        with _lock:
            known = _verified.get(cache_key)
        if known is None:
            known = _verify(path, key, info) or ""  # "": not ours, also remembered
            with _lock:
                if len(_verified) >= _VERIFIED_LIMIT:
                    _verified.clear()
                _verified[cache_key] = known
    except OSError:
        return False
    return bool(known) and (sha256 is None or known == sha256)


def _verify(path: Path, key: str, info: os.stat_result) -> str | None:
    """The recorded sha256 when the file on disk still matches the record, else None."""
    with _index() as conn:
        row = conn.execute(
            "SELECT size, mtime_ns, sha256 FROM written WHERE path = ?", (key,)
        ).fetchone()
    if row is None or int(row[0]) != info.st_size:
        return None
    if int(row[1]) == info.st_mtime_ns:
        return str(row[2])
    if sha256_of(path) != row[2]:
        logger.warning("%s changed since kitta-notebook wrote it; it is left alone", path)
        return None
    return str(row[2])


def written_in(folder: Path, kind: str) -> list[Written]:
    """What we wrote of one kind directly in `folder`, oldest first."""
    prefix = key_of(folder / "x")[:-1]
    with _index() as conn:
        rows = conn.execute(
            "SELECT path, kind, task_id, size, sha256, written_ts FROM written "
            "WHERE kind = ? AND substr(path, 1, ?) = ? ORDER BY written_ts, path",
            (kind, len(prefix), prefix),
        ).fetchall()
    found = [Written(Path(r[0]), r[1], r[2], int(r[3]), str(r[4]), float(r[5])) for r in rows]
    return [w for w in found if w.path.parent == Path(prefix)]


def conflicts(targets: list[Path]) -> list[Path]:
    """The targets that exist and are not ours (what a write there would destroy)."""
    return [p for p in targets if (p.exists() or p.is_symlink()) and not intact(p)]


def not_ours(target: Path) -> str | None:
    """Why `target` must not be written: a file there that this toolkit did not write."""
    if not conflicts([target]):
        return None
    return (
        f"{target} exists and was not written by kitta-notebook (or was changed since); "
        "it was left untouched."
    )


def check_writable(target: Path, overwrite: bool | None) -> None:
    """Refuse, before anything is fetched, to replace a file the caller may still want.

    `overwrite`: True replaces any file, False none, None only our unchanged ones.
    """
    if overwrite is True or not (target.exists() or target.is_symlink()):
        return
    if overwrite is False:
        raise DownloadError(f"{target} exists already; pass overwrite=True to replace it.")
    problem = not_ours(target)
    if problem is not None:
        raise DownloadError(f"{problem} Pass another path, or overwrite=True to replace it.")
