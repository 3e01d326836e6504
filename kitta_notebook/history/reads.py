"""The journal's read side: pages, counts, the summary strip, unresolved creates, kept files.

A page is found in two steps: the row ids of the page from an index (every
sort the history offers has one, in both directions), then the rows
themselves. Pages past the middle are read from the other end, so the last
page of 100,000 entries costs what the first does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import LipSyncTask
from . import schema
from .entry import (
    ENTRY_COLUMNS,
    FINAL_STATES,
    SORT_COLUMNS,
    JournalEntry,
    JournalSummary,
    KeptResult,
    dt,
    entry_from_row,
)
from .media_urls import resolved_entry
from .query import Query
from .store import JournalStore
from .writes import IN_FLIGHT, SESSION, STALE_SENDING_SECONDS, held_elsewhere

__all__ = ["STALE_SENDING_SECONDS", "Candidate", "JournalReader"]

# Past this offset a page is worth a count, to read it from the nearer end.
_FAR_OFFSET = 500

# A server-only task reconcile may match: (task id, created, model, input mode).
Candidate = tuple[str, float | None, str | None, str | None]


def _natural(column: str, way: str) -> str:
    """An ORDER BY that is exactly an index's order (see `schema.SCHEMA_V2`)."""
    if column == "sort_ts":
        return f"sort_ts {way}, entry_id {way}"
    return f"{column} {way}, sort_ts {way}, entry_id {way}"


def _flip(way: str) -> str:
    return "ASC" if way == "DESC" else "DESC"


def _totals_where(query: Query) -> tuple[str, list[object]] | None:
    """The `totals` WHERE for a query it can answer (status, mode, source only), else None."""
    if not query.facets_only:
        return None
    clauses, params = query.facet_clauses()
    return " WHERE " + " AND ".join(["n > 0", *clauses]), params


