"""Duration, size in pixels, streams and codec of one file, read from a seekable handle.

Header readers only: mutagen for audio containers, a box walker for MP4/MOV/M4A, and
a few bytes of header for images. Nothing here decodes media or reads a whole file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Any

import mutagen
from mutagen.aac import AAC
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from .mp4 import parse_mp4
from .sniff import Sniffed

__all__ = ["MediaFacts", "read_facts"]

_AUDIO_READERS: dict[str, Any] = {
    "wav": WAVE,
    "mp3": MP3,
    "flac": FLAC,
    "ogg": OggVorbis,
    "opus": OggOpus,
    "aac": AAC,
}
_ISO = {"mp4", "mov", "m4a"}
_CODEC_NAMES = {"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc", "mp4a": "aac"}


class UndecodableError(Exception):
    """The header says one format, but its structure cannot be read as that format."""


@dataclass(frozen=True)
class MediaFacts:
    kind: str
    """video, audio or image (an MP4 without a video track counts as audio)."""
    duration: float | None = None
    audio_duration: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    has_audio: bool | None = None
    has_video: bool | None = None


def _codec(fourcc: str) -> str:
    return _CODEC_NAMES.get(fourcc, fourcc)


def _iso_facts(handle: IO[bytes], size: int | None) -> MediaFacts:
    try:
        info = parse_mp4(handle, size)
    except (ValueError, struct.error) as error:
        raise UndecodableError(str(error)) from None
    if info is None:
        raise UndecodableError("no 'moov' box: not a playable MP4")
    if not info.tracks:
        raise UndecodableError("no tracks")
    video = info.first("vide")
    audio = info.first("soun")
    return MediaFacts(
        kind="video" if video is not None else "audio",
        duration=info.duration,
        audio_duration=audio.duration if audio else None,
        width=video.width if video else None,
        height=video.height if video else None,
        video_codec=_codec(video.codec) if video else None,
        audio_codec=_codec(audio.codec) if audio else None,
        has_audio=audio is not None,
        has_video=video is not None,
    )


def _audio_facts(handle: IO[bytes], extension: str) -> MediaFacts:
    reader = _AUDIO_READERS[extension]
    handle.seek(0)
    try:
        parsed = reader(handle)
    except (mutagen.MutagenError, ValueError, struct.error, EOFError) as error:
        raise UndecodableError(str(error) or type(error).__name__) from None
    length = getattr(parsed.info, "length", None)
    duration = float(length) if length is not None else None
    return MediaFacts(
        kind="audio",
        duration=duration,
        audio_duration=duration,
        audio_codec=extension if extension != "wav" else "pcm",
        has_audio=True,
        has_video=False,
    )


def _image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, GIF, WebP, BMP or JPEG."""
    if head.startswith(b"\x89PNG") and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head.startswith(b"GIF") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return int(width), abs(int(height))
    if head.startswith(b"RIFF") and head[12:16] == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if head.startswith(b"RIFF") and head[12:16] == b"VP8 " and len(head) >= 30:
        width, height = struct.unpack("<HH", head[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if head.startswith(b"RIFF") and head[12:16] == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 9 < len(head):
        if head[position] != 0xFF:
            return None
        marker = head[position + 1]
        length = struct.unpack(">H", head[position + 2 : position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[position + 5 : position + 9])
            return int(width), int(height)
        position += 2 + length
    return None


IMAGE_HEADER_BYTES = 64 * 1024
"""JPEG's frame header can sit after large EXIF blocks; the others need 32 bytes."""


def read_facts(handle: IO[bytes], sniffed: Sniffed, size: int | None) -> MediaFacts | None:
    """Facts about a media file, or None for a format we only recognise (WebM, MKV, AVI).

    Raises `UndecodableError` when the structure does not hold up.
    """
    if sniffed.extension in _ISO:
        return _iso_facts(handle, size)
    if sniffed.extension in _AUDIO_READERS:
        return _audio_facts(handle, sniffed.extension)
    if sniffed.kind == "image":
        handle.seek(0)
        found = _image_size(handle.read(IMAGE_HEADER_BYTES if sniffed.extension == "jpg" else 64))
        if found is None:
            raise UndecodableError(f"no {sniffed.extension.upper()} image header")
        return MediaFacts(kind="image", width=found[0], height=found[1], has_audio=False)
    return None
