"""Probing over HTTP Range requests from a real local media host."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from kitta_notebook.media import MediaProber, judge, probe, to_blob
from kitta_notebook.media.probe import probe_url
from tests.media.conftest import SECONDS
from tests.media.media_helpers import MediaHost, free_port

TOLERANCE = 0.05


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("wav", "audio"),
        ("mp3", "audio"),
        ("m4a", "audio"),
        ("mp4_front", "video"),
        ("mp4_end", "video"),
    ],
)
def test_durations_within_tolerance(
    host: MediaHost, media: dict[str, Path], name: str, role: str
) -> None:
    url = host.add(f"/{name}", media[name])
    result = probe(url)
    assert result.reachable is True and result.status == 206
    duration = result.audio_duration if role == "audio" else result.duration
    assert duration is not None
    assert abs(duration - SECONDS) <= TOLERANCE, (name, duration)
    assert judge(result, role) == ([], [])  # type: ignore[arg-type]
    assert result.bytes_read == host.bytes_sent[f"/{name}"]


@pytest.mark.parametrize("name", ["mp4_front", "mp4_end"])
def test_video_size_codecs_and_streams(host: MediaHost, media: dict[str, Path], name: str) -> None:
    result = probe(host.add("/clip", media[name]))
    assert result.dimensions == (160, 120)
    assert result.facts is not None
    assert (result.facts.video_codec, result.facts.audio_codec) == ("h264", "aac")
    assert result.facts.has_audio is True
    assert result.summary().startswith("MP4 video · 2.5 s · 160×120")


@pytest.mark.parametrize(("name", "size"), [("png", (64, 48)), ("jpeg", (80, 60))])
def test_image_dimensions(host: MediaHost, media: dict[str, Path], name: str, size: tuple) -> None:
    result = probe(host.add(f"/{name}", media[name]))
    assert result.kind == "image" and result.dimensions == size
    assert judge(result, "image") == ([], [])


def test_content_type_is_not_trusted(host: MediaHost, media: dict[str, Path]) -> None:
    """The host labels everything video/mp4; the probe still sees a web page."""
    result = probe(host.add("/video.mp4", media["html"]))
    assert result.kind == "html"


DEFINITE = [
    ("html", "video", "It is an HTML page, not a video."),
    ("json", "audio", "It is a JSON document, not audio."),
    ("text", "video", "It is a text file, not a video."),
    ("png", "video", "It is an image (PNG image), not a video: pass it as image_url."),
    ("mp4_silent", "audio", "It has no audio stream (MP4 video)."),
    ("wav", "video", "It is audio only (WAV audio), not a video."),
    ("empty", "video", "It is an empty file."),
    ("empty_wav", "audio", "It has zero duration."),
    ("noise", "audio", "It is in a format no decoder knows, not audio."),
    ("mp4_front", "image", "It is MP4 video, not an image."),
]


@pytest.mark.parametrize(("name", "role", "message"), DEFINITE)
def test_each_definite_problem(
    host: MediaHost, media: dict[str, Path], name: str, role: str, message: str
) -> None:
    result = probe(host.add(f"/{name}", media[name]))
    assert judge(result, role) == ([message], [])  # type: ignore[arg-type]


def test_http_404_is_definite_and_500_is_uncertain(host: MediaHost) -> None:
    gone = probe(host.add("/gone.mp4", b"", status=404))
    assert gone.status == 404
    assert judge(gone, "video")[0] == [
        "The media host answered HTTP 404, so the service cannot fetch it."
    ]
    failing = probe(host.add("/flaky.mp4", b"", status=503))
    assert judge(failing, "video") == (
        [],
        ["The media host answered HTTP 503; it may be a passing failure."],
    )


def test_undecodable_file_with_a_media_header(host: MediaHost, media: dict[str, Path]) -> None:
    broken = media["mp4_front"].read_bytes()[:40]  # ftyp, then nothing
    result = probe(host.add("/broken.mp4", broken))
    assert judge(result, "video")[0] == ["It looks like MP4 but cannot be read as one."]


def test_connection_refused_is_a_warning() -> None:
    result = probe(f"http://127.0.0.1:{free_port()}/clip.mp4", deadline=5)
    assert result.reachable is None and result.uncertain == "connection refused"
    assert judge(result, "video") == (
        [],
        ["It could not be checked from this machine (connection refused)."],
    )


def test_a_host_that_never_answers_times_out_within_the_deadline() -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        result = probe(f"http://127.0.0.1:{listener.getsockname()[1]}/clip.mp4", deadline=1.0)
    assert result.uncertain == "timed out" and result.reachable is None
    assert result.elapsed < 5


def test_dns_failure_is_uncertain() -> None:
    """A DNS failure cannot be produced on 127.0.0.1: a mock transport raises what httpx does."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    result = probe_url(
        "https://media.example.invalid/clip.mp4", transport=httpx.MockTransport(fail)
    )
    assert result.uncertain == "DNS lookup failed"


def test_probe_sends_no_token_and_reads_little(host: MediaHost, media: dict[str, Path]) -> None:
    url = host.add("/long.mp4", media["long_mp4"])
    result = probe(url)
    assert host.authorization_seen == []
    assert result.duration == pytest.approx(12.0, abs=TOLERANCE)
    assert result.size == media["long_mp4"].stat().st_size


def test_host_without_range_support_stops_at_the_budget(
    host: MediaHost, media: dict[str, Path]
) -> None:
    big = media["wav"].read_bytes() * 8
    url = host.add("/norange.wav", big, ranges=False)
    result = probe(url, byte_budget=20_000)
    assert result.bytes_read <= 20_000
    assert result.kind == "audio"  # sniffed from what was read


def test_small_file_without_range_support_is_read_whole(
    host: MediaHost, media: dict[str, Path]
) -> None:
    url = host.add("/small.wav", media["wav"], ranges=False)
    result = probe(url)
    assert result.audio_duration == pytest.approx(SECONDS, abs=TOLERANCE)


def test_cache_per_url_and_revalidation_by_etag(host: MediaHost, media: dict[str, Path]) -> None:
    url = host.add("/clip.mp4", media["mp4_front"], etag='"v1"')
    prober = MediaProber()
    first = prober.probe(url)
    requests_after_first = host.requests["/clip.mp4"]
    assert prober.probe(url) is first
    assert host.requests["/clip.mp4"] == requests_after_first  # fresh: no request at all

    prober.fresh_seconds = 0  # old: revalidated with If-None-Match -> 304
    host.reset_counts()
    assert prober.probe(url) is first
    assert host.requests["/clip.mp4"] == 1 and host.bytes_sent.get("/clip.mp4", 0) == 0

    host.add("/clip.mp4", media["wav"], etag='"v2"')  # changed behind the same URL
    changed = prober.probe(url)
    assert changed.kind == "audio"


def test_local_blob_probe(media: dict[str, Path]) -> None:
    result = probe(to_blob(media["m4a"]))
    assert result.source == "speech.m4a"
    assert result.audio_duration == pytest.approx(SECONDS, abs=TOLERANCE)


def test_the_shown_source_holds_no_credentials(host: MediaHost, media: dict[str, Path]) -> None:
    """A URL's user:password and its query (a presigned signature) never reach the result."""
    url = host.add("/clip.mp4", media["mp4_front"]).replace("//", "//ana:s3cret-pw@", 1)
    result = probe(url + "?X-Amz-Signature=s1gnature")
    assert result.source == f"{host.origin}/clip.mp4"
    assert "s3cret" not in repr(result) and "s1gnature" not in repr(result)
