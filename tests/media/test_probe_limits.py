"""Every network read of a preflight has a wall-clock deadline at any byte rate, a cap on
decoded bytes, and a redirect policy; hostile hosts run on 127.0.0.1 (redirects into
private addresses go through a mock transport: no traffic leaves the machine)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kitta_notebook import KittaClient
from kitta_notebook._fetch import FetchLimits, fetch
from kitta_notebook.errors import DownloadError
from kitta_notebook.media import MediaProber, preflight, probe
from kitta_notebook.sandbox import Sandbox
from tests.media.hostile_hosts import HostileHost, gzip_bomb, hostile_host
from tests.media.media_helpers import MediaHost

DEADLINE = 2.0
BOUND = 2 * DEADLINE
"""A bound, not a timing: a read that ignores the deadline runs for a minute."""
MEMORY_BOUND = 16 * 1024 * 1024
"""The bomb decodes to 128 MB; decoding a single network read whole costs 64 MB."""
TOKEN = "probe-limits-token"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileHost]:
    with hostile_host() as served:
        served.bomb = gzip_bomb()
        yield served


def timed(action: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    outcome = action()
    return outcome, time.monotonic() - started


# --- a trickling host: the deadline holds at one byte every half second --------------------
@pytest.mark.parametrize("path", ["/trickle-body.mp4", "/trickle-headers.mp4"])
def test_a_probe_of_a_trickling_host_ends_at_its_deadline(hostile: HostileHost, path: str) -> None:
    result, elapsed = timed(lambda: probe(hostile.url(path), deadline=DEADLINE))
    assert elapsed < BOUND
    assert result.uncertain == "timed out"  # type: ignore[attr-defined]


def test_check_on_a_trickling_host_warns_within_the_deadline(
    hostile: HostileHost, host: MediaHost, media: dict[str, Path]
) -> None:
    audio = host.add("/speech.wav", media["wav"])
    with (
        Sandbox({TOKEN: 1_000_000}, time_scale=0.05) as sb,
        KittaClient(TOKEN, base_url=sb.base_url) as client,
    ):
        # The client's prober with a short deadline (the documented default is 20 s).
        client._config.prober = MediaProber(deadline=DEADLINE)
        checked, elapsed = timed(
            lambda: client.lip_sync.check(
                video_url=hostile.url("/trickle-body.mp4"), audio_url=audio
            )
        )
    assert elapsed < BOUND
    assert checked.warnings == [  # type: ignore[attr-defined]
        ("video_url", "It could not be checked from this machine (timed out).")
    ]


def test_a_revalidation_of_a_trickling_host_ends_at_its_deadline(
    hostile: HostileHost, host: MediaHost, media: dict[str, Path]
) -> None:
    """An old cached probe is revalidated with a conditional GET: that read is bounded too."""
    prober = MediaProber(deadline=DEADLINE, fresh_seconds=0.0)
    url = host.add("/clip.mp4", media["mp4_front"], etag='"v1"')
    assert prober.probe(url).reachable
    host.routes.clear()  # the second answer comes from the trickling host
    prober._cache[hostile.url("/trickle-body.mp4")] = prober._cache.pop(url)
    _, elapsed = timed(lambda: prober.probe(hostile.url("/trickle-body.mp4")))
    assert elapsed < 2 * BOUND  # the revalidation, then a fresh probe: one deadline each


# --- a gzip bomb: identity asked for, decoded bytes capped --------------------------------
def peak_memory(action: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        outcome = action()
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_probe_of_a_gzip_bomb_stays_small(hostile: HostileHost) -> None:
    hostile.seen.clear()
    result, peak = peak_memory(lambda: probe(hostile.url("/bomb.mp4"), byte_budget=1024 * 1024))
    assert peak < MEMORY_BOUND
    assert result.bytes_read <= 1024 * 1024  # type: ignore[attr-defined]
    assert result.size is None  # type: ignore[attr-defined]  # not the compressed length
    assert {seen["accept-encoding"] for seen in hostile.seen} == {"identity"}


def test_a_download_of_a_gzip_bomb_stops_at_the_cap(hostile: HostileHost) -> None:
    hostile.seen.clear()

    def download() -> DownloadError:
        with pytest.raises(DownloadError) as caught:
            fetch(hostile.url("/bomb.mp4"), FetchLimits(deadline=30, max_bytes=1024 * 1024))
        return caught.value

    error, peak = peak_memory(download)
    assert peak < MEMORY_BOUND
    assert error.reason == "too_large"  # type: ignore[attr-defined]
    assert [seen["accept-encoding"] for seen in hostile.seen] == ["identity"]


# --- a strict store refuses a Range past the end of a small object -------------------------
@pytest.mark.parametrize("status", [400, 416])
def test_a_small_file_on_a_strict_store_is_read_with_a_plain_get(
    hostile: HostileHost, media: dict[str, Path], status: int
) -> None:
    hostile.strict_file = media["mp4_front"].read_bytes()
    hostile.strict_status = status
    assert len(hostile.strict_file) < 64 * 1024  # smaller than the first Range asked for
    result = probe(hostile.url("/strict.mp4"))
    assert result.status == 200
    assert result.size == len(hostile.strict_file)
    assert result.duration == pytest.approx(2.5, abs=0.1)
    checked = preflight({"video_url": hostile.url("/strict.mp4")}, is_official=False)
    assert checked.problems == []


# --- redirects: every hop passes the first URL's address policy ---------------------------
PUBLIC = "https://media.example.com/clip.mp4"


def redirecting_to(target: str, reached: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        reached.append(str(request.url))
        if request.url.host == "media.example.com":
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, content=b"\x00\x00\x00\x18ftypisom" + bytes(100))

    return httpx.MockTransport(answer)


PRIVATE_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7/clip.mp4",
    "http://[fd00::1]/clip.mp4",
    "http://[::ffff:10.0.0.1]/clip.mp4",
    "http://localhost:8080/clip.mp4",
]


@pytest.mark.parametrize("target", PRIVATE_TARGETS)
def test_a_probe_does_not_follow_a_redirect_into_a_private_address(target: str) -> None:
    reached: list[str] = []
    prober = MediaProber(transport=redirecting_to(target, reached))
    result = prober.probe(PUBLIC)
    assert reached == [PUBLIC]  # the private address was never asked
    assert result.refused_redirect is not None
    checked = prober.preflight({"video_url": PUBLIC}, is_official=True)
    assert checked.problems and "private address" in checked.problems[0][1]


@pytest.mark.parametrize("target", PRIVATE_TARGETS)
def test_a_fetch_does_not_follow_a_redirect_into_a_private_address(target: str) -> None:
    reached: list[str] = []
    with pytest.raises(DownloadError) as caught:
        fetch(PUBLIC, FetchLimits(5, 10**6), transport=redirecting_to(target, reached))
    assert reached == [PUBLIC]
    assert caught.value.reason == "refused"
    host = httpx.URL(target).host
    assert f"a redirect led to {host}, a private address, which this machine" in str(caught.value)


def test_a_redirect_to_another_public_host_is_followed() -> None:
    reached: list[str] = []
    prober = MediaProber(transport=redirecting_to("https://cdn.example.net/clip.mp4", reached))
    result = prober.probe(PUBLIC)
    assert reached == [PUBLIC, "https://cdn.example.net/clip.mp4"]
    assert result.refused_redirect is None and result.status == 200
