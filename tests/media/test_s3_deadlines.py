"""Storage operations end within a total deadline, however slowly a store answers, and
multipart uploads (the default 16 MiB threshold) leave nothing half-stored.

Real servers on 127.0.0.1: moto (S3), a sandbox-like host, and `SlowDoor`, a proxy in
front of them that answers chosen requests one byte at a time, for ever: no socket
timeout ever trips, only a total deadline ends the wait.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from kitta_notebook.errors import PublishError
from kitta_notebook.media import S3Store, SandboxStore
from kitta_notebook.media.local import to_blob
from tests.media.conftest import ACCESS_KEY, SECRET_CANARY

MIB = 1024 * 1024
SESSION_TOKEN = "canary-SESSION-TOKEN-51d2e8-do-not-leak"
TRICKLE_SECONDS = 0.2
"""How often a slow answer sends its next byte: far below any socket timeout."""
BUSY_BYTES = 5
"""A busy answer takes BUSY_BYTES * TRICKLE_SECONDS: each attempt at least a second."""

Rule = Callable[[str, str], bool]
"""(method, path with query) -> answer this request slowly."""


SLOW_DOWN = (
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)


class SlowDoor:
    """A proxy to `upstream` (or, with none, a host that knows nothing: 404) that answers
    the requests `slow` picks with a status line and then one header byte every
    `TRICKLE_SECONDS`, until the test ends, and those `busy` picks with an S3 503 SlowDown
    (which botocore retries) that takes about a second. It counts the slow answers it
    began and notes when each request came."""

    def __init__(self, upstream: str | None, slow: Rule, busy: Rule | None = None) -> None:
        self.slow_answers = 0
        self.arrivals: list[float] = []
        self.released = threading.Event()
        door = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self) -> None:
                door.arrivals.append(time.monotonic())
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if busy is not None and busy(self.command, self.path):
                    self.wfile.write(b"HTTP/1.1 503 Slow Down\r\nX-Wait: ")
                    for _ in range(BUSY_BYTES):  # about a second per answer
                        if door.released.wait(TRICKLE_SECONDS):
                            break
                        self.wfile.write(b"a")
                        self.wfile.flush()
                    body = b"" if self.command == "HEAD" else SLOW_DOWN
                    self.wfile.write(
                        b"\r\nContent-Type: application/xml\r\n"
                        + f"Content-Length: {len(SLOW_DOWN)}\r\n\r\n".encode()
                        + body
                    )
                    return
                if slow(self.command, self.path):
                    door.slow_answers += 1
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Wait: ")
                    while not door.released.wait(TRICKLE_SECONDS):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                    self.close_connection = True
                    return
                if upstream is None:
                    status, headers, content = 404, {}, b""
                else:
                    forwarded = {
                        k: v for k, v in self.headers.items() if k.lower() not in ("expect",)
                    }
                    answer = httpx.request(
                        self.command, upstream + self.path, headers=forwarded, content=body
                    )
                    status, headers, content = answer.status_code, answer.headers, answer.content
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                length = headers.get("content-length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def door_to() -> Iterator[Callable[..., SlowDoor]]:
    doors: list[SlowDoor] = []

    def open_door(upstream: str | None, slow: Rule, busy: Rule | None = None) -> SlowDoor:
        door = SlowDoor(upstream, slow, busy)
        threading.Thread(target=door.server.serve_forever, daemon=True).start()
        doors.append(door)
        return door

    yield open_door
    for door in doors:
        door.released.set()
        door.server.shutdown()
        door.server.server_close()


def session(token: str | None = None) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_CANARY,
        aws_session_token=token,
        region_name="us-east-1",
    )


def s3_client(endpoint: str) -> Any:
    return session().client("s3", endpoint_url=endpoint)


def big_file(folder: Path, size: int) -> Path:
    """`size` bytes that are not one repeated block, so a misplaced part would show."""
    path = folder / "big.wav"
    block = hashlib.sha256(b"kitta").digest() * (MIB // 32)
    data = b"RIFF\0\0\0\0WAVE" + b"".join(
        bytes([n % 251]) + block[: MIB - 1] for n in range(size // MIB + 1)
    )
    path.write_bytes(data[:size])
    return path


def part_number(path: str) -> int | None:
    number = dict(parse_qsl(urlsplit(path).query)).get("partNumber")
    return None if number is None else int(number)


def test_a_multipart_upload_above_16_mib_is_stored_whole(
    moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    source = big_file(tmp_path, 16 * MIB + 4096)  # default threshold and part size: 2 parts
    store = S3Store(bucket, "in", endpoint_url=moto_endpoint, region="us-east-1", session=session())
    seen: list[int] = []
    published = store.publish(source, progress=lambda done, total: seen.append(done))
    assert published.uploaded_bytes == published.size == source.stat().st_size
    assert seen[-1] == published.size
    head = s3_client(moto_endpoint).head_object(Bucket=bucket, Key=f"in/{published.key}")
    assert head["ETag"].endswith('-2"')  # "<md5 of the part md5s>-<parts>"
    fetched = httpx.get(published.url, timeout=60).content  # presigned, no credentials
    assert hashlib.sha256(fetched).hexdigest() == published.sha256
    assert store.publish(source).uploaded_bytes == 0


def test_a_multipart_upload_given_up_mid_way_leaves_nothing_and_no_secret(
    moto_endpoint: str,
    bucket: str,
    tmp_path: Path,
    door_to: Callable[..., SlowDoor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Part 2 trickles: the whole upload is given up at its deadline (2 s per 16 MiB
    started: 6 s), the multipart upload is aborted before the error is raised, and no
    retry of part 2 follows."""
    caplog.set_level(logging.DEBUG)
    door = door_to(moto_endpoint, lambda method, path: part_number(path) == 2)
    source = big_file(tmp_path, 16 * MIB + 4096)
    store = S3Store(
        bucket, "in", endpoint_url=door.url, region="us-east-1", session=session(), timeout=3
    )
    store.url_for("warm.wav")  # boto3's client is made: its first call is not timed here
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        store.publish(source)
    took = time.monotonic() - started
    assert caught.value.code == "timeout"
    assert str(caught.value).startswith(f"uploading big.wav to s3://{bucket}/in/ at {door.url}")
    assert "did not finish within 6 s" in str(caught.value)
    assert 6 <= took < 14  # the deadline, plus the abort, plus a loaded machine
    s3 = s3_client(moto_endpoint)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert door.slow_answers == 1  # botocore did not start a retry past the deadline
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert SECRET_CANARY not in text


