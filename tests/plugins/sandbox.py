"""The one sandbox the tests share: a real server over real HTTP on 127.0.0.1.

Registered by `tests/conftest.py`. A suite folder that needs its own accounts
overrides `sandbox` in its conftest and adds them (`sandbox.add_account`, kept
as is when it exists); a test that needs other server settings (a clock offset,
a data folder, published prices off) starts its own `Sandbox`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kitta_notebook.sandbox import Sandbox

TIME_SCALE = 0.05
"""Every wait of the shared sandbox takes 5% of its real time."""


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for the whole session, started at the first test that asks for it."""
    with Sandbox(accounts={"sandbox-token": 1_000_000}, time_scale=TIME_SCALE) as sb:
        yield sb


@pytest.fixture
def sandbox(shared_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The shared sandbox with no faults and zeroed counters, for one test."""
    shared_sandbox.faults = None
    shared_sandbox.stats.reset()
    yield shared_sandbox
    shared_sandbox.faults = None
