"""A sandbox per test module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from batch_helpers import RICH

from kitta_notebook.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts={RICH: 100_000_000}, time_scale=0.1) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every sandbox test starts with no faults and zeroed counters."""
    if "sandbox" not in request.fixturenames:
        yield
        return
    sb: Sandbox = request.getfixturevalue("sandbox")
    sb.faults = None
    sb.stats.reset()
    yield
    sb.faults = None
