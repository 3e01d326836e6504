"""Fixtures for the widget tests: one real sandbox over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kitta_notebook.sandbox import Sandbox

TOKEN = "widget-tok"  # test_widget_panel.py uses the same names
POOR_TOKEN = "widget-poor"
TIME_SCALE = 0.05


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts={TOKEN: 1_000_000, POOR_TOKEN: 5}, time_scale=TIME_SCALE) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox with faults off and counters at zero for this test."""
    sandbox.faults = None
    sandbox.stats.reset()
    yield sandbox
    sandbox.faults = None
