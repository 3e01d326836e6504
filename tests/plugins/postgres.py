"""A throwaway PostgreSQL cluster for the tests: a real server, never a mock.

Registered by `tests/conftest.py`. The session fixture `postgres_cluster` runs `initdb` and
`pg_ctl` from Debian's `postgresql` package (as the `postgres` system user when we are root:
`initdb` refuses root) on a temporary folder, listening on 127.0.0.1 only at a free port, and
stops it at the session's end. `postgres_url` is the URL of its superuser; `postgres_db` a
fresh database per test, so tests never see each other's rows; `postgres_cluster.login_role`
makes a role that must give its password (for the wrong-password tests). Without the server
binaries the tests are skipped with a message, except when `CI` is set: there they fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "kitta"
SHARED_ENV = "KITTA_TEST_POSTGRES"
"""`port:folder` of a cluster that outlives the pytest session (`shared_cluster()`): a
mutation run starts one for the hundreds of sessions it runs, each a fresh process."""
PASSWORD_GROUP = "password_login"
"""Members of this role must give a password over TCP; every other role is trusted."""

HBA = f"""\
local all all trust
host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


def server_bindir() -> Path | None:
    """Where `initdb` and `pg_ctl` are: `pg_config --bindir`, else Debian's versioned folders."""
    candidates: list[str] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True
        )
        candidates.append(found.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running throwaway cluster; `url()` names a database and a role on it."""

    bindir: Path
    folder: Path
    port: int
    host: str = "127.0.0.1"

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@{self.host}:{self.port}/{database}"

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Run statements as the superuser, each in its own transaction (CREATE DATABASE
        cannot run inside one)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement.encode())

    def create_database(self, owner: str = SUPERUSER) -> str:
        """A new empty database with a unique name; returns the name."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        self.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def login_role(self, password: str, *, superuser: bool = False) -> str:
        """A new login role that must give `password` over TCP; returns its name.

        It owns nothing and may not create in `public`: grant it what a test needs."""
        name = f"role_{uuid.uuid4().hex[:12]}"
        literal = password.replace("'", "''")
        power = "SUPERUSER" if superuser else "NOSUPERUSER"
        self.execute(
            f"CREATE ROLE \"{name}\" LOGIN {power} PASSWORD '{literal}' IN ROLE {PASSWORD_GROUP}"
        )
        return name

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run_as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args])


def _run_as_owner(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a server command, as the `postgres` system user when we are root."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL tests need a local server: {reason} (Debian: apt-get install postgresql)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _start(bindir: Path) -> PostgresCluster:
    folder = Path(tempfile.mkdtemp(prefix="kitta-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
    cluster = PostgresCluster(bindir=bindir, folder=folder, port=_free_port())
    data = folder / "data"
    made = _run_as_owner(
        [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8"]
    )
    if made.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
    hba = folder / "pg_hba.conf"
    hba.write_text(HBA)
    if os.geteuid() == 0:
        shutil.chown(hba, user="postgres")
    options = (
        f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1 -c hba_file={hba}"
        " -c fsync=off -c max_connections=200"
    )
    started = cluster._pg_ctl("-o", options, "-l", str(folder / "log"), "-w", "-t", "60", "start")
    if started.returncode != 0:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed:\n{started.stdout}\n{started.stderr}\n{log}")
    cluster.execute(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")
    return cluster


@contextlib.contextmanager
def shared_cluster() -> Iterator[None]:
    """A cluster for every pytest session started meanwhile (through `SHARED_ENV`); nothing
    when the server binaries are missing (the sessions then start or skip as usual)."""
    bindir = server_bindir()
    if bindir is None or os.environ.get(SHARED_ENV):
        yield
        return
    cluster = _start(bindir)
    os.environ[SHARED_ENV] = f"{cluster.port}:{cluster.folder}"
    try:
        yield
    finally:
        del os.environ[SHARED_ENV]
        _stop(cluster)


def _stop(cluster: PostgresCluster) -> None:
    cluster._pg_ctl("-m", "fast", "-w", "stop")
    shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway cluster for the session, started at the first test that asks for it
    (or the shared one named by `SHARED_ENV`, left running)."""
    bindir = server_bindir()
    shared = os.environ.get(SHARED_ENV)
    if shared and bindir is not None:
        port, _, folder = shared.partition(":")
        yield PostgresCluster(bindir=bindir, folder=Path(folder), port=int(port))
        return
    if bindir is None:
        _unavailable("no initdb/pg_ctl found (pg_config --bindir, /usr/lib/postgresql/*/bin)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'kitta-notebook[postgres]')")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _unavailable("running as root needs runuser to start the server as 'postgres'")
    assert bindir is not None
    cluster = _start(bindir)
    try:
        yield cluster
    finally:
        _stop(cluster)


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The superuser's URL on the throwaway cluster's `postgres` database."""
    return postgres_cluster.url()


@pytest.fixture
def postgres_db(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The superuser's URL on a fresh database of its own, dropped after the test."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)
