"""Task history: the journal every create is written into, reconcile, `History`, `resume()`.

- `entry`: the values (states, `JournalEntry`, `Query`); `keys`: key claims, pure
- `store`: `JournalStore`, what a journal's storage does; `journal`: the SQLite store
- `recorder`: what a client records its creates and polls with
- `reconcile`: which server task an unknown create became, as pure code
- `history`: `History` / `AsyncHistory` (which own the server I/O) and `resume()`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..errors import JournalCorruptError, JournalError, JournalWarning, UnresolvedCreateError
    from .entry import STATES, JournalEntry, JournalSummary, KeptResult, Query
    from .history import (
        PAGE_SIZE,
        AsyncHistory,
        History,
        ResumedTasks,
        SyncReport,
        entry_record,
        resume,
        state_names,
    )
    from .journal import Journal
    from .reconcile import ReconcileReport
    from .store import JournalStore

# Loaded on first use: a client imports only the recorder when constructed; the storage,
# the history views and `resume()` (which may start the sandbox) come in when asked for.
_MODULES = {
    "kitta_notebook.errors": (
        "JournalCorruptError",
        "JournalError",
        "JournalWarning",
        "UnresolvedCreateError",
    ),
    "kitta_notebook.history.entry": (
        "STATES",
        "JournalEntry",
        "JournalSummary",
        "KeptResult",
        "Query",
    ),
    "kitta_notebook.history.history": (
        "PAGE_SIZE",
        "AsyncHistory",
        "History",
        "ResumedTasks",
        "SyncReport",
        "entry_record",
        "resume",
        "state_names",
    ),
    "kitta_notebook.history.journal": ("Journal",),
    "kitta_notebook.history.reconcile": ("ReconcileReport",),
    "kitta_notebook.history.store": ("JournalStore",),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}
__all__ = [
    "PAGE_SIZE",
    "STATES",
    "AsyncHistory",
    "History",
    "Journal",
    "JournalCorruptError",
    "JournalEntry",
    "JournalError",
    "JournalStore",
    "JournalSummary",
    "JournalWarning",
    "KeptResult",
    "Query",
    "ReconcileReport",
    "ResumedTasks",
    "SyncReport",
    "UnresolvedCreateError",
    "entry_record",
    "resume",
    "state_names",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'kitta_notebook.history' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)
