"""What a user reads when a storage or media host refuses a fetch: denied, expired by
this machine's clock, or expired with time (refresh the task), each named with the
storage's own code and message, redacted and bounded (`MediaCheck`, I/O-free); and the
total deadline every fetch waits under (`within`)."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kitta_notebook import __version__
from kitta_notebook._fetch import (
    ERROR_BODY_BYTES,
    MAX_REDIRECTS,
    DeadlineExceeded,
    FetchLimits,
    MediaCheck,
    fetch,
    get_capped,
    link_expired,
    storage_error,
    tls_context,
    url_for_errors,
    within,
)
from kitta_notebook.errors import DownloadError
from tests.support import media_host, self_signed_certificate

URL = "https://bucket.example.com/clip.mp4?X-Amz-Signature=abcdef0123456789"
SHOWN = "https://bucket.example.com/clip.mp4"
LIMITS = FetchLimits(deadline=5, max_bytes=1024)
LIMITS_LARGE = FetchLimits(deadline=5, max_bytes=1024 * 1024)
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def _error_document(code: str, message: str) -> bytes:
    return (
        b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>"
        + code.encode()
        + b"</Code><Message>"
        + message.encode()
        + b"</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
    )


def _refusal(status: int, body: bytes, *, signed_now: bool) -> DownloadError:
    check = MediaCheck(URL, LIMITS, signed_now=signed_now)
    with pytest.raises(DownloadError) as refused:
        check.on_response(status, {"content-type": "application/xml"}, body)
    return refused.value


def test_a_storage_error_document_gives_its_code_and_message() -> None:
    body = _error_document("AccessDenied", "  Access Denied  ")
    assert storage_error(body) == ("AccessDenied", "Access Denied")
    assert storage_error(b"<html>nothing here</html>") == ("", "")
    assert storage_error(b"<Error><Message>only a message</Message></Error>") == (
        "",
        "only a message",
    )


def test_a_storage_error_is_read_only_from_its_start_and_bounded() -> None:
    late = b" " * ERROR_BODY_BYTES + _error_document("AccessDenied", "late")
    assert storage_error(late) == ("", "")
    long_code, long_message = "C" * 300, "m" * 300
    code, message = storage_error(_error_document(long_code, long_message))
    assert (code, message) == ("C" * 80, "m" * 200)


def test_a_storage_error_is_redacted_and_tolerates_bad_bytes() -> None:
    body = (
        b"<Error><Code>Bad\xffCode</Code><Message>see https://u:hunter2pass@h.example/x"
        b"?X-Amz-Signature=deadbeefcafe</Message></Error>"
    )
    code, message = storage_error(body)
    assert code == "Bad\ufffdCode"
    assert "hunter2pass" not in message and "deadbeefcafe" not in message
    assert message.startswith("see https://")


@pytest.mark.parametrize(
    ("code", "message", "expired"),
    [
        ("ExpiredToken", "", True),
        ("RequestTimeTooSkewed", "", True),
        ("AccessDenied", "Request has expired", True),
        ("AccessDenied", "REQUEST HAS EXPIRED", True),
        ("AccessDenied", "Access Denied", False),
        ("SignatureDoesNotMatch", "", False),
        ("expiredtoken", "", False),
    ],
)
def test_which_refusals_say_the_link_expired(code: str, message: str, expired: bool) -> None:
    assert link_expired(code, message) is expired


def test_a_link_signed_just_now_and_denied_says_access_was_refused() -> None:
    error = _refusal(403, _error_document("AccessDenied", "Access Denied"), signed_now=True)
    assert str(error) == (
        "Could not fetch the media: the storage refused access (AccessDenied: Access Denied) "
        f"({SHOWN})."
    )
    assert (error.reason, error.expired, error.status_code) == ("denied", False, 403)
    assert error.arrived == "a storage error (AccessDenied)"


def test_a_link_signed_just_now_refused_as_expired_names_the_clock() -> None:
    error = _refusal(403, _error_document("AccessDenied", "Request has expired"), signed_now=True)
    assert str(error) == (
        "Could not fetch the media: the storage refused the link as expired (AccessDenied: "
        "Request has expired) although it was signed just now: check this machine's clock "
        f"({SHOWN})."
    )
    assert (error.reason, error.expired) == ("expired", True)
    assert error.arrived == "a storage error (AccessDenied)"


def test_a_code_without_a_message_is_named_alone() -> None:
    error = _refusal(403, b"<Error><Code>ExpiredToken</Code></Error>", signed_now=True)
    assert "the storage refused the link as expired (ExpiredToken) although" in str(error)
    denied = _refusal(403, b"<Error><Code>AllAccessDisabled</Code></Error>", signed_now=True)
    assert str(denied) == (
        f"Could not fetch the media: the storage refused access (AllAccessDisabled) ({SHOWN})."
    )


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_an_older_link_refused_may_simply_have_expired(status: int) -> None:
    error = _refusal(status, _error_document("AccessDenied", "Access Denied"), signed_now=False)
    assert str(error) == (
        f"Could not fetch the media: the media host answered HTTP {status} (AccessDenied: "
        "Access Denied); the link may have expired, call task.refresh() for a fresh URL "
        f"({SHOWN})."
    )
    assert (error.reason, error.expired, error.status_code) == ("expired", True, status)
    assert error.arrived == "a storage error (AccessDenied)"


@pytest.mark.parametrize("signed_now", [True, False])
def test_another_refusal_is_a_plain_failure(signed_now: bool) -> None:
    error = _refusal(500, b"", signed_now=signed_now)
    assert str(error) == f"Could not fetch the media: the media host answered HTTP 500 ({SHOWN})."
    assert (error.reason, error.expired, error.arrived) == ("failed", False, None)


def test_a_link_signed_just_now_without_a_storage_code_is_not_blamed_on_the_clock() -> None:
    error = _refusal(403, b"<html>Forbidden</html>", signed_now=True)
    assert str(error) == (
        "Could not fetch the media: the media host answered HTTP 403; the link may have "
        f"expired, call task.refresh() for a fresh URL ({SHOWN})."
    )
    assert error.reason == "expired" and error.arrived is None


def test_a_signed_link_refused_with_another_status_is_not_called_denied() -> None:
    error = _refusal(404, _error_document("NoSuchKey", "gone"), signed_now=True)
    assert error.reason == "expired"
    assert "answered HTTP 404 (NoSuchKey: gone); the link may have expired" in str(error)


# --- `within`: the total deadline every fetch waits under -------------------------------


def test_work_done_in_time_gives_its_result_and_is_not_given_up() -> None:
    given_up: list[str] = []
    assert within(5, lambda: "the answer", lambda: given_up.append("stop")) == "the answer"
    assert given_up == []


def test_a_failure_of_the_work_reaches_the_caller_as_it_was() -> None:
    given_up: list[str] = []

    def fail() -> None:
        raise DownloadError("Could not fetch the media: broken.", reason="failed")

    with pytest.raises(DownloadError, match="broken") as raised:
        within(5, fail, lambda: given_up.append("stop"))
    assert raised.value.reason == "failed" and given_up == []


def test_work_past_its_deadline_is_given_up_once_and_named() -> None:
    release = threading.Event()
    calls: list[str] = []

    def give_up() -> None:
        calls.append(threading.current_thread().name)
        release.set()

    worker: list[threading.Thread] = []

    def hang() -> str:
        worker.append(threading.current_thread())
        release.wait(30)
        return "too late"

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as late:
        within(0.3, hang, give_up)
    waited = time.monotonic() - started
    assert str(late.value) == "no answer within 0.3 s"
    assert calls == [threading.current_thread().name]  # on the caller's thread, once
    # A worker that outlives its wait never holds the kernel open at exit, and is named.
    assert worker[0].daemon and worker[0].name == "kitta-fetch"
    assert 0.3 <= waited < 10


# --- what `fetch` reads of a refusal -----------------------------------------------------


def _fetch_refused(
    status: int, pieces: list[bytes], *, signed_now: bool, headers: dict[str, str] | None = None
) -> DownloadError:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers or {}, stream=_Pieces(pieces))

    with pytest.raises(DownloadError) as refused:
        fetch(
            "http://127.0.0.1/clip.mp4?X-Amz-Signature=abcdef0123456789",
            LIMITS,
            transport=httpx.MockTransport(answer),
            signed_now=signed_now,
        )
    return refused.value


class _Pieces(httpx.SyncByteStream):
    """A body that arrives in several pieces, as a slow storage sends it."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


