"""What a file holds, read from its first bytes and its headers; nothing is decoded.

`sniff` names the format from the first bytes (a Content-Type header is never trusted):
`filetype` knows the binary formats; our own checks add what a wrong URL usually returns
instead (HTML, JSON, text) and the ISO brands `filetype` misreads (M4A as MP4 video).
`read_facts` reads duration, size in pixels, streams and codecs: mutagen for audio
containers, a box walker for MP4/MOV/M4A, a few header bytes for images.

A header's duration is a claim: a price is set from it only when the file's size can
hold it. A WAV's length is its audio bytes actually present over its byte rate; a
compressed format whose claim would need more bytes than the file has, at the lowest
bit rate it can be coded at, is marked doubtful (`duration_doubt`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Any, Literal

import filetype
import httpx
import mutagen
from mutagen.aac import AAC
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from ..i18n import Finding

__all__ = ["SNIFF_BYTES", "MediaFacts", "Sniffed", "read_facts", "sniff"]

SNIFF_BYTES = 512
"""Enough of a file's start for every rule of `sniff`."""

Kind = Literal["video", "audio", "image", "html", "json", "text", "unknown"]


class ReadStopped(Exception):
    """A file over the network stopped answering reads (budget, deadline or HTTP status)."""


class UndecodableError(Exception):
    """The header says one format, but its structure cannot be read as that format."""


# --- sniffing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sniffed:
    """`kind` says what the bytes are; `extension` names the format (used in store keys)."""

    kind: Kind
    extension: str
    content_type: str

    @property
    def is_media(self) -> bool:
        return self.kind in ("video", "audio", "image")

    @property
    def label(self) -> Finding:
        """Short human name, like "MP4 video" or "HTML page" (said in any language)."""
        if self.kind in ("html", "json", "text"):
            named = self.extension in ("html", "xml", "json")
            return Finding(f"format_{self.extension}" if named else "format_text")
        if self.kind == "unknown":
            return Finding("format_unknown")
        return Finding(f"format_{self.kind}", ext=self.extension.upper())


UNKNOWN = Sniffed("unknown", "bin", "application/octet-stream")
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
_CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac"}
"""The names media hosts serve, where `filetype` gives an `x-` name."""


def _iso(brand: bytes) -> Sniffed:
    """Any `ftyp` file is an ISO container we can measure, whatever its brand."""
    if brand in _AUDIO_BRANDS:
        return Sniffed("audio", "m4a", "audio/mp4")
    if brand == b"qt  ":
        return Sniffed("video", "mov", "video/quicktime")
    return Sniffed("video", "mp4", "video/mp4")


def _ogg(head: bytes) -> Sniffed:
    """Which reader an Ogg stream needs: Opus and Vorbis audio differ; Theora is video."""
    if b"theora" in head[:64]:
        return Sniffed("video", "ogv", "video/ogg")
    if b"OpusHead" in head[:64]:
        return Sniffed("audio", "opus", "audio/ogg")
    return Sniffed("audio", "ogg", "audio/ogg")


def _textual(head: bytes) -> Sniffed | None:
    """HTML, JSON or plain text: what an error page, an API or a wrong link returns."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not text:
        return None
    if text.startswith(b"<?xml") and b"<html" not in text:
        return Sniffed("html", "xml", "application/xml")  # e.g. a storage error document
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<!--")) or (
        text.startswith(b"<") and b"<html" in text
    ):
        return Sniffed("html", "html", "text/html")
    if text[:1] in (b"{", b"["):
        return Sniffed("json", "json", "application/json")
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut at the end
            return None
        decoded = head[: error.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
    if printable >= 0.95 * max(len(decoded), 1):
        return Sniffed("text", "txt", "text/plain")
    return None


def sniff(head: bytes) -> Sniffed:
    """Classify a file from its first bytes (at least `SNIFF_BYTES` when it has them)."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso(head[8:12])
    if head.startswith(b"OggS"):
        return _ogg(head)
    found = filetype.guess(head) if head else None
    kind = found.mime.split("/")[0] if found is not None else ""
    if found is not None and kind in ("video", "audio", "image"):
        content_type = _CONTENT_TYPES.get(found.extension, found.mime)
        return Sniffed(kind, found.extension, content_type)  # type: ignore[arg-type]
    return _textual(head) or UNKNOWN


