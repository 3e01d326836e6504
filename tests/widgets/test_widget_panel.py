"""LipSyncPanel against the real sandbox over HTTP: state transitions driven by its handlers.

Each test body runs inside `asyncio.run`, like a click handler inside the
kernel's running loop. Waiting is always a bounded poll of the panel's plain
state (never a sleep as synchronization).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import ipywidgets as widgets
import pytest

from kitta_notebook import KittaClient, LipSyncTask
from kitta_notebook.sandbox import MODELS, FaultConfig, Sandbox, estimate_credits
from kitta_notebook.widgets import LipSyncPanel, TaskCard

T = TypeVar("T")
POLL = 0.05
TOKEN = "widget-tok"  # the accounts of the `sandbox` fixture (conftest.py)
POOR_TOKEN = "widget-poor"


def run(body: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(body)


async def until(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """Yield to the loop until `check()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


async def bounded(awaitable: Awaitable[T], timeout: float = 30.0) -> T:
    return await asyncio.wait_for(awaitable, timeout)


def make_panel(sb: Sandbox, token: str = TOKEN, **kwargs: Any) -> LipSyncPanel:
    kwargs.setdefault("poll_interval", POLL)
    return LipSyncPanel(sb.client(token), **kwargs)


def tree(widget: Any) -> list[Any]:
    """Every widget in a widget tree (boxes' children, depth first)."""
    found = [widget]
    for child in getattr(widget, "children", ()) or ():
        found.extend(tree(child))
    return found


# --- the happy path -------------------------------------------------------------------


def test_samples_submit_goes_live_to_a_playable_video(sb: Sandbox) -> None:
    async def body() -> None:
        sb.faults = FaultConfig(latency=0.3, routes=("create",))  # a slow create, to see it
        panel = make_panel(sb)
        await bounded(panel.ready())
        assert panel.server.is_sandbox
        assert list(panel.form.model.options) == list(MODELS)
        assert panel.form.model.value == "kitta-lip-sync-v1"
        assert panel.samples_button.layout.display is None and not panel.samples_button.disabled

        assert panel.fill_samples()
        assert panel.form.video_url.value == sb.samples["video"]
        assert panel.form.audio_url.value == sb.samples["audio"]
        seconds = float(panel.form.duration.value)
        expected = estimate_credits("kitta-lip-sync-v1", seconds)
        assert panel.estimated_credits == expected
        assert f"{expected:,} credits" in panel.estimate_text

        submitting = panel._on_submit(panel.submit_button)
        assert isinstance(submitting, asyncio.Task)  # returned at once; the loop does the work
        await until(lambda: panel.submit_button.disabled, what="submit disabled")
        assert panel.submitting and panel.submit_button.description == "Submitting…"
        assert panel._on_submit(panel.submit_button) is None  # a second click is ignored
        card = await bounded(submitting)
        assert card is not None and panel.cards == [card]
        assert not panel.submit_button.disabled and panel.submit_button.description == "Submit"
        assert card.status_text == "pending"
        assert card.indicator.spinning and card.indicator.progress.value == 1
        sb.faults = None

        await until(lambda: card.status_text != "pending", what="leaving pending")
        await bounded(card.wait())
        assert card.statuses_seen == ["pending", "processing", "succeeded"]
        assert card.done and card.status_text == "succeeded"
        assert card.indicator.status == "succeeded" and not card.indicator.spinning
        assert card.indicator.progress.value == 3 and card.indicator.progress.bar_style == "success"
        assert "succeeded" in card.indicator.badge.value
        assert isinstance(card.video, widgets.Video)
        assert card.video.format == "mp4" and not card.video.autoplay and not card.video.loop
        assert card.video.value[4:8] == b"ftyp" and card.video.value == card.video_bytes
        assert card.video_box.children == (card.video,)
        assert card.task.credits_charged == expected
        assert f"{expected:,}" in card.details.value
        assert card.save_button.layout.display is None
        assert sb.stats.route("create") == 1 and sb.stats.creates_accepted == 1

        # A second submission stacks on top.
        second = await bounded(panel.submit())
        assert second is not None and panel.cards == [second, card]
        assert panel.cards_box.children == (second.widget, card.widget)
        await bounded(second.wait())
        assert second.status_text == "succeeded"

    run(body())


def test_image_mode_and_save(sb: Sandbox, tmp_path: Any) -> None:
    async def body() -> None:
        panel = make_panel(sb, download_dir=tmp_path)
        await bounded(panel.ready())
        panel.fill_samples()
        panel.form.mode.value = "image"
        assert panel.form.rows["video_url"].layout.display == "none"
        assert panel.form.rows["image_url"].layout.display is None
        assert panel.form.image_url.value == sb.samples["image"]
        card = await bounded(panel.submit())
        assert card is not None
        await bounded(card.wait())
        assert card.status_text == "succeeded" and card.task.input_mode == "image"
        saved = await bounded(card.save())
        assert saved is not None and saved.parent == tmp_path
        assert saved.read_bytes() == card.video_bytes
        assert str(saved.resolve()) in card.action_note.value

    run(body())


# --- failures ---------------------------------------------------------------------------


def test_failed_task_shows_code_and_message(sb: Sandbox) -> None:
    async def body() -> None:
        panel = make_panel(sb)
        await bounded(panel.ready())
        panel.fill_samples()
        panel.form.audio_url.value = sb.origin + "/samples/missing.wav"
        card = await bounded(panel.submit())
        assert card is not None
        await bounded(card.wait())
        assert card.status_text == "failed"
        assert card.task.error_code and card.task.error_message
        assert card.error_text is not None
        assert card.task.error_code in card.error_text
        assert card.task.error_message in card.error_text
        assert card.error.layout.display is None and "kitta-error" in card.error.value
        assert card.video is None and card.video_box.children == ()
        assert card.indicator.progress.bar_style == "danger"
        assert card.save_button.layout.display == "none"

    run(body())


def test_402_is_a_readable_message_with_the_balance_and_no_card(sb: Sandbox) -> None:
    async def body() -> None:
        panel = make_panel(sb, token=POOR_TOKEN)
        await bounded(panel.ready())
        panel.fill_samples()
        assert await bounded(panel.submit()) is None
        assert panel.cards == []
        assert panel.message_kind == "error"
        assert panel.message.startswith("Not enough credits for this task.")
        assert "Balance: 5 credits." in panel.message
        assert "Traceback" not in panel.message
        assert "Not enough credits" in panel.banner.value
        assert not panel.submit_button.disabled
        assert sb.stats.route("create") == 1 and sb.stats.creates_accepted == 0

    run(body())


def test_500_on_create_is_a_readable_message(sb: Sandbox) -> None:
    async def body() -> None:
        panel = make_panel(sb)
        await bounded(panel.ready())
        panel.fill_samples()
        sb.faults = FaultConfig(error_rate=1.0, routes=("create",))
        assert await bounded(panel.submit()) is None
        assert panel.cards == []
        assert panel.message.startswith("The service failed; try again later.")
        assert "may have been created anyway" in panel.message  # a 5xx on create is unknown
        assert "request id" in panel.message
        assert "Traceback" not in panel.message and not panel.submit_button.disabled
        assert sb.stats.route("create") == 1  # a create is never resent

    run(body())


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("400", "The server refused the request."),
        ("401", "The API token is missing or invalid."),
        ("403", "This account may not use this model or access this task."),
    ],
)
def test_other_create_errors_are_readable(sb: Sandbox, case: str, expected: str) -> None:
    async def body() -> None:
        token = "not-a-real-token" if case == "401" else TOKEN
        panel = make_panel(sb, token=token)
        await bounded(panel.ready())
        panel.fill_samples()
        if case == "400":
            panel.form.duration.value = "100000"  # above the server's maximum
        if case == "403":
            panel.form.model.value = "kitta-lip-sync-pro"  # not granted to this account
        assert await bounded(panel.submit()) is None
        assert panel.cards == [] and panel.message.startswith(expected)
        assert "Traceback" not in panel.message

    run(body())


def test_404_while_following_a_task_stops_with_a_readable_note(sb: Sandbox) -> None:
    async def body() -> None:
        client = sb.client(TOKEN)._async_client()
        ghost = LipSyncTask({"taskId": "lip_task_nope", "status": "pending"}, client=client)
        card = TaskCard(ghost, poll_interval=POLL)
        card.start()
        await bounded(card.wait())
        assert card.status_text == "pending" and not card.done
        assert card.stopped_reason is not None
        assert card.stopped_reason.startswith("No such task for this account.")
        assert "Stopped following this task" in card.indicator.status_text
        assert card.check_button.layout.display is None  # the user may check again

    run(body())


def test_transient_errors_while_polling_show_retrying_then_recover(sb: Sandbox) -> None:
    async def body() -> None:
        panel = LipSyncPanel(sb.client(TOKEN, max_retries=0), poll_interval=POLL)
        await bounded(panel.ready())
        panel.fill_samples()
        card = await bounded(panel.submit())
        assert card is not None
        sb.faults = FaultConfig(error_rate=1.0, routes=("get",))
        await until(lambda: card.retrying, what="retrying")
        assert card.indicator.note == "connection problem, retrying…"
        assert "retrying" in card.indicator.label.value
        assert card.indicator.spinning and not card.done
        sb.faults = None
        await bounded(card.wait())
        assert card.status_text == "succeeded" and not card.retrying
        assert card.retries >= 1 and card.stopped_reason is None
        assert "retrying" not in card.indicator.status_text
        assert isinstance(card.video, widgets.Video)

    run(body())


# --- validation -------------------------------------------------------------------------


def test_validation_shows_each_problem_next_to_its_field_and_sends_nothing(sb: Sandbox) -> None:
    async def body() -> None:
        panel = make_panel(sb)
        await bounded(panel.ready())
        sb.stats.reset()
        form = panel.form

        # As the user types: only touched fields speak up.
        form.audio_url.value = "ftp://example.com/a.mp3"
        assert set(form.shown_errors) == {"audio_url"}
        assert "must use http or https" in form.shown_errors["audio_url"]
        assert form.error_labels["audio_url"].layout.display is None
        assert form.error_labels["video_url"].layout.display == "none"
        form.duration.value = "twelve"
        assert "must be a number of seconds" in form.shown_errors["duration_seconds"]

        # On submit: every problem, each next to its field; nothing sent.
        assert await panel.submit() is None
        assert set(form.shown_errors) == {"audio_url", "video_url", "duration_seconds"}
        assert "is required" in form.shown_errors["video_url"]
        assert panel.message.startswith("Fix the marked fields; nothing was sent.")
        assert panel.cards == []

        form.duration.value = "-3"
        assert "greater than 0" in form.shown_errors["duration_seconds"]
        form.mode.value = "image"
        assert "is required" in form.shown_errors["image_url"]
        assert "video_url" not in form.shown_errors

        # Fixing the fields clears the messages.
        form.mode.value = "video"
        form.fill(
            {
                "video_url": sb.samples["video"],
                "audio_url": sb.samples["audio"],
                "duration_seconds": "4",
            }
        )
        assert form.shown_errors == {}
        assert panel.message == ""
        assert all(label.layout.display == "none" for label in form.error_labels.values())
        assert sb.stats.total == 0  # not one API request was made by any of the above

    run(body())


def test_real_service_urls_must_be_public_before_anything_is_sent() -> None:
    client = KittaClient("tok", base_url="https://kittaaudio.com/api")
    panel = LipSyncPanel(client)  # no running loop: nothing is fetched at all
    assert panel.samples_button.layout.display == "none" and panel.samples_button.disabled
    assert not panel.server.is_sandbox and panel.form.model.options == ("kitta-lip-sync-v1",)
    assert panel.estimated_credits is None
    assert panel.estimate_text.startswith("Price unknown")
    panel.form.video_url.value = "http://127.0.0.1:9/v.mp4"
    assert "cannot reach" in panel.form.shown_errors["video_url"]
    assert panel.fill_samples() is False


# --- language, secrets, escaping --------------------------------------------------------


def test_zh_shows_every_label_and_status_in_chinese(sb: Sandbox) -> None:
    async def body() -> None:
        panel = make_panel(sb, lang="zh")
        await bounded(panel.ready())
        assert panel.submit_button.description == "提交"
        assert panel.samples_button.description == "使用示例素材"
        assert "Kitta 口型同步" in panel.header.value and "沙盒" in panel.header.value
        labels = " ".join(row.children[0].value for row in panel.form.rows.values())
        for word in ("视频 URL", "音频 URL", "模型", "时长（秒）", "输入模式"):
            assert word in labels
        assert [o[0] for o in panel.form.mode.options] == ["视频", "图片"]
        assert panel.estimate_text.startswith("填写音频时长")

        assert await panel.submit() is None
        assert panel.form.shown_errors["audio_url"] == "必填。"
        assert panel.message == "请修正标出的字段；尚未发送任何请求。"

        panel.fill_samples()
        assert panel.form.audio_url.value == sb.samples["audio_zh"]
        assert panel.estimate_text.startswith("预计消耗：")
        card = await bounded(panel.submit())
        assert card is not None
        assert card.indicator.status_text == "排队等待中"
        await bounded(card.wait())
        assert card.indicator.status_text == "已完成"
        assert "已完成" in card.indicator.badge.value
        assert "消耗积分" in card.details.value and "任务" in card.title.value
        assert card.save_button.description == "保存视频文件"

    run(body())


def test_password_is_read_and_cleared_at_once_and_never_in_widget_state() -> None:
    secret = "sk-live-0123456789abcdef"
    client = KittaClient(base_url="https://kittaaudio.com/api")  # no token anywhere
    panel = LipSyncPanel(client)  # outside a loop: no request is attempted
    assert panel.needs_token
    assert panel.token_box.layout.display is None
    assert isinstance(panel.token_input, widgets.Password)
    assert panel.token_input.continuous_update is False  # never one keystroke at a time

    async def submit_without_token() -> None:
        panel.form.fill(
            {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"}
        )
        assert await panel.submit() is None
        assert panel.message.startswith("No API token")

    run(submit_without_token())

    panel.token_input.set_state({"value": secret})  # what the browser sends on Enter
    assert panel.token_input.value == ""
    assert client.has_token and client._config.token is not None
    assert client._config.token.reveal() == secret
    assert not panel.needs_token and panel.token_box.layout.display == "none"
    assert panel.message == "API token set for this session (not saved in the notebook)."

    for widget in tree(panel.widget):
        assert secret not in json.dumps(widget.get_state(), default=str)
    manager_state = widgets.Widget.get_manager_state(drop_defaults=False)
    assert secret not in json.dumps(manager_state, default=str)
    assert secret not in repr(panel) and secret not in repr(vars(panel))
    assert secret not in repr(panel.token_input)


def test_server_and_user_text_is_escaped_in_every_html_widget() -> None:
    evil = '<img src=x onerror="alert(1)">'
    task = LipSyncTask(
        {
            "taskId": evil,
            "status": "failed",
            "model": evil,
            "inputMode": "video",
            "errorCode": evil,
            "errorMessage": evil,
            "creditsCharged": 3,
        }
    )
    card = TaskCard(task)
    for widget in tree(card.widget):
        if isinstance(widget, widgets.HTML):
            assert "<img" not in widget.value
    assert "&lt;img" in card.error.value and "&lt;img" in card.title.value

    panel = LipSyncPanel(KittaClient("tok", base_url="https://kittaaudio.com/api"))
    panel.form.audio_url.value = evil
    assert panel.form.shown_errors["audio_url"]
    assert "<img" not in panel.form.error_labels["audio_url"].value
