"""The byte cap and the length check of a media fetch, written to a file (no partial
file, an existing file untouched). A chunked host on 127.0.0.1; a short body that real
sockets cannot produce (h11 refuses it first) through a mock transport."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from kitta_notebook._fetch import (
    DECODED_PIECE_BYTES,
    BodyDecoder,
    DeadlineExceeded,
    FetchLimits,
    UnreadableBody,
    fetch,
    get_capped,
)
from kitta_notebook._kept import save
from kitta_notebook.errors import DownloadError
from tests.downloads.media_host import MP4_HEAD as HOST_HEAD
from tests.downloads.media_host import OK_BODY, MediaHost
from tests.support import serving

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
CAP = 1024 * 1024
CHUNKS = 3 * CAP // (64 * 1024)
"""The chunked body is three times the cap."""


@pytest.fixture(scope="module")
def chunked_origin() -> Iterator[str]:
    """`/chunked.mp4`: a video body three times the cap, chunked, with no Content-Length."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                for index in range(CHUNKS):
                    chunk = (MP4_HEAD if index == 0 else b"") + bytes(64 * 1024)
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True

    with serving(Handler) as base:
        yield base


def test_a_chunked_body_past_the_cap_is_refused_and_leaves_no_file(
    chunked_origin: str, tmp_path: Path
) -> None:
    """The byte cap protects the disk when no Content-Length announces the size."""
    target = tmp_path / "result.mp4"
    with pytest.raises(DownloadError) as caught:
        save(f"{chunked_origin}/chunked.mp4", target, FetchLimits(deadline=30, max_bytes=CAP))
    assert caught.value.reason == "too_large"
    assert "larger than the 1.0 MB cap (1.0 MB or more)" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_leaves_an_existing_file_byte_for_byte(
    chunked_origin: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.mp4"
    target.write_bytes(b"the user's earlier result")
    with pytest.raises(DownloadError):
        save(f"{chunked_origin}/chunked.mp4", target, FetchLimits(deadline=30, max_bytes=CAP))
    assert target.read_bytes() == b"the user's earlier result"
    assert sorted(tmp_path.iterdir()) == [target]


def test_a_body_shorter_than_its_content_length_is_refused() -> None:
    """A host that announces more than it sends delivered a cut file, not the video."""
    body = MP4_HEAD + bytes(100)

    def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "5000"}, content=body)

    with pytest.raises(DownloadError) as caught:
        fetch(
            "http://127.0.0.1/short.mp4", FetchLimits(5, CAP), transport=httpx.MockTransport(short)
        )
    assert caught.value.reason == "incomplete"
    assert f"after {len(body)} of the 5000 bytes the host announced" in str(caught.value)


