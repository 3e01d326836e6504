"""Every notebook in notebooks/ runs top to bottom in a fresh kernel.

Run twice over: against the embedded sandbox (no token, as a new user would
start), and as if against the real service (a token set, the base URL of a
separate sandbox standing in for it), where the executed copy, its widget
state and its outputs must not contain the token anywhere.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kitta_notebook.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 180


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    copy = workdir / path.name
    shutil.copy(path, copy)
    notebook = nbformat.read(copy, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        store_widget_state=True,
    )
    client.execute()
    nbformat.write(notebook, copy)
    return notebook


def errors_in(notebook: nbformat.NotebookNode) -> list[str]:
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"{output.get('ename')}: {output.get('evalue')}")
    return found


@pytest.fixture
def fast_sandbox_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITTA_SANDBOX_TIME_SCALE", "0.1")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_against_the_embedded_sandbox(
    path: Path, tmp_path: Path, fast_sandbox_env: None
) -> None:
    notebook = execute(path, tmp_path)
    assert errors_in(notebook) == []
    outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
    assert outputs, "the notebook produced no output at all"


@pytest.fixture
def stand_in_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A separate sandbox playing the real service, reached with a canary token."""
    canary = "kitta-canary-" + secrets.token_hex(12)
    with Sandbox(accounts={canary: 10_000_000}, pro_tokens=[canary], time_scale=0.1) as sb:
        monkeypatch.setenv("KITTA_API_TOKEN", canary)
        monkeypatch.setenv("KITTA_BASE_URL", sb.base_url)
        samples = sb.samples
        monkeypatch.setenv("KITTA_SAMPLE_VIDEO_URL", samples["video"])
        monkeypatch.setenv("KITTA_SAMPLE_AUDIO_URL", samples["audio"])
        monkeypatch.setenv("KITTA_SAMPLE_IMAGE_URL", samples["image"])
        monkeypatch.setenv("KITTA_SAMPLE_REFERENCE_IMAGE_URL", samples["reference_image"])
        # Read by 03_batch_localization.ipynb for its second language track.
        monkeypatch.setenv("KITTA_SAMPLE_AUDIO_ZH_URL", samples["audio_zh"])
        yield canary


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_with_a_token_and_never_shows_it(
    path: Path, tmp_path: Path, stand_in_service: str
) -> None:
    source = path.read_text(encoding="utf-8")
    assert stand_in_service not in source
    notebook = execute(path, tmp_path)
    assert errors_in(notebook) == []
    saved = (tmp_path / path.name).read_text(encoding="utf-8")
    assert stand_in_service not in saved
    assert stand_in_service not in json.dumps(notebook.metadata.get("widgets", {}))
    for leftover in tmp_path.rglob("*"):
        if leftover.is_file() and leftover.stat().st_size < 50_000_000:
            assert stand_in_service.encode() not in leftover.read_bytes(), leftover


def test_notebooks_in_git_carry_no_outputs_or_widget_state() -> None:
    assert NOTEBOOKS, "notebooks/ is empty"
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert "widgets" not in notebook.metadata, path.name
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} has saved outputs"
                assert cell.execution_count is None, f"{path.name} has execution counts"
