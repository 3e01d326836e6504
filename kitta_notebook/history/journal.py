"""`Journal`: the embedded journal store, one SQLite file per account under `KITTA_HOME`.

One connection per journal object, behind a lock, serves every thread (the
async API's worker threads included); short `BEGIN IMMEDIATE` transactions
let several processes write the file. The queries are `sql.SqlStore`'s; what is
SQLite's own is here: the writers' turn, the trigram search, paging by row ids and
the totals; the file itself is `schema`'s.

SQLite's file locks may not hold on a network file system (NFS, CIFS/SMB, FUSE: hubs
often mount home folders so), and two kernels could then lose or double entries: the
first journal opened on one warns, once per process (`warn_if_network`). Linux says where
each folder is mounted in `/proc/self/mountinfo`; elsewhere nothing is known or said.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import warnings
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import JournalWarning
from ..i18n import text
from .entry import JournalEntry, Query
from .schema import (
    ROW_COLUMNS,
    SEARCH_COLUMNS,
    TRIGRAM,
    account_fingerprint,
    database_error,
    facets,
    identity_fingerprint,
    journal_path,
    journal_path_for_identity,
    natural_order,
    open_connection,
    transaction,
)
from .sql import SqlStore
from .store import Sql

__all__ = ["Journal", "account_fingerprint", "journal_path", "journal_path_for_identity"]

# Past this offset a page is worth a count, to read it from the nearer end.
_FAR_OFFSET = 500
_BEGIN_ATTEMPTS = 5

Self = TypeVar("Self", bound="Journal")
_REGISTRY: weakref.WeakValueDictionary[str, Journal] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


# --- a journal on a network file system ------------------------------------------------
MOUNTINFO = Path("/proc/self/mountinfo")
NETWORK_TYPES = frozenset({"nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "fuse"})
# FUSE file systems that keep their files on this machine (rootless containers' layers).
LOCAL_FUSE = frozenset({"fuse.fuse-overlayfs", "fuse.lxcfs"})
_ESCAPED = re.compile(r"\\([0-7]{3})")  # a space in a mount point is written \040
_once = threading.Lock()
_warned = threading.Event()  # once per process, whichever journal is first


def read_mountinfo() -> str | None:
    """This process's mount table, or None where there is none (not Linux). Its mount
    points are decoded as paths are (`os.fsdecode`), to compare equal to the folders."""
    try:
        return os.fsdecode(MOUNTINFO.read_bytes())
    except OSError:
        return None


def network_type(mountinfo: str, folder: str) -> str | None:
    """The file system type of `folder`'s mount (the longest mount point holding it, the
    last one mounted there) when it is a network one, else None."""
    found: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        fields = line.split(" ")  # ten at least: six, optional ones, "-", three
        if " - " not in line or len(fields) < 10:
            continue
        point = _ESCAPED.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = point == "/" or folder == point or folder.startswith(point + "/")
        if inside and (found is None or len(point) >= found[0]):
            found = (len(point), line.split(" - ", 1)[1].split(" ")[0])
    if found is None:
        return None
    kind = found[1]
    if kind in LOCAL_FUSE or not (kind in NETWORK_TYPES or kind.startswith("fuse.")):
        return None
    return kind


def warn_if_network(path: Path) -> None:
    """Warn once per process when the journal at `path` lies on a network file system."""
    if _warned.is_set():
        return
    mountinfo = read_mountinfo()
    if mountinfo is None:
        return
    kind = network_type(mountinfo, os.path.realpath(path.parent))
    if kind is None:
        return
    with _once:
        if _warned.is_set():
            return
        _warned.set()
    message = text("journal_network_fs", path=str(path), kind=kind)
    warnings.warn(JournalWarning(message), stacklevel=2)


class Journal(SqlStore):
    """One journal file. Opens lazily: constructing it never touches the disk."""

    _ENTRY = (
        ROW_COLUMNS + ", (SELECT group_concat(label, char(31)) FROM labels l "
        "WHERE l.entry_id = x.entry_id)"
    )

    def __init__(
        self, path: str | os.PathLike[str], *, origin: str | None = None, account: str | None = None
    ) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.origin = origin
        self.account = account
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        # The last aggregate, so that a page's count and its summary strip cost one query.
        self._aggregate_cache: tuple[object, list[tuple[str, int, float]] | None] | None = None

    @classmethod
    def for_account(cls: type[Self], origin: str, token: str, *, home: Path | None = None) -> Self:
        """The journal of (origin, token), shared by every client of this process."""
        path = journal_path(origin, token, home)
        return cls._shared(path, origin, account_fingerprint(origin, token))

    @classmethod
    def for_identity(cls: type[Self], identity: str, *, home: Path | None = None) -> Self:
        """The journal named by a stable identity (one for the embedded sandbox, any port)."""
        return cls._shared(
            journal_path_for_identity(identity, home), None, identity_fingerprint(identity)
        )

    @classmethod
    def _shared(cls: type[Self], path: Path, origin: str | None, account: str) -> Self:
        key = os.path.abspath(path)
        with _REGISTRY_LOCK:
            journal = _REGISTRY.get(key)
            if not isinstance(journal, cls):
                journal = cls(path, origin=origin, account=account)
                _REGISTRY[key] = journal
            return journal

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def exists(self) -> bool:
        return self.path.exists()

    # --- opening --------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """The one connection (reopened in a forked child), checked and migrated."""
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._search_index = open_connection(self.path, self.origin, self.account)
            self._pid = os.getpid()
            warn_if_network(self.path)
            if self.account is None:  # opened by path: the account its file was made for
                found = self._read("SELECT value FROM meta WHERE key = 'account'")
                self.account = str(found[0][0]) if found else None
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # --- transactions ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[Sql]:
        """One short write transaction, taken with the write lock up front (blocking: busy
        waits and retries; the async API runs it on a worker thread)."""
        with self._lock:
            conn = self._connection()
            try:
                with transaction(conn, "IMMEDIATE", _BEGIN_ATTEMPTS):
                    yield Sql(conn, None, format_style=False)
            except sqlite3.Error as exc:
                raise database_error(self.path, exc) from None

    def _sql(self, work: Any) -> Any:
        with self._lock:
            conn = self._connection()
            try:
                return work(Sql(conn, None, format_style=False))
            except sqlite3.Error as exc:
                raise database_error(self.path, exc) from None

    def _search(self, search: str) -> tuple[str, list[object]]:
        """The trigram index's MATCH (three characters or more), else LIKE over the columns."""
        if self._search_index and len(search) >= TRIGRAM:
            match = "rowid IN (SELECT rowid FROM entries_search WHERE entries_search MATCH ?)"
            return match, ['"' + search.replace('"', '""') + '"']
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        likes = " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in SEARCH_COLUMNS)
        return f"({likes})", [pattern] * len(SEARCH_COLUMNS)

    # --- reading: a page is found in two steps ---------------------------------------------
    # The row ids of the page from an index (every sort the history offers has one, in both
    # directions), then the rows themselves. Pages past the middle are read from the other
    # end, so the last page of 100,000 entries costs what the first does.
    def _page(
        self, query: Query, column: str, descending: bool, size: int, offset: int
    ) -> list[JournalEntry]:
        # Every sort column has an index in both directions (see `schema.SCHEMA_V2`).
        way = "DESC" if descending else "ASC"
        if column != "credits" or descending:  # NULL is the smallest: last when descending
            return self._rows(self._page_ids(query, "", natural_order(column, way), size, offset))
        # Ascending with NULLs last: the valued part, then the rest (each an index order).
        valued = "credits IS NOT NULL"
        ids = self._page_ids(query, valued, natural_order(column, way), size, offset)
        if size < 0 or len(ids) < size:
            before = offset if ids else self._count_where(query, valued)
            rest = -1 if size < 0 else size - len(ids)
            order = natural_order("sort_ts", way)
            ids += self._page_ids(query, "credits IS NULL", order, rest, max(0, offset - before))
        return self._rows(ids)

    def _page_ids(self, query: Query, extra: str, order: str, limit: int, offset: int) -> list[int]:
        """Row ids of one page; a page nearer the end is read backwards from the end."""
        clause, params = self._where(query, extra)
        if limit >= 0 and offset > _FAR_OFFSET:
            total = self._count_where(query, extra)
            if offset > total // 2:
                start = total - offset - limit
                size = limit + min(0, start)
                if size <= 0:
                    return []
                flip = {"ASC": "DESC", "DESC": "ASC"}
                backwards = ", ".join(
                    f"{column} {flip[way]}"
                    for column, way in (term.split(" ") for term in order.split(", "))
                )
                rows = self._read(
                    f"SELECT rowid FROM entries{clause} ORDER BY {backwards} LIMIT ? OFFSET ?",
                    [*params, size, max(0, start)],
                )
                return [int(r[0]) for r in reversed(rows)]
        rows = self._read(
            f"SELECT rowid FROM entries{clause} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [int(r[0]) for r in rows]

    def _count_where(self, query: Query, extra: str) -> int:
        if not extra:
            return self.count(query)
        clause, params = self._where(query, extra)
        return int(self._read(f"SELECT count(*) FROM entries{clause}", params)[0][0])

    def _rows(self, ids: Sequence[int]) -> list[JournalEntry]:
        """The entries of these row ids, in this order."""
        query = f"SELECT rowid, {self._ENTRY} FROM entries x WHERE rowid"
        rows = self._sql(lambda sql: self._among(sql, query, ids))
        found = {int(row[0]): self._entry(row[1:]) for row in rows}
        return [found[i] for i in ids if i in found]

    def _aggregate(
        self, query: Query, at_most: int | None = None
    ) -> list[tuple[str, int, float]] | None:
        """(state, count, credits) over the filtered set: from `totals` when it can answer."""
        capped: tuple[str, list[object]] | None = None
        if query.facets_only:
            clauses, params = facets(query)
            clause = " WHERE " + " AND ".join(["n > 0", *clauses])
            sql = f"SELECT state, sum(n), total(credits) FROM totals{clause} GROUP BY state"
        else:
            clause, params = self._where(query)
            sql = f"SELECT state, count(*), total(credits) FROM entries{clause} GROUP BY state"
            if at_most is not None:  # counted to the end only when not more
                sample = f"SELECT 1 FROM entries{clause} LIMIT {int(at_most) + 1}"
                capped = (f"SELECT count(*) > {int(at_most)} FROM ({sample})", list(params))
        with self._lock:
            version = self._read("PRAGMA data_version")[0][0]
            key = (sql, tuple(params), capped, version, self._connection().total_changes)
            cached = self._aggregate_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            rows: list[tuple[str, int, float]] | None = None
            if capped is None or not self._read(*capped)[0][0]:
                rows = [(str(s), int(n), float(c)) for s, n, c in self._read(sql, params) if n]
            self._aggregate_cache = (key, rows)
            return rows
