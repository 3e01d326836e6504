"""The Compare player's kernel side: its synced state, its output bundle, its fallback.

The browser side (the ES module that keeps the videos together) is tested in
tests/browser/test_compare_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from kitta_notebook import KittaClient, LipSyncTask
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets import _frontend
from kitta_notebook.widgets import compare as compare_module
from kitta_notebook.widgets.compare import Compare

TOKEN = "widget-tok"  # the `sandbox` fixture's account (conftest.py)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(autouse=True)
def widget_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a kernel: the widget classes refuse to start where no kernel runs (tested in
    test_without_widgets.py); here the player's kernel side is what is tested."""
    monkeypatch.setattr(_frontend, "widget_frontend_available", lambda: True)


@pytest.fixture
def finished_task(sandbox: Sandbox) -> Iterator[LipSyncTask]:
    """Made per test: its input is read from this test's journal."""
    with sandbox.client(TOKEN) as client:
        yield _finished(client, sandbox)


def _finished(client: KittaClient, sandbox: Sandbox) -> LipSyncTask:
    samples = sandbox.samples
    task = client.lip_sync.create(
        video_url=samples["video"], audio_url=samples["audio"], duration_seconds=4.29
    )
    return task.wait(timeout=60, poll_interval=0.05)


def public_task(task_id: str = "lip_1") -> LipSyncTask:
    return LipSyncTask(
        {
            "taskId": task_id,
            "status": "succeeded",
            "videoUrl": "https://cdn.example.com/in.mp4",
            "resultVideoUrl": "https://cdn.example.com/out.mp4",
        }
    )


def test_the_player_gets_kernel_fetched_bytes_as_buffers(finished_task: LipSyncTask) -> None:
    view = Compare(finished_task)
    tiles = view.player.tiles
    assert [t["role"] for t in tiles] == ["source", "result"]
    for tile in tiles:
        assert isinstance(tile["data"], bytes) and tile["data"][4:8] == b"ftyp"
        assert tile["mime"] == "video/mp4"
        assert tile["url"] is None  # the loopback URL is useless to a Binder browser
    assert tiles[0]["caption"] == "Input"
    assert tiles[1]["caption"] == f"Result · {finished_task.task_id}"
    assert view.player.fps == 25.0
    assert view.player.texts["play"] == "Play"


def test_public_media_are_left_to_the_browser() -> None:
    view = Compare(public_task())
    assert [(t["url"], t["data"]) for t in view.player.tiles] == [
        ("https://cdn.example.com/in.mp4", None),
        ("https://cdn.example.com/out.mp4", None),
    ]


def test_the_bundle_has_the_player_and_a_static_fallback() -> None:
    view = Compare(public_task(), public_task("lip_2"), labels=["model A", "model B"])
    data, _metadata = view._repr_mimebundle_()
    assert data[WIDGET_MIME]["model_id"] == view.player.model_id
    assert data["text/html"].count("<video") == 2
    assert "model A" in data["text/html"] and "model B" in data["text/plain"]
    assert "<script" not in data["text/html"]


def test_kernel_controls_move_the_shared_state() -> None:
    view = Compare(public_task(), fps=50)
    view.play()
    assert view.player.playing is True
    view.seek(1.5)
    assert view.current_time == 1.5
    view.step(2)
    assert view.player.playing is False
    assert view.current_time == pytest.approx(1.54)
    view.step(-1000)
    assert view.current_time == 0.0
    view.seek(-3)
    assert view.current_time == 0.0
    with pytest.raises(ValueError, match="fps"):
        Compare(public_task(), fps=0)


def test_a_hostile_label_stays_text() -> None:
    payload = "<img src=x onerror=alert(1)>"
    view = Compare(public_task(), labels=[payload])
    assert view.player.tiles[1]["caption"] == f"Result · {payload}"  # the view uses textContent
    assert payload not in view.to_html()
    source = (compare_module._ESM).read_text(encoding="utf-8")
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source


def test_the_state_never_holds_the_token(sandbox: Sandbox, finished_task: LipSyncTask) -> None:
    view = Compare(finished_task)
    state = view.player.get_state()
    text = json.dumps({k: v for k, v in state.items() if k != "tiles"}, default=str)
    text += json.dumps([{k: v for k, v in t.items() if k != "data"} for t in state["tiles"]])
    assert TOKEN not in text
    assert TOKEN not in view.to_html() and TOKEN not in repr(view)
