"""The throwaway cluster of `tests/plugins/postgres.py`: a database per test, a role that must
give its password."""

from __future__ import annotations

import pytest

from tests.plugins.postgres import PostgresCluster

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
