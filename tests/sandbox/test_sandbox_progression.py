"""Contract section 5: statuses move pending -> processing -> succeeded/failed, and the
result is a real, playable MP4 (served publicly, with Range support)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import wave
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import kitta_notebook.sandbox as sandbox_package
from kitta_notebook.sandbox import Sandbox
from tests.sandbox.sandbox_helpers import (
    SCALE,
    TASKS,
    image_body,
    probe,
    sample_seconds,
    video_body,
    wait_terminal,
)


def _ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _download(url: str, dest: Path) -> httpx.Response:
    response = httpx.get(url, timeout=20)  # no Authorization: media URLs are public
    assert response.status_code == 200
    dest.write_bytes(response.content)
    return response


def test_video_task_succeeds_with_a_playable_mp4(
    sandbox: Sandbox, fresh: httpx.Client, tmp_path: Path
) -> None:
    created = fresh.post(TASKS, json=video_body(sandbox)).json()
    seen: list[str] = [created["status"]]
    done = wait_terminal(fresh, created["taskId"], seen=seen)
    assert done["status"] == "succeeded", done
    assert seen[0] == "pending" and seen[-1] == "succeeded"
    assert "processing" in seen  # lasts >= 3 s x time_scale; polled every ~10 ms
    order = ["pending", "processing", "succeeded"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert done["errorCode"] is None and done["errorMessage"] is None
    created_at, started, completed = (
        _ts(done[k]) for k in ("createdAt", "startedAt", "completedAt")
    )
    assert created_at <= started <= completed
    assert (completed - started).total_seconds() >= 3.0 * SCALE - 0.01  # minimum processing

    url = done["resultVideoUrl"]
    assert url.startswith(sandbox.origin + "/") and url.endswith(".mp4")
    response = _download(url, tmp_path / "result.mp4")
    assert response.headers["content-type"] == "video/mp4"
    info = probe(tmp_path / "result.mp4")
    assert info.video == "h264" and info.audio == "aac" and info.pix_fmt == "yuv420p"
    assert info.width == 320
    assert info.duration == pytest.approx(sample_seconds("audio"), abs=0.15)
    assert sample_seconds("audio") > sample_seconds("video")  # so the video was looped


def test_result_supports_range_requests(sandbox: Sandbox, fresh: httpx.Client) -> None:
    done = wait_terminal(fresh, fresh.post(TASKS, json=video_body(sandbox)).json()["taskId"])
    url = done["resultVideoUrl"]
    full = httpx.get(url, timeout=20)
    part = httpx.get(url, headers={"Range": "bytes=100-199"}, timeout=20)
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    assert part.content == full.content[100:200]
    assert full.headers.get("accept-ranges") == "bytes"
    head = httpx.head(url, timeout=20)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(full.content)
    assert full.content[4:8] == b"ftyp"
    assert full.content.find(b"moov") < full.content.find(b"mdat")  # faststart


def test_image_task_with_reference_succeeds(
    sandbox: Sandbox, fresh: httpx.Client, tmp_path: Path
) -> None:
    body = image_body(
        sandbox,
        audioUrl=sandbox.samples["audio_zh"],
        referenceImageUrl=sandbox.samples["reference_image"],
    )
    done = wait_terminal(fresh, fresh.post(TASKS, json=body).json()["taskId"])
    assert done["status"] == "succeeded", done
    _download(done["resultVideoUrl"], tmp_path / "image.mp4")
    info = probe(tmp_path / "image.mp4")
    assert info.video == "h264" and info.audio == "aac"
    assert info.duration == pytest.approx(sample_seconds("audio_zh"), abs=0.15)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.wav"


@pytest.mark.parametrize(
    ("field", "url_key", "code"),
    [
        ("audioUrl", "closed", "media_unreachable"),
        ("videoUrl", "missing", "media_unreachable"),
        ("videoUrl", "not_media", "media_invalid"),
        ("audioUrl", "image", "media_invalid"),
    ],
)
def test_bad_media_fails_the_task_with_a_specific_error(
    sandbox: Sandbox, fresh: httpx.Client, field: str, url_key: str, code: str
) -> None:
    url = _closed_port_url() if url_key == "closed" else sandbox.samples[url_key]
    token = fresh.headers["X-Test-Token"]
    before = sandbox.balance(token)
    created = fresh.post(TASKS, json=video_body(sandbox, **{field: url}))
    assert created.status_code == 202  # inputs are only fetched after creation
    done = wait_terminal(fresh, created.json()["taskId"])
    assert done["status"] == "failed"
    assert done["errorCode"] == code
    assert field in done["errorMessage"] and url in done["errorMessage"]
    assert done["resultVideoUrl"] is None
    assert done["completedAt"] is not None
    # Sandbox choice: failed tasks are refunded.
    assert done["creditsCharged"] == 0
    assert sandbox.balance(token) == before


def test_credits_are_reconciled_to_the_measured_audio(
    sandbox: Sandbox, fresh: httpx.Client
) -> None:
    token = fresh.headers["X-Test-Token"]
    before = sandbox.balance(token)
    created = fresh.post(TASKS, json=video_body(sandbox, durationSeconds=60)).json()
    assert created["creditsCharged"] == 6000
    done = wait_terminal(fresh, created["taskId"])
    assert done["creditsCharged"] < 6000
    assert sandbox.balance(token) == before - done["creditsCharged"]
    usage = fresh.get("/v1/usage").json()
    assert usage["balance"] == sandbox.balance(token)
    assert usage["spent"] == done["creditsCharged"]
    assert usage["tasks"]["succeeded"] == 1


def test_identical_tasks_render_once(sandbox: Sandbox, fresh: httpx.Client) -> None:
    body = video_body(sandbox, audioUrl=sandbox.samples["audio_zh"])
    warm = fresh.post(TASKS, json=body).json()["taskId"]
    assert wait_terminal(fresh, warm)["status"] == "succeeded"
    renders = sandbox.stats.renders
    ids = [fresh.post(TASKS, json=body).json()["taskId"] for _ in range(12)]
    results = [wait_terminal(fresh, t) for t in ids]
    assert {r["status"] for r in results} == {"succeeded"}
    assert sandbox.stats.renders == renders
    first = httpx.get(results[0]["resultVideoUrl"], timeout=20).content
    assert httpx.get(results[-1]["resultVideoUrl"], timeout=20).content == first


def test_unknown_result_is_404(sandbox: Sandbox) -> None:
    response = httpx.get(f"{sandbox.origin}/results/lip_task_ffff.mp4", timeout=10)
    assert response.status_code == 404


def test_samples_are_public_media(sandbox: Sandbox) -> None:
    expected = {
        "video": "video/mp4",
        "audio": "audio/wav",
        "audio_zh": "audio/wav",
        "image": "image/png",
        "reference_image": "image/png",
    }
    for key, content_type in expected.items():
        response = httpx.get(sandbox.samples[key], timeout=10)
        assert response.status_code == 200, key
        assert response.headers["content-type"].startswith(content_type)
    assert httpx.get(sandbox.samples["missing"], timeout=10).status_code == 404


def test_own_inputs_are_read_in_place_and_never_changed(
    sandbox: Sandbox, fresh: httpx.Client
) -> None:
    """Inputs at this sandbox's own URLs are read from its folders, not fetched from
    itself; an image that needs a file extension for ffmpeg is copied, never renamed."""
    frames = os.urandom(16_000)  # 0.5 s of noise: audio no earlier task had, so it renders
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(frames)
    data = buffer.getvalue()
    url = f"{sandbox.media_store_url}/{hashlib.sha256(data).hexdigest()}.wav"
    assert httpx.put(url, content=data, headers={"Content-Type": "audio/wav"}).status_code == 201
    image = (
        Path(sandbox_package.__file__).parent
        / "samples"
        / urlsplit(sandbox.samples["image"]).path.rsplit("/", 1)[-1]
    )
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    sandbox.stats.reset()
    done = wait_terminal(
        fresh, fresh.post(TASKS, json=image_body(sandbox, audioUrl=url)).json()["taskId"]
    )
    assert done["status"] == "succeeded", done
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before
    assert not {"samples", "uploaded"} & set(sandbox.stats.by_route)
