"""The SQL both journal stores run, and a journal's rows as plain values, out of one store
and into another (moving in).

`Sql` is a store's connection as the shared SQL sees it: `?` parameters, `MINE` where a
condition is scoped to the store's account. `scope` is the columns a store puts on every
row (the PostgreSQL store's `account`, nothing for SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .schema import update_entries

__all__ = ["MINE", "Executes", "JournalRows", "Sql", "add_rows", "read_rows"]

MINE = "/*mine*/"
"""Where a condition is scoped to the store's account (`account = ? AND `, or nothing)."""


class Sql:
    """A connection running the stores' shared SQL: `?` parameters, `MINE` expanded."""

    def __init__(self, conn: Any, account: str | None, *, format_style: bool) -> None:
        self.conn, self.account, self.format_style = conn, account, format_style
        self.rowcount = -1  # the last statement's

    def text(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[str, list[Any]]:
        """The SQL as the driver reads it, the account put at each `MINE`."""
        params = list(parameters)
        if MINE in sql:
            pieces = sql.split(MINE)
            sql, seen = pieces[0], pieces[0].count("?")
            for piece in pieces[1:]:
                if self.account is not None:
                    params.insert(seen, self.account)
                    sql, seen = sql + "account = ? AND ", seen + 1
                sql, seen = sql + piece, seen + piece.count("?")
        return (sql.replace("?", "%s") if self.format_style else sql), params

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        cursor = self.conn.execute(*self.text(sql, parameters))
        self.rowcount = cursor.rowcount
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        texts = [self.text(sql, row) for row in rows]
        if texts:
            self.conn.cursor().executemany(texts[0][0], [params for _, params in texts])

    def update(
        self, changes: Mapping[str, object], where: str, *params: object, **keep: Any
    ) -> None:
        """`schema.update_entries` on the store's entries."""
        update_entries(self, changes, MINE + where, *params, **keep)


class Executes(Protocol):
    """A connection that runs SQL with `?` parameters (SQLite's, or the PostgreSQL store's)."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


@dataclass(frozen=True)
class JournalRows:
    """A journal's entries and labels, to copy them into another store."""

    account: str | None
    entries: list[dict[str, Any]]
    """Each entry's columns by name (the `entries` table, without the scope)."""
    labels: list[tuple[str, str]]
    """(entry id, label) pairs."""


def _scoped(scope: Mapping[str, object]) -> tuple[str, list[object]]:
    return "".join(f"{name} = ? AND " for name in scope), list(scope.values())


def read_rows(conn: Executes, account: str | None, scope: Mapping[str, object]) -> JournalRows:
    where, fixed = _scoped(scope)
    cursor = conn.execute(f"SELECT * FROM entries WHERE {where}TRUE ORDER BY sort_ts", fixed)
    names = [column[0] for column in cursor.description]
    entries = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for entry in entries:
        for name in scope:
            del entry[name]
    labels = conn.execute(f"SELECT entry_id, label FROM labels WHERE {where}TRUE", fixed)
    return JournalRows(account, entries, [(str(a), str(b)) for a, b in labels.fetchall()])


def add_rows(conn: Executes, rows: JournalRows, scope: Mapping[str, object]) -> int:
    """Add the entries not here yet, and their labels; returns how many were added.

    An entry already here (its entry id) is left alone. A task known here only from the
    server's list (`source` "server") is replaced by the copied create's own entry, which
    carries its key, request and labels (the labels given here are kept too), as when a
    create's answer comes after the list saw its task.
    """
    where, fixed = _scoped(scope)
    known = {column[0] for column in conn.execute("SELECT * FROM entries LIMIT 0", ()).description}
    added: set[str] = set()
    for row in rows.entries:
        entry_id, task_id = row["entry_id"], row.get("task_id")
        if conn.execute(
            f"SELECT 1 FROM entries WHERE {where}entry_id = ?", [*fixed, entry_id]
        ).fetchone():
            continue
        if task_id is not None and row.get("source") != "server":
            seen = conn.execute(
                f"SELECT entry_id FROM entries WHERE {where}task_id = ? AND source = 'server'",
                [*fixed, task_id],
            ).fetchone()
            if seen is not None:
                conn.execute(
                    f"UPDATE labels SET entry_id = ? WHERE {where}entry_id = ?",
                    [entry_id, *fixed, seen[0]],
                )
                conn.execute(f"DELETE FROM entries WHERE {where}entry_id = ?", [*fixed, seen[0]])
        values = {**{n: v for n, v in row.items() if n in known}, **scope}
        inserted = conn.execute(
            f"INSERT INTO entries ({', '.join(values)}) VALUES ({', '.join('?' * len(values))}) "
            "ON CONFLICT DO NOTHING",
            list(values.values()),
        )
        if inserted.rowcount:
            added.add(entry_id)
    for entry_id, label in rows.labels:
        if entry_id in added:
            labelled = {"entry_id": entry_id, "label": label, **scope}
            conn.execute(
                f"INSERT INTO labels ({', '.join(labelled)}) VALUES "
                f"({', '.join('?' * len(labelled))}) ON CONFLICT DO NOTHING",
                list(labelled.values()),
            )
    return len(added)
