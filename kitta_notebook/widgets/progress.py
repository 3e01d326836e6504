"""The progress of a batch as a live widget: counts by outcome, credits, elapsed, ETA.

Live, it is one HTML widget drawn from each snapshot by the batch layer's own view
(`display.gallery.progress_html`: a bar with green, red and grey segments, so a batch
with failures never looks all green), updated from the thread that runs the batch.
When the batch ends, the output is replaced by that static HTML and the widget is
closed, so a saved notebook shows the final counts instead of "Error displaying
widget". Batches show `HtmlProgress` by default; pass `progress=WidgetProgress` to
`create_many`/`watch_many` to get this one.
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as widgets

from ..batch.progress import ProgressSnapshot, progress_line
from ..display.gallery import progress_html
from ..i18n import Lang

__all__ = ["WidgetProgress", "progress_html"]

REDRAW_SECONDS = 0.1


class WidgetProgress:
    """A live progress view; `close()` swaps it for its static HTML."""

    def __init__(self, *, title: str, total: int, lang: Lang = "en") -> None:
        from IPython.display import display

        self.lang = lang
        first = ProgressSnapshot(title, 0, total, {}, None, 0.0, None)
        self.widget = widgets.HTML(progress_html(first, lang))
        self.widget.add_class("kitta-progress-widget")
        self._last = float("-inf")
        self._handle: Any = display(self.widget, display_id=True)

    def update(self, snapshot: ProgressSnapshot) -> None:
        now = time.monotonic()
        if now - self._last < REDRAW_SECONDS:
            return
        self._last = now
        self.widget.value = progress_html(snapshot, self.lang)

    def close(self, snapshot: ProgressSnapshot) -> None:
        self.widget.value = static = progress_html(snapshot, self.lang)
        if self._handle is not None:
            self._handle.update(
                {"text/html": static, "text/plain": progress_line(snapshot)}, raw=True
            )
        self.widget.close()  # free the comm: the static HTML replaced it
