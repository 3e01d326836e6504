"""A team's history on PostgreSQL in a real JupyterLab: a teammate's tasks, filtered by who.

The kernel and a teammate (another process with its own `KITTA_HOME` and JupyterHub user)
write into one `KITTA_JOURNAL_URL`; the browser shows both, its "who" filter narrows the
table to one person, and a teammate's label is shown as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import poll, run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TABLE = ".kitta-history-table"

SETUP = """
import os, subprocess, sys, tempfile
os.environ["KITTA_HOME"] = tempfile.mkdtemp(prefix="kitta-team-browser-")
os.environ["KITTA_JOURNAL_URL"] = {url!r}
os.environ["JUPYTERHUB_USER"] = "ana"
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets.history import HistoryBrowser
sb = Sandbox({{"team-token": 100_000_000}}, time_scale=0.05).start()
client = sb.client("team-token")
media = {{"audio_url": sb.samples["audio"], "video_url": sb.samples["video"]}}
for _ in range(2):
    client.lip_sync.create(**media)
TEAMMATE = '''
import sys
from kitta_notebook import KittaClient
client = KittaClient("team-token", base_url=sys.argv[1])
media = {{"audio_url": sys.argv[2], "video_url": sys.argv[3]}}
for n in range(3):
    task = client.lip_sync.create(**media)
    client.history.label(task, "bo-wave-<b>1</b>")
'''
env = {{**os.environ, "JUPYTERHUB_USER": "bo",
       "KITTA_HOME": tempfile.mkdtemp(prefix="kitta-teammate-")}}
subprocess.run(
    [sys.executable, "-c", TEAMMATE, sb.base_url, media["audio_url"], media["video_url"]],
    env=env, check=True, timeout=120,
)
"""


def team_notebook(workdir: Path, url: str) -> Path:
    import nbformat

    path = workdir / "team_history.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell(SETUP.format(url=url)),
        nbformat.v4.new_code_cell("HistoryBrowser(client)"),
    ]
    nbformat.write(notebook, path)
    return path


def test_a_teammates_tasks_are_shown_and_filtered_by_who(
    open_notebook: Any, console_errors: list[str], tmp_path: Path, postgres_db: str
) -> None:
    from playwright.sync_api import expect

    page = open_notebook(team_notebook(tmp_path, postgres_db))
    run_all_cells(page, timeout_ms=240_000)
    history = page.locator(".kitta-history.widget-vbox").first
    expect(history).to_be_visible(timeout=30_000)
    summary = history.locator(".kitta-history-summary-box")
    expect(summary).to_contain_text("5 tasks", timeout=30_000)
    table = history.locator(TABLE)
    expect(table).to_contain_text("ana")
    expect(table).to_contain_text("bo")

    who = history.locator(".kitta-history-creator select")
    assert sorted(who.locator("option").all_inner_texts()) == ["Everyone", "ana", "bo"]
    who.select_option(label="bo")
    expect(summary).to_contain_text("3 tasks", timeout=30_000)
    poll(
        lambda: table.inner_text().count("bo-wave-<b>1</b>") == 3,
        timeout=30,
        message=f"bo's three labelled rows, escaped (got {table.inner_text()[:500]!r})",
    )
    assert "ana" not in table.inner_text()
    assert table.locator("b").count() == 0  # the teammate's label is text, not markup

    who.select_option(label="ana")
    expect(summary).to_contain_text("2 tasks", timeout=30_000)
    poll(lambda: "bo" not in table.inner_text(), timeout=30, message="only ana's rows")
    who.select_option(label="Everyone")
    expect(summary).to_contain_text("5 tasks", timeout=30_000)
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
