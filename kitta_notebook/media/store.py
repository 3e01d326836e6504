"""Publishing: the `MediaStore` protocol, its result, and the one publish routine.

Every store keeps objects under content-addressed keys (`<sha256>.<ext>`), so the
routine is the same for all of them: HEAD the key, upload only when it is absent,
then hand out a URL the service can fetch. Stores supply those three primitives.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..errors import PublishError
from .sources import LocalBlob, to_blob

__all__ = [
    "AsyncMediaStore",
    "MediaStore",
    "Progress",
    "PublishedMedia",
    "cumulative_progress",
    "publish_blob",
    "verified_chunks",
]

Progress = Callable[[int, int], None]
"""Called with (bytes uploaded so far, total bytes)."""


@dataclass(frozen=True)
class PublishedMedia:
    """A local input now reachable at `url` (until `expires_at`; None = no expiry).

    `record()` is what the journal keeps: no URL signature, no credentials.
    """

    url: str
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

    def __repr__(self) -> str:
        # The URL of a presigned GET holds a signature: shown without its query.
        return (
            f"PublishedMedia(key={self.key!r}, size={self.size}, "
            f"content_type={self.content_type!r}, store={self.store!r}, "
            f"expires_at={self.expires_at!r}, uploaded_bytes={self.uploaded_bytes})"
        )


@runtime_checkable
class MediaStore(Protocol):
    """Where local inputs are published. Implementations must never put credentials
    in `describe()`, a repr, an exception or a log line."""

    def describe(self) -> str:
        """A credential-free name for the journal, like ``s3://bucket/prefix``."""
        ...

    def exists(self, key: str) -> bool: ...

    def upload(self, blob: LocalBlob, key: str, progress: Progress | None) -> None: ...

    def url_for(self, key: str) -> tuple[str, datetime | None]:
        """A URL the service can GET without credentials, and when it stops working."""
        ...

    def publish(
        self, source: object, *, progress: Progress | None = None, quiet: bool = False
    ) -> PublishedMedia: ...


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


def publish_blob(
    store: MediaStore, blob: LocalBlob, *, progress: Progress | None = None
) -> PublishedMedia:
    """HEAD, upload when absent, then a URL: publishing the same bytes twice sends 0 bytes."""
    key = blob.key
    uploaded = 0
    if not store.exists(key):
        store.upload(blob, key, progress)
        uploaded = blob.size
    elif progress is not None:
        progress(blob.size, blob.size)
    url, expires_at = store.url_for(key)
    return PublishedMedia(
        url=url,
        expires_at=expires_at,
        sha256=blob.sha256,
        size=blob.size,
        content_type=blob.content_type,
        key=key,
        file_name=blob.name,
        store=store.describe(),
        uploaded_bytes=uploaded,
    )


class PublishMixin:
    """`publish()` for a store that has the three primitives."""

    def publish(
        self, source: object, *, progress: Progress | None = None, quiet: bool = False
    ) -> PublishedMedia:
        """Publish a path, path text, bytes or binary file; see `kitta_notebook.media`."""
        blob = source if isinstance(source, LocalBlob) else to_blob(source)
        store: MediaStore = self  # type: ignore[assignment]
        return publish_blob(store, blob, progress=None if quiet else progress)


class AsyncMediaStore:
    """The async twin of any `MediaStore`, with the same method names.

    One wrapper instead of a twin per store: boto3 has no async API and hashing a
    file is CPU work, so the blocking calls run in worker threads either way.
    """

    def __init__(self, store: MediaStore) -> None:
        self.store = store

    def describe(self) -> str:
        return self.store.describe()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.store.exists, key)

    async def url_for(self, key: str) -> tuple[str, datetime | None]:
        return await asyncio.to_thread(self.store.url_for, key)

    async def publish(
        self, source: object, *, progress: Progress | None = None, quiet: bool = False
    ) -> PublishedMedia:
        def run() -> PublishedMedia:
            return self.store.publish(source, progress=progress, quiet=quiet)

        return await asyncio.to_thread(run)

    def __repr__(self) -> str:
        return f"AsyncMediaStore({self.store!r})"
