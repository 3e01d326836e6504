"""Just enough of the ISO base media format (MP4, MOV, M4A) to learn what a probe needs.

Walks box headers and skips payloads, so `moov` is found at the front or after a huge
`mdat` for the cost of a few reads; only `mvhd`, `tkhd`, `mdhd`, `hdlr` and `stsd`
payloads are read, each a few dozen bytes. mutagen gives no video tracks or sizes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import IO

__all__ = ["Mp4Info", "Mp4Track", "parse_mp4"]

_CONTAINERS = {b"trak", b"mdia", b"minf", b"stbl"}
_MAX_BOXES = 4096


@dataclass
class Mp4Track:
    handler: str = ""
    """`vide`, `soun`, ... (from `hdlr`)."""
    codec: str = ""
    """The first sample entry's four-character code: `avc1`, `hvc1`, `mp4a`, ..."""
    duration: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class Mp4Info:
    duration: float | None = None
    tracks: list[Mp4Track] = field(default_factory=list)

    def first(self, handler: str) -> Mp4Track | None:
        return next((t for t in self.tracks if t.handler == handler), None)


def _read_exact(handle: IO[bytes], count: int) -> bytes:
    data = handle.read(count)
    if len(data) < count:
        raise ValueError("truncated box")
    return data


def _boxes(handle: IO[bytes], start: int, end: int | None) -> list[tuple[bytes, int, int]]:
    """(type, payload offset, payload end) of each box between start and end."""
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


def _mvhd(handle: IO[bytes], offset: int) -> float | None:
    handle.seek(offset)
    version = _read_exact(handle, 4)[0]
    if version == 1:
        timescale, duration = struct.unpack(">16xIQ", _read_exact(handle, 28))
    else:
        timescale, duration = struct.unpack(">8xII", _read_exact(handle, 16))
    return duration / timescale if timescale else None


def _tkhd(handle: IO[bytes], offset: int, end: int, track: Mp4Track) -> None:
    handle.seek(end - 8)
    width, height = struct.unpack(">II", _read_exact(handle, 8))
    track.width, track.height = width >> 16, height >> 16


def _hdlr(handle: IO[bytes], offset: int, track: Mp4Track) -> None:
    handle.seek(offset + 8)
    track.handler = _read_exact(handle, 4).decode("latin-1")


def _stsd(handle: IO[bytes], offset: int, track: Mp4Track) -> None:
    handle.seek(offset + 8)  # version/flags, entry count
    entry = handle.read(8)
    if len(entry) == 8:
        track.codec = entry[4:8].decode("latin-1").strip()


def _track(handle: IO[bytes], start: int, end: int) -> Mp4Track:
    track = Mp4Track()
    pending = [(start, end)]
    while pending:
        first, last = pending.pop()
        for kind, offset, box_end in _boxes(handle, first, last):
            if kind in _CONTAINERS:
                pending.append((offset, box_end))
            elif kind == b"tkhd":
                _tkhd(handle, offset, box_end, track)
            elif kind == b"mdhd":
                track.duration = _mvhd(handle, offset)
            elif kind == b"hdlr":
                _hdlr(handle, offset, track)
            elif kind == b"stsd":
                _stsd(handle, offset, track)
    return track


def parse_mp4(handle: IO[bytes], size: int | None) -> Mp4Info | None:
    """Duration and tracks, or None when the file has no `moov` box."""
    for kind, offset, end in _boxes(handle, 0, size):
        if kind != b"moov":
            continue
        info = Mp4Info()
        for child, child_offset, child_end in _boxes(handle, offset, end):
            if child == b"mvhd":
                info.duration = _mvhd(handle, child_offset)
            elif child == b"trak":
                info.tracks.append(_track(handle, child_offset, child_end))
        return info
    return None
