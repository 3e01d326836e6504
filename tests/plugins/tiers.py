"""The two test tiers: `make check` runs the fast one (`--fast`), `make test` all.

A test is `slow` when it lives in a folder of slow suites (real browsers, notebooks
run in kernels, Binder, packaging, the sandbox server's own contract suite, the
reliability suite's hostile servers, fuzzing and crashes), or when it or a fixture
it uses starts a sandbox, an S3 or PostgreSQL server, a process or a kernel (seen in
their source, so a new test is tiered without a list to keep). The fast tier is then unit tests
and contract tests on `httpx.MockTransport` (or a small HTTP host in the test's own
process), plus the one test marked `smoke` (a sandbox task end to end). `--fast` does
not even import the slow folders; `-m "not slow"` selects the same tests after
collecting everything.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
SLOW_FOLDERS = frozenset({"browser", "notebooks", "binder", "packaging", "reliability", "sandbox"})
STARTS_SOMETHING = re.compile(
    r"\bSandbox\(|\bThreadedMotoServer\b|\bnanio_server\b"
    r"|\bsubprocess\b|\bsys\.executable\b|\bstart_new_kernel\b|\bKernelManager\b"
    r"|\bpostgres_cluster\b"
)


@functools.cache
def _starts_something(function: Callable[..., Any]) -> bool:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return STARTS_SOMETHING.search(source) is not None


def _is_slow(item: pytest.Item) -> bool:
    path = Path(item.path).resolve()
    if TESTS in path.parents and path.relative_to(TESTS).parts[0] in SLOW_FOLDERS:
        return True
    functions = [getattr(item, "function", None)]
    fixture_info = getattr(item, "_fixtureinfo", None)  # the fixtures the test uses, overrides too
    for definitions in getattr(fixture_info, "name2fixturedefs", {}).values():
        functions.extend(definition.func for definition in definitions)
    return any(function is not None and _starts_something(function) for function in functions)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true", help="run the fast tier only (make check)")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not config.getoption("fast") or TESTS not in collection_path.parents:
        return None
    return collection_path.relative_to(TESTS).parts[0] in SLOW_FOLDERS or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = []
    for item in items:
        if item.get_closest_marker("slow"):
            slow.append(item)
        elif not item.get_closest_marker("smoke") and _is_slow(item):
            item.add_marker(pytest.mark.slow)
            slow.append(item)
    if config.getoption("fast") and slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]
