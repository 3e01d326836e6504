"""The notebook views: static HTML (inline CSS, no script) and plain text, plus live views.

An object shown in a cell imports its view here when shown (`task._repr_mimebundle_`
-> `display.html.task_mimebundle`): the one exception to the layers in `.importlinter`.
`html` (task cards, pages), `video` (how a result reaches the browser), `follow` (the
followers every live view renders, and `task.watch()`'s view), `gallery` (many tasks,
batches, progress), `history_html`, `preflight` (the media check) and `compare`.
"""

from __future__ import annotations

from .._lazy import lazy_names

__all__ = ["Gallery", "LiveTaskView", "StaticCompare"]

# The public views, each imported on first use (no view module loads before).
__getattr__ = lazy_names(
    __name__, {"Gallery": ".gallery", "LiveTaskView": ".follow", "StaticCompare": ".compare"}
)
