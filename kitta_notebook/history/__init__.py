"""Task history: the journal every create is written into, reconcile, `History`.

- `entry`: the values (states, `JournalEntry`, `Query`); `keys`: key claims, pure
- `store`: `JournalStore`, what a journal's storage does, the connection the shared SQL
  runs through and copying rows between stores; `journal`: the SQLite store (`schema`: its
  file; a warning when that file is on a network file system); `postgres`: the PostgreSQL
  store (a team's)
- `recorder`: what a client records its creates and polls with
- `reconcile`: which server task an unknown create became, as pure code
- `history`: `History` / `AsyncHistory` (which own the server I/O) and `ResumedTasks`
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

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
        state_names,
    )
    from .journal import Journal
    from .postgres import PostgresJournal
    from .reconcile import ReconcileReport
    from .store import JournalStore

# Loaded on first use: a client imports only the recorder when constructed; the storage,
# the history views come in when asked for.
_LAZY = {
    **dict.fromkeys(("JournalCorruptError", "JournalError"), "kitta_notebook.errors"),
    **dict.fromkeys(("JournalWarning", "UnresolvedCreateError"), "kitta_notebook.errors"),
    **dict.fromkeys(("STATES", "JournalEntry", "JournalSummary"), "kitta_notebook.history.entry"),
    **dict.fromkeys(("KeptResult", "Query"), "kitta_notebook.history.entry"),
    **dict.fromkeys(("PAGE_SIZE", "AsyncHistory", "History"), "kitta_notebook.history.history"),
    **dict.fromkeys(("ResumedTasks", "SyncReport"), "kitta_notebook.history.history"),
    **dict.fromkeys(("entry_record", "state_names"), "kitta_notebook.history.history"),
    "Journal": "kitta_notebook.history.journal",
    "PostgresJournal": "kitta_notebook.history.postgres",
    "ReconcileReport": "kitta_notebook.history.reconcile",
    "JournalStore": "kitta_notebook.history.store",
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
    "JournalStore",
    "JournalSummary",
    "JournalWarning",
    "KeptResult",
    "PostgresJournal",
    "Query",
    "ReconcileReport",
    "ResumedTasks",
    "SyncReport",
    "UnresolvedCreateError",
    "entry_record",
    "state_names",
]

__getattr__ = lazy_names(__name__, _LAZY)
