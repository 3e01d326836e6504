"""The progress bar of a batch in a notebook: counts by status, credits, elapsed, ETA.

Live, it is an ipywidgets bar plus an HTML line, updated from the thread that
runs the batch (never from worker threads). When the batch ends, the output
is replaced by static HTML, so a saved notebook (GitHub, nbviewer) shows the
final counts instead of "Error displaying widget".
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets

from .._batch_core import ProgressSnapshot
from .._progress import format_clock, format_number, progress_line
from ..display.html import badge_html
from ..i18n import STATUS_STYLES, Lang, text

REDRAW_SECONDS = 0.1
# Batch outcomes that are not task statuses, drawn with the colours of a status.
_OUTCOME_STYLE = {
    "created": "succeeded",
    "existing": "succeeded",
    "rejected": "failed",
    "unknown": "unknown",
    "queued": "pending",
}
_FONT = "font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif"


def _count_html(name: str, count: int, lang: Lang) -> str:
    if name in STATUS_STYLES:
        label = badge_html(name, lang)
    else:
        style = STATUS_STYLES[_OUTCOME_STYLE.get(name, "unknown")]
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


def progress_html(snapshot: ProgressSnapshot, lang: Lang = "en") -> str:
    """The whole progress view as static HTML (no widget, no script)."""
    total = max(snapshot.total, 1)
    percent = min(100.0, 100.0 * snapshot.done / total)
    return (
        f'<div class="kitta-progress" style="{_FONT};border:1px solid #d0d7de;border-radius:8px;'
        'padding:8px 12px;max-width:720px;background:#fff;color:#1f2328">'
        f'<div style="font-weight:600;margin-bottom:4px">{html.escape(snapshot.title)} — '
        f"{snapshot.done}/{snapshot.total}</div>"
        '<div style="background:#eaeef2;border-radius:4px;height:8px;margin:4px 0 6px">'
        f'<div style="background:#1f883d;height:8px;border-radius:4px;width:{percent:.1f}%">'
        "</div></div>"
        f"{details_html(snapshot, lang)}</div>"
    )


class WidgetProgress:
    """A live progress bar; `close()` swaps it for its static HTML."""

    def __init__(self, *, title: str, total: int, lang: Lang = "en") -> None:
        from IPython.display import display

        self.lang = lang
        self.bar = widgets.IntProgress(
            value=0,
            min=0,
            max=max(total, 1),
            bar_style="info",
            layout=widgets.Layout(width="260px", margin="0 0 0 8px"),
        )
        self.heading = widgets.HTML(f"<b>{html.escape(title)}</b> 0/{total}")
        self.details = widgets.HTML()
        self.row = widgets.HBox(
            [self.heading, self.bar], layout=widgets.Layout(align_items="center")
        )
        self.widget = widgets.VBox([self.row, self.details])
        self.widget.add_class("kitta-progress")
        self._last = float("-inf")
        self._handle: Any = display(self.widget, display_id=True)

    def _draw(self, snapshot: ProgressSnapshot) -> None:
        self.bar.max = max(snapshot.total, 1)
        self.bar.value = min(snapshot.done, self.bar.max)
        self.heading.value = (
            f"<b>{html.escape(snapshot.title)}</b> {snapshot.done}/{snapshot.total}"
        )
        self.details.value = details_html(snapshot, self.lang)

    def update(self, snapshot: ProgressSnapshot) -> None:
        now = time.monotonic()
        if now - self._last < REDRAW_SECONDS:
            return
        self._last = now
        self._draw(snapshot)

    def close(self, snapshot: ProgressSnapshot) -> None:
        self._draw(snapshot)
        static = progress_html(snapshot, self.lang)
        if self._handle is not None:
            self._handle.update(
                {"text/html": static, "text/plain": progress_line(snapshot)}, raw=True
            )
        for widget in (self.widget, self.row, self.heading, self.bar, self.details):
            widget.close()  # free the comms: the static HTML replaced them
