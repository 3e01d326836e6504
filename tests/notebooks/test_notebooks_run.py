"""Every notebook in notebooks/ runs top to bottom in a fresh kernel.

Run twice over: against the embedded sandbox (no token, as a new user would
start), and as if against the real service (a token set, the base URL of a
separate sandbox standing in for it), where the executed copy, its widget
state and its outputs must not contain the token anywhere.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
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


def outputs_of(notebook: nbformat.NotebookNode, source_start: str) -> str:
    """The text/plain outputs of the code cell whose source starts with `source_start`."""
    cell = next(c for c in notebook.cells if c.source.startswith(source_start))
    return "\n".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def check_quickstart(notebook: nbformat.NotebookNode) -> None:
    """The pending card already shows the charge the finished task gets (the probed
    duration prices it, not a rounded literal)."""
    pending = re.findall(r"credits: (\S+)", outputs_of(notebook, "task = client.lip_sync.create"))
    final = re.findall(r"credits: (\S+)", outputs_of(notebook, "await watcher.wait()"))
    assert pending and pending == final, (pending, final)


# Checks of what one notebook showed, beyond running without errors.
NOTEBOOK_CHECKS = {"01_quickstart.ipynb": check_quickstart}


def git_ignored(paths: list[str]) -> set[str]:
    """Which of these repository paths git ignores (by the repository's .gitignore)."""
    if not paths:
        return set()
    found = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode not in (0, 1):
        pytest.skip(f"git check-ignore is not usable here: {found.stderr.strip()}")
    return set(found.stdout.split())


def leftovers(workdir: Path, notebook: Path) -> list[str]:
    """Files a run left beside the notebook, as repository paths under notebooks/."""
    return sorted(
        f"notebooks/{path.relative_to(workdir).as_posix()}"
        for path in workdir.rglob("*")
        if path.is_file() and path.name != notebook.name
    )


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
    NOTEBOOK_CHECKS.get(path.name, lambda _: None)(notebook)
    # Run from notebooks/ (as `jupyter lab` there would), nothing it writes may show in git.
    written = leftovers(tmp_path, path)
    assert set(written) <= git_ignored(written), set(written) - git_ignored(written)


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


def tracked_notebooks() -> list[Path]:
    """Every notebook git tracks (notebooks/ and the browser tests' own), else notebooks/."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "*.ipynb"], capture_output=True, text=True
    )
    names = listed.stdout.split() if listed.returncode == 0 else []
    return [ROOT / name for name in names] or NOTEBOOKS


def test_notebooks_in_git_carry_no_outputs_or_widget_state() -> None:
    """`make test` fails when a demo's autosave left outputs in a tracked notebook."""
    assert NOTEBOOKS, "notebooks/ is empty"
    for path in tracked_notebooks():
        notebook = nbformat.read(path, as_version=4)
        assert "widgets" not in notebook.metadata, path.name
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} has saved outputs"
                assert cell.execution_count is None, f"{path.name} has execution counts"
