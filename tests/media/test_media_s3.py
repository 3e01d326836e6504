"""S3Store against real S3-compatible servers on 127.0.0.1 (moto for SDK flows, nanio
where a bad or expired signature must be refused)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from kitta_notebook.errors import PublishError, ValidationError
from kitta_notebook.media import (
    HOW_TO_CONFIGURE,
    S3Store,
    publish,
    resolve_store,
    store_from_env,
)
from tests.media.conftest import ACCESS_KEY, SECRET_CANARY, boto_session
from tests.media.media_helpers import nanio_server


def store_for(endpoint: str, bucket: str, **options: object) -> S3Store:
    return S3Store(
        bucket,
        "kitta/in",
        endpoint_url=endpoint,
        region="us-east-1",
        session=boto_session(),
        **options,  # type: ignore[arg-type]
    )


def object_count(endpoint: str, bucket: str) -> int:
    listing = boto_session().client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return int(listing.get("KeyCount", 0))


def test_publish_then_fetch_without_credentials(
    moto_endpoint: str, bucket: str, media: dict[str, Path]
) -> None:
    store = store_for(moto_endpoint, bucket)
    published = store.publish(media["mp4_front"])
    assert published.key == f"{published.sha256}.mp4"
    assert published.uploaded_bytes == published.size == media["mp4_front"].stat().st_size
    assert published.expires_at is not None
    lifetime = published.expires_at - datetime.now(timezone.utc)
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24)
    response = httpx.get(published.url)  # a plain client, no credentials
    assert response.status_code == 200
    assert response.content == media["mp4_front"].read_bytes()
    assert response.headers["content-type"] == "video/mp4"
    assert f"/{bucket}/kitta/in/{published.key}" in published.url


def test_publishing_again_uploads_nothing(
    moto_endpoint: str, bucket: str, media: dict[str, Path]
) -> None:
    store = store_for(moto_endpoint, bucket)
    first = store.publish(media["wav"])
    again = store.publish(media["wav"].read_bytes())  # same bytes, another source kind
    assert (first.uploaded_bytes, again.uploaded_bytes) == (first.size, 0)
    assert again.key == first.key
    assert object_count(moto_endpoint, bucket) == 1


def test_large_file_goes_multipart_with_progress(
    moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF\0\0\0\0WAVE" + bytes(range(256)) * (48 * 1024))  # ~12 MB
    seen: list[tuple[int, int]] = []
    store = store_for(moto_endpoint, bucket, multipart_threshold=5 * 1024 * 1024)
    published = store.publish(big, progress=lambda done, total: seen.append((done, total)))
    size = big.stat().st_size
    assert seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    head = (
        boto_session()
        .client("s3", endpoint_url=moto_endpoint)
        .head_object(Bucket=bucket, Key=f"kitta/in/{published.key}")
    )
    assert "-" in head["ETag"]  # a multipart upload's ETag is "<md5>-<parts>"
    quiet: list[tuple[int, int]] = []
    store.publish(big, progress=lambda d, t: quiet.append((d, t)), quiet=True)
    assert quiet == []


@pytest.mark.parametrize("expires", [timedelta(minutes=59), timedelta(days=8)])
def test_expiry_outside_1h_to_7d_is_refused(expires: timedelta) -> None:
    with pytest.raises(ValidationError) as caught:
        S3Store("bucket", expires=expires)
    assert "expires" in caught.value.fields


def test_store_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {
        "KITTA_MEDIA_STORE": "s3://my-bucket/kitta/in",
        "KITTA_MEDIA_ENDPOINT_URL": "https://s3.oss-cn-hangzhou.aliyuncs.com",
        "KITTA_MEDIA_REGION": "cn-hangzhou",
    }
    store = store_from_env(environ)
    assert store is not None
    assert (store.bucket, store.prefix, store.region) == ("my-bucket", "kitta/in/", "cn-hangzhou")
    assert store.addressing_style == "virtual"  # OSS refuses path style
    assert store_from_env({}) is None
    r2 = store_from_env(
        {
            "KITTA_MEDIA_STORE": "s3://b",
            "KITTA_MEDIA_ENDPOINT_URL": "https://a.r2.cloudflarestorage.com",
        }
    )
    assert r2 is not None and r2.addressing_style == "path"
    with pytest.raises(ValidationError, match="s3://bucket/prefix"):
        store_from_env({"KITTA_MEDIA_STORE": "my-bucket"})


def test_no_store_says_how_to_configure_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITTA_MEDIA_STORE", raising=False)
    with pytest.raises(ValidationError) as caught:
        resolve_store(None, field="video_url")
    message = caught.value.fields["video_url"]
    assert message.startswith("This is a local file, and no media store is set up")
    for needle in (
        "KITTA_MEDIA_STORE=s3://",
        "aliyuncs.com",
        "myqcloud.com",
        "r2.cloudflarestorage.com",
    ):
        assert needle in message
    assert message == f"This is a local file, and no media store is set up. {HOW_TO_CONFIGURE}"
    with pytest.raises(ValidationError):
        publish(b"RIFF....WAVE")


@pytest.fixture()
def nanio(tmp_path: Path) -> Iterator[str]:
    with nanio_server(tmp_path / "nanio", ACCESS_KEY, SECRET_CANARY) as endpoint:
        boto_session().client("s3", endpoint_url=endpoint).create_bucket(Bucket="media")
        yield endpoint


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_signature_checking_server_refuses_tampered_and_expired_urls(
    nanio: str, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_for(nanio, "media", expires=timedelta(hours=1))
    published = store.publish(media["png"])
    assert httpx.get(published.url).content == media["png"].read_bytes()

    signature = dict(parse_qsl(urlsplit(published.url).query))["X-Amz-Signature"]
    tampered = _with_query(published.url, **{"X-Amz-Signature": "0" * len(signature)})
    assert httpx.get(tampered).status_code == 403
    longer = _with_query(published.url, **{"X-Amz-Expires": "604800"})
    assert httpx.get(longer).status_code == 403

    import botocore.auth

    signed_at = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=2)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at)
    expired_url, _ = store.url_for(published.key)  # signed 2 h ago, valid for 1 h
    response = httpx.get(expired_url)
    assert response.status_code == 403 and b"Request" in response.content


def test_store_secret_canary(
    nanio: str, media: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong secret makes the server refuse: the error, reprs and logs never hold it."""
    caplog.set_level(logging.DEBUG)
    wrong_secret = SECRET_CANARY + "-wrong"
    store = S3Store(
        "media", endpoint_url=nanio, region="us-east-1", session=boto_session(wrong_secret)
    )
    with pytest.raises(PublishError) as caught:
        store.publish(media["wav"])
    assert caught.value.code == "403"  # the HEAD that comes first is refused
    assert "access denied" in str(caught.value)
    assert caught.value.__suppress_context__  # botocore's exception is not chained in
    good = store_for(nanio, "media")
    published = good.publish(media["wav"])
    texts = [
        str(caught.value),
        repr(caught.value),
        repr(store),
        repr(good),
        store.describe(),
        repr(published),
        str(published.record()),
        caplog.text,
    ]
    for text in texts:
        assert SECRET_CANARY not in text


def test_missing_credentials_are_a_clear_publish_error(
    moto_endpoint: str, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3Store("media", endpoint_url=moto_endpoint, region="us-east-1")
    with pytest.raises(PublishError) as caught:
        store.publish(media["wav"])
    assert caught.value.code == "NoCredentialsError"
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)


def test_describe_never_shows_userinfo_of_the_endpoint() -> None:
    store = S3Store("b", endpoint_url=f"https://user:{SECRET_CANARY}@s3.example.com:9000")
    assert store.describe() == "s3://b/ at https://s3.example.com:9000"
    assert SECRET_CANARY not in repr(store)
