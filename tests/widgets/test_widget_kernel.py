"""The panel inside a real ipykernel, with and without `nest_asyncio.apply()`.

The clicks run in a cell, the task is created and polled on the kernel's own
loop, and the kernel keeps answering other cells meanwhile. nest_asyncio
patches asyncio for the whole process, so it is applied only inside the
kernel under test, never in the pytest process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
from jupyter_client.manager import start_new_kernel  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]

SETUP = """
import asyncio, json
{nest}
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets import LipSyncPanel
sb = Sandbox(time_scale=0.2).start()
panel = LipSyncPanel(sb.client(), poll_interval=0.05, sandbox=sb)
print(json.dumps({{"patched": bool(getattr(asyncio.get_event_loop(), "_nest_patched", False))}}))
"""

STATE = """
card = panel.cards[0] if panel.cards else None
print(json.dumps({
    "loaded": panel._loading is not None and panel._loading.done(),
    "samples": bool(panel.server.samples),
    "message": panel.message,
    "cards": len(panel.cards),
    "status": card.status_text if card else None,
    "done": card.done if card else False,
    "video": len(card.video_bytes or b"") if card else 0,
    "indicator": card.indicator.status_text if card else None,
    "polls": card.polls if card else 0,
    "retries": card.retries if card else 0,
    "stopped": card.stopped_reason if card else None,
    "following": card.following if card else False,
    "server": sb.stats.by_route,
}))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITTA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def kernel() -> Iterator[Any]:
    km, kc = start_new_kernel(kernel_name="python3", env=_env(), startup_timeout=60)
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run_cell(kc: Any, code: str, timeout: float = 30.0) -> str:
    """Execute `code` in the kernel; its printed text. Fails with the traceback on error."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    assert not errors, errors[0]
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out)


def state(kc: Any) -> dict[str, Any]:
    lines = [line for line in run_cell(kc, STATE).splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def poll_state(kc: Any, key: str, timeout: float = 90.0) -> list[dict[str, Any]]:
    """Query the kernel until state[key] is truthy; every state seen (bounded, paced)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        current = state(kc)
        seen.append(current)
        if current[key]:
            return seen
        assert time.monotonic() < deadline, f"timed out waiting for {key}: {seen[-3:]}"
        time.sleep(0.05)  # pacing only: the next query is what decides


@pytest.mark.slow
@pytest.mark.parametrize("nest", [False, True], ids=["plain-kernel", "nest_asyncio-applied"])
def test_panel_in_a_real_kernel(kernel: Any, nest: bool) -> None:
    setup = SETUP.format(nest="import nest_asyncio; nest_asyncio.apply()" if nest else "")
    printed = run_cell(kernel, setup, timeout=60)
    assert json.loads(printed.strip().splitlines()[-1]) == {"patched": nest}

    poll_state(kernel, "loaded")
    assert state(kernel)["samples"]

    # The clicks return at once; the work goes on in the kernel's loop.
    run_cell(kernel, "panel.samples_button.click(); panel.submit_button.click()")
    seen = poll_state(kernel, "done")
    final = seen[-1]
    assert final["status"] == "succeeded", final
    assert final["video"] > 1000 and final["indicator"] == "Done"
    # The kernel answered other cells while the task was still running.
    running = [s for s in seen if s["cards"] and s["status"] in ("pending", "processing")]
    assert running, seen
    run_cell(kernel, "sb.stop()")


