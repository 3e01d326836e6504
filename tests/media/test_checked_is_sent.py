"""What is checked is what is sent: the bytes that were hashed are the bytes stored
under their content address, against a real S3 server (moto) on 127.0.0.1.

The file is changed deterministically between the hash and the upload: the store's
`exists()` (the HEAD that always comes between them) rewrites it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook import KittaClient
from kitta_notebook.errors import PublishError, ValidationError
from kitta_notebook.media import S3Store, to_blob
from kitta_notebook.sandbox import Sandbox
from tests.media.conftest import boto_session

TOKEN = "checked-is-sent-token"


Change = Callable[[Path], None]


class ChangingStore(S3Store):
    """An S3Store whose HEAD for `path`'s key is followed by one `change` to that file
    (other inputs of the same create are published in any order, unchanged)."""

    def __init__(self, *args: Any, path: Path, change: Change, **options: Any) -> None:
        super().__init__(*args, **options)
        self._path = path
        self._changes = [change]

    def exists(self, key: str) -> bool:
        found = super().exists(key)
        if self._changes and key.endswith(self._path.suffix):
            self._changes.pop()(self._path)
        return found


def changing_store(
    endpoint: str, bucket: str, path: Path, change: Change, **options: Any
) -> ChangingStore:
    return ChangingStore(
        bucket,
        "in",
        endpoint_url=endpoint,
        region="us-east-1",
        session=boto_session(),
        path=path,
        change=change,
        **options,
    )


def stored_objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = boto_session().client("s3", endpoint_url=endpoint)
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listing
    }


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def unchanged(path: Path) -> None:
    """The file stays as it was hashed."""


def test_a_file_changed_after_hashing_is_refused_and_nothing_is_stored(
    moto_endpoint: str, bucket: str, media: dict[str, Path], tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(media["mp4_front"], clip)
    store = changing_store(moto_endpoint, bucket, clip, flip_last_byte)
    with pytest.raises(PublishError) as caught:
        store.publish(clip)
    assert caught.value.code == "changed"
    assert "clip.mp4 changed after it was checked" in str(caught.value)
    assert stored_objects(moto_endpoint, bucket) == {}


def test_a_file_that_grew_after_hashing_is_refused(
    moto_endpoint: str, bucket: str, media: dict[str, Path], tmp_path: Path
) -> None:
    clip = tmp_path / "clip.wav"
    shutil.copy(media["wav"], clip)

    def grow(path: Path) -> None:
        with path.open("ab") as handle:
            handle.write(b"\x00" * 4096)

    with pytest.raises(PublishError, match="changed after it was checked"):
        changing_store(moto_endpoint, bucket, clip, grow).publish(clip)
    assert stored_objects(moto_endpoint, bucket) == {}


def test_a_multipart_upload_of_a_changed_file_is_aborted(
    moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF\0\0\0\0WAVE" + bytes(range(256)) * (28 * 1024))  # ~7 MB
    store = changing_store(
        moto_endpoint, bucket, big, flip_last_byte, multipart_threshold=5 * 1024 * 1024
    )
    with pytest.raises(PublishError, match="changed after it was checked"):
        store.publish(big)
    assert stored_objects(moto_endpoint, bucket) == {}
    s3 = boto_session().client("s3", endpoint_url=moto_endpoint)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_an_unchanged_file_is_stored_under_the_hash_of_what_was_sent(
    moto_endpoint: str, bucket: str, media: dict[str, Path], tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(media["mp4_front"], clip)
    published = changing_store(moto_endpoint, bucket, clip, unchanged).publish(clip)
    stored = stored_objects(moto_endpoint, bucket)
    assert list(stored) == [f"in/{published.key}"]
    assert hashlib.sha256(stored[f"in/{published.key}"]).hexdigest() == published.sha256


def test_create_refuses_a_file_changed_before_its_upload(
    moto_endpoint: str, bucket: str, media: dict[str, Path], tmp_path: Path
) -> None:
    """Through the client: no task is created on media that was never checked."""
    clip = tmp_path / "clip.mp4"
    shutil.copy(media["mp4_front"], clip)
    store = changing_store(moto_endpoint, bucket, clip, flip_last_byte)
    with (
        Sandbox({TOKEN: 1_000_000}, time_scale=0.05) as sb,
        KittaClient(TOKEN, base_url=sb.base_url, media_store=store) as client,
    ):
        with pytest.raises(PublishError, match="changed after it was checked"):
            client.lip_sync.create(video_url=clip, audio_url=media["wav"])
        assert len(client.lip_sync.list()) == 0
    assert all(not key.endswith(".mp4") for key in stored_objects(moto_endpoint, bucket))


def test_a_blob_hashed_earlier_is_checked_again_when_sent(
    moto_endpoint: str, bucket: str, media: dict[str, Path], tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(media["mp4_front"], clip)
    blob = to_blob(clip)
    flip_last_byte(clip)
    store = changing_store(moto_endpoint, bucket, clip, unchanged)
    with pytest.raises(PublishError, match="changed after it was checked"):
        store.publish(blob)
    assert stored_objects(moto_endpoint, bucket) == {}


# --- expires: seconds or a timedelta, a ValidationError for anything else -----------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (3600, timedelta(hours=1)),
        (7200.5, timedelta(seconds=7200.5)),
        (timedelta(days=2), timedelta(days=2)),
    ],
)
def test_expires_takes_seconds_or_a_timedelta(given: Any, expected: timedelta) -> None:
    assert S3Store("bucket", expires=given).expires == expected


@pytest.mark.parametrize("given", [None, "3600", True, float("nan"), float("inf"), 59.0, 10**30])
def test_expires_of_another_kind_is_a_validation_error(given: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        S3Store("bucket", expires=given)
    assert "expires" in caught.value.fields
