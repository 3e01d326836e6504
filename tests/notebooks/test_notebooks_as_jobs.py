"""The workflow notebooks run as jobs: a cell tagged `parameters` that papermill replaces.

One real `papermill` run of 03 with other parameters, against the embedded sandbox its
kernel starts (no token): the run must use them, not the notebook's defaults.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kitta_notebook.sandbox.samples import SAMPLES_DIR

ROOT = Path(__file__).resolve().parents[2]
JOBS = ("03_batch_localization.ipynb", "05_task_history.ipynb", "07_local_media.ipynb")
RUN_TIMEOUT = 600


def parameters_cell(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged parameters"
    return tagged[0]


@pytest.mark.parametrize("name", JOBS)
def test_a_workflow_notebook_has_one_parameters_cell_of_plain_assignments(name: str) -> None:
    """Papermill injects its values after this cell: it may only assign literals."""
    cell = parameters_cell(name)
    assert cell.cell_type == "code"
    tree = ast.parse(cell.source)
    assert tree.body, f"{name}: the parameters cell is empty"
    for statement in tree.body:
        assert isinstance(statement, ast.Assign), ast.unparse(statement)
        ast.literal_eval(statement.value)  # raises unless a literal


def cell_text(notebook: nbformat.NotebookNode, start: str) -> str:
    """The printed text of the code cell whose source starts with `start`."""
    cell = next(c for c in notebook.cells if c.source.startswith(start))
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.mark.slow
def test_papermill_runs_03_with_other_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITTA_SANDBOX_TIME_SCALE", "0.1")
    out = tmp_path / "spring.ipynb"
    tracks = {"ja": str(SAMPLES_DIR / "speech-zh.wav"), "en": str(SAMPLES_DIR / "speech-en.wav")}
    command = [
        sys.executable, "-m", "papermill",
        str(ROOT / "notebooks" / "03_batch_localization.ipynb"), str(out),
        "--cwd", str(tmp_path), "--kernel", "python3", "--no-progress-bar",
        "-p", "CLIP", "spring-sale",
        "-p", "SANDBOX_FAILS_ONE", "False",
        "-p", "TIMEOUT", "300",
        "-y", "TRACKS: " + json.dumps(tracks),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]

    notebook = nbformat.read(out, as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "spring-sale" in injected[0].source
    checked = cell_text(notebook, "from kitta_notebook import ValidationError")
    assert checked.split() == ["ja", "ready", "en", "ready"]  # the tracks given, not the samples
    retried = cell_text(notebook, "retry_langs, not_retried")
    assert "retrying: nothing failed" in retried  # no failure on purpose in this run
    summary = cell_text(notebook, "from kitta_notebook.display.gallery import Gallery")
    assert [line.split()[:2] for line in summary.splitlines()[:2]] == [
        ["ja", "succeeded"],
        ["en", "succeeded"],
    ]
    shown = "".join(
        str(o.get("data", {}).get("text/html", ""))
        for c in notebook.cells
        for o in c.get("outputs", [])
    )
    assert "spring-sale/ja" in shown and "demo-clip" not in shown  # the gallery's keys
