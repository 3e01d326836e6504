"""The history browser's "Compare with input" action, on the kernel's loop, against a real
sandbox over HTTP: the player opens below the card with the input and the result."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets import _frontend
from kitta_notebook.widgets.history import HistoryBrowser

TOKEN = "widget-tok"  # the `sandbox` fixture's account (conftest.py)


@pytest.fixture(autouse=True)
def widget_frontend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """As in a kernel (the refusal outside one is tested in test_without_widgets.py),
    with a journal of its own."""
    monkeypatch.setattr(_frontend, "widget_frontend_available", lambda: True)
    monkeypatch.setenv("KITTA_HOME", str(tmp_path / "home"))
    yield


def test_compare_with_input_opens_the_player_below_the_card(sb: Sandbox) -> None:
    samples = sb.samples
    with sb.client(TOKEN) as client:
        good = client.lip_sync.create(video_url=samples["video"], audio_url=samples["audio"])
        bad = client.lip_sync.create(
            video_url=samples["not_media"], audio_url=samples["audio"], preflight=False
        )
        for task in (good, bad):
            task.wait(timeout=60, poll_interval=0.05, raise_on_failure=False)
        assert good.succeeded and bad.failed

        async def scenario() -> list[object]:
            browser = HistoryBrowser(client, sync=False, live=False)
            browser.select(bad.task_id)
            await browser.settle()
            hidden_for_failed = browser.compare_button.layout.display
            browser.select(good.task_id)
            await browser.settle()
            shown_for_succeeded = browser.compare_button.layout.display
            browser.compare_button.click()
            assert browser.compare_button.disabled  # no second fetch while this one runs
            await browser.settle()
            view = browser.compare
            assert view is not None and view.player is not None
            children = browser.compare_box.children
            roles = [tile["role"] for tile in view.player.tiles]
            fetched = [tile["data"] is not None for tile in view.player.tiles]
            button = browser.compare_button.description
            browser.select(bad.task_id)  # another row: the comparison goes
            await browser.settle()
            return [
                hidden_for_failed,
                shown_for_succeeded,
                children == (view.player,),
                roles,
                fetched,
                button,
                browser.compare_box.children,
                browser.compare,
                browser.compare_button.disabled,
                browser.message,
            ]

        (
            hidden_for_failed,
            shown_for_succeeded,
            player_below,
            roles,
            fetched,
            button,
            after_reselect,
            compare_after,
            disabled,
            message,
        ) = asyncio.run(scenario())
    assert hidden_for_failed == "none" and shown_for_succeeded is None
    assert player_below and roles == ["source", "result"]
    assert fetched == [True, True]  # loopback media: bytes through the kernel (Binder-safe)
    assert button == "Compare with input"
    assert after_reselect == () and compare_after is None and not disabled
    assert message == ""


def test_chinese_button(sb: Sandbox) -> None:
    with sb.client(TOKEN) as client:
        task = client.lip_sync.create(video_url=sb.samples["video"], audio_url=sb.samples["audio"])
        task.wait(timeout=60, poll_interval=0.05)
        browser = HistoryBrowser(client, "zh", sync=False, live=False)
        browser.select(task.task_id)
        assert browser.compare_button.description == "与输入对比"
