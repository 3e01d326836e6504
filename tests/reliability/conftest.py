"""Fixtures of the reliability suite: hostile servers on 127.0.0.1, figures.

Set ``KITTA_RELIABILITY_FIGURES=<path>`` to write the collected counts (inputs
tried, faults injected, hits found) as Markdown when the session ends, e.g.
``tests/reliability/FIGURES.md`` for the README's "Reliability" section.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.hostile_server import HostileServer
from tests.reliability.reliability_helpers import FIGURES, REPO_ROOT, render_figures

FIGURES_ENV = "KITTA_RELIABILITY_FIGURES"


@pytest.fixture(scope="session", autouse=True)
def _write_figures() -> Iterator[None]:
    yield
    target = os.environ.get(FIGURES_ENV)
    if not target:
        return
    soak_file = REPO_ROOT / "benchmarks" / "soak_results.json"
    soak = json.loads(soak_file.read_text()) if soak_file.is_file() else None
    Path(target).write_text(render_figures(FIGURES.snapshot(), soak), encoding="utf-8")


@pytest.fixture(scope="session")
def recorder() -> Iterator[HostileServer]:
    """A second origin: it serves media and records every request it gets."""
    with HostileServer() as server:
        yield server


@pytest.fixture(scope="session")
def hostile(recorder: HostileServer) -> Iterator[HostileServer]:
    """The hostile API server; its redirects point at `recorder` (another origin)."""
    with HostileServer(redirect_to=recorder.origin, drip_interval=0.1, drip_max_seconds=6) as s:
        yield s
