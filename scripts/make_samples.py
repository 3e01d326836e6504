"""Generate the sandbox's sample media (committed as package data).

Writes into ``kitta_notebook/sandbox/samples/``:

* ``video.mp4``      ~3 s synthetic talking head (320x240, H.264 + AAC); the mouth
                     follows the loudness of its own speech track.
* ``speech-en.wav``  an English sentence (espeak-ng, 16 kHz mono).
* ``speech-zh.wav``  a Mandarin sentence (espeak-ng ``cmn`` voice).
* ``portrait.png``   a still face for image-driven tasks.
* ``reference.png``  a second face, for ``referenceImageUrl``.
* ``not-media.mp4``  text bytes with a video name, to demo ``media_invalid``.
* ``manifest.json``  sample keys, content types and measured durations, read by the
                     sandbox at run time (so it can price its own samples at create).

Needs ``espeak-ng`` on PATH and the ffmpeg from ``imageio-ffmpeg``. Pure Python
drawing (no numpy/PIL). Run from the repository root:
``python scripts/make_samples.py``. Output is deterministic for a given toolchain.
"""

from __future__ import annotations

import array
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kitta_notebook.sandbox.mark import encode_png  # noqa: E402

OUT = REPO / "kitta_notebook" / "sandbox" / "samples"
FPS = 25
RATE = 16_000
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]

VIDEO_LINE = "Hi! I am the sample face of the Kitta sandbox."
SPEECH_EN = "Hello from the Kitta sandbox. These lips are not really in sync."
SPEECH_ZH = "你好，欢迎使用 Kitta 沙盒。"

RGB = tuple[int, int, int]


class Palette:
    """Colours of one drawn person."""

    def __init__(self, bg_top: RGB, bg_bottom: RGB, skin: RGB, hair: RGB, shirt: RGB) -> None:
        self.bg_top, self.bg_bottom = bg_top, bg_bottom
        self.skin, self.hair, self.shirt = skin, hair, shirt


MAIN = Palette((70, 110, 160), (30, 50, 80), (236, 188, 150), (70, 45, 30), (40, 140, 120))
OTHER = Palette((150, 90, 120), (70, 40, 60), (200, 150, 110), (30, 30, 35), (220, 170, 40))


class Canvas:
    """An RGB frame with span-filled shapes (fast enough in pure Python)."""

    def __init__(self, width: int, height: int, top: RGB, bottom: RGB) -> None:
        self.width, self.height = width, height
        rows = []
        for y in range(height):
            t = y / max(height - 1, 1)
            colour = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
            rows.append(colour * width)
        self.pixels = bytearray(b"".join(rows))

    def span(self, y: int, x0: float, x1: float, colour: RGB) -> None:
        if not 0 <= y < self.height:
            return
        a, b = max(0, math.floor(x0)), min(self.width, math.ceil(x1))
        if b > a:
            start = (y * self.width + a) * 3
            self.pixels[start : start + (b - a) * 3] = bytes(colour) * (b - a)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: RGB) -> None:
        if rx <= 0 or ry <= 0:
            return
        for y in range(math.floor(cy - ry), math.ceil(cy + ry) + 1):
            d = (y + 0.5 - cy) / ry
            if abs(d) < 1:
                half = rx * math.sqrt(1 - d * d)
                self.span(y, cx - half, cx + half, colour)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: RGB) -> None:
        for y in range(math.floor(y0), math.ceil(y1)):
            self.span(y, x0, x1, colour)

    def rgba(self) -> bytearray:
        out = bytearray()
        for i in range(0, len(self.pixels), 3):
            out += self.pixels[i : i + 3] + b"\xff"
        return out


def shade(colour: RGB, factor: float) -> RGB:
    r, g, b = (max(0, min(255, round(c * factor))) for c in colour)
    return (r, g, b)


def draw_face(width: int, height: int, palette: Palette, mouth: float, blink: bool) -> Canvas:
    """A simple head and shoulders; ``mouth`` is the opening, 0 (closed) .. 1."""
    c = Canvas(width, height, palette.bg_top, palette.bg_bottom)
    s = min(width, height) / 240
    cx, cy = width / 2, height * 0.46
    c.ellipse(cx, height + 30 * s, 120 * s, 95 * s, palette.shirt)  # shoulders
    c.rect(cx - 22 * s, cy + 50 * s, cx + 22 * s, cy + 95 * s, shade(palette.skin, 0.9))  # neck
    c.ellipse(cx, cy - 18 * s, 72 * s, 70 * s, palette.hair)  # hair behind the head
    c.ellipse(cx, cy, 62 * s, 78 * s, palette.skin)  # head
    c.ellipse(cx - 63 * s, cy + 2 * s, 9 * s, 15 * s, shade(palette.skin, 0.93))  # ears
    c.ellipse(cx + 63 * s, cy + 2 * s, 9 * s, 15 * s, shade(palette.skin, 0.93))
    c.ellipse(cx, cy - 62 * s, 60 * s, 22 * s, palette.hair)  # fringe
    for side in (-1, 1):
        ex, ey = cx + side * 24 * s, cy - 12 * s
        c.rect(ex - 13 * s, ey - 18 * s, ex + 13 * s, ey - 14 * s, palette.hair)  # brow
        if blink:
            c.rect(ex - 11 * s, ey - 1 * s, ex + 11 * s, ey + 2 * s, shade(palette.skin, 0.6))
        else:
            c.ellipse(ex, ey, 12 * s, 8 * s, (250, 250, 250))
            c.ellipse(ex, ey, 5 * s, 5.5 * s, (50, 70, 110))
            c.ellipse(ex, ey, 2.5 * s, 2.8 * s, (10, 10, 15))
    c.ellipse(cx, cy + 14 * s, 6 * s, 9 * s, shade(palette.skin, 0.85))  # nose
    opening = max(0.0, min(1.0, mouth))
    my = cy + 42 * s
    c.ellipse(cx, my, 24 * s, (4 + 14 * opening) * s, (180, 60, 70))  # lips
    if opening > 0.05:
        c.ellipse(cx, my, 18 * s, 12 * opening * s, (60, 15, 25))  # mouth cavity
        teeth = (245, 245, 245)
        c.rect(cx - 12 * s, my - 12 * opening * s, cx + 12 * s, my - 8 * opening * s, teeth)
    else:
        c.rect(cx - 20 * s, my - 0.8 * s, cx + 20 * s, my + 0.8 * s, (110, 30, 40))
    return c