def test_a_body_as_long_as_its_content_length_is_accepted() -> None:
    body = MP4_HEAD + bytes(100)

    def exact(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    fetched = fetch(
        "http://127.0.0.1/ok.mp4?sig=secret",
        FetchLimits(5, CAP),
        transport=httpx.MockTransport(exact),
    )
    assert fetched.size == len(body) and fetched.data == body
    assert fetched.url == "http://127.0.0.1/ok.mp4"  # as errors name it: no signature


@pytest.mark.parametrize(
    ("name", "cap", "words"),
    [
        ("big.mp4", 100 * CAP, "larger than the 100.0 MB cap (5120.0 MB or more)"),
        ("ok.mp4", 1000, f"larger than the 1000 bytes cap ({len(OK_BODY)} bytes or more)"),
    ],
)
def test_an_announced_size_over_the_cap_is_refused_naming_both_sizes(
    host: MediaHost, name: str, cap: int, words: str
) -> None:
    """The Content-Length alone refuses the fetch, in units a user reads at a glance."""
    with pytest.raises(DownloadError) as caught:
        fetch(host.url(name) + "?sig=secret", FetchLimits(deadline=30, max_bytes=cap))
    assert caught.value.reason == "too_large" and words in str(caught.value)
    assert caught.value.url == host.url(name)  # no signature


def test_a_small_read_keeps_only_the_bytes_its_status_is_worth(host: MediaHost) -> None:
    """A probe's read keeps at most `cap(status)` bytes: a piece of a video, nothing of an
    error page."""

    def cap(status: int) -> int:
        return 0 if status >= 400 else 1

    ok = get_capped(host.url("ok.mp4"), deadline=30, cap=cap, trust_env=False)
    assert (ok.status, ok.body) == (200, OK_BODY[:1])
    expired = get_capped(host.url("expired.mp4"), deadline=30, cap=cap, trust_env=False)
    assert (expired.status, expired.body) == (403, b"")


def test_a_read_that_wants_no_body_does_not_wait_for_one(host: MediaHost) -> None:
    """A revalidation reads only the status and headers: a host that then sends nothing
    does not hold it until the deadline."""
    answer = get_capped(host.url("stall.mp4"), deadline=10, cap=lambda _status: 0, trust_env=False)
    assert (answer.status, answer.body) == (200, b"")


def test_a_small_read_stops_at_its_cap_across_pieces(chunked_origin: str) -> None:
    """The cap holds over many pieces of a chunked body: exactly `cap` bytes are kept."""
    answer = get_capped(
        f"{chunked_origin}/chunked.mp4", deadline=30, cap=lambda _s: 100_000, trust_env=False
    )
    assert answer.body == (MP4_HEAD + bytes(CAP))[:100_000]


def test_a_small_read_returns_once_its_cap_is_reached(host: MediaHost) -> None:
    """A probe does not wait for the rest of a slow body once it holds what it asked for."""
    answer = get_capped(
        host.url("trickle.mp4"), deadline=10, cap=lambda _s: len(HOST_HEAD), trust_env=False
    )
    assert answer.body == HOST_HEAD


def test_a_video_exactly_as_large_as_the_cap_is_accepted(host: MediaHost) -> None:
    fetched = fetch(host.url("ok.mp4"), FetchLimits(deadline=30, max_bytes=len(OK_BODY)))
    assert fetched.data == OK_BODY


def test_a_read_given_up_at_its_deadline_leaves_no_worker_reading(host: MediaHost) -> None:
    """In a long-lived kernel, a probe of a host that stalls must not leave a thread blocked
    on its socket after the caller has given up."""
    before = set(threading.enumerate())
    with pytest.raises((DeadlineExceeded, httpx.ReadTimeout)):  # whichever fires first
        get_capped(host.url("stall.mp4"), deadline=1, cap=lambda _s: 100, trust_env=False)
    workers = [t for t in set(threading.enumerate()) - before if t.name == "kitta-fetch"]
    for worker in workers:
        worker.join(timeout=15)
    assert not any(worker.is_alive() for worker in workers)


def test_a_fetch_given_up_at_its_deadline_leaves_no_worker_reading(host: MediaHost) -> None:
    before = set(threading.enumerate())
    with pytest.raises(DownloadError) as caught:
        fetch(host.url("stall.mp4"), FetchLimits(deadline=1, max_bytes=CAP))
    assert caught.value.reason == "timeout"
    workers = [t for t in set(threading.enumerate()) - before if t.name == "kitta-fetch"]
    for worker in workers:
        worker.join(timeout=15)
    assert not any(worker.is_alive() for worker in workers)


def test_the_headers_asked_for_reach_the_host(host: MediaHost) -> None:
    get_capped(
        host.url("ok.mp4"),
        deadline=30,
        cap=lambda _s: 0,
        headers={"Range": "bytes=0-9"},
        trust_env=False,
    )
    assert host.requests[-1][1]["range"] == "bytes=0-9"


@pytest.fixture
def host_as_proxy(host: MediaHost, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment's HTTP proxy is the media host; the URL asked for has no server."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, host.base)
    return "http://127.0.0.2:9/ok.mp4"


def test_a_media_fetch_honours_the_proxy_settings(host: MediaHost, host_as_proxy: str) -> None:
    """Behind a corporate proxy a result is fetched through it, like every other download."""
    assert fetch(host_as_proxy, FetchLimits(deadline=30, max_bytes=CAP)).data == OK_BODY
    answer = get_capped(host_as_proxy, deadline=30, cap=lambda _s: 10, trust_env=True)
    assert answer.body == OK_BODY[:10]
    assert [path for path, _ in host.requests[-2:]] == [host_as_proxy] * 2


def test_a_read_told_to_ignore_the_proxy_goes_direct(host_as_proxy: str) -> None:
    """The sandbox on loopback is read directly, whatever proxy the machine has."""
    with pytest.raises(httpx.ConnectError):
        get_capped(host_as_proxy, deadline=30, cap=lambda _s: 10, trust_env=False)


@pytest.mark.parametrize(
    ("name", "arrived"),
    [
        ("denied.mp4", "text (text/plain)"),  # named by its Content-Type
        ("bare.mp4", "data of type unknown that is not a video"),
        ("stub.mp4", "an HTML page (often a login or error page)"),  # then the host stalls
    ],
)
def test_what_arrived_instead_of_a_video_is_named_as_soon_as_it_shows(
    host: MediaHost, name: str, arrived: str
) -> None:
    """Twelve bytes are enough to know a body is no video: the fetch does not wait for more."""
    with pytest.raises(DownloadError) as caught:
        fetch(host.url(name), FetchLimits(deadline=10, max_bytes=CAP))
    assert (caught.value.reason, caught.value.arrived) == ("not_media", arrived)


def test_a_300_answer_is_not_a_success(host: MediaHost) -> None:
    with pytest.raises(DownloadError) as caught:
        fetch(host.url("choices.mp4"), FetchLimits(deadline=30, max_bytes=CAP))
    assert caught.value.reason == "failed" and caught.value.status_code == 300
    assert "the media host answered HTTP 300 (http" in str(caught.value)  # no refresh hint


def test_an_expired_link_says_how_to_get_a_fresh_one(host: MediaHost) -> None:
    with pytest.raises(DownloadError) as caught:
        fetch(host.url("expired.mp4"), FetchLimits(deadline=30, max_bytes=CAP))
    assert (caught.value.reason, caught.value.expired, caught.value.status_code) == (
        "expired",
        True,
        403,
    )
    message = str(caught.value)
    assert "answered HTTP 403" in message
    assert "the link may have expired, call task.refresh() for a fresh URL (" in message


def test_a_chunked_video_under_the_cap_arrives_whole(chunked_origin: str) -> None:
    """No Content-Length is no reason to doubt a body that ended cleanly."""
    fetched = fetch(f"{chunked_origin}/chunked.mp4", FetchLimits(deadline=30, max_bytes=4 * CAP))
    assert fetched.size == len(MP4_HEAD) + 3 * CAP
    assert fetched.data is not None and fetched.data.startswith(MP4_HEAD)


def test_a_connect_waits_no_longer_than_the_whole_fetch_may_take() -> None:
    assert FetchLimits(deadline=2, max_bytes=CAP).timeout() == httpx.Timeout(2, connect=2)
    limits = FetchLimits(deadline=60, max_bytes=CAP, connect_timeout=3, read_timeout=20)
    assert limits.timeout() == httpx.Timeout(20, connect=3)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_body_is_decoded_whole_in_bounded_pieces(encoding: str) -> None:
    """Zeros compress to back-references: the last input bytes can still owe a full piece
    of output, which must not be dropped (sizes around whole pieces, fed in one chunk and
    in small ones)."""
    for size in (DECODED_PIECE_BYTES * k + d for k in (1, 3) for d in range(-600, 601, 40)):
        body = bytes(size)
        packed = zlib.compress(body) if encoding == "deflate" else gzip_bytes(body)
        for chunk in (len(packed), 7):
            decoder = BodyDecoder(encoding)
            pieces = [
                piece
                for start in range(0, len(packed), chunk)
                for piece in decoder.pieces(packed[start : start + chunk])
            ]
            assert all(0 < len(piece) <= DECODED_PIECE_BYTES for piece in pieces)
            assert b"".join(pieces) == body, (size, chunk)


def test_a_damaged_compressed_body_says_so() -> None:
    with pytest.raises(UnreadableBody, match=r"^the compressed body is damaged \(.+\)$"):
        list(BodyDecoder("gzip").pieces(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20))


def gzip_bytes(body: bytes) -> bytes:
    packer = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    return packer.compress(body) + packer.flush()
