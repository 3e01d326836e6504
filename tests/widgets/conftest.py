"""Fixtures for the widget tests: the shared sandbox over real HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest

from kitta_notebook.sandbox import Sandbox

TOKEN = "widget-tok"  # test_widget_panel.py uses the same names
POOR_TOKEN = "widget-poor"


@pytest.fixture
def sandbox(sandbox: Sandbox) -> Sandbox:
    """The shared sandbox (tests/plugins/sandbox.py), faults off and counters at zero for
    this test, with the widget tests' accounts."""
    sandbox.add_account(TOKEN, 1_000_000)
    sandbox.add_account(POOR_TOKEN, 5)
    return sandbox


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    """The same sandbox under the name the widget tests use."""
    return sandbox
