"""Jupyter widgets for the Kitta lip-sync API: `LipSyncPanel` and its parts.

Imported lazily by `kitta_notebook` (ipywidgets loads only when a panel is
used). The widgets are views over the client's task objects: they call the
client's public API and never speak HTTP themselves.
"""

from __future__ import annotations

from .._lazy import lazy_names
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

# The history browser loads on first use, so a panel never pays for it.
__getattr__ = lazy_names(__name__, {"HistoryBrowser": ".history"})
