"""The sample speaks: on the sandbox's own sample character, the mouth follows the
loudness of the new audio.

This is NOT lip sync: the mouth opens with the audio's loudness, whatever is
said, and only on the committed sample video and portrait, whose mouth position
is known (``face.mouth_box``). Any other picture is rendered unchanged. Results
still carry the SANDBOX mark.
"""

from __future__ import annotations

import array
import hashlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from .face import MAIN, mouth_box, mouth_patch
from .render import FPS, MouthTrack
from .samples import SAMPLES_DIR

__all__ = ["SPEAKING_SAMPLES", "SpeakingFaces", "mouth_openings"]

SPEAKING_SAMPLES = {"video.mp4": (320, 240), "portrait.png": (256, 320)}
"""Sample files drawn with ``face.draw_face`` (main palette), with their frame size."""
LEVELS = 12
"""Distinct mouth openings drawn (0 = closed .. LEVELS-1 = wide open)."""


def mouth_openings(pcm: bytes, rate: int, frames: int, fps: int = FPS) -> list[float]:
    """Per video frame, 0..1: the RMS of its slice of mono s16 audio, normalised to the
    loudest frame and smoothed so the mouth does not flicker."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    per = max(rate // fps, 1)
    levels = []
    for i in range(frames):
        chunk = samples[i * per : (i + 1) * per]
        levels.append(math.sqrt(sum(v * v for v in chunk) / len(chunk)) if chunk else 0.0)
    peak = max(levels, default=0.0) or 1.0
    smooth, previous = [], 0.0
    for level in levels:
        previous = 0.5 * previous + 0.5 * min(1.0, 1.6 * level / peak)
        smooth.append(previous if previous > 0.08 else 0.0)
    return smooth


@dataclass(frozen=True)
class _Face:
    width: int
    height: int


class SpeakingFaces:
    """Recognises the sample pictures by content hash and makes their mouth track."""

    def __init__(self, directory: Path = SAMPLES_DIR) -> None:
        self._faces: dict[str, _Face] = {}
        for name, (width, height) in SPEAKING_SAMPLES.items():
            path = directory / name
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                self._faces[digest] = _Face(width, height)
        self._patches: dict[tuple[int, int], list[bytes]] = {}

    def knows(self, sha256: str) -> bool:
        return sha256 in self._faces

    def mouth_track(
        self, primary_sha256: str, pcm: bytes, rate: int, work: Path
    ) -> MouthTrack | None:
        """Raw RGB frames of the mouth for the whole audio, or ``None`` for other media."""
        face = self._faces.get(primary_sha256)
        if face is None:
            return None
        frames = max(1, math.ceil(len(pcm) / 2 / rate * FPS))
        patches = self._level_patches(face)
        out = bytearray()
        for opening in mouth_openings(pcm, rate, frames):
            out += patches[round(opening * (LEVELS - 1))]
        path = work / "mouth.rgb"
        path.write_bytes(out)
        box = mouth_box(face.width, face.height)
        return MouthTrack(path, box.x, box.y, box.width, box.height)

    def _level_patches(self, face: _Face) -> list[bytes]:
        key = (face.width, face.height)
        if key not in self._patches:
            self._patches[key] = [
                mouth_patch(face.width, face.height, MAIN, level / (LEVELS - 1))
                for level in range(LEVELS)
            ]
        return self._patches[key]
