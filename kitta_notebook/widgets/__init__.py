"""Jupyter widgets for the Kitta lip-sync API: `LipSyncPanel` and its parts.

Imported lazily by `kitta_notebook` (ipywidgets loads only when a panel is
used). The widgets are views over the client's task objects: they call the
client's public API and never speak HTTP themselves.
"""

from __future__ import annotations

from typing import Any

from .card import StatusIndicator, TaskCard, WidgetProgress
from .form import LipSyncForm
from .panel import LipSyncPanel

__all__ = [
    "HistoryBrowser",
    "LipSyncForm",
    "LipSyncPanel",
    "StatusIndicator",
    "TaskCard",
    "WidgetProgress",
]


def __getattr__(name: str) -> Any:
    """The history browser loads on first use, so a panel never pays for it."""
    if name != "HistoryBrowser":
        raise AttributeError(f"module 'kitta_notebook.widgets' has no attribute {name!r}")
    from .history import HistoryBrowser

    return HistoryBrowser
