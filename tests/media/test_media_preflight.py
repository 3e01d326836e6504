"""Preflight and prepare_inputs: problems per field, duration and estimate, publishing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kitta_notebook.errors import ValidationError
from kitta_notebook.media import PRICE_UNKNOWN, MediaProber, S3Store, preflight
from tests.media.conftest import SECONDS, boto_session
from tests.media.media_helpers import MediaHost, free_port, priced


def test_good_inputs_fill_duration_and_estimate(host: MediaHost, media: dict[str, Path]) -> None:
    fields = {
        "video_url": host.add("/clip.mp4", media["mp4_end"]),
        "audio_url": host.add("/dub.wav", media["wav"]),
        "model": "kitta-lip-sync-v1",
    }
    result = preflight(fields, is_official=False, price=priced(100))
    assert result.ok and result.problems == [] and result.warnings == []
    assert result.duration_seconds == pytest.approx(SECONDS, abs=0.05)
    assert result.duration_from_probe
    assert result.estimated_credits == 250
    assert set(result.inputs) == {"video_url", "audio_url"}
    assert [row["field"] for row in result.rows()] == ["video_url", "audio_url"]


def test_a_given_duration_wins_and_unknown_price_says_so(
    host: MediaHost, media: dict[str, Path]
) -> None:
    fields = {
        "video_url": host.add("/clip.mp4", media["mp4_front"]),
        "audio_url": host.add("/dub.mp3", media["mp3"]),
        "duration_seconds": 7.0,
    }
    result = preflight(fields, is_official=True)
    assert result.duration_seconds == 7.0 and not result.duration_from_probe
    assert result.estimated_credits is None and result.price_note == PRICE_UNKNOWN
    assert ("preflight", result.warnings[0][1]) == result.warnings[0]
    assert result.warnings[0][1].startswith("checked from this machine")


def test_every_problem_is_named_by_field(host: MediaHost, media: dict[str, Path]) -> None:
    fields = {
        "video_url": host.add("/page.html", media["html"]),
        "audio_url": host.add("/silent.mp4", media["mp4_silent"]),
        "reference_image_url": host.add("/missing.png", b"", status=404),
    }
    result = preflight(fields, is_official=False, price=priced(100))
    assert not result.ok
    assert result.problems == [
        ("video_url", "It is an HTML page, not a video."),
        ("audio_url", "It has no audio stream (MP4 video)."),
        (
            "reference_image_url",
            "The media host answered HTTP 404, so the service cannot fetch it.",
        ),
    ]
    with pytest.raises(ValidationError) as caught:
        result.raise_for_problems()
    assert set(caught.value.fields) == {"video_url", "audio_url", "reference_image_url"}


def test_unreachable_input_is_a_warning_not_a_problem(
    media: dict[str, Path], host: MediaHost
) -> None:
    fields = {
        "video_url": f"http://127.0.0.1:{free_port()}/clip.mp4",
        "audio_url": host.add("/dub.wav", media["wav"]),
    }
    result = preflight(fields, is_official=False, price=priced(100), deadline=5)
    assert result.ok
    assert result.warnings == [
        ("video_url", "It could not be checked from this machine (connection refused).")
    ]


def test_audio_much_longer_than_video_warns(host: MediaHost, media: dict[str, Path]) -> None:
    fields = {
        "video_url": host.add("/clip.mp4", media["mp4_front"]),
        "audio_url": host.add("/long.mp4", media["long_mp4"]),
    }
    result = preflight(fields, is_official=False)
    assert result.ok
    ((name, message),) = result.warnings
    assert name == "audio_url"
    assert message.startswith("The audio (12.0 s) is much longer than the video (2.5 s)")
    assert "loops the video" in message


def test_a_second_preflight_is_served_from_the_cache(
    host: MediaHost, media: dict[str, Path]
) -> None:
    fields = {
        "video_url": host.add("/clip.mp4", media["mp4_end"]),
        "audio_url": host.add("/dub.m4a", media["m4a"]),
        "image_url": host.add("/still.jpg", media["jpeg"]),
    }
    prober = MediaProber()
    expected = prober.preflight(fields, is_official=False, price=priced(100))
    host.reset_counts()
    assert prober.preflight(fields, is_official=False, price=priced(100)) == expected
    assert host.requests == {}  # every URL came from the cache


def test_one_clip_for_twenty_tracks_is_probed_once(host: MediaHost, media: dict[str, Path]) -> None:
    clip = host.add("/clip.mp4", media["mp4_front"])
    tracks = [host.add(f"/dub{i}.wav", media["wav"]) for i in range(20)]
    prober = MediaProber()

    def one(track: str) -> object:
        fields = {"video_url": clip, "audio_url": track}
        return prober.preflight(fields, is_official=False, price=priced(100))

    with ThreadPoolExecutor(8) as pool:
        assert len(list(pool.map(one, tracks))) == 20
    assert host.requests["/clip.mp4"] == 1


def test_prepare_inputs_publishes_local_files_then_checks(
    moto_endpoint: str, bucket: str, media: dict[str, Path]
) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, region="us-east-1", session=boto_session())
    progress: list[tuple[int, int]] = []
    prepared = MediaProber().prepare_inputs(
        {"video_url": media["mp4_front"], "audio_url": str(media["wav"]), "model": "m"},
        store=store,
        is_official=True,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert prepared.preflight is not None and prepared.preflight.ok
    assert prepared.fields["video_url"] == prepared.published["video_url"].url
    assert prepared.fields["audio_url"].startswith(f"{moto_endpoint}/{bucket}/")
    assert prepared.fields["model"] == "m"
    assert prepared.fields["duration_seconds"] == pytest.approx(SECONDS, abs=0.05)
    total = media["mp4_front"].stat().st_size + media["wav"].stat().st_size
    assert progress[-1] == (total, total)
    assert prepared.preflight.published["audio_url"].record()["file_name"] == "speech.wav"


def test_a_published_file_keeps_its_local_probe(
    moto_endpoint: str, bucket: str, media: dict[str, Path]
) -> None:
    """The upload sends exactly the bytes that were probed: nothing is probed again over HTTP."""
    sent: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(500)

    store = S3Store(bucket, endpoint_url=moto_endpoint, region="us-east-1", session=boto_session())
    prepared = MediaProber(transport=httpx.MockTransport(refuse)).prepare_inputs(
        {"video_url": media["mp4_front"], "audio_url": media["wav"]},
        store=store,
        is_official=False,
        price=priced(100),
    )
    assert sent == []
    assert prepared.preflight is not None and prepared.preflight.ok
    assert prepared.preflight.inputs["audio_url"].source == "speech.wav"
    assert prepared.preflight.duration_seconds == pytest.approx(SECONDS, abs=0.05)
    assert prepared.preflight.estimated_credits == 250
    assert set(prepared.published) == {"video_url", "audio_url"}


def test_prepare_inputs_refuses_a_bad_local_file_before_uploading(
    moto_endpoint: str, bucket: str, media: dict[str, Path]
) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, region="us-east-1", session=boto_session())
    prepared = MediaProber().prepare_inputs(
        {"video_url": media["png"], "audio_url": media["wav"]},
        store=store,
        is_official=False,
        price=priced(100),
    )
    assert prepared.preflight is not None
    assert prepared.preflight.problems == [
        ("video_url", "It is an image (PNG image), not a video: pass it as image_url.")
    ]
    assert prepared.published == {}
    listing = boto_session().client("s3", endpoint_url=moto_endpoint).list_objects_v2(Bucket=bucket)
    assert listing.get("KeyCount", 0) == 0


def test_prepare_inputs_without_a_store_or_with_a_missing_file(
    media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KITTA_MEDIA_STORE", raising=False)
    prober = MediaProber()
    with pytest.raises(ValidationError) as no_store:
        prober.prepare_inputs(
            {"video_url": media["mp4_front"], "audio_url": "https://example.com/a.wav"},
            is_official=True,
        )
    assert "KITTA_MEDIA_STORE" in no_store.value.fields["video_url"]
    with pytest.raises(ValidationError) as missing:
        prober.prepare_inputs(
            {"video_url": "clip.mp4", "audio_url": "dub.wav"},
            is_official=True,
        )
    assert set(missing.value.fields) == {"video_url", "audio_url"}


def test_prepare_inputs_leaves_urls_alone_without_preflight() -> None:
    fields = {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.wav"}
    prepared = MediaProber().prepare_inputs(fields, is_official=True, preflight=False)
    assert prepared.fields == fields and prepared.preflight is None and prepared.published == {}


def test_a_malformed_duration_is_left_for_the_validator(
    host: MediaHost, media: dict[str, Path]
) -> None:
    fields = {
        "video_url": host.add("/c.mp4", media["mp4_front"]),
        "audio_url": host.add("/d.wav", media["wav"]),
        "duration_seconds": "ten",
    }
    result = preflight(fields, is_official=False, price=priced(100))
    assert result.duration_seconds is None and not result.duration_from_probe
    assert result.estimated_credits is None
