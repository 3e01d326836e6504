"""Local media and where it is published: a local input (a path, bytes or an open file)
read once into a `LocalBlob`, and the stores that publish it.

The service fetches media only by URL, so a local input must be published first. This
module names a create's media arguments (`MEDIA_ROLES`), decides what counts as local,
and reads it once to learn its size, its sha256 (the store key) and its real format.
Every store keeps objects under content-addressed keys (`<sha256>.<ext>`), so publishing
is one routine for all (`MediaStore.publish`): HEAD the key, upload only when it is
absent, then hand out a URL the service can fetch. `SandboxStore` publishes to a running
sandbox; `S3Store` is in `s3_store`, imported only when ``KITTA_MEDIA_STORE`` or the code
asks for one; `resolve_store` chooses.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import httpx

from .._fetch import DeadlineExceeded, within
from ..errors import PublishError, ValidationError
from ..i18n import Finding
from .formats import SNIFF_BYTES, Sniffed, sniff

if TYPE_CHECKING:
    from .s3_store import S3Store

__all__ = [
    "HOW_TO_CONFIGURE",
    "MEDIA_ROLES",
    "LocalBlob",
    "MediaStore",
    "Progress",
    "PublishedMedia",
    "Role",
    "SandboxStore",
    "SourceKind",
    "classify_source",
    "collect_local_sources",
    "media_fields",
    "resolve_store",
    "store_from_env",
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


def collect_local_sources(
    fields: Mapping[str, Any], read: Callable[..., LocalBlob] = to_blob
) -> dict[str, LocalBlob]:
    """Read every local media argument with `read` (`to_blob`, or a batch's reader that
    reads each source once); one `ValidationError` lists every bad one."""
    blobs: dict[str, LocalBlob] = {}
    problems: list[tuple[str, str]] = []
    for name, value in media_fields(fields).items():
        if classify_source(value) not in ("local", "missing"):
            continue
        try:
            blobs[name] = read(value, field=name)
        except ValidationError as error:
            problems += error.problems
    if problems:
        raise ValidationError(problems)
    return blobs


# --- publishing: one routine for every store --------------------------------------------------
Progress = Callable[[int, int], None]
"""Called with (bytes uploaded so far, total bytes)."""


@dataclass(frozen=True)
class PublishedMedia:
    """A local input now reachable at `url` (until `expires_at`; None = no expiry).

    `record()` is what the journal keeps: no URL signature, no credentials.
    """

    url: str = field(repr=False)  # a presigned GET's signature is never shown
    expires_at: datetime | None
    sha256: str
    size: int
    content_type: str
    key: str
    file_name: str
    store: str
    uploaded_bytes: int
    """0 when the store already held these bytes (nothing was sent)."""

    def record(self) -> dict[str, Any]:
        return {
            "file_name": self.file_name,
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "key": self.key,
            "store": self.store,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
        }


DEADLINE_BYTES = 16 * 1024 * 1024


def upload_deadline(timeout: float, size: int) -> float:
    """An upload's total deadline: `timeout` per 16 MiB started (at least 0.27 MB/s at 60 s)."""
    return timeout * max(1, math.ceil(size / DEADLINE_BYTES))


def cumulative_progress(progress: Progress | None, total: int) -> Callable[[int], None]:
    """Turn per-chunk byte counts (from any thread) into (done, total) calls."""
    lock = threading.Lock()
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        with lock:
            done += count
            current = done
        if progress is not None:
            progress(min(current, total), total)

    return advance


def verified_chunks(blob: LocalBlob, chunk_size: int) -> Iterator[bytes]:
    """The blob's bytes as read now, ending in a `PublishError` when they are not the
    bytes that were hashed and checked: a file changed since must never be stored under
    the old content address. Stores send these chunks and commit only after the last."""
    digest = hashlib.sha256()
    size = 0
    with blob.open() as handle:
        # One byte past the hashed size is enough to see that the file grew.
        while chunk := handle.read(min(chunk_size, blob.size + 1 - size)):
            size += len(chunk)
            if size > blob.size:
                break
            digest.update(chunk)
            yield chunk
    if size != blob.size or digest.hexdigest() != blob.sha256:
        raise PublishError(
            f"{blob.name} changed after it was checked (its size or content is no longer "
            "what was hashed), so it was not published: run the cell again to check and "
            "publish the file as it is now.",
            code="changed",
        )


