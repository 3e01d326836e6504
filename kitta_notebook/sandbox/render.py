"""The ffmpeg recipe of a sandbox result: small H.264/AAC MP4s (yuv420p, faststart)
that play in Chromium, with the SANDBOX mark burned in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .media import Ffmpeg, MediaError

__all__ = ["FPS", "MouthTrack", "render"]

OUTPUT_WIDTH = 320
OUTPUT_MAX_HEIGHT = 568
FPS = 25


@dataclass(frozen=True)
class MouthTrack:
    """Mouth shapes to overlay on the sample face: raw RGB frames of ``width`` x
    ``height`` at ``FPS``, placed at ``(x, y)`` of the source picture."""

    frames: Path
    x: int
    y: int
    width: int
    height: int


def render(
    ffmpeg: Ffmpeg,
    *,
    mode: str,
    primary: Path,
    audio: Path,
    seconds: float,
    mark: Path,
    reference: Path | None,
    out: Path,
    mouth: MouthTrack | None = None,
) -> None:
    """Video mode: the source looped/trimmed to the audio. Image mode: the still, with
    the reference image (if any) as a small inset in the bottom-right corner."""
    fit = (
        f"scale={OUTPUT_WIDTH}:{OUTPUT_MAX_HEIGHT}:force_original_aspect_ratio=decrease:"
        f"force_divisible_by=2,setsar=1,fps={FPS},format=yuv420p"
    )
    if mode == "video":
        inputs = ["-stream_loop", "-1", "-i", str(primary)]
    else:
        inputs = ["-loop", "1", "-framerate", str(FPS), "-i", str(primary)]
    inputs += ["-i", str(audio), "-i", str(mark)]
    source = "[0:v]"
    graph = ""
    next_input = 3
    if mouth is not None:
        size = f"{mouth.width}x{mouth.height}"
        inputs += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", str(FPS)]
        inputs += ["-i", str(mouth.frames)]
        graph += (
            f"[0:v]fps={FPS}[src];"
            f"[src][{next_input}:v]overlay={mouth.x}:{mouth.y}:eof_action=pass[spoken];"
        )
        source = "[spoken]"
        next_input += 1
    graph += f"{source}{fit}[base];"
    base = "[base]"
    if reference is not None:
        inputs += ["-loop", "1", "-framerate", str(FPS), "-i", str(reference)]
        graph += f"[{next_input}:v]scale=72:-2,setsar=1[ref];[base][ref]overlay=W-w-8:H-h-8[inset];"
        base = "[inset]"
    graph += f"{base}[2:v]overlay=8:8:format=auto,format=yuv420p[v]"
    args = [
        "-y",
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "1:a:0",
        "-t",
        f"{seconds:.3f}",
        *ffmpeg.video_encoder(),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-ar",
        "44100",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out),
    ]
    code, err = ffmpeg.run(args, timeout=max(60.0, 4 * seconds))
    if code != 0 or not out.exists():
        tail = err.strip().splitlines()[-1:] or ["no output"]
        raise MediaError("media_invalid", f"the inputs could not be decoded: {tail[0]}")
