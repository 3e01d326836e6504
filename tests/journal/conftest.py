"""The journal suite's stores: a store-level test takes `journal_store` and runs twice.

Once on the SQLite file under the test's own `KITTA_HOME`, once on PostgreSQL (a fresh
database on the throwaway cluster of `tests/plugins/postgres.py`, named by
`KITTA_JOURNAL_URL`), so every behaviour of the SQLite journal is checked on both stores by
the same test. The PostgreSQL run is in `make test`'s tier, not the fast one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.journal.journal_helpers import REOPENED

STORES = ("sqlite", pytest.param("postgres", marks=pytest.mark.slow))


@pytest.fixture(params=STORES)
def journal_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which store this run's clients journal into: "sqlite" or "postgres"."""
    if request.param != "postgres":
        yield str(request.param)
        return
    url = request.getfixturevalue("postgres_db")
    monkeypatch.setenv("KITTA_JOURNAL_URL", url)
    yield "postgres"
    from kitta_notebook.history import postgres

    # Close this database's connections before it is dropped (the clients' shared stores too).
    for store in [*REOPENED, *list(postgres._REGISTRY.values())]:
        if isinstance(store, postgres.PostgresJournal) and store._url == url:
            store.close()
    REOPENED.clear()