# --- ISO base media (MP4, MOV, M4A): box headers walked, payloads skipped ---------------------
_CONTAINERS = {b"trak", b"mdia", b"minf", b"stbl"}
_MAX_BOXES = 4096


@dataclass
class _Track:
    handler: str = ""
    """`vide`, `soun`, ... (from `hdlr`)."""
    codec: str = ""
    """The first sample entry's four-character code: `avc1`, `hvc1`, `mp4a`, ..."""
    duration: float | None = None
    width: int | None = None
    height: int | None = None


def _read_exact(handle: IO[bytes], count: int) -> bytes:
    data = handle.read(count)
    if len(data) < count:
        raise ValueError("truncated box")
    return data


def _boxes(handle: IO[bytes], start: int, end: int | None) -> list[tuple[bytes, int, int]]:
    """(type, payload offset, payload end) of each box between start and end; `moov` is
    found after a huge `mdat` for the cost of a few reads."""
    found: list[tuple[bytes, int, int]] = []
    position = start
    while (end is None or position + 8 <= end) and len(found) < _MAX_BOXES:
        handle.seek(position)
        header = handle.read(8)
        if len(header) < 8:
            break
        size, kind = struct.unpack(">I4s", header)
        payload = position + 8
        if size == 1:
            size = struct.unpack(">Q", _read_exact(handle, 8))[0]
            payload += 8
        elif size == 0:  # the box runs to the end of the file
            if end is None:
                found.append((kind, payload, -1))
                break
            size = end - position
        if size < payload - position or (end is not None and position + size > end):
            raise ValueError(f"box {kind.decode('latin-1')!r} is cut short or has a bad size")
        found.append((kind, payload, position + size))
        position += size
    return found


def _header_duration(handle: IO[bytes], offset: int) -> float | None:
    """Seconds from an `mvhd` or `mdhd` payload (version 0 or 1)."""
    handle.seek(offset)
    version = _read_exact(handle, 4)[0]
    if version == 1:
        timescale, duration = struct.unpack(">16xIQ", _read_exact(handle, 28))
    else:
        timescale, duration = struct.unpack(">8xII", _read_exact(handle, 16))
    return duration / timescale if timescale else None


def _track(handle: IO[bytes], start: int, end: int) -> _Track:
    track = _Track()
    pending = [(start, end)]
    while pending:
        first, last = pending.pop()
        for kind, offset, box_end in _boxes(handle, first, last):
            if kind in _CONTAINERS:
                pending.append((offset, box_end))
            elif kind == b"tkhd":
                handle.seek(box_end - 8)
                width, height = struct.unpack(">II", _read_exact(handle, 8))
                track.width, track.height = width >> 16, height >> 16
            elif kind == b"mdhd":
                track.duration = _header_duration(handle, offset)
            elif kind == b"hdlr":
                handle.seek(offset + 8)
                track.handler = _read_exact(handle, 4).decode("latin-1")
            elif kind == b"stsd":
                handle.seek(offset + 8)  # version/flags, entry count
                entry = handle.read(8)
                if len(entry) == 8:
                    track.codec = entry[4:8].decode("latin-1").strip()
    return track


def _movie(handle: IO[bytes], size: int | None) -> tuple[float | None, dict[str, _Track]]:
    """The movie's duration and its first track of each handler."""
    for kind, offset, end in _boxes(handle, 0, size):
        if kind != b"moov":
            continue
        duration: float | None = None
        tracks: dict[str, _Track] = {}
        for child, child_offset, child_end in _boxes(handle, offset, end):
            if child == b"mvhd":
                duration = _header_duration(handle, child_offset)
            elif child == b"trak":
                track = _track(handle, child_offset, child_end)
                tracks.setdefault(track.handler, track)
        return duration, tracks
    raise UndecodableError("no 'moov' box: not a playable MP4")


