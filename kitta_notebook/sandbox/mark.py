"""The burned-in "SANDBOX" mark, drawn in pure Python.

ffmpeg's drawtext needs a font file, which a given machine (or the ffmpeg build
that imageio-ffmpeg ships for it) may lack. A tiny RGBA PNG made here from a
5x7 bitmap font and overlaid with ffmpeg's ``overlay`` filter works everywhere.
``encode_png`` is also used by ``scripts/make_samples.py``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

__all__ = ["encode_png", "render_text_rgba", "sandbox_mark_png"]

# 5 columns x 7 rows per glyph, "#" = ink.
_GLYPHS: dict[str, tuple[str, ...]] = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "N": ("#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    " ": (".....",) * 7,
}

RGBA = tuple[int, int, int, int]


def encode_png(width: int, height: int, rgba: bytes | bytearray) -> bytes:
    """Encode 8-bit RGBA pixels (row-major, ``width*height*4`` bytes) as PNG."""
    if len(rgba) != width * height * 4:
        raise ValueError("pixel buffer does not match width*height*4")
    stride = width * 4
    raw = b"".join(b"\x00" + bytes(rgba[y * stride : (y + 1) * stride]) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def render_text_rgba(
    text: str,
    *,
    scale: int = 2,
    padding: int = 3,
    ink: RGBA = (255, 255, 255, 255),
    background: RGBA = (200, 30, 45, 210),
) -> tuple[int, int, bytearray]:
    """Draw ``text`` (letters of the built-in font only) on a filled box.

    Returns ``(width, height, rgba_pixels)``; ``padding`` is in font pixels.
    """
    glyphs: Sequence[tuple[str, ...]] = [_GLYPHS[ch] for ch in text.upper()]
    cols = max(len(glyphs) * 6 - 1, 1) + 2 * padding
    rows = 7 + 2 * padding
    width, height = cols * scale, rows * scale
    pixels = bytearray(bytes(background) * (width * height))
    ink_bytes = bytes(ink)
    for index, glyph in enumerate(glyphs):
        for gy, line in enumerate(glyph):
            for gx, cell in enumerate(line):
                if cell != "#":
                    continue
                x0 = (padding + index * 6 + gx) * scale
                y0 = (padding + gy) * scale
                for y in range(y0, y0 + scale):
                    start = (y * width + x0) * 4
                    pixels[start : start + 4 * scale] = ink_bytes * scale
    return width, height, pixels


def sandbox_mark_png(scale: int = 2) -> bytes:
    """The PNG burned into every sandbox result (about 94x26 px at scale 2)."""
    width, height, pixels = render_text_rgba("SANDBOX", scale=scale)
    return encode_png(width, height, pixels)
