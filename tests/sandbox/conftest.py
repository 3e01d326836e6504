"""Fixtures for the sandbox contract suite: a real server on 127.0.0.1, raw httpx.

The suite is written from the API contract, row by row; it talks HTTP only
(never to the sandbox's internals) wherever the contract is explicit, and
checks the sandbox's documented choices where the contract is silent.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import httpx
import pytest

from kitta_notebook.sandbox import Sandbox
from tests.sandbox.sandbox_helpers import ALICE, BOB, POOR, api_client

_counter = itertools.count(1)


@pytest.fixture
def sandbox(sandbox: Sandbox) -> Sandbox:
    """The shared sandbox (tests/plugins/sandbox.py) with the contract tests' accounts; tests
    that change faults or settings start their own."""
    sandbox.add_account(ALICE, 10_000_000, pro=True)
    sandbox.add_account(BOB, 10_000_000)
    sandbox.add_account(POOR, 50)
    return sandbox


@pytest.fixture()
def alice(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with api_client(sandbox, ALICE) as client:
        yield client


@pytest.fixture()
def bob(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with api_client(sandbox, BOB) as client:
        yield client


@pytest.fixture()
def fresh(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client of a brand-new account (no tasks, 1,000,000 credits); its token is in
    the ``X-Test-Token`` header (which the sandbox ignores)."""
    token = f"fresh-{next(_counter)}-{time.monotonic_ns()}"
    sandbox.add_account(token, 1_000_000)
    with api_client(sandbox, token) as client:
        client.headers["X-Test-Token"] = token
        yield client
