"""The HistoryBrowser in a real JupyterLab: filter to failed, open a card, screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import docs_shot, poll, run_all_cells

pytestmark = pytest.mark.browser

TABLE = ".kitta-history-table"


def row_statuses(page: Any) -> list[str]:
    """The status of every row shown, read from the badges' data-status."""
    return list(
        page.eval_on_selector_all(
            f"{TABLE} .kitta-history-badge .kitta-badge",
            "nodes => nodes.map(n => n.getAttribute('data-status'))",
        )
    )


def test_history_browser_filters_and_opens_cards(
    open_notebook: Any, console_errors: list[str], dialog_guard: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = open_notebook("history_browser.ipynb")
    run_all_cells(page, timeout_ms=180_000)
    history = page.locator(".kitta-history.widget-vbox").first  # not the snapshot
    expect(history).to_be_visible(timeout=30_000)

    # Six finished, three failed, one create of unknown outcome.
    poll(lambda: len(row_statuses(page)) == 10, timeout=30, message="ten rows")
    assert sorted(set(row_statuses(page))) == ["failed", "outcome_unknown", "succeeded"]
    expect(history.locator(".kitta-history-page")).to_contain_text("Page 1 of 1")
    expect(history.locator(".kitta-history-summary-box")).to_contain_text("10 tasks")
    # Durations to 0.01 s (the portrait's was probed: 4.29375 s); a clipped label cell
    # shows its whole text on hover.
    table = history.locator(TABLE)
    expect(table).to_contain_text("4.29 s")
    expect(table).not_to_contain_text("4.29375")
    long_label = table.locator('[title="campaign-spring everywhere-in-the-north"]')
    expect(long_label).to_have_count(1)
    clipped = long_label.evaluate("e => e.scrollWidth > e.clientWidth")
    assert clipped, "the long label should be clipped in its cell (and readable on hover)"

    # Filter to failed: only the failed rows remain.
    history.locator(".kitta-history-status select").select_option(label="failed")
    poll(
        lambda: row_statuses(page) == ["failed"] * 3,
        timeout=30,
        message=f"only failed rows (got {row_statuses(page)})",
    )
    expect(history.locator(".kitta-history-summary-box")).to_contain_text("3 tasks")

    # Clicking a row opens its card: the task id and the error.
    first = history.locator(f"{TABLE} .kitta-history-open").first
    task_id = first.inner_text().strip()
    assert task_id.startswith("lip_task_")
    first.click()
    card = history.locator(".kitta-history-card")
    expect(card).to_contain_text(task_id, timeout=30_000)
    expect(card.locator(".kitta-error")).to_contain_text("media_invalid")
    expect(card).to_contain_text("not-media.mp4")  # the inputs sent from here

    # Back to every status; a finished task's card plays its video inline.
    history.locator(".kitta-history-status select").select_option(label="All statuses")
    poll(lambda: len(row_statuses(page)) == 10, timeout=30, message="all rows back")
    succeeded = history.locator(f"{TABLE} .kitta-history-badge").filter(
        has=page.locator(".kitta-badge[data-status='succeeded']")
    )
    index = history.locator(f"{TABLE} .kitta-history-badge").evaluate_all(
        "(nodes) => nodes.findIndex(n => n.querySelector(\"[data-status='succeeded']\"))"
    )
    assert succeeded.count() == 6 and index >= 0
    history.locator(f"{TABLE} .kitta-history-open").nth(index).click()
    video = card.locator("video")
    expect(video).to_have_count(1, timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('.kitta-history-card video');"
        " return !!v && v.readyState >= 1 && v.duration > 0; }",
        timeout=30_000,
    )
    # Show a decoded frame (not the black poster) in the screenshot.
    page.evaluate(
        "() => { const v = document.querySelector('.kitta-history-card video');"
        " v.currentTime = Math.min(1.0, v.duration / 2); }"
    )
    page.wait_for_function(
        "() => { const v = document.querySelector('.kitta-history-card video');"
        " return !v.seeking && v.readyState >= 2; }",
        timeout=30_000,
    )

    shot = docs_shot("history.png", tmp_path)
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1500, "height": 2200})  # the whole browser fits
    history.scroll_into_view_if_needed()
    history.screenshot(path=str(shot), animations="disabled")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors


SAVED_SETUP = """
import os, tempfile
os.environ["KITTA_HOME"] = tempfile.mkdtemp(prefix="kitta-saved-history-")
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets.history import HistoryBrowser
sb = Sandbox({"saved-history-token": 100_000_000}, time_scale=0.05).start()
client = sb.client("saved-history-token")
for _ in range(3):
    task = client.lip_sync.create(audio_url=sb.samples["audio"], video_url=sb.samples["video"])
    task.wait(timeout=120, poll_interval=0.05)
"""


