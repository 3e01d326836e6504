"""The sandbox-only media store: ``PUT``/``HEAD``/``GET /_sandbox/media/<sha256>.<ext>``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.samples import SAMPLES_DIR
from tests.sandbox.sandbox_helpers import TASKS, api_client, assert_error, wait_terminal


def _key(data: bytes, ext: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


def test_upload_then_head_and_ranged_get(sandbox: Sandbox) -> None:
    data = bytes(range(256)) * 40
    key = _key(data, "bin")
    url = f"{sandbox.media_store_url}/{key}"
    with httpx.Client(timeout=20) as http:
        assert http.head(url).status_code == 404
        put = http.put(url, content=data, headers={"Content-Type": "audio/x-test"})
        assert put.status_code == 201, put.text
        assert put.json() == {
            "url": url,
            "key": key,
            "size": len(data),
            "contentType": "audio/x-test",
        }
        head = http.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
        assert head.headers["content-type"] == "audio/x-test"
        whole = http.get(url)
        assert whole.content == data and whole.headers["content-type"] == "audio/x-test"
        part = http.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        assert "authorization" not in {k.lower() for k in put.request.headers}


def test_the_store_is_announced_but_not_an_api_path(sandbox: Sandbox) -> None:
    doc = httpx.get(sandbox.openapi_url, timeout=20).json()
    assert doc["info"]["x-kitta-sandbox-media-store"] == sandbox.media_store_url
    assert not [path for path in doc["paths"] if "_sandbox" in path]
    assert (
        httpx.get(sandbox.origin, timeout=20)
        .json()["mediaStore"]
        .startswith(sandbox.media_store_url)
    )


def test_upload_needs_no_token_and_is_not_counted_as_api(sandbox: Sandbox) -> None:
    data = b"no token needed"
    key = _key(data, "txt")
    before = sandbox.stats.uploaded_bytes
    with httpx.Client(timeout=20) as http:
        assert http.put(f"{sandbox.media_store_url}/{key}", content=data).status_code == 201
        stored = http.head(f"{sandbox.media_store_url}/{key}")
    assert stored.headers["content-type"] == "application/octet-stream"
    assert sandbox.stats.uploaded_bytes == before + len(data)


def test_hash_mismatch_is_a_400_and_stores_nothing(sandbox: Sandbox) -> None:
    key = _key(b"the promised body", "mp4")
    url = f"{sandbox.media_store_url}/{key}"
    with httpx.Client(timeout=20) as http:
        response = http.put(url, content=b"another body")
        error = assert_error(response, 400, "invalid_request")
        assert "sha256" in error["message"]
        assert http.head(url).status_code == 404
        assert http.get(url).status_code == 404


@pytest.mark.parametrize(
    "key",
    [
        "abc.mp4",
        "A" * 64 + ".mp4",
        "0" * 64,
        "0" * 64 + ".MP4",
        "0" * 64 + ".toolong",
        "0" * 64 + ".mp4.exe",
    ],
)
def test_bad_keys_are_a_400(sandbox: Sandbox, key: str) -> None:
    with httpx.Client(timeout=20) as http:
        response = http.put(f"{sandbox.media_store_url}/{key}", content=b"x")
        error = assert_error(response, 400, "invalid_request")
        assert "sha256" in error["message"]
        assert http.get(f"{sandbox.media_store_url}/{key}").status_code == 404


def test_too_large_is_a_413(tmp_path: Path) -> None:
    data = b"x" * 2048
    key = _key(data, "bin")
    with Sandbox(time_scale=0.05, max_upload_bytes=1024) as sb, httpx.Client(timeout=20) as http:
        url = f"{sb.media_store_url}/{key}"
        assert_error(http.put(url, content=data), 413, "payload_too_large")

        def chunks() -> object:  # no Content-Length: the cap applies while streaming
            yield data[:1000]
            yield data[1000:]

        assert_error(http.put(url, content=chunks()), 413, "payload_too_large")  # type: ignore[arg-type]
        assert http.head(url).status_code == 404
        small = data[:1024]
        assert (
            http.put(f"{sb.media_store_url}/{_key(small, 'bin')}", content=small).status_code == 201
        )


def test_a_task_can_use_uploaded_media(sandbox: Sandbox) -> None:
    urls = {}
    with httpx.Client(timeout=20) as http:
        for name, file, kind in (
            ("video", "video.mp4", "video/mp4"),
            ("audio", "speech-zh.wav", "audio/wav"),
        ):
            data = (SAMPLES_DIR / file).read_bytes()
            ext = file.rsplit(".", 1)[1]
            put = http.put(
                f"{sandbox.media_store_url}/{_key(data, ext)}",
                content=data,
                headers={"Content-Type": kind},
            )
            assert put.status_code == 201, put.text
            urls[name] = put.json()["url"]
    with api_client(sandbox, "alice-token") as client:
        body = {"model": "kitta-lip-sync-v1", "videoUrl": urls["video"], "audioUrl": urls["audio"]}
        created = client.post(TASKS, json=body)  # no durationSeconds: the upload is measured
        assert created.status_code == 202, created.text
        done = wait_terminal(client, created.json()["taskId"])
    assert done["status"] == "succeeded", done
    assert created.json()["creditsCharged"] == done["creditsCharged"] == 437  # 4.365625 s


def test_uploads_persist_with_the_data_folder(tmp_path: Path) -> None:
    data = b"kept across restarts"
    key = _key(data, "txt")
    with Sandbox(data_dir=tmp_path, time_scale=0.05) as first, httpx.Client(timeout=20) as http:
        assert http.put(f"{first.media_store_url}/{key}", content=data).status_code == 201
    assert (tmp_path / "media" / key).read_bytes() == data
    with Sandbox(data_dir=tmp_path, time_scale=0.05) as second, httpx.Client(timeout=20) as http:
        assert http.get(f"{second.media_store_url}/{key}").content == data
