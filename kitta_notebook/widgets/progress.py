"""The progress bar of a batch as a live widget: counts by outcome, credits, elapsed, ETA.

Live, it is an ipywidgets bar plus an HTML line, updated from the thread that
runs the batch (never from worker threads); the bar turns orange when some
items failed and red when all did. When the batch ends, the output is
replaced by the batch layer's static HTML (a bar with green, red and grey
segments), so a saved notebook shows the final counts instead of "Error
displaying widget". Batches show `HtmlProgress` by default; pass
`progress=WidgetProgress` to `create_many`/`watch_many` to get this one.
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as widgets

from ..batch.progress import ProgressSnapshot, progress_line
from ..display.gallery import details_html, progress_html
from ..i18n import Lang
from ._frontend import esc

__all__ = ["WidgetProgress", "bar_style", "details_html", "progress_html"]

REDRAW_SECONDS = 0.1


def bar_style(snapshot: ProgressSnapshot) -> str:
    """The bar's colour by outcome: never plain success while an item failed."""
    if snapshot.failed and snapshot.failed >= snapshot.done:
        return "danger"
    if snapshot.failed or snapshot.unsure:
        return "warning"
    return "success" if snapshot.finished else "info"


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
        self.heading = widgets.HTML(f"<b>{esc(title)}</b> 0/{total}")
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
        self.bar.bar_style = bar_style(snapshot)
        self.heading.value = f"<b>{esc(snapshot.title)}</b> {snapshot.done}/{snapshot.total}"
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
