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
