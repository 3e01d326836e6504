"""The batch tests use the session's shared sandbox (reset before each test) with
their own rich account."""

from __future__ import annotations

import pytest

from kitta_notebook.sandbox import Sandbox
from tests.batch.batch_helpers import RICH


@pytest.fixture
def sandbox(sandbox: Sandbox) -> Sandbox:
    """The shared sandbox, counters zeroed and faults off (tests/plugins/sandbox.py)."""
    sandbox.add_account(RICH, 100_000_000)
    return sandbox
