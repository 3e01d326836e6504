"""The sandbox's drawn sample character, in pure Python (no numpy/PIL).

``scripts/make_samples.py`` draws the committed sample video and portrait with
``draw_face``; the worker redraws only the mouth (``mouth_patch``) over those same
samples so that a result's mouth follows the new audio. The geometry lives here
once, so the patch lands exactly on the drawn mouth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "MAIN",
    "OTHER",
    "Canvas",
    "MouthBox",
    "Palette",
    "draw_face",
    "mouth_box",
    "mouth_patch",
]

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    """Colours of one drawn person."""

    bg_top: RGB
    bg_bottom: RGB
    skin: RGB
    hair: RGB
    shirt: RGB


MAIN = Palette((70, 110, 160), (30, 50, 80), (236, 188, 150), (70, 45, 30), (40, 140, 120))
OTHER = Palette((150, 90, 120), (70, 40, 60), (200, 150, 110), (30, 30, 35), (220, 170, 40))


class Canvas:
    """An RGB frame with span-filled shapes (fast enough in pure Python)."""

    def __init__(self, width: int, height: int, top: RGB, bottom: RGB) -> None:
        self.width, self.height = width, height
        rows = []
        for y in range(height):
            t = y / max(height - 1, 1)
            colour = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
            rows.append(colour * width)
        self.pixels = bytearray(b"".join(rows))

    def span(self, y: int, x0: float, x1: float, colour: RGB) -> None:
        if not 0 <= y < self.height:
            return
        a, b = max(0, math.floor(x0)), min(self.width, math.ceil(x1))
        if b > a:
            start = (y * self.width + a) * 3
            self.pixels[start : start + (b - a) * 3] = bytes(colour) * (b - a)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: RGB) -> None:
        if rx <= 0 or ry <= 0:
            return
        for y in range(math.floor(cy - ry), math.ceil(cy + ry) + 1):
            d = (y + 0.5 - cy) / ry
            if abs(d) < 1:
                half = rx * math.sqrt(1 - d * d)
                self.span(y, cx - half, cx + half, colour)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: RGB) -> None:
        for y in range(math.floor(y0), math.ceil(y1)):
            self.span(y, x0, x1, colour)

    def rgba(self) -> bytearray:
        out = bytearray()
        for i in range(0, len(self.pixels), 3):
            out += self.pixels[i : i + 3] + b"\xff"
        return out


def shade(colour: RGB, factor: float) -> RGB:
    r, g, b = (max(0, min(255, round(c * factor))) for c in colour)
    return (r, g, b)


def _layout(width: int, height: int) -> tuple[float, float, float]:
    """(scale, head centre x, head centre y) of a face drawn on a width x height frame."""
    return min(width, height) / 240, width / 2, height * 0.46


def _draw_mouth(c: Canvas, cx: float, my: float, s: float, mouth: float) -> None:
    opening = max(0.0, min(1.0, mouth))
    c.ellipse(cx, my, 24 * s, (4 + 14 * opening) * s, (180, 60, 70))  # lips
    if opening > 0.05:
        c.ellipse(cx, my, 18 * s, 12 * opening * s, (60, 15, 25))  # mouth cavity
        teeth = (245, 245, 245)
        c.rect(cx - 12 * s, my - 12 * opening * s, cx + 12 * s, my - 8 * opening * s, teeth)
    else:
        c.rect(cx - 20 * s, my - 0.8 * s, cx + 20 * s, my + 0.8 * s, (110, 30, 40))


def draw_face(width: int, height: int, palette: Palette, mouth: float, blink: bool) -> Canvas:
    """A simple head and shoulders; ``mouth`` is the opening, 0 (closed) .. 1."""
    c = Canvas(width, height, palette.bg_top, palette.bg_bottom)
    s, cx, cy = _layout(width, height)
    c.ellipse(cx, height + 30 * s, 120 * s, 95 * s, palette.shirt)  # shoulders
    c.rect(cx - 22 * s, cy + 50 * s, cx + 22 * s, cy + 95 * s, shade(palette.skin, 0.9))  # neck
    c.ellipse(cx, cy - 18 * s, 72 * s, 70 * s, palette.hair)  # hair behind the head
    c.ellipse(cx, cy, 62 * s, 78 * s, palette.skin)  # head
    c.ellipse(cx - 63 * s, cy + 2 * s, 9 * s, 15 * s, shade(palette.skin, 0.93))  # ears
    c.ellipse(cx + 63 * s, cy + 2 * s, 9 * s, 15 * s, shade(palette.skin, 0.93))
    c.ellipse(cx, cy - 62 * s, 60 * s, 22 * s, palette.hair)  # fringe
    for side in (-1, 1):
        ex, ey = cx + side * 24 * s, cy - 12 * s
        c.rect(ex - 13 * s, ey - 18 * s, ex + 13 * s, ey - 14 * s, palette.hair)  # brow
        if blink:
            c.rect(ex - 11 * s, ey - 1 * s, ex + 11 * s, ey + 2 * s, shade(palette.skin, 0.6))
        else:
            c.ellipse(ex, ey, 12 * s, 8 * s, (250, 250, 250))
            c.ellipse(ex, ey, 5 * s, 5.5 * s, (50, 70, 110))
            c.ellipse(ex, ey, 2.5 * s, 2.8 * s, (10, 10, 15))
    c.ellipse(cx, cy + 14 * s, 6 * s, 9 * s, shade(palette.skin, 0.85))  # nose
    _draw_mouth(c, cx, cy + 42 * s, s, mouth)
    return c


@dataclass(frozen=True)
class MouthBox:
    """Where the mouth of a face drawn on a ``width`` x ``height`` frame can reach:
    between the nose and the chin, all skin around it."""

    x: int
    y: int
    width: int
    height: int


def mouth_box(width: int, height: int) -> MouthBox:
    s, cx, cy = _layout(width, height)
    my = cy + 42 * s
    x0, y0 = math.floor(cx - 27 * s), math.floor(my - 18.5 * s)
    x1, y1 = math.ceil(cx + 27 * s), math.ceil(my + 19 * s)
    return MouthBox(x0, y0, x1 - x0, y1 - y0)


def mouth_patch(width: int, height: int, palette: Palette, opening: float) -> bytes:
    """The pixels of ``mouth_box`` (RGB, row-major) with the mouth open by ``opening``."""
    box = mouth_box(width, height)
    s, cx, cy = _layout(width, height)
    patch = Canvas(box.width, box.height, palette.skin, palette.skin)
    _draw_mouth(patch, cx - box.x, cy + 42 * s - box.y, s, opening)
    return bytes(patch.pixels)
