"""`Journal`: the local task journal as pure storage (no client, no network).

Every create is written down before it is sent. A create spends credits and
the contract has no idempotency key, so a task must never be forgotten: not
when the kernel dies mid-request, nor when the answer is a 5xx or a read
timeout. One small SQLite file per API origin and account (named by a
fingerprint; the token itself is never stored), which several kernels may
write at once.

Entries move through outcomes: `sending` (written before the request) ->
`created` (202 with a taskId) | `rejected` (nothing was created) | `unknown`
(the request may have reached the server). Reconciling unknown entries with
the server's list is `History.reconcile()`'s job; tasks seen only on the
server are kept too (`remote`), so a history pages through everything in SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..models import LipSyncTask
from .entry import JournalEntry, now
from .reads import JournalReader
from .writes import JournalWriter

if TYPE_CHECKING:
    pass

__all__ = ["Journal"]

Ref = JournalEntry | LipSyncTask | str


class Journal(JournalWriter, JournalReader):
    """One journal file. Opens lazily: constructing it never touches the disk.

    Safe to share between threads (one connection behind a lock) and between
    processes (WAL, a busy timeout, and short `BEGIN IMMEDIATE` transactions).
    """

    # --- labels and notes ------------------------------------------------------------
    def _entry_id(self, conn: sqlite3.Connection, ref: object) -> str:
        if isinstance(ref, JournalEntry):
            return ref.entry_id
        text_ref = ref.task_id if isinstance(ref, LipSyncTask) else str(ref)
        row = conn.execute(
            "SELECT entry_id FROM entries WHERE task_id = ? OR entry_id = ?", (text_ref, text_ref)
        ).fetchone()
        if row is None:
            if isinstance(ref, LipSyncTask):
                self.record_seen(ref)
                return self._entry_id(conn, ref)
            raise KeyError(f"no journal entry for {text_ref!r}")
        return str(row[0])

    def set_labels(self, ref: Ref, labels: Iterable[str]) -> None:
        """Replace an entry's labels (task id, entry id, task or entry)."""
        clean = sorted({x.strip() for x in labels if x and x.strip()})
        with self._lock:
            entry_id = self._entry_id(self._connection(), ref)
            with self._write() as conn:
                conn.execute("DELETE FROM labels WHERE entry_id = ?", (entry_id,))
                conn.executemany(
                    "INSERT INTO labels (entry_id, label) VALUES (?, ?)",
                    [(entry_id, label) for label in clean],
                )

    def add_labels(self, ref: Ref, *labels: str) -> None:
        current = self.get(ref)
        self.set_labels(ref, [*(current.labels if current else ()), *labels])

    def remove_labels(self, ref: Ref, *labels: str) -> None:
        current = self.get(ref)
        if current is not None:
            self.set_labels(ref, [x for x in current.labels if x not in labels])

    def set_note(self, ref: Ref, note: str | None) -> None:
        with self._lock:
            entry_id = self._entry_id(self._connection(), ref)
            with self._write() as conn:
                conn.execute(
                    "UPDATE entries SET note = ?, updated_ts = ? WHERE entry_id = ?",
                    (note or None, now(), entry_id),
                )

    # --- transitional: callers not yet moved to `client.history.reconcile()` ----------
