"""Fixtures shared by every test: a private KITTA_HOME and no real credentials.

The sandbox fixtures are in `tests/plugins/sandbox.py`, the throwaway PostgreSQL cluster in
`tests/plugins/postgres.py`; the test tiers in
`tests/plugins/tiers.py`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = (
    "tests.plugins.sandbox",
    "tests.plugins.postgres",
    "tests.plugins.tiers",
    "pytester",
)


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Each test gets its own journal folder and never sees a real token or base URL."""
    home = tmp_path_factory.mktemp("kitta-home")
    monkeypatch.setenv("KITTA_HOME", str(home))
    monkeypatch.delenv("KITTA_API_TOKEN", raising=False)
    monkeypatch.delenv("KITTA_BASE_URL", raising=False)
    yield home


@pytest.fixture(autouse=True)
def _this_machine_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach no host but this machine: looking up any other name fails at once, as it
    does here after the resolver's timeout (seconds per lookup). IP literals and localhost
    resolve as usual; a test that needs a name to resolve patches `getaddrinfo` itself."""
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_local(host):
            return real_getaddrinfo(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


def _is_local(host: Any) -> bool:
    name = host.decode() if isinstance(host, bytes) else host
    if not name or name == "localhost" or str(name).endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(str(name).strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def _widget_frontend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Widgets refuse to be built where no kernel could show them; tests build them in
    pytest's process as a stand-in for one (`tests/widgets/test_without_widgets.py`
    checks the refusal in real subprocesses)."""
    if request.node.get_closest_marker("real_widget_frontend_check"):
        return
    from kitta_notebook.widgets import _frontend

    monkeypatch.setattr(_frontend, "widget_frontend_available", lambda: True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the real-browser tests last.

    Playwright's sync API keeps its event loop running in the main thread for
    as long as the session-scoped browser lives; any test after it that calls
    `asyncio.run()` or looks for a running loop would see that loop.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
