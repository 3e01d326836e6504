"""Duration, size in pixels, streams and codec of one file, read from a seekable handle.

Header readers only: mutagen for audio containers, a box walker for MP4/MOV/M4A, and
a few bytes of header for images. Nothing here decodes media or reads a whole file.

A header's duration is a claim: a price is set from it only when the file's size can
hold it (`_checked_duration`). A WAV's length is its audio bytes actually present over
its byte rate; a compressed format whose claim would need more bytes than the file has,
at the lowest bit rate it can be coded at, is marked doubtful (`duration_doubt`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Any

import httpx
import mutagen
from mutagen.aac import AAC
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from .http_range import BudgetExceeded, HttpStatusError
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
MIN_BYTES_PER_SECOND: dict[str, float] = {"mp3": 1000.0}
"""Fewest bytes one second of audio can take: MP3's lowest frame bit rate is 8 kbit/s."""
MIN_BYTES_PER_SECOND_ELSE = 32.0
"""Any other compressed audio (AAC, Opus, Vorbis, FLAC): 256 bit/s, below any coded silence."""
_MAX_RIFF_CHUNKS = 64


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
    duration_doubt: str | None = None
    """Why the header's audio duration was not taken as it stands: the duration is then
    what the file holds (a truncated WAV), or None when that cannot be known."""


def _proven_size(handle: IO[bytes], size: int | None) -> int | None:
    """`size` when the file's last byte can be read, else None: a host's Content-Range
    or Content-Length is a claim too, and a size sets how long the audio may be."""
    if size is None or size <= 0:
        return size
    try:
        handle.seek(size - 1)
        return size if len(handle.read(1)) == 1 else None
    except (OSError, ValueError, HttpStatusError, BudgetExceeded, httpx.HTTPError):
        return None


def _seconds(value: float) -> str:
    return f"{value:,.1f} s"


def _checked_duration(
    claimed: float | None, size: int | None, bytes_per_second: float
) -> tuple[float | None, str | None]:
    """(duration, doubt): the claim when `size` bytes can hold it at `bytes_per_second`."""
    if claimed is None or claimed <= 0:
        return claimed, None
    if size is None:
        return None, (
            f"the header claims {_seconds(claimed)}, but the file's size is unknown (or "
            "its last byte could not be read), so the claim cannot be checked"
        )
    if claimed * bytes_per_second > size:
        return None, (
            f"the header claims {_seconds(claimed)}, more than a file of {size:,} bytes can hold"
        )
    return claimed, None


def _riff_data(handle: IO[bytes]) -> tuple[int, int] | None:
    """(offset, claimed size) of a WAV's `data` chunk, found by walking the chunk headers."""
    position = 12
    for _ in range(_MAX_RIFF_CHUNKS):
        handle.seek(position)
        header = handle.read(8)
        if len(header) < 8:
            return None
        kind, length = header[:4], struct.unpack("<I", header[4:])[0]
        if kind == b"data":
            return position + 8, int(length)
        position += 8 + length + (length & 1)
    return None


def _wav_duration(
    handle: IO[bytes], info: Any, size: int | None
) -> tuple[float | None, str | None]:
    """Seconds of audio the file really holds: min(claimed, present) bytes / byte rate."""
    byte_rate = getattr(info, "bitrate", 0) / 8
    found = _riff_data(handle)
    if found is None or byte_rate <= 0:
        return getattr(info, "length", None), None
    offset, claimed_bytes = found
    claimed = claimed_bytes / byte_rate
    if size is None:
        return _checked_duration(claimed, size, byte_rate)
    present = max(0, size - offset)
    if present >= claimed_bytes:
        return claimed, None
    # A truncated file (or a lying header): the audio is what is there, and that is said.
    return present / byte_rate, (
        f"the header claims {_seconds(claimed)}, but the file holds {_seconds(present / byte_rate)}"
    )


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
    audio_duration, doubt = None, None
    if audio is not None:
        audio_duration, doubt = _checked_duration(
            audio.duration, _proven_size(handle, size), MIN_BYTES_PER_SECOND_ELSE
        )
    return MediaFacts(
        kind="video" if video is not None else "audio",
        duration=info.duration if video is not None or doubt is None else None,
        audio_duration=audio_duration,
        width=video.width if video else None,
        height=video.height if video else None,
        video_codec=_codec(video.codec) if video else None,
        audio_codec=_codec(audio.codec) if audio else None,
        has_audio=audio is not None,
        has_video=video is not None,
        duration_doubt=doubt,
    )


def _audio_facts(handle: IO[bytes], extension: str, size: int | None) -> MediaFacts:
    reader = _AUDIO_READERS[extension]
    handle.seek(0)
    try:
        parsed = reader(handle)
        size = _proven_size(handle, size)
        if extension == "wav":
            duration, doubt = _wav_duration(handle, parsed.info, size)
        else:
            length = getattr(parsed.info, "length", None)
            floor = MIN_BYTES_PER_SECOND.get(extension, MIN_BYTES_PER_SECOND_ELSE)
            duration, doubt = _checked_duration(
                None if length is None else float(length), size, floor
            )
    except (mutagen.MutagenError, ValueError, struct.error, EOFError) as error:
        raise UndecodableError(str(error) or type(error).__name__) from None
    return MediaFacts(
        kind="audio",
        duration=duration,
        audio_duration=duration,
        audio_codec=extension if extension != "wav" else "pcm",
        has_audio=True,
        has_video=False,
        duration_doubt=doubt,
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
        return _audio_facts(handle, sniffed.extension, size)
    if sniffed.kind == "image":
        handle.seek(0)
        found = _image_size(handle.read(IMAGE_HEADER_BYTES if sniffed.extension == "jpg" else 64))
        if found is None:
            raise UndecodableError(f"no {sniffed.extension.upper()} image header")
        return MediaFacts(kind="image", width=found[0], height=found[1], has_audio=False)
    return None
