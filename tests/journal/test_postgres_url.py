"""A journal URL whose password is not percent-encoded is refused before anything is sent,
and no piece of the password shows in the error, a warning or a repr.

Unencoded, an '@', '/', '#' or space in the password makes the driver and the redaction
read the URL differently (part of the password taken for the host or the database), so
pieces of it leaked into "could not be reached" messages. Real cluster, real sandbox.
"""

from __future__ import annotations

import warnings
from urllib.parse import quote

import pytest

from kitta_notebook import KittaClient
from kitta_notebook.errors import JournalError
from kitta_notebook.sandbox import Sandbox
from tests.plugins.postgres import PostgresCluster

pytestmark = pytest.mark.slow


def _pieces(password: str) -> list[str]:
    """Every 3-character piece of the password (a leak of any part of it is a leak)."""
    return [password[i : i + 3] for i in range(len(password) - 2)]


@pytest.mark.parametrize("password", ["pw@Secret9", "pw/Secret9", "pw#Secret9", "pw Secret9"])
def test_an_unencoded_password_is_refused_without_showing_it(
    postgres_cluster: PostgresCluster, sandbox: Sandbox, password: str
) -> None:
    role = postgres_cluster.login_role(password, superuser=True)
    host = f"{postgres_cluster.host}:{postgres_cluster.port}"
    raw = f"postgresql://{role}:{password}@{host}/postgres"
    client = KittaClient(sandbox.token, base_url=sandbox.base_url, journal=raw)
    with pytest.raises(JournalError, match="percent-encode") as refused:
        client.lip_sync.create(
            video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
        )
    assert sandbox.stats.creates_accepted == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.lip_sync.list()  # a read records quietly: a warning, not an error
    shown = [str(refused.value), repr(client), *(str(w.message) for w in caught)]
    assert not [p for p in _pieces(password) if any(p in s for s in shown)]
    encoded = f"postgresql://{role}:{quote(password, safe='')}@{host}/postgres"
    client = KittaClient(sandbox.token, base_url=sandbox.base_url, journal=encoded)
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
    )
    assert client.journal is not None and client.journal.get(task.task_id) is not None
    client.journal.close()
