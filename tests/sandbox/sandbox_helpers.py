"""Shared helpers of the sandbox suite."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

import kitta_notebook.sandbox as sandbox_package
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.records import CreateRequest
from kitta_notebook.sandbox.store import Store, TaskRecord
from tests.plugins.sandbox import TIME_SCALE

SCALE = TIME_SCALE  # the shared sandbox's, which the contract tests use
ALICE = "alice-token"  # may use the pro model
BOB = "bob-token"
POOR = "poor-token"  # 50 credits: cannot pay for anything
TASKS = "/v1/lip-sync/tasks"
V1 = "kitta-lip-sync-v1"
PRO = "kitta-lip-sync-pro"
TERMINAL = ("succeeded", "failed")


def api_client(sb: Sandbox, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=sb.base_url, headers=headers, timeout=20)


def video_body(sb: Sandbox, **extra: Any) -> dict[str, Any]:
    return {"model": V1, "videoUrl": sb.samples["video"], "audioUrl": sb.samples["audio"], **extra}


def image_body(sb: Sandbox, **extra: Any) -> dict[str, Any]:
    return {
        "model": V1,
        "inputMode": "image",
        "imageUrl": sb.samples["image"],
        "audioUrl": sb.samples["audio"],
        **extra,
    }


def wait_until(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)  # polling pace, not synchronisation


def wait_terminal(
    client: httpx.Client, task_id: str, *, timeout: float = 30.0, seen: list[str] | None = None
) -> dict[str, Any]:
    """Poll the detail endpoint until the task is succeeded or failed."""

    def check() -> dict[str, Any] | None:
        response = client.get(f"{TASKS}/{task_id}")
        assert response.status_code == 200, response.text
        dto: dict[str, Any] = response.json()
        if seen is not None and (not seen or seen[-1] != dto["status"]):
            seen.append(dto["status"])
        return dto if dto["status"] in TERMINAL else None

    result: dict[str, Any] = wait_until(check, timeout=timeout, interval=0.01)
    return result


REQUEST_ID = re.compile(r"^req_[0-9a-f]{24}$")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's envelope, with a requestId that matches X-Request-Id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "requestId"}
    assert isinstance(error["message"], str) and error["message"]
    assert REQUEST_ID.match(error["requestId"]), error
    assert response.headers["x-request-id"] == error["requestId"]
    if code is not None:
        assert error["code"] == code
    return dict(error)


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    video: str | None
    audio: str | None
    pix_fmt: str | None
    width: int | None
    height: int | None


def probe(path: Path) -> MediaInfo:
    """Parse ``ffmpeg -i`` (an independent reading of the file, not the sandbox's code)."""
    proc = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    err = proc.stderr
    dur = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", err)
    assert dur, err
    video = re.search(r"Video: (\w+).*?, (\w+)\(.*?, (\d+)x(\d+)", err)
    audio = re.search(r"Audio: (\w+)", err)
    h, m, s = dur.groups()
    return MediaInfo(
        duration=int(h) * 3600 + int(m) * 60 + float(s),
        video=video.group(1) if video else None,
        audio=audio.group(1) if audio else None,
        pix_fmt=video.group(2) if video else None,
        width=int(video.group(3)) if video else None,
        height=int(video.group(4)) if video else None,
    )


def sample_seconds(key: str) -> float:
    """Duration of a committed sample, measured here with ffmpeg."""
    samples = Path(sandbox_package.__file__).parent
    names = {"audio": "speech-en.wav", "audio_zh": "speech-zh.wav", "video": "video.mp4"}
    return probe(samples / "samples" / names[key]).duration


def stored_task(store: Store, token: str, **extra: Any) -> TaskRecord:
    """A pending video task put straight into a store (no server, no engine)."""
    request = CreateRequest(
        model=V1,
        input_mode="video",
        video_url="http://127.0.0.1:9/v.mp4",
        image_url=None,
        audio_url="http://127.0.0.1:9/a.wav",
        reference_image_url=None,
        duration_seconds=1,
    )
    options: dict[str, Any] = {"token": token, "price": 1, "now": 0.0, **extra}
    return store.create_task(request, **options)
