"""Publishing local inputs: `MediaStore` (the one publish routine), the sandbox's store,
and which store a client uses (`resolve_store`).

Every store keeps objects under content-addressed keys (`<sha256>.<ext>`), so the
routine is the same for all of them: HEAD the key, upload only when it is absent, then
hand out a URL the service can fetch. Stores supply those three primitives. `S3Store`
is in `s3_store`, imported only when ``KITTA_MEDIA_STORE`` or the code asks for one.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from .._fetch import DeadlineExceeded, within
from ..errors import PublishError, ValidationError
from ..i18n import Finding
from .sources import LocalBlob, to_blob

if TYPE_CHECKING:
    from .s3_store import S3Store

__all__ = [
    "HOW_TO_CONFIGURE",
    "MediaStore",
    "Progress",
    "PublishedMedia",
    "SandboxStore",
    "resolve_store",
    "store_from_env",
]

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
