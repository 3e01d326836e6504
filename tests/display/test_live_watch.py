"""`task.watch()` against a real sandbox: a plain script prints short lines; the view
never swaps the task's client; in IPython it shows one display updated in place."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook.display.follow import LiveTaskView
from kitta_notebook.sandbox import Sandbox

TOKEN = "watch-tok"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts={TOKEN: 1_000_000}, time_scale=0.05) as sb:
        yield sb


SCRIPT = textwrap.dedent(
    """
    import sys
    from kitta_notebook import KittaClient
    base_url, token, video, audio = sys.argv[1:5]
    client = KittaClient(token, base_url=base_url)
    task = client.lip_sync.create(video_url=video, audio_url=audio, duration_seconds=2)
    own = task._client
    view = task.watch(poll_interval=0.05, timeout=60)
    assert view.join(60), "the view did not finish"
    assert task._client is own, "the task's client was swapped"
    print("END", task.status_text, type(view).__name__, view.error)
    """
)


def test_watch_in_a_plain_script_prints_one_short_line_per_change(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = dict(os.environ, KITTA_HOME=str(tmp_path), PYTHONIOENCODING="utf-8")
    args = [sandbox.base_url, TOKEN, sandbox.samples["video"], sandbox.samples["audio"]]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "END succeeded LiveTaskView None"
    shown = lines[:-1]
    assert 2 <= len(shown) <= 8, shown  # one line per change, not one per poll
    assert shown[0].startswith("lip_task_") and ": pending" in shown[0]
    assert ": succeeded" in shown[-1] and "http" in shown[-1]  # the result's link
    assert len(done.stdout) < 2_000
    for marker in ("text/html", "base64", "<div", "{"):
        assert marker not in done.stdout


class FakeHandle:
    def __init__(self, shown: list[dict[str, str]]) -> None:
        self.shown = shown

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        self.shown.append(bundle)


def test_in_ipython_one_display_is_updated_in_place_until_the_video(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    shown: list[dict[str, str]] = []
    opened: list[Any] = []

    def fake_display(obj: Any, raw: bool = False, display_id: Any = None, **_: Any) -> Any:
        opened.append(display_id)
        shown.append(obj)
        return FakeHandle(shown)

    monkeypatch.setattr(IPython.display, "display", fake_display)
    client = sandbox.client(TOKEN)
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
    )
    own = task._client
    view = task.watch(poll_interval=0.05, timeout=60, embed=True)
    assert isinstance(view, LiveTaskView)
    assert view.join(60)
    assert task._client is own and task.succeeded and view.error is None
    assert opened == [True]  # one output, updated in place
    assert "kitta-note" in shown[0]["text/html"]  # the live note while it runs
    final = shown[-1]["text/html"]
    assert "data:video/mp4;base64," in final and "autoplay" not in final
    assert len(shown[-1]["text/plain"]) < 500
    assert view.polls >= 1 and "LiveTaskView(" in repr(view)


def test_in_a_kernel_the_view_follows_on_the_running_loop_and_never_blocks_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watch()` returns at once inside a running loop (the kernel's); the loop keeps
    serving other work while the view polls, and the view ends with the finished task."""
    import asyncio

    import IPython.display

    shown: list[dict[str, str]] = []
    monkeypatch.setattr(
        IPython.display, "display", lambda obj, **_: shown.append(obj) or FakeHandle(shown)
    )
    client = sandbox.client(TOKEN)
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
    )

    async def main() -> tuple[bool, int]:
        view = task.watch(poll_interval=0.05, timeout=60)
        returned_at_once = not view.done and not task.is_terminal
        ticks = 0
        while not view.done:  # other cells' work: the loop is free while the view polls
            ticks += 1
            await asyncio.sleep(0.01)
        await view.wait()
        return returned_at_once, ticks

    returned_at_once, ticks = asyncio.run(main())
    assert returned_at_once and ticks >= 5
    assert task.succeeded and "kitta-note" in shown[0]["text/html"]
    assert 'data-status="succeeded"' in shown[-1]["text/html"]


def test_live_rows_follow_through_watch_many_and_forget_tasks_the_server_lost(
    sandbox: Sandbox,
) -> None:
    """The history browser's live rows: each task the client's `watch_many` hands back is
    a row to redraw; a row whose task the server no longer knows (404) is dropped, and
    the rows rest once nothing is left unfinished."""
    import asyncio

    from kitta_notebook.widgets.history_detail import (
        ActiveTasksFollower,
        RowsSnapshot,
        follow_active,
    )

    client = sandbox.client(TOKEN)
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
    )
    follower = ActiveTasksFollower(poll_interval=0.05, timeout=60)
    seen: list[RowsSnapshot] = []
    follower.subscribe(seen.append)

    def unfinished() -> dict[str, str]:
        rows = {task.task_id: "pending", "lip_task_lost_elsewhere": "pending"}
        return {
            k: v
            for k, v in rows.items()
            if not any(k == t.task_id for s in seen for t in s.updated)
        }

    asyncio.run(follow_active(follower, client.as_async(), unfinished))
    updated = [t for s in seen for t in s.updated]
    assert [t.task_id for t in updated] == [task.task_id] and updated[0].succeeded
    assert follower.missing == {"lip_task_lost_elsewhere"}
    assert seen[-1].phase == "idle" and seen[-1].error is None