def test_a_fetch_of_a_link_signed_just_now_names_the_storages_refusal() -> None:
    document = _error_document("AccessDenied", "Access Denied")
    error = _fetch_refused(403, [document], signed_now=True)
    assert error.reason == "denied"
    assert "the storage refused access (AccessDenied: Access Denied)" in str(error)
    assert _fetch_refused(403, [document], signed_now=False).reason == "expired"


def test_a_refusal_arriving_in_pieces_is_read_whole() -> None:
    document = _error_document("AccessDenied", "Request has expired")
    pieces = [document[:40], document[40:90], document[90:]]
    error = _fetch_refused(403, pieces, signed_now=True)
    assert "refused the link as expired (AccessDenied: Request has expired)" in str(error)


def test_a_300_answer_is_a_refusal_whose_document_is_read() -> None:
    error = _fetch_refused(300, [_error_document("Multiple", "choose one")], signed_now=False)
    assert "answered HTTP 300 (Multiple: choose one)" in str(error)
    assert error.reason == "failed"


def test_a_refusal_whose_body_cannot_be_decoded_is_judged_by_its_status() -> None:
    error = _fetch_refused(
        403, [b"\x1f\x8bthis is not gzip"], signed_now=True, headers={"content-encoding": "gzip"}
    )
    assert error.reason == "expired" and error.arrived is None
    assert "answered HTTP 403; the link may have expired" in str(error)