def run_cell_outputs(kc: Any, code: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Execute `code`; every display message it sent, in order (type, data, display id)."""
    outputs: list[dict[str, Any]] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        kind = msg["msg_type"]
        content = msg["content"]
        if kind in ("display_data", "update_display_data", "execute_result"):
            display_id = content.get("transient", {}).get("display_id")
            outputs.append({"type": kind, "data": content["data"], "display_id": display_id})
        elif kind == "error":
            errors.append("\n".join(content["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    assert not errors, errors[0]
    assert reply["content"]["status"] == "ok", reply["content"]
    return outputs


HISTORY_SETUP = """
import os, tempfile
os.environ["KITTA_HOME"] = tempfile.mkdtemp(prefix="kitta-snapshot-")
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets.history import HistoryBrowser
sb = Sandbox({"snap-token": 1_000_000}, time_scale=0.05).start()
client = sb.client("snap-token")
ok = client.lip_sync.create(audio_url=sb.samples["audio"], video_url=sb.samples["video"])
bad = client.lip_sync.create(
    audio_url=sb.samples["audio"], video_url=sb.samples["not_media"], preflight=False
)
for task in (ok, bad):
    task.wait(timeout=60, poll_interval=0.05, raise_on_failure=False)
"""
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.mark.slow
def test_history_output_is_a_snapshot_then_the_widget_that_hides_it(kernel: Any) -> None:
    """The static page goes out first, as its own output with a class of its own; the
    widget after it carries the style that hides that class while the widget is drawn.
    A filter change rewrites the snapshot in place, so a saved notebook keeps the last
    page shown."""
    run_cell(kernel, HISTORY_SETUP, timeout=90)
    shown = run_cell_outputs(kernel, "browser = HistoryBrowser(client, sync=False)\nbrowser")
    assert [o["type"] for o in shown] == ["display_data", "display_data"], shown
    snapshot, widget = shown
    css_class = snapshot["display_id"]
    assert css_class.startswith("kitta-snap-")
    html = snapshot["data"]["text/html"]
    assert f'class="kitta-snap {css_class}"' in html
    assert html.count('class="kitta-history-row"') == 2, html
    assert "2 entries" in snapshot["data"]["text/plain"]
    assert WIDGET_MIME in widget["data"] and "text/html" not in widget["data"]
    assert widget["data"]["text/plain"].startswith("HistoryBrowser(")
    hider = run_cell(kernel, "print(browser.widget.children[-1].value)").strip()
    assert hider == f"<style>.{css_class}{{display:none}}</style>"

    updates = run_cell_outputs(kernel, "browser.set_filters(status='failed')")
    assert [(o["type"], o["display_id"]) for o in updates] == [
        ("update_display_data", css_class)
    ], updates
    assert updates[0]["data"]["text/html"].count('class="kitta-history-row"') == 1
    assert run_cell_outputs(kernel, "browser.close()") == []  # nothing new to show
    run_cell(kernel, "sb.stop()")


@pytest.mark.slow
def test_compare_output_is_a_static_view_then_the_player(kernel: Any) -> None:
    run_cell(kernel, HISTORY_SETUP, timeout=90)
    shown = run_cell_outputs(
        kernel,
        "from kitta_notebook.widgets.compare import Compare\nview = Compare(ok)\nview",
    )
    assert [o["type"] for o in shown] == ["display_data", "display_data"], shown
    snapshot, player = shown
    css_class = snapshot["display_id"]
    assert f'class="kitta-snap {css_class}"' in snapshot["data"]["text/html"]
    assert snapshot["data"]["text/html"].count("<video") == 2
    assert WIDGET_MIME in player["data"] and player["data"]["text/plain"] == (
        "Compare player: 2 views"
    )
    assert run_cell(kernel, "print(view.player.snapshot_class)").strip() == css_class
    run_cell(kernel, "sb.stop()")


@pytest.mark.slow
def test_a_card_shown_alone_leaves_a_static_card_behind(kernel: Any) -> None:
    run_cell(kernel, HISTORY_SETUP, timeout=90)
    task_id = run_cell(kernel, "print(ok.task_id)").strip()
    shown = run_cell_outputs(
        kernel, "from kitta_notebook.widgets import TaskCard\ncard = TaskCard(ok)\ncard"
    )
    assert [o["type"] for o in shown] == ["display_data", "display_data"], shown
    snapshot, widget = shown
    html = snapshot["data"]["text/html"]
    assert f'class="kitta-snap {snapshot["display_id"]}"' in html
    assert task_id in html and 'data-status="succeeded"' in html
    assert "<video" in html  # linked: the card fetched nothing yet
    assert WIDGET_MIME in widget["data"]
    # Following the task loads its bytes: the snapshot is rewritten with the video inlined.
    updates = run_cell_outputs(kernel, "await card.start()")
    assert updates and updates[-1]["display_id"] == snapshot["display_id"], updates
    assert "data:video/mp4;base64," in updates[-1]["data"]["text/html"]
    run_cell(kernel, "sb.stop()")
