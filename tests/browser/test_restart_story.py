"""Issue 11's "done when", as a new user lives it in JupyterLab + Chromium.

With no token (the embedded sandbox) and one KITTA_HOME for every kernel: run the
quickstart and watch its video, restart the kernel from the Kernel menu (the
in-process sandbox goes with it), then run the history notebook in a new kernel:
every earlier task is listed as succeeded, its card plays the video, and `get()`
of the earlier id answers from a sandbox on another port.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.lab import (
    REPO_ROOT,
    LabServer,
    cell_states,
    cell_text,
    check_video_plays,
    output_area,
    poll,
    run_all_cells,
    wait_for_kernel_idle,
)

pytestmark = pytest.mark.browser

RUN_ALL_TIMEOUT_MS = 300_000
TASK_ID = re.compile(r"lip_task_[A-Za-z0-9_-]+")
SANDBOX_PORT = re.compile(r"http://127\.0\.0\.1:(\d+)/")
TABLE = ".kitta-history-table"


@pytest.fixture(scope="module")
def story_lab(
    lab_factory: Callable[..., LabServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabServer]:
    home = tmp_path_factory.mktemp("kitta-home")  # outlives every kernel of this module
    server = lab_factory(
        env={
            "KITTA_API_TOKEN": None,
            "KITTA_BASE_URL": None,
            "KITTA_HOME": str(home),
            "KITTA_SANDBOX_TIME_SCALE": "0.2",
        }
    )
    yield server
    server.stop()


def all_output_text(page: Any) -> str:
    states = cell_states(page)
    return "\n".join(cell_text(page, s["index"]) for s in states if s["type"] == "code")


def restart_kernel_from_menu(page: Any) -> None:
    """Kernel → Restart Kernel… → Restart, then wait for the fresh kernel to be idle."""
    page.evaluate(
        """() => {
          const panel = window.jupyterapp.shell.currentWidget;
          window.__kittaRestarted = false;
          panel.sessionContext.statusChanged.connect((_, status) => {
            if (status === 'restarting' || status === 'autorestarting') {
              window.__kittaRestarted = true;
            }
          });
        }"""
    )
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel…").first.click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    page.wait_for_function("() => window.__kittaRestarted === true", timeout=60_000)
    wait_for_kernel_idle(page)


def history_notebook(tmp_path: Path, earlier_id: str) -> Path:
    """05_task_history plus one cell a user would add: the earlier task, fetched again."""
    notebook = nbformat.read(REPO_ROOT / "notebooks" / "05_task_history.ipynb", as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            f'again = client.lip_sync.get("{earlier_id}")\n'
            'print("status:", again.status)\n'
            'print("sandbox:", client.base_url)'
        )
    )
    path = tmp_path / "05_task_history.ipynb"
    nbformat.write(notebook, path)
    return path


def row_index(history: Any, task_id: str) -> int:
    """The row of `task_id` in the table, or -1 (text, not layout: cells may be off-screen)."""
    ids = [t.strip() for t in history.locator(f"{TABLE} .kitta-history-open").all_text_contents()]
    return ids.index(task_id) if task_id in ids else -1


def test_quickstart_then_restart_then_history_plays_the_earlier_result(
    open_notebook: Callable[..., Any],
    story_lab: LabServer,
    console_errors: list[str],
    dialog_guard: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    # 1. The quickstart, Run All: its finished card plays the result.
    page = open_notebook(REPO_ROOT / "notebooks" / "01_quickstart.ipynb", lab=story_lab)
    run_all_cells(page, RUN_ALL_TIMEOUT_MS)
    finished = output_area(page, 10)
    expect(finished.locator(".kitta-badge").first).to_have_attribute(
        "data-status", "succeeded", timeout=60_000
    )
    info = check_video_plays(page, finished.locator("video").first, timeout_ms=30_000)
    assert info["readyState"] >= 2 and info["currentTime"] > 0, info
    earlier_ids = sorted(set(TASK_ID.findall(cell_text(page, 6) + cell_text(page, 10))))
    assert len(earlier_ids) == 1, earlier_ids
    ports = set(SANDBOX_PORT.findall(all_output_text(page)))
    assert ports, "the quickstart shows no sandbox URL"

    # 2. Kernel → Restart Kernel: the in-process sandbox is gone.
    restart_kernel_from_menu(page)

    # 3. The history notebook, in a new kernel with a new sandbox.
    page = open_notebook(history_notebook(tmp_path, earlier_ids[0]), lab=story_lab)
    run_all_cells(page, RUN_ALL_TIMEOUT_MS)
    last = cell_states(page)[-1]["index"]
    fetched = cell_text(page, last)
    assert "status: succeeded" in fetched, fetched
    new_port = SANDBOX_PORT.search(fetched)
    assert new_port and new_port.group(1) not in ports, (fetched, ports)

    history = page.locator(".kitta-history.widget-vbox").first
    history.scroll_into_view_if_needed()
    expect(history).to_be_visible(timeout=30_000)
    for task_id in earlier_ids:
        poll(
            lambda task_id=task_id: row_index(history, task_id) >= 0,
            timeout=60,
            message=f"{task_id} listed in the history",
        )
        index = row_index(history, task_id)
        badge = history.locator(f"{TABLE} .kitta-history-badge").nth(index)
        expect(badge.locator(".kitta-badge")).to_have_attribute("data-status", "succeeded")

        history.locator(f"{TABLE} .kitta-history-open").nth(index).click()
        card = history.locator(".kitta-history-card")
        expect(card).to_contain_text(task_id, timeout=30_000)
        video = card.locator("video")
        expect(video).to_have_count(1, timeout=30_000)
        info = check_video_plays(page, video, timeout_ms=30_000)
        assert info["readyState"] >= 2 and info["currentTime"] > 0.2, info
        assert info["width"] > 0 and info["height"] > 0, info
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
