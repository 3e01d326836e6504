"""Generate the sandbox's sample media (committed as package data).

Writes into ``kitta_notebook/sandbox/samples/``:

* ``video.mp4``      ~3 s synthetic talking head (320x240, H.264 + AAC); the mouth
                     follows the loudness of its own speech track. The face is drawn
                     by ``kitta_notebook.sandbox.face``, whose geometry the worker uses
                     to redraw the mouth for new audio (keep the two in step).
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

import json
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

from kitta_notebook.sandbox.face import MAIN, OTHER, Palette, draw_face  # noqa: E402
from kitta_notebook.sandbox.mark import encode_png  # noqa: E402
from kitta_notebook.sandbox.speaking import mouth_openings  # noqa: E402

OUT = REPO / "kitta_notebook" / "sandbox" / "samples"
FPS = 25
RATE = 16_000
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]

VIDEO_LINE = "Hi! I am the sample face of the Kitta sandbox."
SPEECH_EN = "Hello from the Kitta sandbox. These lips are not really in sync."
SPEECH_ZH = "你好，欢迎使用 Kitta 沙盒。"


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
    """Mouth opening per video frame (the same envelope the sandbox's worker uses)."""
    with wave.open(str(path), "rb") as w:
        pcm = w.readframes(w.getnframes())
        rate = w.getframerate()
    return mouth_openings(pcm, rate, frames, FPS)


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
