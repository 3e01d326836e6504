"""The sandbox's H.264 encoder choice, read from the real ffmpeg's encoder list.

`ffmpeg -encoders` prints the list on stdout; reading stderr instead (where only
the banner goes) never saw libx264 and always chose OpenH264.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from kitta_notebook.sandbox.media import Ffmpeg


def real_encoders() -> str:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    return subprocess.run(
        [exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30
    ).stdout


def test_the_real_ffmpeg_gets_libx264_when_its_build_has_it(tmp_path: Path) -> None:
    if " libx264 " not in real_encoders():
        pytest.skip("this ffmpeg build has no libx264")
    ffmpeg = Ffmpeg()
    try:
        encoder = ffmpeg.video_encoder()
        assert encoder[:2] == ["-c:v", "libx264"], encoder
        out = tmp_path / "clip.mp4"
        code, err = ffmpeg.run(
            ["-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=0.3", *encoder, str(out)],
            timeout=60,
        )
        assert code == 0, err  # the chosen encoder really encodes
        assert out.stat().st_size > 0
    finally:
        ffmpeg.close()


def test_a_build_without_libx264_falls_back_to_openh264(tmp_path: Path) -> None:
    """A stand-in ffmpeg that lists only OpenH264 on stdout (and libx264 in its banner)."""
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'configuration: --enable-libx264' >&2\n"
        "echo ' V....D libopenh264          OpenH264 H.264 (codec h264)'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    ffmpeg = Ffmpeg(str(fake))
    try:
        assert ffmpeg.video_encoder()[:2] == ["-c:v", "libopenh264"]
    finally:
        ffmpeg.close()