def test_a_check_made_without_saying_so_treats_the_link_as_an_older_one() -> None:
    check = MediaCheck(URL, LIMITS)
    with pytest.raises(DownloadError) as refused:
        check.on_response(403, {}, _error_document("AccessDenied", "Access Denied"))
    assert refused.value.reason == "expired"


def test_bad_bytes_in_a_storages_message_are_replaced_not_raised() -> None:
    body = b"<Error><Code>AccessDenied</Code><Message>caf\xe9 \xff closed</Message></Error>"
    assert storage_error(body) == ("AccessDenied", "caf\ufffd \ufffd closed")


def test_a_refusal_is_read_up_to_its_window_and_no_further() -> None:
    """The first ERROR_BODY_BYTES of a refusal are read: a message ending on the last byte
    of that window is named; one that ends a byte later is not."""
    document = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    padding = b" " * (ERROR_BODY_BYTES - len(document))
    error = _fetch_refused(403, [padding + document + b"</Error>"], signed_now=True)
    assert "(AccessDenied: Access Denied)" in str(error)
    late = _fetch_refused(403, [padding + b" " + document + b"</Error>"], signed_now=True)
    assert "(AccessDenied)" in str(late) and "Access Denied)" not in str(late)


def test_an_endless_refusal_is_read_only_as_far_as_its_window() -> None:
    """A storage answering a huge error page costs one window of it, not the page."""
    sent: list[int] = []

    class Endless(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for number in range(10_000):
                sent.append(number)
                yield b"<" * 1024

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, stream=Endless())

    with pytest.raises(DownloadError) as refused:
        fetch("http://127.0.0.1/clip.mp4", LIMITS, transport=httpx.MockTransport(answer))
    assert refused.value.reason == "expired"
    assert len(sent) == ERROR_BODY_BYTES // 1024  # exactly the window, in 1 KiB pieces


def test_a_body_sent_as_x_gzip_is_decoded_like_gzip() -> None:
    video = MP4_HEAD + bytes(range(256)) * 20

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-encoding": " X-Gzip "}, stream=_Pieces([gzip.compress(video)])
        )

    fetched = fetch(
        "http://127.0.0.1/clip.mp4", LIMITS_LARGE, transport=httpx.MockTransport(answer)
    )
    assert fetched.data == video and fetched.size == len(video)


def test_a_fetch_into_a_sink_keeps_no_copy_of_the_bytes() -> None:
    video = MP4_HEAD + bytes(300)
    received = bytearray()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Pieces([video[:100], video[100:]]))

    fetched = fetch(
        "http://127.0.0.1/clip.mp4",
        LIMITS_LARGE,
        sink=received.extend,
        transport=httpx.MockTransport(answer),
    )
    assert bytes(received) == video
    assert fetched.data is None and fetched.size == len(video)


# --- the media client's own settings ---------------------------------------------------


@pytest.fixture
def fresh_tls_context() -> Iterator[None]:
    """`tls_context` is built once per process: each test here reads SSL_CERT_FILE anew."""
    tls_context.cache_clear()
    yield
    tls_context.cache_clear()