def run(cmd: Sequence[str], stdin: bytes | None = None) -> None:
    subprocess.run(list(cmd), input=stdin, check=True, capture_output=True)


def speak(text: str, voice: str, speed: int, out: Path, ffmpeg: str, work: Path) -> None:
    """espeak-ng -> 16 kHz mono 16-bit WAV with a short fade at both ends."""
    raw = work / (out.stem + ".raw.wav")
    run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text])
    cmd = [ffmpeg, "-y", "-hide_banner", "-i", str(raw), *BITEXACT, "-map_metadata", "-1"]
    cmd += ["-af", "silenceremove=start_periods=1:start_threshold=-50dB,afade=t=in:d=0.02"]
    cmd += ["-ac", "1", "-ar", str(RATE), "-c:a", "pcm_s16le", str(out)]
    run(cmd)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def loudness_per_frame(path: Path, frames: int) -> list[float]:
    """RMS of each video frame's slice of audio, normalised and smoothed to 0..1."""
    with wave.open(str(path), "rb") as w:
        samples = array.array("h", w.readframes(w.getnframes()))
        rate = w.getframerate()
    per = rate // FPS
    levels = []
    for i in range(frames):
        chunk = samples[i * per : (i + 1) * per]
        levels.append(math.sqrt(sum(v * v for v in chunk) / len(chunk)) if chunk else 0.0)
    peak = max(levels) or 1.0
    smooth, prev = [], 0.0
    for level in levels:
        prev = 0.5 * prev + 0.5 * min(1.0, 1.6 * level / peak)
        smooth.append(prev if prev > 0.08 else 0.0)
    return smooth


def make_video(ffmpeg: str, work: Path) -> None:
    voice = work / "video-voice.wav"
    speak(VIDEO_LINE, "en-us", 165, voice, ffmpeg, work)
    seconds = wav_seconds(voice)
    frames = max(1, round(seconds * FPS))
    mouth = loudness_per_frame(voice, frames)
    width, height = 320, 240
    raw = bytearray()
    for i in range(frames):
        blink = i % 60 in (40, 41, 42)
        raw += draw_face(width, height, MAIN, mouth[i], blink).pixels
    size = f"{width}x{height}"
    cmd = [ffmpeg, "-y", "-hide_banner", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size]
    cmd += ["-r", str(FPS), "-i", "-", "-i", str(voice), *BITEXACT, "-map_metadata", "-1"]
    cmd += ["-c:v", "libx264", "-preset", "slow", "-crf", "30", "-pix_fmt", "yuv420p"]
    cmd += ["-threads", "1", "-c:a", "aac", "-b:a", "48k", "-ac", "1", "-shortest"]
    cmd += ["-movflags", "+faststart", str(OUT / "video.mp4")]
    run(cmd, stdin=bytes(raw))


def make_png(name: str, width: int, height: int, palette: Palette) -> None:
    canvas = draw_face(width, height, palette, 0.0, False)
    (OUT / name).write_bytes(encode_png(width, height, canvas.rgba()))


def media_seconds(ffmpeg: str, path: Path) -> float:
    """Duration as ffmpeg reports it (for the manifest)."""
    proc = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False
    )
    for line in proc.stderr.splitlines():
        line = line.strip()
        if line.startswith("Duration:"):
            h, m, s = line.split(",")[0].split()[1].split(":")
            return round(int(h) * 3600 + int(m) * 60 + float(s), 3)
    raise RuntimeError(f"no duration for {path}")


def main() -> int:
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is required (apt-get install espeak-ng)", file=sys.stderr)
        return 1
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speak(SPEECH_EN, "en-us", 160, OUT / "speech-en.wav", ffmpeg, work)
        speak(SPEECH_ZH, "cmn", 150, OUT / "speech-zh.wav", ffmpeg, work)
        make_video(ffmpeg, work)
    make_png("portrait.png", 256, 320, MAIN)
    make_png("reference.png", 160, 200, OTHER)
    not_media = b"This is not a video: the sandbox answers media_invalid.\n"
    (OUT / "not-media.mp4").write_bytes(not_media)
    files = {
        "video": ("video.mp4", "video/mp4"),
        "audio": ("speech-en.wav", "audio/wav"),
        "audio_zh": ("speech-zh.wav", "audio/wav"),
        "image": ("portrait.png", "image/png"),
        "reference_image": ("reference.png", "image/png"),
        "not_media": ("not-media.mp4", "video/mp4"),
    }
    manifest: dict[str, dict[str, object]] = {}
    for key, (name, content_type) in files.items():
        entry: dict[str, object] = {"file": name, "contentType": content_type}
        if key in ("video", "audio", "audio_zh"):
            entry["durationSeconds"] = media_seconds(ffmpeg, OUT / name)
        entry["bytes"] = (OUT / name).stat().st_size
        manifest[key] = entry
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    total = sum(int(str(e["bytes"])) for e in manifest.values())
    print(json.dumps(manifest, indent=2))
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
