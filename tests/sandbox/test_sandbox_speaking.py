"""The sample speaks: on the sandbox's own character, the result's mouth opens with
the loudness of the new audio (not lip sync; other media are left as they are)."""

from __future__ import annotations

import math
import subprocess
import wave
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest

from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.face import mouth_box
from kitta_notebook.sandbox.samples import SAMPLES_DIR
from kitta_notebook.sandbox.speaking import SpeakingFaces
from tests.sandbox.sandbox_helpers import TASKS, image_body, video_body, wait_terminal

FPS = 25


def audio_loudness(path: Path, frames: int) -> list[float]:
    """RMS of each video frame's slice of a 16-bit mono WAV, computed here on its own."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    values = [int.from_bytes(raw[i : i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
    per = rate // FPS
    out = []
    for i in range(frames):
        chunk = values[i * per : (i + 1) * per]
        out.append(math.sqrt(sum(v * v for v in chunk) / len(chunk)) if chunk else 0.0)
    return out


def mouth_darkness(video: Path, x: int, y: int, w: int, h: int) -> list[float]:
    """Per frame, how dark the mouth region is (an open mouth shows its dark inside)."""
    proc = subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(video),
            "-vf",
            f"crop={w}:{h}:{x}:{y},format=gray,scale=1:1:flags=area",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return [255.0 - b for b in proc.stdout]


def correlation(a: list[float], b: list[float]) -> float:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = math.sqrt(sum((x - ma) ** 2 for x in a))
    vb = math.sqrt(sum((y - mb) ** 2 for y in b))
    return cov / (va * vb)


@pytest.mark.parametrize(
    ("mode", "size", "scale"), [("video", (320, 240), 1.0), ("image", (256, 320), 1.25)]
)
def test_the_sample_mouth_follows_the_new_audio(
    sandbox: Sandbox,
    alice: httpx.Client,
    tmp_path: Path,
    mode: str,
    size: tuple[int, int],
    scale: float,
) -> None:
    make = video_body if mode == "video" else image_body
    created = alice.post(TASKS, json=make(sandbox, audioUrl=sandbox.samples["audio_zh"])).json()
    done = wait_terminal(alice, created["taskId"])
    assert done["status"] == "succeeded", done
    result = tmp_path / "result.mp4"
    result.write_bytes(httpx.get(done["resultVideoUrl"], timeout=20).content)
    box = mouth_box(*size)
    darkness = mouth_darkness(
        result,
        round(box.x * scale),
        round(box.y * scale),
        round(box.width * scale) // 2 * 2,
        round(box.height * scale) // 2 * 2,
    )
    loudness = audio_loudness(SAMPLES_DIR / "speech-zh.wav", len(darkness))
    assert max(darkness) - min(darkness) > 20  # the mouth really opens and closes
    assert correlation(darkness, loudness) > 0.6


def test_other_pictures_get_no_mouth_track(tmp_path: Path) -> None:
    faces = SpeakingFaces()
    pcm = b"\x10\x00" * 16_000
    assert faces.mouth_track("0" * 64, pcm, 16_000, tmp_path) is None
    import hashlib

    reference = hashlib.sha256((SAMPLES_DIR / "reference.png").read_bytes()).hexdigest()
    assert not faces.knows(reference)  # the second character is not the drawn main one
    video = hashlib.sha256((SAMPLES_DIR / "video.mp4").read_bytes()).hexdigest()
    track = faces.mouth_track(video, pcm, 16_000, tmp_path)
    assert track is not None
    assert track.frames.stat().st_size == FPS * track.width * track.height * 3
