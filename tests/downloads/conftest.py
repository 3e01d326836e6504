"""Fixtures for the download tests: a hostile media host and the shared sandbox, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kitta_notebook import KittaClient
from kitta_notebook.sandbox import Sandbox
from tests.downloads.media_host import MediaHost, media_host

TOKEN = "tok-download-tests"


@pytest.fixture(scope="module")
def host() -> Iterator[MediaHost]:
    with media_host() as running:
        yield running


@pytest.fixture
def sandbox(sandbox: Sandbox) -> Sandbox:
    """The shared sandbox (tests/plugins/sandbox.py) with the download tests' account."""
    sandbox.add_account(TOKEN, 10_000_000)
    return sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[KittaClient]:
    with sandbox.client(TOKEN) as c:
        yield c
