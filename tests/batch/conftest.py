"""The batch tests use the session's shared sandbox (reset before each test) with
their own rich account."""

from __future__ import annotations

import pytest
from batch_helpers import RICH

from kitta_notebook.sandbox import Sandbox


@pytest.fixture
def sandbox(sandbox: Sandbox) -> Sandbox:
    """The shared sandbox, counters zeroed and faults off (see tests/conftest.py)."""
    sandbox.add_account(RICH, 100_000_000)
    return sandbox