def saved_history_notebook(workdir: Path) -> Path:
    """A notebook showing a HistoryBrowser, executed and saved: what a restart leaves."""
    import nbformat
    from nbclient import NotebookClient

    path = workdir / "saved_history.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(SAVED_SETUP),
        nbformat.v4.new_code_cell("HistoryBrowser(client)"),
    ]
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    nbformat.write(notebook, path)
    return path


STATIC_ROWS = ".jp-OutputArea-output .kitta-history-row"
WIDGET_ROWS = ".jp-OutputArea-output .kitta-history-table .kitta-history-badge"
WIDGET_ERROR = "Error displaying widget"


def visible(page: Any, selector: str) -> int:
    """How many elements match `selector` and are drawn (not inside a display:none)."""
    return int(
        page.eval_on_selector_all(selector, "ns => ns.filter(n => n.checkVisibility()).length")
    )


def check_readable(page: Any, shows: str, hidden: str, tasks: int) -> None:
    """`shows` has one visible row per task, `hidden` none, and no widget error is shown."""
    poll(
        lambda: visible(page, shows) == tasks,
        timeout=60,
        message=f"visible rows in {shows} (got {visible(page, shows)})",
    )
    assert visible(page, hidden) == 0, f"{hidden} should be hidden"
    text = page.locator(".jp-Notebook").inner_text()
    assert WIDGET_ERROR not in text, text[-2000:]
    assert f"{tasks} tasks" in text


@pytest.mark.parametrize(
    ("trusted", "widget_state", "shows", "hidden"),
    [
        (False, True, STATIC_ROWS, WIDGET_ROWS),  # opened from git: the html snapshot
        (True, True, WIDGET_ROWS, STATIC_ROWS),  # widget state saved (nbclient, or saveState)
        (True, False, STATIC_ROWS, WIDGET_ROWS),  # Lab's default: no state, no model
    ],
    ids=["untrusted", "trusted-with-state", "trusted-without-state"],
)
def test_a_saved_history_output_stays_readable_without_its_kernel(
    open_notebook: Any,
    jupyter_lab: Any,
    tmp_path: Path,
    trusted: bool,
    widget_state: bool,
    shows: str,
    hidden: str,
) -> None:
    """Opened later, with its kernel (and its widget models) gone, the history output
    shows the three tasks once: the widget where its state was saved, else the static
    snapshot, never a broken widget."""
    import subprocess
    import sys

    import nbformat

    saved = saved_history_notebook(tmp_path)
    if not widget_state:  # saved as JupyterLab saves it by default
        notebook = nbformat.read(saved, as_version=4)
        notebook.metadata.pop("widgets", None)
        nbformat.write(notebook, saved)
    if trusted:  # signed in the lab's own trust database
        subprocess.run(
            [sys.executable, "-m", "jupyter", "trust", str(saved)],
            check=True,
            timeout=60,
            env=jupyter_lab.env,
        )
    page = open_notebook(saved, wait_kernel=False)
    shown_trusted = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(1).trusted"
    )
    assert shown_trusted is trusted
    check_readable(page, shows, hidden, tasks=3)


def test_run_save_restart_reload_keeps_the_history_readable(
    open_notebook: Any, jupyter_lab: Any, tmp_path: Path, console_errors: list[str]
) -> None:
    """As a user does it: run the notebook in JupyterLab (live widget, snapshot hidden),
    save it (Lab saves no widget state), shut its kernel down and reload the page: the
    snapshot shows the tasks and no widget error is shown."""
    import nbformat

    path = tmp_path / "history_restart.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(SAVED_SETUP),
        nbformat.v4.new_code_cell("HistoryBrowser(client)"),
    ]
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    nbformat.write(notebook, path)
    page = open_notebook(path)
    run_all_cells(page, timeout_ms=180_000)
    check_readable(page, WIDGET_ROWS, STATIC_ROWS, tasks=3)

    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved = jupyter_lab.root_dir / path.name
    poll(
        lambda: "kitta-snap-" in saved.read_text(encoding="utf-8"),
        timeout=30,
        message="the notebook saved with its outputs",
    )
    stored = nbformat.read(saved, as_version=4)
    assert "widgets" not in stored.metadata  # JupyterLab's default: no widget state
    jupyter_lab.shutdown_sessions()
    # Load the page again on the saved file (a fresh workspace, so the tab surely opens).
    path.write_bytes(saved.read_bytes())
    page = open_notebook(path, wait_kernel=False)
    assert page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(1).trusted"
    ), "JupyterLab signs what it saves: the reopened outputs are trusted"
    check_readable(page, STATIC_ROWS, WIDGET_ROWS, tasks=3)
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
