"""A bounded fault soak (40 tasks per mode): lose no task, bill nothing twice.

The logic lives in `benchmarks/soak.py` (which runs 300 tasks per mode and
writes `benchmarks/soak_results.json`); see its docstring for the invariants.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict
from types import ModuleType

import pytest

from tests.reliability.reliability_helpers import FIGURES, REPO_ROOT

pytestmark = pytest.mark.slow

TASKS = 40


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "kitta_soak", REPO_ROOT / "benchmarks" / "soak.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", ["plain", "batch"])
def test_fault_soak_loses_nothing_and_bills_nothing_twice(mode: str) -> None:
    soak = load_soak()
    if mode == "batch":
        pytest.importorskip("kitta_notebook.batch")
    report = soak.run_soak(TASKS, mode=mode, seed=4242, wait_timeout=60.0)
    details = asdict(report)
    assert report.problems() == [], details
    # The faults really happened, and some creates really ended with an unknown outcome.
    assert sum(report.faults_injected.values()) >= TASKS // 2, details
    assert report.unknown_outcome > 0, details
    assert report.tasks_on_server == report.created_returned + report.unknown_matched, details
    assert report.tasks_on_server <= TASKS, details
    section = "soak"
    FIGURES.add(section, f"{mode}: tasks requested", TASKS)
    FIGURES.add(section, f"{mode}: tasks created on the server", report.tasks_on_server)
    FIGURES.add(section, f"{mode}: create requests sent / received", report.create_requests_sent)
    for kind, count in sorted(report.faults_injected.items()):
        FIGURES.add(section, f"faults injected: {kind}", count)
    FIGURES.add(section, "faults injected: total", sum(report.faults_injected.values()))
    FIGURES.add(section, "creates with unknown outcome (may_have_created)", report.unknown_outcome)
    FIGURES.add(section, "unknown creates matched by reconcile", report.unknown_matched)
    FIGURES.add(section, "lost tasks found", report.lost_tasks)
    FIGURES.add(section, "duplicate (double-billed) tasks found", report.duplicate_tasks)
    FIGURES.add(section, "unresolved unknown creates found", report.unknown_unresolved)
    FIGURES.add(section, "tasks not terminal found", report.not_terminal)
    FIGURES.add(section, "unhandled exceptions found", report.unhandled_exceptions)
