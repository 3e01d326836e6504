"""The throwaway cluster of `tests/plugins/postgres.py`: a database per test, a role that must
give its password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.postgres import SHARED_ENV, PostgresCluster, shared_cluster

ROOT = Path(__file__).parents[2]

psycopg = pytest.importorskip("psycopg")  # the extra [postgres]


def test_each_test_gets_an_empty_database_of_its_own(postgres_db: str, postgres_url: str) -> None:
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (x int)")
        name = conn.execute("SELECT current_database()").fetchone()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT current_database()").fetchone() != name


def test_a_password_role_is_refused_without_its_password(postgres_cluster: PostgresCluster) -> None:
    role = postgres_cluster.login_role("right-secret")
    with psycopg.connect(postgres_cluster.url(user=role, password="right-secret")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_cluster.url(user=role, password="wrong-secret"))


SESSION_PROBE = f"""
import os

def test_the_session_uses_the_shared_cluster(postgres_db):
    port = os.environ["{SHARED_ENV}"].partition(":")[0]
    assert postgres_db.startswith(f"postgresql://kitta@127.0.0.1:{{port}}/test_")
"""


def test_a_shared_cluster_serves_every_session_started_meanwhile_then_stops(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    """A mutation run's sessions (each a new process) reuse one server, left running."""
    previous = os.environ.pop(SHARED_ENV, None)  # this session's may be a shared one itself
    try:
        with shared_cluster():
            port, _, folder = os.environ[SHARED_ENV].partition(":")
            assert int(port) != postgres_cluster.port and Path(folder).is_dir()
            probe = tmp_path / "test_probe.py"
            probe.write_text(SESSION_PROBE)
            session = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                 "-p", "tests.plugins.postgres", "--rootdir", str(tmp_path), str(probe)],
                cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert session.returncode == 0, session.stdout + session.stderr
            cluster = PostgresCluster(postgres_cluster.bindir, Path(folder), int(port))
            with psycopg.connect(cluster.url(), autocommit=True) as conn:  # still running
                assert conn.execute("SELECT 1").fetchone() == (1,)
        assert SHARED_ENV not in os.environ and not Path(folder).exists()
    finally:
        if previous is not None:
            os.environ[SHARED_ENV] = previous
