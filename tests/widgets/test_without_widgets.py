"""Where no widget can render (a plain script, a text console): the display-level views
work, and the widget classes refuse to start with one clear error naming what to use.

Run in a fresh `python -c` process, as a user's script would be: no IPython kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kitta_notebook.errors import KittaError, WidgetsUnavailableError
from kitta_notebook.widgets import _frontend

# These tests check the refusal itself: no stand-in frontend (see tests/conftest.py).
pytestmark = pytest.mark.real_widget_frontend_check

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import io, json, os, sys, tempfile, contextlib
os.environ["KITTA_HOME"] = tempfile.mkdtemp(prefix="kitta-no-widgets-")
{shell}
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.errors import WidgetsUnavailableError
from kitta_notebook.display.html import task_html, page_html
from kitta_notebook.display.compare import StaticCompare
from kitta_notebook.display.gallery import Gallery

out = {{}}
with Sandbox({{"nw-token": 1_000_000}}, time_scale=0.05) as sb:
    client = sb.client("nw-token")
    task = client.lip_sync.create(audio_url=sb.samples["audio"], video_url=sb.samples["video"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        task.watch(poll_interval=0.05).join(60)
    out["watch"] = printed.getvalue()
    out["card"] = task_html(task)
    out["page"] = page_html(client.lip_sync.list())
    out["compare"] = StaticCompare(task).to_html()
    out["gallery"] = Gallery([task]).to_html()
    from kitta_notebook.widgets.history import HistoryBrowser
    from kitta_notebook.widgets.compare import Compare
    for name, make in (("history", lambda: HistoryBrowser(client)),
                       ("compare", lambda: Compare(task))):
        try:
            make()
        except WidgetsUnavailableError as exc:
            out[name + "_error"] = str(exc)
print("RESULT " + json.dumps(out))
"""


def run_script(shell: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITTA_", "VSCODE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(shell=shell)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=str(REPO_ROOT),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, str] = json.loads(line.removeprefix("RESULT "))
    return result


@pytest.mark.slow
@pytest.mark.parametrize(
    "shell",
    ["", "from IPython.core.interactiveshell import InteractiveShell; InteractiveShell.instance()"],
    ids=["python-script", "ipython-without-kernel"],
)
def test_views_work_and_widgets_say_what_to_use_instead(shell: str) -> None:
    result = run_script(shell)
    assert "succeeded" in result["watch"] and "<" not in result["watch"]  # text, no HTML
    assert 'data-status="succeeded"' in result["card"]
    assert "kitta-page" in result["page"] and "succeeded" in result["page"]
    assert result["compare"].count("<video") == 2
    assert "<video" in result["gallery"]
    history = result["history_error"]
    assert "HistoryBrowser is a Jupyter widget" in history
    assert "client.history.items()" in history and "task.watch()" in history
    assert "StaticCompare(task)" in result["compare_error"]


def test_the_error_is_one_kitta_error() -> None:
    error = WidgetsUnavailableError("LipSyncPanel", "use client.lip_sync.create(...).")
    assert isinstance(error, KittaError) and isinstance(error, RuntimeError)
    assert error.widget == "LipSyncPanel"
    assert str(error).endswith("Instead, use client.lip_sync.create(...).")


@pytest.mark.parametrize(
    ("shell", "available"),
    [
        (None, False),
        (SimpleNamespace(), False),  # IPython without a kernel: a text console
        (SimpleNamespace(kernel=None), False),
        (SimpleNamespace(kernel=object()), True),
    ],
    ids=["no-ipython", "terminal-ipython", "kernel-none", "kernel"],
)
def test_a_kernel_is_what_makes_widgets_possible(
    monkeypatch: pytest.MonkeyPatch, shell: Any, available: bool
) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert _frontend.widget_frontend_available() is available
    if available:
        _frontend.require_widget_frontend("X", "y")
    else:
        with pytest.raises(WidgetsUnavailableError, match="Instead, y"):
            _frontend.require_widget_frontend("X", "y")


NBCONVERT_CELLS = [
    "import os, tempfile\n"
    'os.environ["KITTA_HOME"] = tempfile.mkdtemp(prefix="kitta-nbconvert-")\n'
    "from kitta_notebook.sandbox import Sandbox\n"
    "from kitta_notebook.widgets.history import HistoryBrowser\n"
    'sb = Sandbox({"nb-token": 1_000_000}, time_scale=0.05).start()\n'
    'client = sb.client("nb-token")\n'
    'task = client.lip_sync.create(audio_url=sb.samples["audio"], video_url=sb.samples["video"])\n'
    "task.wait(timeout=60, poll_interval=0.05)",
    "HistoryBrowser(client)",
]


@pytest.mark.slow
def test_nbconvert_execute_keeps_a_readable_history(tmp_path: Path) -> None:
    """`jupyter nbconvert --execute`: a kernel runs, no frontend draws. The exports show
    the snapshot; the widget output adds one short line of text."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter, MarkdownExporter

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in NBCONVERT_CELLS]
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = notebook.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data"], outputs
    page, _ = HTMLExporter().from_notebook_node(notebook)
    assert page.count('class="kitta-history-row"') == 1 and "kitta-snap-" in page
    assert "Task history: 1 entries" in outputs[0].data["text/plain"]  # for text frontends
    text, _ = MarkdownExporter().from_notebook_node(notebook)
    assert 'class="kitta-history-row"' in text
    assert "HistoryBrowser(lang='en', page=1/1, total=1)" in text