# --- facts ----------------------------------------------------------------------------------
_AUDIO_READERS: dict[str, Any] = {
    "wav": WAVE,
    "mp3": MP3,
    "flac": FLAC,
    "ogg": OggVorbis,
    "opus": OggOpus,
    "aac": AAC,
}
_ISO = {"mp4", "mov", "m4a", "m4v", "3gp"}
_CODEC_NAMES = {"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc", "mp4a": "aac"}
MIN_BYTES_PER_SECOND: dict[str, float] = {"mp3": 1000.0}
"""Fewest bytes one second of audio can take: MP3's lowest frame bit rate is 8 kbit/s."""
MIN_BYTES_PER_SECOND_ELSE = 32.0
"""Any other compressed audio (AAC, Opus, Vorbis, FLAC): 256 bit/s, below any coded silence."""
_MAX_RIFF_CHUNKS = 64
IMAGE_HEADER_BYTES = 64 * 1024
"""JPEG's frame header can sit after large EXIF blocks; the others need 32 bytes."""


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
    except (OSError, ValueError, ReadStopped, httpx.HTTPError):
        return None


def _checked_duration(
    claimed: float | None, size: int | None, bytes_per_second: float
) -> tuple[float | None, Finding | None]:
    """(duration, doubt): the claim when `size` bytes can hold it at `bytes_per_second`."""
    if claimed is None or claimed <= 0:
        return claimed, None
    if size is None:
        return None, Finding("doubt_size_unknown", claimed=claimed)
    if claimed * bytes_per_second > size:
        return None, Finding("doubt_too_long", claimed=claimed, size=size)
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
) -> tuple[float | None, Finding | None]:
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
    held = present / byte_rate
    return held, Finding("doubt_holds_less", claimed=claimed, held=held)


def _iso_facts(handle: IO[bytes], size: int | None) -> MediaFacts:
    try:
        duration, tracks = _movie(handle, size)
    except (ValueError, struct.error) as error:
        raise UndecodableError(str(error)) from None
    if not tracks:
        raise UndecodableError("no tracks")
    video, audio = tracks.get("vide"), tracks.get("soun")
    audio_duration, doubt = None, None
    if audio is not None:
        audio_duration, doubt = _checked_duration(
            audio.duration, _proven_size(handle, size), MIN_BYTES_PER_SECOND_ELSE
        )
    return MediaFacts(
        kind="video" if video is not None else "audio",
        duration=duration if video is not None or doubt is None else None,
        audio_duration=audio_duration,
        width=video.width if video else None,
        height=video.height if video else None,
        video_codec=_CODEC_NAMES.get(video.codec, video.codec) if video else None,
        audio_codec=_CODEC_NAMES.get(audio.codec, audio.codec) if audio else None,
        has_audio=audio is not None,
        has_video=video is not None,
        duration_doubt=doubt,
    )


def _audio_facts(handle: IO[bytes], extension: str, size: int | None) -> MediaFacts:
    handle.seek(0)
    try:
        parsed = _AUDIO_READERS[extension](handle)
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


_MEASURED_IMAGES = {"png", "gif", "bmp", "webp", "jpg"}


def read_facts(handle: IO[bytes], sniffed: Sniffed, size: int | None) -> MediaFacts | None:
    """Facts about a media file, or None for a format we only recognise (WebM, MKV, AVI).

    Raises `UndecodableError` when the structure does not hold up.
    """
    if sniffed.extension in _ISO:
        return _iso_facts(handle, size)
    if sniffed.extension in _AUDIO_READERS:
        return _audio_facts(handle, sniffed.extension, size)
    if sniffed.extension in _MEASURED_IMAGES:
        handle.seek(0)
        found = _image_size(handle.read(IMAGE_HEADER_BYTES if sniffed.extension == "jpg" else 64))
        if found is None:
            raise UndecodableError(f"no {sniffed.extension.upper()} image header")
        return MediaFacts(kind="image", width=found[0], height=found[1], has_audio=False)
    return None
