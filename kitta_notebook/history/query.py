"""The filters shared by the history API and the browser, as one WHERE clause."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from ..models import TaskStatus
from . import schema
from .entry import to_timestamp

__all__ = ["Query"]


@dataclass(frozen=True)
class Query:
    """Filters shared by the history API and the browser, turned into one WHERE clause."""

    status: tuple[str, ...] = ()
    mode: str | None = None
    since: float | None = None
    until: float | None = None
    labels: tuple[str, ...] = ()
    search: str | None = None
    source: str | None = None

    @classmethod
    def build(
        cls,
        *,
        status: str | TaskStatus | Iterable[str | TaskStatus] | None = None,
        mode: str | None = None,
        since: datetime | date | str | float | None = None,
        until: datetime | date | str | float | None = None,
        label: str | Iterable[str] | None = None,
        search: str | None = None,
        source: str | None = None,
    ) -> Query:
        if status is None:
            statuses: tuple[str, ...] = ()
        elif isinstance(status, (str, TaskStatus)):
            statuses = (str(status),)
        else:
            statuses = tuple(str(s) for s in status)
        if label is None:
            labels: tuple[str, ...] = ()
        elif isinstance(label, str):
            labels = (label,)
        else:
            labels = tuple(label)
        if source not in (None, "local", "server"):
            raise ValueError("source must be 'local', 'server' or None")
        return cls(
            status=statuses,
            mode=mode or None,
            since=to_timestamp(since),
            until=to_timestamp(until),
            labels=tuple(x.strip() for x in labels if x.strip()),
            search=(search or "").strip() or None,
            source=source,
        )

    @property
    def facets_only(self) -> bool:
        """True when only status, mode and source filter (what `totals` can answer)."""
        return self.since is None and self.until is None and not self.labels and not self.search

    def facet_clauses(self) -> tuple[list[str], list[object]]:
        """The status / mode / source conditions (columns named alike in `totals`)."""
        clauses: list[str] = []
        params: list[object] = []
        if self.status:
            clauses.append(f"state IN ({','.join('?' * len(self.status))})")
            params.extend(self.status)
        if self.mode:
            clauses.append("input_mode = ?")
            params.append(self.mode)
        if self.source:
            clauses.append("source = ?")
            params.append(self.source)
        return clauses, params

    def where(self, *, search_index: bool = False) -> tuple[str, list[object]]:
        """The WHERE clause and its parameters; `search_index` when the trigram index exists."""
        clauses, params = self.facet_clauses()
        if self.since is not None:
            clauses.append("sort_ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("sort_ts < ?")
            params.append(self.until)
        if self.labels:
            marks = ",".join("?" * len(self.labels))
            clauses.append(f"entry_id IN (SELECT entry_id FROM labels WHERE label IN ({marks}))")
            params.extend(self.labels)
        if self.search:
            clause, values = _search_clause(self.search, search_index)
            clauses.append(clause)
            params.extend(values)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# Trigrams need three characters; a shorter search scans the columns instead.
_TRIGRAM = 3


def _search_clause(search: str, search_index: bool) -> tuple[str, list[object]]:
    """Substring search over the URLs and task ids, through the trigram index when it can."""
    if search_index and len(search) >= _TRIGRAM:
        phrase = '"' + search.replace('"', '""') + '"'
        return (
            f"rowid IN (SELECT rowid FROM {schema.SEARCH_TABLE} "
            f"WHERE {schema.SEARCH_TABLE} MATCH ?)",
            [phrase],
        )
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    columns = schema.SEARCH_COLUMNS
    clause = "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")"
    return clause, [pattern] * len(columns)
