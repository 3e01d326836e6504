"""The Compare player in a real JupyterLab, in a real Chromium.

A notebook (written here, in a temp dir) creates a task on the kernel's own
sandbox, waits for it and shows `Compare(task)`. The sandbox is on loopback,
so both videos reach the page only as bytes the kernel fetched (Blob URLs),
as on Binder. The test presses the player's own buttons and checks the two
videos: both decode, play together (within a quarter second), seek and step
together, and the input is muted. A second test runs the notebook without a
frontend, saves it and opens it later: the static side by side still plays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.browser.lab import (
    LabServer,
    check_video_plays,
    docs_shot,
    output_area,
    poll,
    run_all_cells,
)

pytestmark = pytest.mark.browser

TIME_SCALE = "0.1"
SYNC_TOLERANCE = 0.25
CELLS = [
    "from kitta_notebook import connect\n"
    "from kitta_notebook.connection import shared_sandbox\n"
    "from kitta_notebook.widgets.compare import Compare\n"
    "\n"
    "client = connect(quiet=True)\n"
    "samples = shared_sandbox().samples\n"
    "task = client.lip_sync.create(\n"
    '    video_url=samples["video"], audio_url=samples["audio"], duration_seconds=4.29\n'
    ").wait(timeout=120)",
    "view = Compare(task)\nview",
]

# Both videos' clocks read in one go, so the comparison is not skewed by the round trip.
READ_BOTH = """player => [...player.querySelectorAll('video')].map(v => ({
    role: v.dataset.role, t: v.currentTime, paused: v.paused, muted: v.muted,
    ready: v.readyState, duration: v.duration, src: v.src.slice(0, 5)}))"""


def write_notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def jupyter_lab(lab_factory: Callable[..., LabServer]) -> Iterator[LabServer]:
    lab = lab_factory(
        env={
            "KITTA_API_TOKEN": None,
            "KITTA_BASE_URL": None,
            "KITTA_SANDBOX_TIME_SCALE": TIME_SCALE,
        }
    )
    yield lab
    lab.stop()


def run_in_kernel(page: Any, code: str) -> str:
    """Run code in the notebook's kernel (not as a cell); 'ok' or the error's text."""
    return str(
        page.evaluate(
            """async code => {
              const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
              const reply = await kernel.requestExecute({code}).done;
              const c = reply.content;
              return c.status === 'ok' ? 'ok' : `${c.ename}: ${c.evalue}`;
            }""",
            code,
        )
    )


def both(page: Any, player: Any) -> list[dict[str, Any]]:
    return list(player.evaluate(READ_BOTH))


def test_one_set_of_controls_drives_input_and_result(
    open_notebook: Callable[..., Any], console_errors: list[str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = open_notebook(write_notebook(tmp_path / "compare_player.ipynb"))
    run_all_cells(page, timeout_ms=180_000)
    player = output_area(page, 1).locator(".kitta-compare-player")
    expect(player).to_be_visible(timeout=30_000)
    videos = player.locator("video")
    expect(videos).to_have_count(2)
    for index in range(2):
        page.wait_for_function(
            "v => v.readyState >= 2 || v.error", arg=videos.nth(index).element_handle()
        )
    state = both(page, player)
    assert [v["role"] for v in state] == ["source", "result"], state
    assert all(v["ready"] >= 2 for v in state), state
    assert [v["src"] for v in state] == ["blob:", "blob:"], state  # bytes from the kernel
    assert [v["muted"] for v in state] == [True, False], state
    assert all(v["paused"] and v["t"] == 0 for v in state), state

    # Play: both clocks advance, together.
    player.locator("button.kitta-compare-play").click()
    handle = player.element_handle()
    drifts = []
    for mark in (0.5, 1.0):
        page.wait_for_function(
            "([p, m]) => [...p.querySelectorAll('video')].every(v => v.currentTime > m)",
            arg=[handle, mark],
            timeout=15_000,
        )
        state = both(page, player)
        assert not any(v["paused"] for v in state), state
        drifts.append(abs(state[0]["t"] - state[1]["t"]))
    assert max(drifts) <= SYNC_TOLERANCE, drifts

    # A video that slips (a stall, a decoder hiccup) is pulled back to the clock.
    player.locator("video[data-role=source]").evaluate("v => { v.currentTime += 0.8; }")
    page.wait_for_function(
        """p => { const [a, b] = p.querySelectorAll('video');
                  return Math.abs(a.currentTime - b.currentTime) < 0.1 && !a.paused; }""",
        arg=handle,
        timeout=3_000,
    )
    state = both(page, player)
    assert state[1]["t"] < 3.0 and not any(v["paused"] for v in state), state
    assert all(v["muted"] == (v["role"] == "source") for v in state), state

    # Pause: both stop on the same frame.
    player.locator("button.kitta-compare-play").click()
    page.wait_for_function("p => [...p.querySelectorAll('video')].every(v => v.paused)", arg=handle)
    state = both(page, player)
    assert abs(state[0]["t"] - state[1]["t"]) <= 0.05, state

    # Seek with the slider: both move there.
    player.locator("input.kitta-compare-seek").evaluate(
        "s => { s.value = '1'; s.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    page.wait_for_function(
        "p => [...p.querySelectorAll('video')].every(v => Math.abs(v.currentTime - 1) < 0.01)",
        arg=handle,
    )
    # One frame forward, one frame back (25 fps): both move by 0.04 s.
    player.locator("button.kitta-compare-forward").click()
    page.wait_for_function(
        "p => [...p.querySelectorAll('video')].every(v => Math.abs(v.currentTime - 1.04) < 0.005)",
        arg=handle,
    )
    player.locator("button.kitta-compare-back").click()
    player.locator("button.kitta-compare-back").click()
    page.wait_for_function(
        "p => [...p.querySelectorAll('video')].every(v => Math.abs(v.currentTime - 0.96) < 0.005)",
        arg=handle,
    )
    state = both(page, player)
    assert all(v["paused"] for v in state), state

    # The kernel sees where the browser is, and moves both videos by setting the state.
    check = (
        "assert abs(view.current_time - 0.96) < 0.01 and not view.player.playing, view.current_time"
    )
    assert run_in_kernel(page, check) == "ok"
    assert run_in_kernel(page, "view.seek(2.0)") == "ok"
    page.wait_for_function(
        "p => [...p.querySelectorAll('video')].every(v => Math.abs(v.currentTime - 2) < 0.01)",
        arg=handle,
    )
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
    player.scroll_into_view_if_needed()
    shot = docs_shot("compare.png", tmp_path)
    player.screenshot(path=str(shot), animations="disabled")
    assert shot.read_bytes().startswith(b"\x89PNG")


def visible(page: Any, selector: str) -> int:
    """How many elements match `selector` and are drawn (not inside a display:none)."""
    return int(
        page.eval_on_selector_all(selector, "ns => ns.filter(n => n.checkVisibility()).length")
    )


@pytest.mark.parametrize(
    ("trusted", "widget_state"),
    [(False, True), (True, False), (True, True)],
    ids=["untrusted", "trusted-without-state", "trusted-with-state"],
)
def test_a_saved_notebook_keeps_a_static_side_by_side(
    open_notebook: Callable[..., Any],
    jupyter_lab: LabServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    console_errors: list[str],
    trusted: bool,
    widget_state: bool,
) -> None:
    """Opened later, its kernel and sandbox gone: the static side by side plays, unless
    the saved widget state draws the player (then the static copy is hidden); never
    "Error displaying widget" (JupyterLab's default saves no widget state)."""
    import subprocess
    import sys

    from playwright.sync_api import expect

    monkeypatch.setenv("KITTA_SANDBOX_TIME_SCALE", TIME_SCALE)
    path = write_notebook(tmp_path / "compare_saved.ipynb")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    if not widget_state:
        notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)  # the kernel, its sandbox and the widget model are gone
    if trusted:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "trust", str(path)],
            check=True,
            timeout=60,
            env=jupyter_lab.env,
        )

    page = open_notebook(path, wait_kernel=False)
    if trusted and widget_state:
        player = output_area(page, 1).locator(".kitta-compare-player")
        expect(player).to_be_visible(timeout=30_000)
        assert visible(page, ".jp-OutputArea-output .kitta-compare") == 0
        return
    static = output_area(page, 1).locator(".kitta-compare")
    expect(static).to_be_visible(timeout=30_000)
    poll(lambda: static.locator("video").count() == 2, timeout=30, message="two videos")
    assert static.locator("video").first.evaluate("v => v.muted") is True
    for index in range(2):
        info = check_video_plays(page, static.locator("video").nth(index))
        assert info["readyState"] >= 2 and info["currentTime"] > 0, info
    shown = output_area(page, 1).inner_text()
    assert "Error displaying widget" not in shown, shown
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
