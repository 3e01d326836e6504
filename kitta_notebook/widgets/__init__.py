"""Jupyter widgets for the Kitta lip-sync API: `LipSyncPanel` and its parts.

Imported lazily by `kitta_notebook` (ipywidgets loads only when a panel is
used). The widgets are views over the client's task objects: they call the
client and never speak HTTP themselves.
"""

from __future__ import annotations

from typing import Any

from .card import TaskCard
from .form import LipSyncForm
from .panel import LipSyncPanel
from .status import StatusIndicator

__all__ = ["HistoryBrowser", "LipSyncForm", "LipSyncPanel", "StatusIndicator", "TaskCard"]

# Other views in this folder load on first use, so a panel never pays for them.
_LAZY = {"HistoryBrowser": ".history"}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'kitta_notebook.widgets' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name, __name__), name)
