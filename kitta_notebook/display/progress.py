"""Batch progress as static HTML, and the notebook view that redraws it in place.

The bar has one segment per outcome (green done well, red failed or refused,
grey outcome unknown), so a batch with failures never looks all green. The
same HTML is the final state of every notebook view, the widget bar
included, so a saved notebook shows the counts without a kernel.
"""

from __future__ import annotations

import html
import time
from typing import Any

from ..batch.progress import ProgressSnapshot, format_clock, format_number, progress_line
from ..batch.results import OUTCOME_STATUS
from ..i18n import STATUS_STYLES, Lang, text
from .html import badge_html

REDRAW_SECONDS = 0.25
"""A display update re-renders the output: a few a second are plenty."""
GOOD_COLOR = "#1f883d"
FAILED_COLOR = "#cf222e"
UNSURE_COLOR = "#8c959f"
_FONT = "font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif"


def _count_html(name: str, count: int, lang: Lang) -> str:
    """A status (or batch outcome) pill and its count; the pills match the task cards'."""
    if name in STATUS_STYLES:
        label = badge_html(name, lang)
    else:
        style = STATUS_STYLES[OUTCOME_STATUS.get(name, "unknown")]
        label = (
            f'<span class="kitta-badge" data-outcome="{html.escape(name)}" '
            f'style="display:inline-block;padding:1px 10px;border-radius:999px;font-weight:600;'
            f'font-size:12px;color:{style.color};background:{style.background}">'
            f"{html.escape(text('batch_' + name, lang))}</span>"
        )
    return f'<span style="white-space:nowrap">{label} <b>{count}</b></span>'


def details_html(snapshot: ProgressSnapshot, lang: Lang = "en") -> str:
    """Counts, credits, elapsed and ETA as one escaped HTML line."""
    counts = " ".join(_count_html(name, n, lang) for name, n in snapshot.counts.items())
    facts = [
        f"{html.escape(text('credits', lang))}: {html.escape(format_number(snapshot.credits))}",
        f"{html.escape(text('elapsed', lang))}: {html.escape(format_clock(snapshot.elapsed))}",
    ]
    if not snapshot.finished:
        facts.append(f"{html.escape(text('batch_eta', lang))}: {format_clock(snapshot.eta)}")
    if snapshot.note:
        facts.append(html.escape(snapshot.note))
    return (
        f'<div style="{_FONT};font-size:13px;display:flex;gap:8px;flex-wrap:wrap;'
        f'align-items:center">{counts}<span style="color:#59636e">'
        f"{' · '.join(facts)}</span></div>"
    )


def bar_html(snapshot: ProgressSnapshot) -> str:
    """The bar: a green, a red and a grey segment sized by outcome."""
    total = max(snapshot.total, 1)
    segments = [
        ("good", snapshot.good, GOOD_COLOR),
        ("failed", snapshot.failed, FAILED_COLOR),
        ("unsure", snapshot.unsure, UNSURE_COLOR),
    ]
    cells = "".join(
        f'<div class="kitta-bar-{name}" data-count="{count}" style="background:{color};'
        f'height:8px;width:{min(100.0, 100.0 * count / total):.1f}%"></div>'
        for name, count, color in segments
        if count > 0
    )
    return (
        '<div class="kitta-bar" style="display:flex;overflow:hidden;background:#eaeef2;'
        f'border-radius:4px;height:8px;margin:4px 0 6px">{cells}</div>'
    )


def progress_html(snapshot: ProgressSnapshot, lang: Lang = "en") -> str:
    """The whole progress view as static HTML (no widget, no script)."""
    return (
        f'<div class="kitta-progress" style="{_FONT};border:1px solid #d0d7de;border-radius:8px;'
        'padding:8px 12px;max-width:720px;background:#fff;color:#1f2328">'
        f'<div style="font-weight:600;margin-bottom:4px">{html.escape(snapshot.title)} — '
        f"{snapshot.done}/{snapshot.total}</div>"
        f"{bar_html(snapshot)}{details_html(snapshot, lang)}</div>"
    )


def progress_bundle(snapshot: ProgressSnapshot, lang: Lang = "en") -> dict[str, str]:
    return {"text/html": progress_html(snapshot, lang), "text/plain": progress_line(snapshot)}


class HtmlProgress:
    """Progress in a notebook without widgets: one output, redrawn in place."""

    def __init__(self, *, title: str, total: int, lang: Lang = "en") -> None:
        from IPython.display import display

        self.lang = lang
        first = ProgressSnapshot(title, 0, total, {}, None, 0.0, None)
        self._handle: Any = display(progress_bundle(first, lang), raw=True, display_id=True)
        self._last = time.monotonic()
        self._closed = False

    def update(self, snapshot: ProgressSnapshot) -> None:
        now = time.monotonic()
        if self._closed or now - self._last < REDRAW_SECONDS:
            return
        self._last = now
        self._handle.update(progress_bundle(snapshot, self.lang), raw=True)

    def close(self, snapshot: ProgressSnapshot) -> None:
        if self._closed:
            return
        self._closed = True
        self._handle.update(progress_bundle(snapshot, self.lang), raw=True)
