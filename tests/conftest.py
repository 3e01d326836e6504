"""Fixtures shared by every test: a private KITTA_HOME and no real credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the real-browser tests last.

    Playwright's sync API keeps its event loop running in the main thread for
    as long as the session-scoped browser lives; any test after it that calls
    `asyncio.run()` or looks for a running loop would see that loop.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
