"""The live status indicator of one task: badge, spinner, step bar, elapsed time, text.

It is a view: `show()` takes what the card knows and renders it; it never
talks to the service. The plain attributes (`status`, `status_text`,
`spinning`, ...) mirror what is on screen so tests can read them.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from ..display.html import badge_html, format_seconds
from ..i18n import Lang, text

# Position of each documented status on the step bar (of 3).
_STEPS = {"pending": 1, "processing": 2, "succeeded": 3, "failed": 3}
_BAR_STYLES = {"pending": "", "processing": "info", "succeeded": "success", "failed": "danger"}

# A CSS-only spinner: it turns in the browser without any message from the kernel.
_SPINNER = (
    "<style>@keyframes kitta-spin{to{transform:rotate(360deg)}}</style>"
    '<span class="kitta-spinner" title="working" style="display:inline-block;width:12px;'
    "height:12px;border:2px solid #9cc3ea;border-top-color:#0b4f8a;border-radius:50%;"
    'animation:kitta-spin .8s linear infinite"></span>'
)


class StatusIndicator:
    """Badge + spinner + progress steps + elapsed time + status text, for one task."""

    def __init__(self, lang: Lang = "en") -> None:
        self.lang = lang
        self.status = "unknown"
        self.status_text = ""
        self.note: str | None = None
        self.elapsed_seconds: float | None = None
        self.spinning = False
        self.badge = widgets.HTML(layout=widgets.Layout(margin="0 6px 0 0"))
        self.spinner = widgets.HTML(layout=widgets.Layout(margin="0 4px 0 0", width="16px"))
        self.progress = widgets.IntProgress(
            value=0, min=0, max=3, layout=widgets.Layout(width="90px", margin="0 4px")
        )
        self.elapsed = widgets.Label(layout=widgets.Layout(margin="0 6px 0 0", min_width="60px"))
        self.label = widgets.HTML(layout=widgets.Layout(margin="0"))
        self.widget = widgets.HBox(
            [self.badge, self.spinner, self.progress, self.elapsed, self.label],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.widget.add_class("kitta-status")

    def show(
        self,
        status: object,
        *,
        elapsed: float | None = None,
        note: str | None = None,
        active: bool | None = None,
    ) -> None:
        """Render a status. `active` (default: not finished) turns the spinner on."""
        key = str(status) if status is not None else "unknown"
        known = key in _STEPS
        finished = key in ("succeeded", "failed")
        self.status = key
        self.note = note
        self.spinning = (not finished) if active is None else active
        self.elapsed_seconds = elapsed
        summary = text(f"card_status_{key}" if known else "card_status_unknown", self.lang)
        self.status_text = f"{summary} · {note}" if note else summary
        self.badge.value = badge_html(status, self.lang)
        self.spinner.value = _SPINNER if self.spinning else ""
        self.progress.value = _STEPS.get(key, 1)
        self.progress.bar_style = _BAR_STYLES.get(key, "warning")
        self.elapsed.value = format_seconds(elapsed) if elapsed is not None else ""
        self.label.value = (
            f'<span class="kitta-status-text" data-status="{html.escape(key)}">'
            f"{html.escape(self.status_text)}</span>"
        )

    def tick(self, elapsed: float) -> None:
        """Update only the elapsed time (called every second while the task runs)."""
        self.elapsed_seconds = elapsed
        self.elapsed.value = format_seconds(elapsed)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
