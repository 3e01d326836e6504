"""Kept results in a team's S3-compatible bucket: ``KITTA_KEEP_RESULTS=s3://bucket/prefix``.

Each result is uploaded once under its kept name (see `_kept`), with its
sha256 as object metadata, checked after the upload, and recorded in the
journal as ``s3://bucket/prefix/name``: a teammate sharing the journal finds
it there. The bucket is reached with the settings of ``KITTA_MEDIA_STORE``
(``KITTA_MEDIA_ENDPOINT_URL``, ``KITTA_MEDIA_REGION``, boto3's credentials).
Reading signs a fresh GET URL, fetched without credentials; the caller checks
the bytes against the recorded sha256 (`check_sha256`). Nothing here deletes
or replaces an object: one that holds other bytes is an error.

Deadlines: reads go through `_fetch` (a total deadline; a refusal of the link
signed just now says access denied or expired as the storage's error code
does); the HEAD, upload and signing calls have the store's total deadlines
(`S3Store`, retries included) and their errors are `PublishError`s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._fetch import Fetched
from .errors import DownloadError

if TYPE_CHECKING:
    from .media.s3_store import S3Store

SHA256_METADATA = "sha256"
"""The object metadata (``x-amz-meta-sha256``) that holds a kept object's sha256."""


def is_s3(location: object) -> bool:
    """Whether a keep setting or a kept copy's recorded location names a bucket."""
    return isinstance(location, str) and location.strip()[:5].lower() == "s3://"


def _store_at(spec: str, field: str) -> S3Store:
    """The bucket's store; `media` (and boto3) load only when a bucket is used."""
    from .media.s3_store import s3_store_at

    return s3_store_at(spec.strip(), field)


def _store_and_key(location: str, field: str) -> tuple[S3Store, str]:
    """The store for the folder of an ``s3://bucket/folder/name`` location, and the name."""
    parts = urlsplit(location)
    folder, _, name = parts.path.rpartition("/")
    return _store_at(f"s3://{parts.netloc}{folder}", field), name


def keep_object(setting: str, name: str, source: Path, field: str) -> tuple[str, int, str]:
    """Upload `source` as `name` under the `setting` bucket and prefix, once:
    (location, size, sha256). An object already there with the same sha256 is
    reused; one with other bytes is left alone and refused."""
    from .media.local import to_blob

    store = _store_at(setting, field)
    blob = to_blob(source, field=field, name=name)
    location = f"s3://{store.bucket}/{store.object_key(name)}"
    found = store.head(name)
    if found is None:
        store.upload(blob, name, None, metadata={SHA256_METADATA: blob.sha256})
        found = store.head(name)
    size, metadata = found or (None, {})
    if size != blob.size or metadata.get(SHA256_METADATA) != blob.sha256:
        raise DownloadError(
            f"{location} holds other bytes than this result (its size or sha256 differs), "
            "so it was not kept there and the object was left as it is.",
            reason="changed",
        )
    return location, blob.size, blob.sha256


def signed_url(location: str, field: str) -> str:
    """A fresh presigned GET URL for a kept object: fetched without credentials."""
    store, name = _store_and_key(location, field)
    return store.url_for(name)[0]


def check_sha256(fetched: Fetched, sha256: str) -> None:
    """Refuse bytes that are not the kept ones: never a wrong video shown or saved."""
    if fetched.sha256 != sha256:
        raise DownloadError(
            f"The kept copy at {fetched.url} was replaced: its sha256 is "
            f"{fetched.sha256[:12]}…, the journal recorded {sha256[:12]}…. It is not used; "
            "nothing was written.",
            url=fetched.url,
            reason="changed",
        )