@pytest.mark.usefixtures("fresh_tls_context")
def test_a_media_host_is_trusted_only_through_the_machines_authorities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate nobody vouches for is refused; one that SSL_CERT_FILE names (a
    company's own authority, say) is trusted."""
    video = MP4_HEAD + bytes(200)
    certificate = self_signed_certificate(tmp_path)
    with media_host(video, tls=certificate) as base:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        with pytest.raises(DownloadError) as refused:
            fetch(f"{base}/clip.mp4", LIMITS_LARGE)
        assert refused.value.reason == "failed"
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
        tls_context.cache_clear()
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        assert fetch(f"{base}/clip.mp4", LIMITS_LARGE).data == video
        # A loopback store is read without proxies (trust_env off): still the same trust.
        answer = get_capped(f"{base}/clip.mp4", deadline=10, cap=lambda _: 64, trust_env=False)
        assert answer.status == 200 and answer.body == video[:64]


def test_a_fetch_follows_at_most_five_redirects() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(302, headers={"location": f"/hop{len(asked)}.mp4"})

    with pytest.raises(DownloadError) as refused:
        fetch("http://127.0.0.1/clip.mp4", LIMITS_LARGE, transport=httpx.MockTransport(answer))
    assert asked == ["/clip.mp4", *(f"/hop{n}.mp4" for n in range(1, MAX_REDIRECTS + 1))]
    assert MAX_REDIRECTS == 5
    assert "TooManyRedirects" in str(refused.value)


def test_a_silent_media_host_is_left_at_the_read_timeout_not_the_deadline() -> None:
    """The connection opens (the kernel accepts it) but nothing is ever answered."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        limits = FetchLimits(deadline=60, max_bytes=1024, read_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(DownloadError) as late:
            fetch(f"http://127.0.0.1:{port}/clip.mp4", limits)
        waited = time.monotonic() - started
    assert late.value.reason == "timeout"
    assert waited < 4  # httpx's own default would wait 5 s, the deadline a minute


@pytest.mark.parametrize("encoding", ["identity", " IDENTITY ", ""])
def test_a_body_sent_as_identity_is_read_as_it_is(encoding: str) -> None:
    video = MP4_HEAD + bytes(100)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": encoding}, stream=_Pieces([video]))

    fetched = fetch(
        "http://127.0.0.1/clip.mp4", LIMITS_LARGE, transport=httpx.MockTransport(answer)
    )
    assert fetched.data == video


def test_a_body_in_an_encoding_not_read_is_named_in_the_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": "br-experimental-encoding-x"}
        return httpx.Response(200, headers=headers, stream=_Pieces([b"\x00" * 64]))

    with pytest.raises(DownloadError) as refused:
        fetch("http://127.0.0.1/clip.mp4", LIMITS_LARGE, transport=httpx.MockTransport(answer))
    assert "(UnreadableBody: the host sent a body encoded as 'br-experimental-enco')" in str(
        refused.value
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("file:///tmp/clip.mp4?sig=1", "file:///tmp/clip.mp4"),
        ("/clip.mp4?sig=1#t=3", "/clip.mp4"),
        ("https://[::1]:8443/a.mp4?sig=1", "https://[::1]:8443/a.mp4"),
    ],
)
def test_a_url_without_a_host_is_shown_without_one(url: str, shown: str) -> None:
    assert url_for_errors(url) == shown


def test_a_media_host_sees_the_toolkits_name_and_is_asked_for_plain_bytes() -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, stream=_Pieces([MP4_HEAD]))

    fetch("http://127.0.0.1/clip.mp4", LIMITS_LARGE, transport=httpx.MockTransport(answer))
    assert seen[0]["user-agent"] == f"kitta-notebook/{__version__}"
    assert seen[0]["accept-encoding"] == "identity"
    assert "authorization" not in seen[0]


def test_work_that_would_end_after_the_deadline_is_not_waited_for() -> None:
    """The deadline is kept to the tenth of a second the wait wakes at, not rounded up."""
    finished = threading.Event()

    def slow() -> str:
        finished.wait(0.8)  # the work's own length: it ends well after the deadline
        return "late result"

    with pytest.raises(DeadlineExceeded):
        within(0.05, slow, finished.set)
