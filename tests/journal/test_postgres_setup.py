"""`python -m kitta_notebook.history setup --to URL`: the owner's one command that creates
(or migrates) the team journal's tables, as the README's least-privilege roles have it.

A real cluster and real processes: the README's database and roles, `setup` run twice as
the owner (the second changes nothing), then the team's role records and reads but may not
create the tables itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import kitta_notebook
from kitta_notebook.errors import JournalError
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.postgres import SCHEMA_VERSION, PostgresJournal
from tests.plugins.postgres import PostgresCluster

pytestmark = pytest.mark.slow

REPO = Path(kitta_notebook.__file__).resolve().parent.parent


def _history(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kitta_notebook.history", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def _readme_roles(cluster: PostgresCluster) -> tuple[str, str]:
    """The README's database and roles (its SQL, with fresh names): (owner URL, team URL)."""
    owner = cluster.login_role("owner-password")
    team = cluster.login_role("team-password")
    database = f"kitta_{uuid.uuid4().hex[:8]}"
    cluster.execute(
        f'CREATE DATABASE "{database}" OWNER "{owner}"',
        f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC',
        f'GRANT CONNECT ON DATABASE "{database}" TO "{team}"',
    )
    cluster.execute(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f'ALTER SCHEMA public OWNER TO "{owner}"',
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        f'GRANT USAGE ON SCHEMA public TO "{team}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{team}"',
        database=database,
    )
    return (
        cluster.url(database, owner, "owner-password"),
        cluster.url(database, team, "team-password"),
    )


def test_the_owner_sets_up_the_tables_once_and_the_team_role_uses_them(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    owner_url, team_url = _readme_roles(postgres_cluster)
    with pytest.raises(
        JournalError, match=r"(?s)refused this role.*history setup --to"
    ):  # not set up yet
        PostgresJournal(team_url, account="a" * 12).count()
    for _ in range(2):  # idempotent
        done = _history("setup", "--to", owner_url)
        assert done.returncode == 0, done.stderr
        assert f"schema version {SCHEMA_VERSION}, with the URL search index" in done.stdout
        assert "owner-password" not in done.stdout + done.stderr
    team = PostgresJournal(team_url, account="a" * 12)
    try:
        team.record_seen({"taskId": "lip_t1", "status": "succeeded"})
        team.set_labels("lip_t1", ["kept"])
        assert team.get("lip_t1") is not None and team.has_search_index
    finally:
        team.close()
    mine = Journal.for_account("https://api.example.com", "tok-1", home=tmp_path)
    mine.record_seen({"taskId": "lip_mine", "status": "succeeded"})
    mine.set_labels("lip_mine", ["moved"])
    mine.close()
    for copied in ("copied 1 entries", "copied 0 entries"):  # the README's copy, twice
        done = _history("copy", "--to", team_url, "--from", str(mine.path))
        assert done.returncode == 0 and copied in done.stdout, done.stderr


def test_setup_refuses_what_is_not_a_postgres_url() -> None:
    done = _history("setup", "--to", "sqlite:///x")
    assert done.returncode == 1 and "postgresql://" in done.stderr


def test_copy_from_an_empty_file_refuses_and_leaves_it_empty(tmp_path: Path) -> None:
    empty = tmp_path / "journal.sqlite3"
    empty.touch()
    done = _history("copy", "--to", "postgresql://kitta@127.0.0.1:1/db", "--from", str(empty))
    assert done.returncode == 1 and "no journal at" in done.stderr
    assert empty.stat().st_size == 0
