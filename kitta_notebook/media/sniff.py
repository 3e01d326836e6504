"""What a file really is, from its first bytes (a Content-Type header is never trusted).

A small table of magic numbers rather than a dependency: the formats the service
can take, plus the things a wrong URL usually returns instead (HTML, JSON, text).
`SNIFF_BYTES` from the start of a file are enough for every rule here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SNIFF_BYTES", "Kind", "Sniffed", "sniff"]

SNIFF_BYTES = 512

Kind = Literal["video", "audio", "image", "html", "json", "text", "unknown"]


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
    def label(self) -> str:
        """Short human name, like "MP4 video" or "HTML page"."""
        names = {"html": "HTML page", "xml": "XML document", "json": "JSON document"}
        if self.kind in ("html", "json", "text"):
            return names.get(self.extension, "text file")
        if self.kind == "unknown":
            return "file of unknown format"
        return f"{self.extension.upper()} {self.kind}"


UNKNOWN = Sniffed("unknown", "bin", "application/octet-stream")

# ISO base media brands (`ftyp`) that mean audio only; the rest are video containers.
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_MOV_BRANDS = {b"qt  "}


def _iso_media(head: bytes) -> Sniffed:
    brand = head[8:12]
    if brand in _AUDIO_BRANDS:
        return Sniffed("audio", "m4a", "audio/mp4")
    if brand in _MOV_BRANDS:
        return Sniffed("video", "mov", "video/quicktime")
    return Sniffed("video", "mp4", "video/mp4")


def _riff(head: bytes) -> Sniffed:
    form = head[8:12]
    if form == b"WAVE":
        return Sniffed("audio", "wav", "audio/wav")
    if form == b"WEBP":
        return Sniffed("image", "webp", "image/webp")
    if form == b"AVI ":
        return Sniffed("video", "avi", "video/x-msvideo")
    return UNKNOWN


def _ebml(head: bytes) -> Sniffed:
    if b"webm" in head[:64]:
        return Sniffed("video", "webm", "video/webm")
    return Sniffed("video", "mkv", "video/x-matroska")


def _ogg(head: bytes) -> Sniffed:
    if b"theora" in head[:64]:
        return Sniffed("video", "ogv", "video/ogg")
    if b"OpusHead" in head[:64]:
        return Sniffed("audio", "opus", "audio/ogg")
    return Sniffed("audio", "ogg", "audio/ogg")


def _mpeg_audio(head: bytes) -> Sniffed | None:
    """MP3 (ID3 tag or an MPEG audio frame header) or raw AAC in ADTS frames."""
    if head.startswith(b"ID3"):
        return Sniffed("audio", "mp3", "audio/mpeg")
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    if head[1] & 0x06 == 0:  # layer bits 00: ADTS (AAC), not MPEG layer I-III
        return Sniffed("audio", "aac", "audio/aac")
    return Sniffed("audio", "mp3", "audio/mpeg")


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
        return _iso_media(head)
    if head.startswith(b"RIFF") and len(head) >= 12:
        return _riff(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _ebml(head)
    if head.startswith(b"OggS"):
        return _ogg(head)
    if head.startswith(b"fLaC"):
        return Sniffed("audio", "flac", "audio/flac")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png", "image/png")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpg", "image/jpeg")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Sniffed("image", "gif", "image/gif")
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return Sniffed("image", "bmp", "image/bmp")
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return Sniffed("video", "mov", "video/quicktime")  # QuickTime without `ftyp`
    found = _mpeg_audio(head) or _textual(head)
    return found or UNKNOWN