class JournalReader(JournalStore):
    """Everything that reads a journal's entries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The last aggregate, so that a page's count and its summary strip cost one query.
        self._aggregate_cache: tuple[object, list[tuple[str, int, float]]] | None = None
        # The running embedded sandbox's origin, for a journal chosen by identity: its own
        # media were recorded without a port (`media_urls`) and are read back against it.
        self.media_origin: str | None = None

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        return resolved_entry(entry_from_row(row), self.media_origin)

    def get(self, ref: JournalEntry | LipSyncTask | str) -> JournalEntry | None:
        """One entry by task id or entry id."""
        if isinstance(ref, JournalEntry):
            text_ref = ref.entry_id
        else:
            text_ref = ref.task_id if isinstance(ref, LipSyncTask) else str(ref)
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE task_id = ? "
            f"UNION ALL SELECT {ENTRY_COLUMNS} FROM entries WHERE entry_id = ? LIMIT 1",
            (text_ref, text_ref),
        )
        return self._entry(rows[0]) if rows else None

    def entries(
        self,
        query: Query | None = None,
        *,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JournalEntry]:
        """One page of entries, filtered and sorted in SQL, read in an index's order.

        Entries without a value for the sort (no credits yet) go last either way.
        """
        column = SORT_COLUMNS.get(sort)
        if column is None:
            raise ValueError(f"sort must be one of {', '.join(SORT_COLUMNS)}, got {sort!r}")
        query = query or Query()
        offset = max(0, int(offset))
        size = -1 if limit is None else max(0, int(limit))
        way = "DESC" if descending else "ASC"
        if column != "credits" or descending:  # NULL is the smallest: last when descending
            return self._rows(self._page_ids(query, "", _natural(column, way), size, offset))
        # Ascending with NULLs last: the valued part, then the rest (each an index order).
        valued = "credits IS NOT NULL"
        ids = self._page_ids(query, valued, _natural(column, way), size, offset)
        if size < 0 or len(ids) < size:
            before = offset if ids else self._count_where(query, valued)
            rest_offset = max(0, offset - before)
            rest_size = -1 if size < 0 else size - len(ids)
            ids += self._page_ids(
                query, "credits IS NULL", _natural("sort_ts", way), rest_size, rest_offset
            )
        return self._rows(ids)

    def _page_ids(self, query: Query, extra: str, order: str, limit: int, offset: int) -> list[int]:
        """Row ids of one page; a page nearer the end is read backwards from the end."""
        where, params = self._where(query, extra)
        if limit >= 0 and offset > _FAR_OFFSET:
            total = self._count_where(query, extra)
            if offset > total // 2:
                start = total - offset - limit
                size = limit + min(0, start)
                if size <= 0:
                    return []
                backwards = ", ".join(
                    f"{term.rsplit(' ', 1)[0]} {_flip(term.rsplit(' ', 1)[1])}"
                    for term in order.split(", ")
                )
                rows = self._read(
                    f"SELECT rowid FROM entries{where} ORDER BY {backwards} LIMIT ? OFFSET ?",
                    [*params, size, max(0, start)],
                )
                return [int(r[0]) for r in reversed(rows)]
        rows = self._read(
            f"SELECT rowid FROM entries{where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [int(r[0]) for r in rows]

    def _where(self, query: Query, extra: str = "") -> tuple[str, list[object]]:
        where, params = query.where(search_index=self._search_index)
        if extra:
            where = f"{where} AND {extra}" if where else f" WHERE {extra}"
        return where, params

    def _count_where(self, query: Query, extra: str) -> int:
        if not extra:
            return self.count(query)
        where, params = self._where(query, extra)
        return int(self._read(f"SELECT count(*) FROM entries{where}", params)[0][0])

    def _rows(self, ids: Sequence[int]) -> list[JournalEntry]:
        """The entries of these row ids, in this order."""
        found: dict[int, JournalEntry] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._read(
                f"SELECT rowid, {ENTRY_COLUMNS} FROM entries "
                f"WHERE rowid IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update({int(row[0]): self._entry(row[1:]) for row in rows})
        return [found[i] for i in ids if i in found]

    def _aggregate(self, query: Query) -> list[tuple[str, int, float]]:
        """(state, count, credits) over the filtered set: from `totals` when it can answer."""
        totals = _totals_where(query)
        if totals is not None:
            where, params = totals
            sql = f"SELECT state, sum(n), total(credits) FROM totals{where} GROUP BY state"
        else:
            where, params = query.where(search_index=self._search_index)
            sql = f"SELECT state, count(*), total(credits) FROM entries{where} GROUP BY state"
        with self._lock:
            conn = self._connection()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            key = (sql, tuple(params), version, conn.total_changes)
            cached = self._aggregate_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            rows = [(str(s), int(n), float(c)) for s, n, c in self._read(sql, params) if n]
            self._aggregate_cache = (key, rows)
            return rows

    def count(self, query: Query | None = None) -> int:
        return sum(n for _, n, _ in self._aggregate(query or Query()))

    def __len__(self) -> int:
        return self.count()

    def summary(self, query: Query | None = None) -> JournalSummary:
        """Counts by state, credits charged (filtered set) and kept bytes (whole journal)."""
        rows = self._aggregate(query or Query())
        counts = {state: n for state, n, _ in rows}
        return JournalSummary(
            counts=counts,
            credits=sum(c for _, _, c in rows),  # only created tasks carry credits
            total=sum(counts.values()),
            kept_bytes=self.kept_total_bytes(),
        )

    def unresolved(self, *, stale_after: float = STALE_SENDING_SECONDS) -> list[JournalEntry]:
        """Creates whose outcome is unknown, plus `sending` ones no live process still owns."""
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS}, pid, host, session FROM entries "
            "WHERE outcome IN (?, ?) ORDER BY requested_ts",
            (schema.OUTCOME_UNKNOWN, schema.OUTCOME_SENDING),
        )
        found: list[JournalEntry] = []
        for row in rows:
            entry = self._entry(row)
            if entry.outcome == schema.OUTCOME_SENDING:
                pid, host, session = row[26], row[27], row[28]
                if session == SESSION:
                    if entry.entry_id in IN_FLIGHT:
                        continue
                elif held_elsewhere(pid, host, session, row[17] or 0.0, stale_after):
                    continue
            found.append(entry)
        return found

    def active(self) -> list[JournalEntry]:
        """Entries with a task that has not finished (pending, processing, unknown status)."""
        final = sorted(FINAL_STATES)
        marks = ",".join("?" * len(final))
        rows = self._read(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE task_id IS NOT NULL "
            f"AND state NOT IN ({marks}) ORDER BY sort_ts",
            final,
        )
        return [self._entry(row) for row in rows]

    def undated_task_ids(self, task_ids: list[str]) -> list[str]:
        """Those of `task_ids` whose entry has no created time (learnt from a list item)."""
        found: list[str] = []
        for start in range(0, len(task_ids), 500):
            chunk = task_ids[start : start + 500]
            rows = self._read(
                f"SELECT task_id FROM entries WHERE created_ts IS NULL AND task_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )
            found += [str(row[0]) for row in rows]
        return found

    def known_task_ids(self, *, source: str | None = None) -> set[str]:
        sql = "SELECT task_id FROM entries WHERE task_id IS NOT NULL"
        params: list[object] = []
        if source:
            sql += " AND source = ?"
            params.append(source)
        return {str(row[0]) for row in self._read(sql, params)}

    # --- for reconcile ---------------------------------------------------------------
    def server_only_tasks(self) -> list[Candidate]:
        """Tasks known only from the server: what an unknown create may have become."""
        return [
            (str(r[0]), r[1], r[2], r[3])
            for r in self._read(
                "SELECT task_id, created_ts, model, input_mode FROM entries "
                "WHERE source = 'server' AND task_id IS NOT NULL"
            )
        ]

    def create_delays(self, samples: int = 50) -> list[float]:
        """Seconds from writing a create down to the server's createdAt, newest first.

        Each is the server clock's offset plus the request's way there: the
        journal's own measurement of the server's clock.
        """
        rows = self._read(
            "SELECT created_ts - requested_ts FROM entries WHERE source = 'local' AND "
            "outcome = ? AND reconciled_ts IS NULL AND created_ts IS NOT NULL AND "
            "requested_ts IS NOT NULL ORDER BY requested_ts DESC LIMIT ?",
            (schema.OUTCOME_CREATED, samples),
        )
        return [float(r[0]) for r in rows]

    # --- kept results ----------------------------------------------------------------
    def kept(self, task_id: str) -> KeptResult | None:
        rows = self._read(
            "SELECT task_id, path, size, sha256, kept_ts FROM kept WHERE task_id = ?",
            (str(task_id),),
        )
        return _kept(rows[0]) if rows else None

    def kept_total_bytes(self) -> int:
        return int(self._read("SELECT total(size) FROM kept")[0][0])

    def kept_oldest(self, n: int) -> list[KeptResult]:
        """The `n` oldest kept copies (what a size cap cleans up first)."""
        rows = self._read(
            "SELECT task_id, path, size, sha256, kept_ts FROM kept "
            "ORDER BY kept_ts, task_id LIMIT ?",
            (max(0, int(n)),),
        )
        return [_kept(row) for row in rows]


def _kept(row: Sequence[Any]) -> KeptResult:
    moment = dt(row[4])
    assert moment is not None
    return KeptResult(
        task_id=str(row[0]), path=str(row[1]), size=int(row[2]), sha256=str(row[3]), kept_at=moment
    )