def test_a_file_changed_during_a_multipart_upload_leaves_nothing(
    moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    source = big_file(tmp_path, 16 * MIB + 4096)
    blob = to_blob(source)
    with source.open("r+b") as handle:  # changed after it was hashed, in its second part
        handle.seek(16 * MIB + 10)
        handle.write(b"changed")
    store = S3Store(bucket, "in", endpoint_url=moto_endpoint, region="us-east-1", session=session())
    with pytest.raises(PublishError) as caught:
        store.upload(blob, blob.key, None)
    assert caught.value.code == "changed"
    s3 = s3_client(moto_endpoint)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


@pytest.mark.parametrize("slow_method", ["HEAD", "PUT"])
def test_a_trickling_s3_store_is_given_up_at_the_deadline(
    moto_endpoint: str,
    bucket: str,
    media: dict[str, Path],
    door_to: Callable[..., SlowDoor],
    slow_method: str,
) -> None:
    door = door_to(moto_endpoint, lambda method, path: method == slow_method)
    store = S3Store(
        bucket, "in", endpoint_url=door.url, region="us-east-1", session=session(), timeout=3
    )
    store.url_for("warm.wav")  # boto3's client is made: its first call is not timed here
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        store.publish(media["wav"])
    assert 3 <= time.monotonic() - started < 10
    doing = "checking" if slow_method == "HEAD" else "uploading speech.wav to"
    assert str(caught.value).startswith(doing)
    assert "within 3 s" in str(caught.value) and caught.value.code == "timeout"
    assert door.slow_answers == 1
    assert SECRET_CANARY not in str(caught.value)


def test_botocore_retries_end_with_the_deadline(
    moto_endpoint: str, bucket: str, door_to: Callable[..., SlowDoor]
) -> None:
    """A store that answers every attempt with 503 SlowDown after about a second:
    botocore backs off and retries (5 attempts would take over 5 s), but no attempt
    starts after the 3 s deadline, even on the thread the caller left behind."""
    door = door_to(moto_endpoint, lambda method, path: False, lambda method, path: "busy" in path)
    store = S3Store(
        bucket, "in", endpoint_url=door.url, region="us-east-1", session=session(), timeout=3
    )
    assert store.head("warm.wav") is None  # boto3's client is made (and the door works)
    door.arrivals.clear()
    before = set(threading.enumerate())
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        store.head("busy.wav")
    assert caught.value.code == "timeout" and "within 3 s" in str(caught.value)
    left_behind = [t for t in set(threading.enumerate()) - before if t.name == "kitta-fetch"]
    for worker in left_behind:  # the call the caller gave up ends by itself
        worker.join(timeout=60)
        assert not worker.is_alive()
    assert left_behind and door.arrivals
    assert max(door.arrivals) <= started + 3 + 0.3
    assert len(door.arrivals) < 5


@pytest.mark.parametrize("slow_method", ["HEAD", "PUT"])
def test_a_trickling_sandbox_store_is_given_up_at_the_deadline(
    media: dict[str, Path],
    door_to: Callable[..., SlowDoor],
    slow_method: str,
) -> None:
    door = door_to(None, lambda method, path: method == slow_method)  # HEAD: 404, then PUT
    store = SandboxStore(door.url, timeout=1.5)
    started = time.monotonic()
    with pytest.raises(PublishError, match=r"no answer within 1\.5 s") as caught:
        store.publish(media["wav"])
    assert 1.5 <= time.monotonic() - started < 8
    assert caught.value.code == "timeout"


def test_botocore_debug_logs_hold_no_secret_token_or_signature(
    moto_endpoint: str, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With every logger at DEBUG, botocore logs requests, canonical requests and
    signatures: the secret key, the session token and every signature stay out."""
    caplog.set_level(logging.DEBUG)
    store = S3Store(
        bucket,
        "in",
        endpoint_url=moto_endpoint,
        region="us-east-1",
        session=session(SESSION_TOKEN),
        multipart_threshold=5 * MIB,
    )
    published = store.publish(big_file(tmp_path, 6 * MIB))  # HEAD, multipart, presign
    store.publish(b"RIFF\0\0\0\0WAVE" + b"small")  # HEAD, PUT
    botocore_lines = [r for r in caplog.records if r.name.startswith("botocore")]
    assert any("Sending http request" in r.getMessage() for r in botocore_lines)
    assert any(r.getMessage().startswith("Signature:") for r in botocore_lines)
    signature = dict(parse_qsl(urlsplit(published.url).query))["X-Amz-Signature"]
    assert SECRET_CANARY not in caplog.text and SESSION_TOKEN not in caplog.text
    assert signature not in caplog.text
    assert re.search(r"Signature[=:]\s*[0-9a-f]{8}", caplog.text) is None
