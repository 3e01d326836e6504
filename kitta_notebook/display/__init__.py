"""The notebook views: static HTML (inline CSS, no script) and plain text, plus live views.

An object shown in a cell imports its view here when shown (`task._repr_mimebundle_`
-> `display.html.task_mimebundle`): the one exception to the layers in `.importlinter`.
`html` (task cards, pages), `video` (how a result reaches the browser), `follow` (the
followers every live view renders, and `task.watch()`'s view), `gallery` (many tasks,
batches, progress), `history_html`, `preflight` (the media check) and `compare`.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Gallery", "LiveTaskView", "StaticCompare"]

_HOMES = {"Gallery": "gallery", "LiveTaskView": "follow", "StaticCompare": "compare"}


def __getattr__(name: str) -> Any:
    """The public views, each imported on first use (no view module loads before)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
