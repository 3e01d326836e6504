"""A saved, executed notebook opened later (untrusted: its outputs are sanitized)
still shows the task cards, their styles and a playable result video.

This is how a notebook looks when a colleague opens it from git: JupyterLab
has not signed it, so every HTML output goes through its sanitizer.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.browser.lab import REPO_ROOT, check_video_plays, poll

pytestmark = pytest.mark.browser


def executed_quickstart(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KITTA_SANDBOX_TIME_SCALE", "0.1")
    path = workdir / "saved_quickstart.ipynb"
    shutil.copy(REPO_ROOT / "notebooks" / "01_quickstart.ipynb", path)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    nbformat.write(notebook, path)
    return path


def test_an_untrusted_saved_notebook_keeps_cards_and_video(
    open_notebook: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, console_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    saved = executed_quickstart(tmp_path, monkeypatch)
    page = open_notebook(saved, wait_kernel=False)
    trusted = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(4).trusted"
    )
    assert trusted is False, "the test needs an untrusted notebook"

    cards = page.locator(".jp-OutputArea-output .kitta-task")
    poll(lambda: cards.count() >= 3, timeout=30, message="task cards were not rendered")
    finished = cards.filter(has=page.locator("video"))
    expect(finished.first).to_be_visible(timeout=30_000)
    expect(finished.first).to_contain_text("succeeded")
    styled = finished.first.evaluate("e => getComputedStyle(e).borderTopStyle")
    assert styled == "solid", "inline styles were stripped from the card"
    video = finished.first.locator("video")
    expect(video).to_have_count(1, timeout=30_000)
    info = check_video_plays(page, video, duration=None)
    assert info["readyState"] >= 2 and info["currentTime"] > 0, info
