"""Task history: the local journal (pure storage), reconcile, `History`, and `resume()`.

- `paths`: where journals live (`KITTA_HOME`, one file per account or identity)
- `schema`, `store`: the SQLite format and engine; `writes`, `reads`: the two sides
- `entry`, `query`: the row model and the filter language
- `journal`: `Journal`, the storage a client records into
- `reconcile`: matching unknown creates to server tasks, as pure code
- `history`: `History` / `AsyncHistory`, which own the server I/O
- `recorder`: the client's `TaskRecorder`; `reattach`: `resume()` after a restart
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..errors import JournalCorruptError, JournalError, JournalWarning, UnresolvedCreateError
    from .base import PAGE_SIZE, SyncReport, entry_record
    from .entry import STATES, JournalEntry, JournalSummary, KeptResult
    from .history import AsyncHistory, History
    from .journal import Journal
    from .query import Query
    from .reattach import ResumedTasks, resume, state_names
    from .reconcile import ReconcileReport

# Loaded on first use: a client imports only the recorder (and the storage
# under it) when constructed; the history views and `resume()` (which may
# start the sandbox through `connect()`) come in when asked for.
_LAZY = {
    "JournalCorruptError": "kitta_notebook.errors",
    "JournalError": "kitta_notebook.errors",
    "JournalWarning": "kitta_notebook.errors",
    "UnresolvedCreateError": "kitta_notebook.errors",
    "PAGE_SIZE": "kitta_notebook.history.base",
    "SyncReport": "kitta_notebook.history.base",
    "entry_record": "kitta_notebook.history.base",
    "STATES": "kitta_notebook.history.entry",
    "JournalEntry": "kitta_notebook.history.entry",
    "JournalSummary": "kitta_notebook.history.entry",
    "KeptResult": "kitta_notebook.history.entry",
    "AsyncHistory": "kitta_notebook.history.history",
    "History": "kitta_notebook.history.history",
    "Journal": "kitta_notebook.history.journal",
    "Query": "kitta_notebook.history.query",
    "ReconcileReport": "kitta_notebook.history.reconcile",
    "ResumedTasks": "kitta_notebook.history.reattach",
    "resume": "kitta_notebook.history.reattach",
    "state_names": "kitta_notebook.history.reattach",
}

__all__ = [
    "PAGE_SIZE",
    "STATES",
    "AsyncHistory",
    "History",
    "Journal",
    "JournalCorruptError",
    "JournalEntry",
    "JournalError",
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