class MediaStore(ABC):
    """Where local inputs are published: a store supplies `describe` and the three
    primitives, `publish` is the same for all. A store must never put credentials in
    `describe()`, a repr, an exception or a log line."""

    @abstractmethod
    def describe(self) -> str:
        """A credential-free name for the journal, like ``s3://bucket/prefix``."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def upload(self, blob: LocalBlob, key: str, progress: Progress | None) -> None: ...

    @abstractmethod
    def url_for(self, key: str) -> tuple[str, datetime | None]:
        """A URL the service can GET without credentials, and when it stops working."""

    def publish(
        self, source: object, *, progress: Progress | None = None, quiet: bool = False
    ) -> PublishedMedia:
        """Publish a path, path text, bytes or binary file: HEAD, upload when absent, then a
        URL. Publishing the same bytes twice sends 0 bytes."""
        blob = to_blob(source)
        progress = None if quiet else progress
        uploaded = 0
        if not self.exists(blob.key):
            self.upload(blob, blob.key, progress)
            uploaded = blob.size
        elif progress is not None:
            progress(blob.size, blob.size)
        url, expires_at = self.url_for(blob.key)
        return PublishedMedia(
            url=url,
            expires_at=expires_at,
            sha256=blob.sha256,
            size=blob.size,
            content_type=blob.content_type,
            key=blob.key,
            file_name=blob.name,
            store=self.describe(),
            uploaded_bytes=uploaded,
        )


# --- the sandbox's own store: a sandbox-only route, not part of the real API ------------------
# `PUT {base}/_sandbox/media/{key}` stores the raw body (the sandbox checks that the key's
# sha256 matches), `HEAD` says whether a key is there, `GET` serves it with Range. These
# requests carry no Authorization header: the Kitta token is never sent.
ROUTE = "/_sandbox/media/"
UPLOAD_CHUNK_BYTES = 256 * 1024


class SandboxStore(MediaStore):
    """Publish local files to a running sandbox, e.g. ``SandboxStore(sandbox.origin)``.

    URLs never expire (the sandbox keeps uploads as long as its store lives). `timeout`:
    the seconds each request may take in all (an upload: per 16 MiB started).
    """

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SandboxStore({self.base_url!r})"

    def describe(self) -> str:
        return f"sandbox {self.base_url}"

    def _url(self, key: str) -> str:
        return f"{self.base_url}{ROUTE}{key}"

    def _send(
        self, method: str, key: str, failed: str, size: int = 0, **options: Any
    ) -> httpx.Response:
        """One request on a connection of its own (a store made per create keeps none
        open), over within its total deadline (`upload_deadline` of `size`) however
        slowly the sandbox answers; no proxy from the environment: the sandbox is local."""
        seconds = upload_deadline(self._timeout, size)
        http = httpx.Client(timeout=self._timeout, trust_env=False)

        def send() -> httpx.Response:
            with http:
                return http.request(method, self._url(key), **options)

        try:
            return within(seconds, send, http.close)
        except DeadlineExceeded:
            message = f"{failed}: no answer within {seconds:.3g} s"
            raise PublishError(message, code="timeout") from None
        except httpx.HTTPError as error:
            raise PublishError(f"{failed} ({type(error).__name__})") from None

    def exists(self, key: str) -> bool:
        response = self._send("HEAD", key, f"the sandbox at {self.base_url} could not be reached")
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise PublishError(
            f"the sandbox answered HTTP {response.status_code} to HEAD {ROUTE}{key}",
            code=str(response.status_code),
        )

    def upload(self, blob: LocalBlob, key: str, progress: Progress | None) -> None:
        advance = cumulative_progress(progress, blob.size)

        def body() -> Iterator[bytes]:
            for chunk in verified_chunks(blob, UPLOAD_CHUNK_BYTES):
                yield chunk
                advance(len(chunk))

        headers = {"Content-Type": blob.content_type, "Content-Length": str(blob.size)}
        failed = f"uploading {blob.name} to the sandbox failed"
        response = self._send("PUT", key, failed, blob.size, content=body(), headers=headers)
        if response.status_code not in (200, 201):
            detail = response.text[:200].strip()
            raise PublishError(
                f"the sandbox refused {blob.name}: HTTP {response.status_code} {detail}",
                code=str(response.status_code),
            )

    def url_for(self, key: str) -> tuple[str, datetime | None]:
        return self._url(key), None


# --- which store a client uses ----------------------------------------------------------------
ENV_STORE = "KITTA_MEDIA_STORE"

HOW_TO_CONFIGURE = Finding("media_store_how")


def store_from_env(environ: Mapping[str, str] | None = None) -> S3Store | None:
    """The `S3Store` that ``KITTA_MEDIA_STORE=s3://bucket/prefix`` names, or None if unset."""
    env = os.environ if environ is None else environ
    spec = env.get(ENV_STORE, "").strip()
    if not spec:
        return None
    from .s3_store import s3_store_at  # only when an S3 store is configured

    return s3_store_at(spec, ENV_STORE, env)


def resolve_store(
    store: MediaStore | None = None,
    *,
    sandbox_url: str | None = None,
    field: str = "store",
    environ: Mapping[str, str] | None = None,
) -> MediaStore:
    """The store to publish with: `store` if given, else the sandbox's (when `sandbox_url`,
    the sandbox origin, is given: a sandbox client never uploads to real storage by
    surprise), else the environment's, else a `ValidationError` naming `field`
    that explains how to configure one. Call it before anything is sent."""
    if store is not None:
        return store
    if sandbox_url is not None:
        return SandboxStore(sandbox_url)
    configured = store_from_env(environ)
    if configured is not None:
        return configured
    raise ValidationError([(field, Finding("media_no_store", how=HOW_TO_CONFIGURE))])
