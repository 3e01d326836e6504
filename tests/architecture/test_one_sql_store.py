"""The two journal stores write each query once.

`history/sql.py`'s `SqlStore` holds every query the SQLite and the PostgreSQL stores
share; a store overrides only where its database really differs. A query written again
in a store is the twin this guards against (it drifts from the other store's).
"""

from __future__ import annotations

import pytest

from kitta_notebook.history.journal import Journal
from kitta_notebook.history.postgres import PostgresJournal
from kitta_notebook.history.sql import SqlStore

# Where the databases differ: the connection and its errors, the writers' turn, the URL
# search, the scope of a row, an owner's liveness, how a keyed create's statements travel.
DIALECT = {"_sql", "_write", "_search", "_scope", "_owner", "_at_once", "_batched"}


@pytest.mark.parametrize("store", [Journal, PostgresJournal])
def test_a_store_overrides_only_where_its_database_differs(store: type[SqlStore]) -> None:
    shared = {
        name
        for name, member in vars(SqlStore).items()
        if not name.startswith("__") and (callable(member) or isinstance(member, property))
    }
    written_again = (shared & set(vars(store))) - DIALECT
    assert not written_again, f"{store.__name__} writes shared queries again: {written_again}"
    assert shared >= {"record_created", "claim_key", "get", "unresolved", "_where", "rows"}
