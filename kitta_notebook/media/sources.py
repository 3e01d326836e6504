"""Local media given by the user (a path, bytes or an open file) as one `LocalBlob`.

The service fetches media only by URL, so a local input must be published first; this
module names a create's media arguments (`MEDIA_ROLES`), decides what counts as local,
and reads it once to learn its size, its sha256 (the store key) and its real format.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import ValidationError
from .formats import SNIFF_BYTES, Sniffed, sniff

__all__ = [
    "MEDIA_ROLES",
    "LocalBlob",
    "Role",
    "SourceKind",
    "classify_source",
    "collect_local_sources",
    "media_fields",
    "to_blob",
]

CHUNK_BYTES = 1024 * 1024
_EXTENSION = re.compile(r"^[a-z0-9]{1,5}$")

SourceKind = Literal["url", "local", "missing", "other"]
Role = Literal["video", "audio", "image"]
MEDIA_ROLES: dict[str, Role] = {
    "video_url": "video",
    "audio_url": "audio",
    "image_url": "image",
    "reference_image_url": "image",
}
"""Each media argument of a create, and what it must contain."""


def _looks_like_path_text(text: str) -> bool:
    """A str with no URL scheme (a Windows drive letter is a path, not a scheme)."""
    head, colon, _ = text.partition(":")
    scheme = head if colon and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head) else ""
    return not scheme or len(scheme) == 1


def classify_source(value: object) -> SourceKind:
    """`url` for an http(s) URL string, `local` for something to publish, `missing` for
    a str that is neither a URL nor an existing file, `other` for anything else
    (None, a number, a non-http URL: left to the URL validator's messages)."""
    if isinstance(value, str):
        text = value.strip()
        # Not urlsplit: it raises on text such as "http://[" that the URL check reports.
        if text.partition(":")[0].lower() in ("http", "https") and ":" in text:
            return "url"
        if not text or not _looks_like_path_text(text):
            return "other"
        return "local" if Path(text).expanduser().is_file() else "missing"
    if isinstance(value, (LocalBlob, os.PathLike, bytes, bytearray, memoryview)):
        return "local"
    if callable(getattr(value, "read", None)):
        return "local"
    return "other"


@dataclass(frozen=True)
class LocalBlob:
    """One local input, read once: where its bytes are, and what they are.

    Exactly one of `path` and `data` is set. `name` is only for people (journal,
    messages); the store key comes from the content.
    """

    name: str
    size: int
    sha256: str
    sniffed: Sniffed
    path: Path | None = None
    data: bytes | None = None

    @property
    def extension(self) -> str:
        if self.sniffed.kind != "unknown":
            return self.sniffed.extension
        suffix = Path(self.name).suffix.lower().lstrip(".")
        return suffix if _EXTENSION.match(suffix) else "bin"

    @property
    def key(self) -> str:
        """Content-addressed store key: the same bytes always get the same key."""
        return f"{self.sha256}.{self.extension}"

    @property
    def content_type(self) -> str:
        return self.sniffed.content_type

    def open(self) -> IO[bytes]:
        if self.path is not None:
            return self.path.open("rb")
        return io.BytesIO(self.data or b"")

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "bytes"
        return (
            f"LocalBlob(name={self.name!r}, size={self.size}, sha256={self.sha256[:12]}…, "
            f"type={self.content_type!r}, from={where!r})"
        )


def _digest_file(path: Path) -> tuple[int, str, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest(), head


def _from_path(path: Path, field: str) -> LocalBlob:
    path = path.expanduser()
    if not path.is_file():
        raise ValidationError([(field, f"no file named {str(path)!r} exists here")])
    try:
        size, sha, head = _digest_file(path)
    except OSError as error:
        problem = f"{str(path)!r} cannot be read: {error.strerror}"
        raise ValidationError([(field, problem)]) from None
    return LocalBlob(path.name, size, sha, sniff(head), path=path)


def _from_bytes(data: bytes, name: str | None) -> LocalBlob:
    sniffed = sniff(data[:SNIFF_BYTES])
    label = name or f"upload.{sniffed.extension}"
    return LocalBlob(label, len(data), hashlib.sha256(data).hexdigest(), sniffed, data=data)


def _from_file_object(handle: Any, name: str | None, field: str) -> LocalBlob:
    """An open binary file: read through its real path when it has one, else into memory."""
    handle_name = getattr(handle, "name", None)
    if isinstance(handle_name, str) and Path(handle_name).is_file() and name is None:
        return _from_path(Path(handle_name), field)
    data = handle.read()
    if isinstance(data, str):
        raise ValidationError([(field, "This is a text-mode file: open it with mode 'rb'.")])
    label = name or (Path(handle_name).name if isinstance(handle_name, str) else None)
    return _from_bytes(bytes(data), label)


def to_blob(source: object, *, field: str = "source", name: str | None = None) -> LocalBlob:
    """Read a local source (path, path text, bytes or binary file) into a `LocalBlob`.

    Raises `ValidationError` naming `field` when the source is not local media
    (an http(s) URL is published by its host already; a missing file says so).
    """
    if isinstance(source, LocalBlob):  # already read (e.g. by an earlier check)
        return source
    kind = classify_source(source)
    if kind == "url":
        raise ValidationError([(field, "This is already a URL; only local files are published.")])
    if kind == "missing":
        problem = (
            f"{str(source).strip()!r} is neither an http(s) URL nor an existing "
            "local file: give a public URL or the path of a file on this machine."
        )
        raise ValidationError([(field, problem)])
    if isinstance(source, str):
        return _from_path(Path(source.strip()), field)
    if isinstance(source, os.PathLike):
        return _from_path(Path(os.fsdecode(os.fspath(source))), field)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(source), name)
    if kind == "local":
        return _from_file_object(source, name, field)
    problem = f"This must be a URL, a path, bytes or a binary file, not {type(source).__name__}."
    raise ValidationError([(field, problem)])


def media_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The media arguments that were given (not None, not blank)."""
    return {
        name: value
        for name, value in fields.items()
        if name in MEDIA_ROLES
        and value is not None
        and not (isinstance(value, str) and not value.strip())
    }


def collect_local_sources(fields: Mapping[str, Any]) -> dict[str, LocalBlob]:
    """Read every local media argument; one `ValidationError` lists every bad one."""
    blobs: dict[str, LocalBlob] = {}
    problems: list[tuple[str, str]] = []
    for name, value in media_fields(fields).items():
        if classify_source(value) not in ("local", "missing"):
            continue
        try:
            blobs[name] = to_blob(value, field=name)
        except ValidationError as error:
            problems += error.problems
    if problems:
        raise ValidationError(problems)
    return blobs
