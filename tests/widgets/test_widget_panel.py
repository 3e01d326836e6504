"""LipSyncPanel against the real sandbox over HTTP: state transitions driven by its handlers.

Each test body runs inside `asyncio.run`, like a click handler inside the
kernel's running loop. Waiting is always a bounded poll of the panel's plain
state (never a sleep as synchronization).
"""

from __future__ import annotations

import asyncio
import json
import re
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
        # This account may not use the pro model (the sandbox's usage says so): not offered.
        assert list(panel.form.model.options) == [m for m in MODELS if m != "kitta-lip-sync-pro"]
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
        assert panel.submit_button.disabled  # at once, before the loop ran anything
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
        # Inputs that pass every check on this machine, a render that fails on the server.
        sb.faults = FaultConfig(task_failure_rate=1.0)
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
        assert panel.message == (
            "Not enough credits for this task (balance: 5 credits): top up the account or "
            "use a shorter audio."
        )
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
        ("400", "The server refused the request: "),
        ("401", "The API token is missing or invalid: check the token passed as token=."),
        ("403", "This account may not use the model kitta-lip-sync-pro: choose another model."),
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
        if case == "403":  # as if the server had not said which models this account may use
            panel.form.set_models(MODELS)
            panel.form.model.value = "kitta-lip-sync-pro"  # not granted to this account
        assert await bounded(panel.submit()) is None
        assert panel.cards == [] and panel.message.startswith(expected)
        assert "Traceback" not in panel.message
        # Every 4xx is one sentence: one full stop, at the end; no request-id tail.
        assert panel.message.endswith(".") and panel.message.count(". ") == 0, panel.message
        assert "request id" not in panel.message

    run(body())


def test_404_while_following_a_task_stops_with_a_readable_note(sb: Sandbox) -> None:
    async def body() -> None:
        client = sb.client(TOKEN).as_async()
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
        assert form.shown_errors["audio_url"] == (
            "The URL uses ftp, but only http and https links can be fetched by the service."
        )
        assert form.error_labels["audio_url"].layout.display is None
        assert form.error_labels["video_url"].layout.display == "none"
        form.duration.value = "twelve"
        assert form.shown_errors["duration_seconds"] == (
            "The duration must be a number of seconds, for example 12."
        )

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
        assert panel.form.shown_errors["audio_url"] == "必填：驱动口型的音频 URL。"
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


# --- models, errors in one sentence, saving in the browser ---------------------------------------


def test_an_account_granted_the_pro_model_is_offered_it() -> None:
    with Sandbox(accounts={"widget-pro": 10**6}, pro_tokens=["widget-pro"], time_scale=0.05) as sb:

        async def body() -> None:
            panel = LipSyncPanel(sb.client("widget-pro"), poll_interval=POLL)
            await bounded(panel.ready())
            assert list(panel.form.model.options) == list(MODELS)

        run(body())


def test_allowed_models_follow_the_usage_body_and_fall_back_to_all() -> None:
    from kitta_notebook.widgets._messages import allowed_models

    both = ("kitta-lip-sync-v1", "kitta-lip-sync-pro")
    usage = {"models": {"kitta-lip-sync-pro": {"allowed": False}, "kitta-lip-sync-v1": {}}}
    assert allowed_models(both, usage) == ("kitta-lip-sync-v1",)
    assert allowed_models(both, {"balance": 3}) == both  # the server does not say: offer all
    assert allowed_models(both, {"models": "?"}) == both
    everything_refused = {"models": {m: {"allowed": False} for m in both}}
    assert allowed_models(both, everything_refused) == both  # never an empty dropdown


def test_every_4xx_and_transport_error_is_one_readable_sentence() -> None:
    from kitta_notebook.errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        DownloadError,
        NotFoundError,
        RateLimitError,
    )
    from kitta_notebook.widgets._messages import describe_error

    cases = {
        NotFoundError(404, "not_found", "task x not found", "req_1"): (
            "No such task for this account."
        ),
        RateLimitError(429, "rate_limited", "slow down", "req_2"): (
            "Too many requests: wait a moment and try again."
        ),
        APIStatusError(418, "teapot", "I am a teapot.", "req_3"): (
            "The server refused the request with HTTP 418: I am a teapot."
        ),
        APIConnectionError("refused"): (
            "Could not reach the service. Check the network and the base URL."
        ),
        APITimeoutError("slow"): "The service did not answer in time.",
    }
    for error, expected in cases.items():
        assert describe_error(error, "en") == expected
    expired = DownloadError("x", reason="expired", status_code=403)
    assert describe_error(expired, "en").startswith("The result link has expired")
    assert describe_error(expired, "zh").startswith("结果链接已过期")
    login = DownloadError("x", reason="not_media", arrived="an HTML page")
    assert describe_error(login, "en") == "The result host sent an HTML page instead of a video."


def test_zh_translates_every_shown_value_in_validation_messages(sb: Sandbox) -> None:
    panel = LipSyncPanel(
        KittaClient("tok", base_url="https://kittaaudio.com/api"), lang="zh"
    )  # no running loop: nothing is fetched
    form = panel.form
    form.fill({"audio_url": "ftp://example.com/a.mp3", "video_url": "http://127.1/v.mp4"})
    assert (
        form.shown_errors["audio_url"] == "该 URL 使用 ftp 协议，服务只能获取 http 和 https 链接。"
    )
    assert form.shown_errors["video_url"].startswith("服务无法访问 127.1：")
    form.fill({"audio_url": "not a url", "video_url": "/home/me/v.mp4"})
    assert form.shown_errors["audio_url"].startswith("这不是 URL")
    assert form.shown_errors["video_url"].startswith("这是文件路径")
    for message in form.shown_errors.values():  # no English sentence left over
        assert not re.search(r"\b(The|This|must|only|is|not)\b", message), message


def test_save_in_the_browser_gives_a_download_link_not_a_server_path(
    sb: Sandbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.0")  # what Voila sets in its kernels

    async def body() -> None:
        panel = make_panel(sb, sandbox=sb)  # the kernel's own sandbox: free, no visitor token
        assert panel.save_to == "browser"
        await bounded(panel.ready())
        panel.fill_samples()
        card = await bounded(panel.submit())
        assert card is not None
        await bounded(card.wait())
        await bounded(panel.settle())
        # One click: the link is ready as soon as the task succeeded, in the button's place.
        assert card.save_button.layout.display == "none"
        note = card.action_note.value
        assert ">⤓ Save video file</a>" in note
        found = re.search(r'download="([^"]+)" href="data:video/mp4;base64,([^"]+)"', note)
        assert found, note
        assert found[1] == f"{card.task.task_id}.mp4"
        assert base64.b64decode(found[2]) == card.video_bytes
        assert str(tmp_path) not in note and "Saved to" not in note

    run(body())
    assert list(tmp_path.iterdir()) == []  # nothing was written next to the kernel
    monkeypatch.delenv("SERVER_SOFTWARE")
    assert LipSyncPanel(KittaClient("t", base_url="https://kittaaudio.com/api")).save_to == "server"


# --- local files, the media check, the balance -------------------------------------------


def chosen(path: Any) -> dict[str, Any]:
    """The state the browser sends when a file is chosen in a `FileUpload`."""
    data = path.read_bytes()
    item = {"name": path.name, "type": "", "size": len(data), "content": memoryview(data)}
    return {"value": [{**item, "last_modified": 0}]}


def sample_seconds(key: str) -> float:
    from kitta_notebook.sandbox.samples import load_samples

    return load_samples().durations[key]


def test_chosen_files_are_created_from_their_bytes_and_the_result_plays(sb: Sandbox) -> None:
    from kitta_notebook.sandbox.samples import SAMPLES_DIR

    async def body() -> None:
        panel = make_panel(sb, probe_delay=0)
        await bounded(panel.ready())
        form = panel.form
        form.uploads["video_url"].set_state(chosen(SAMPLES_DIR / "video.mp4"))
        form.uploads["audio_url"].set_state(chosen(SAMPLES_DIR / "speech-en.wav"))
        # The bytes leave the widget state at once: a saved notebook never holds them. The
        # picker still counts the chosen file ("Choose file (1)"), from its name and size.
        for name, size in (("video_url", 32_114), ("audio_url", 137_444)):
            (shown,) = form.uploads[name].value
            assert bytes(shown["content"]) == b"" and shown["size"] == size
            (state,) = form.uploads[name].get_state()["value"]
            assert bytes(state["content"]) == b""
        assert form.files["video_url"].name == "video.mp4"
        assert form.video_url.value == "" and form.shown_errors == {}
        await bounded(panel.settle())

        # The probe shows what each file is (sizes as people read them), and fills the
        # duration and the estimate.
        assert "Local file: video.mp4 · MP4 video · 3.5 s · 320×240 · 32.1 kB" in (
            form.notes["video_url"].value
        )
        assert "WAV audio" in form.notes["audio_url"].value
        seconds = float(form.duration.value)
        assert seconds == pytest.approx(sample_seconds("audio"), abs=0.05)
        assert panel.estimated_credits == estimate_credits("kitta-lip-sync-v1", seconds)
        assert panel.preflight is not None and panel.preflight.ok
        assert not panel.submit_button.disabled and sb.stats.route("create") == 0

        card = await bounded(panel.submit())
        assert card is not None, panel.message
        await bounded(card.wait())
        assert card.status_text == "succeeded"
        assert isinstance(card.video, widgets.Video) and card.video.value[4:8] == b"ftyp"
        assert sb.stats.route("create") == 1 and sb.stats.route("samples") == 0
        assert sb.stats.route("upload") + sb.stats.route("uploaded") > 0  # the sandbox's store
        for widget in tree(panel.widget):  # no file content anywhere in the widget state
            assert len(json.dumps(widget.get_state(), default=str)) < 20_000

        # A URL typed over a chosen file replaces it.
        form.audio_url.value = sb.samples["audio_zh"]
        assert "audio_url" not in form.files and form.uploads["audio_url"].value == ()
        await bounded(panel.settle())
        assert float(form.duration.value) == pytest.approx(sample_seconds("audio_zh"), abs=0.05)

    run(body())


def test_a_url_is_probed_and_fills_the_duration_unless_the_user_typed_one(sb: Sandbox) -> None:
    async def body() -> None:
        panel = make_panel(sb, probe_delay=0)
        await bounded(panel.ready())
        form = panel.form
        assert form.duration.value == ""
        form.audio_url.value = sb.samples["audio"]
        assert "Checking" in form.notes["audio_url"].value  # at once, while it runs
        await bounded(panel.settle())
        assert float(form.duration.value) == pytest.approx(sample_seconds("audio"), abs=0.05)
        assert "WAV audio · 4.3 s" in form.notes["audio_url"].value
        assert "Estimated charge" in panel.estimate_text
        assert sb.stats.route("create") == 0

        form.duration.value = "7"  # typed by the user: a later probe keeps it
        form.audio_url.value = sb.samples["audio_zh"]
        await bounded(panel.settle())
        assert form.duration.value == "7"
        assert panel.estimated_credits == estimate_credits("kitta-lip-sync-v1", 7)

        # The path of a file on the kernel's machine is local media too.
        from kitta_notebook.sandbox.samples import SAMPLES_DIR

        form.video_url.value = str(SAMPLES_DIR / "video.mp4")
        await bounded(panel.settle())
        assert "video_url" not in form.shown_errors
        assert "MP4 video · 3.5 s" in form.notes["video_url"].value

    run(body())


def test_a_web_page_as_the_video_is_shown_as_a_problem_and_submit_stays_disabled(
    sb: Sandbox,
) -> None:
    async def body() -> None:
        panel = make_panel(sb, probe_delay=0)
        await bounded(panel.ready())
        form = panel.form
        form.fill({"video_url": sb.samples["not_media"], "audio_url": sb.samples["audio"]})
        await bounded(panel.settle())
        note = form.notes["video_url"].value
        assert "kitta-media-problem" in note and "not a video" in note, note
        assert panel.media_blocked and panel.submit_button.disabled
        assert await bounded(panel.submit()) is None
        assert panel.message.startswith("A medium cannot be used")
        assert panel.submit_button.disabled  # still, after the refused submission
        assert sb.stats.route("create") == 0

        form.video_url.value = sb.samples["video"]  # fixed: the problem goes, Submit comes back
        await bounded(panel.settle())
        assert "kitta-media-problem" not in form.notes["video_url"].value
        assert not panel.media_blocked and not panel.submit_button.disabled

    run(body())


def test_an_estimate_above_the_balance_is_warned_about_before_submitting(sb: Sandbox) -> None:
    async def body() -> None:
        panel = make_panel(sb, token=POOR_TOKEN, probe_delay=0)
        await bounded(panel.ready())
        assert panel.balance == 5
        panel.fill_samples()
        assert panel.estimated_credits is not None and panel.estimated_credits > 5
        assert panel.balance_warning.startswith(
            f"This estimate ({panel.estimated_credits:,} credits) is more than the account's "
            "balance (5 credits)"
        )
        assert "kitta-balance-warning" in panel.estimate.value
        assert sb.stats.route("create") == 0

        rich = make_panel(sb, probe_delay=0)
        await bounded(rich.ready())
        rich.fill_samples()
        assert rich.balance is not None and rich.balance > 10_000
        assert rich.balance_warning == "" and "kitta-balance-warning" not in rich.estimate.value

    run(body())


def test_a_local_file_for_the_real_service_without_a_store_says_how_to_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kitta_notebook.media import to_blob
    from kitta_notebook.sandbox.samples import SAMPLES_DIR

    monkeypatch.delenv("KITTA_MEDIA_STORE", raising=False)
    client = KittaClient("tok", base_url="https://kittaaudio.com/api")
    panel = LipSyncPanel(client, probe_delay=0)  # no running loop: nothing is fetched

    async def body() -> None:
        # Local files only: their probes read the bytes here, never the network.
        panel.form.choose_file("video_url", to_blob(SAMPLES_DIR / "video.mp4"))
        panel.form.choose_file("audio_url", to_blob(SAMPLES_DIR / "speech-en.wav"))
        await bounded(panel.settle())
        note = panel.form.notes["audio_url"].value
        assert "KITTA_MEDIA_STORE" in note and "kitta-media-problem" in note
        assert "WAV audio" in note
        assert panel.media_blocked and panel.submit_button.disabled

        # Were the button not disabled, create itself refuses, and says so next to the field.
        panel.checks.store_problems.clear()
        panel._render_checks()
        assert not panel.submit_button.disabled
        assert await bounded(panel.submit()) is None
        assert "KITTA_MEDIA_STORE" in panel.form.shown_errors["audio_url"]
        assert panel.message.startswith("Fix the marked fields; nothing was sent.")
        assert panel.cards == []

    run(body())


def test_image_mode_takes_a_chosen_portrait_and_a_chosen_track(sb: Sandbox) -> None:
    from kitta_notebook.sandbox.samples import SAMPLES_DIR

    async def body() -> None:
        panel = make_panel(sb, probe_delay=0)
        await bounded(panel.ready())
        form = panel.form
        form.mode.value = "image"
        form.uploads["image_url"].set_state(chosen(SAMPLES_DIR / "portrait.png"))
        form.uploads["audio_url"].set_state(chosen(SAMPLES_DIR / "speech-zh.wav"))
        await bounded(panel.settle())
        assert "PNG image" in form.notes["image_url"].value
        assert float(form.duration.value) == pytest.approx(sample_seconds("audio_zh"), abs=0.05)
        card = await bounded(panel.submit())
        assert card is not None, panel.message
        await bounded(card.wait())
        assert card.status_text == "succeeded" and card.task.input_mode == "image"

    run(body())


def test_a_chosen_file_name_is_escaped_in_its_note() -> None:
    from kitta_notebook.media import to_blob
    from kitta_notebook.sandbox.samples import SAMPLES_DIR

    evil = '<img src=x onerror="alert(1)">.wav'
    panel = LipSyncPanel(KittaClient("tok", base_url="https://kittaaudio.com/api"))
    data = (SAMPLES_DIR / "speech-en.wav").read_bytes()
    panel.form.choose_file("audio_url", to_blob(data, name=evil))  # no loop: nothing probed
    note = panel.form.notes["audio_url"].value
    assert "&lt;img" in note and "<img" not in note


def test_the_duration_and_estimate_follow_the_current_audio_after_the_samples(
    sb: Sandbox,
) -> None:
    """ "Use samples", then an audio of one's own: its probed duration and estimate replace
    the sample's; a bad audio after a good one leaves no duration; a typed one stays."""
    from kitta_notebook.sandbox.samples import SAMPLES_DIR

    async def body() -> None:
        panel = make_panel(sb, probe_delay=0)
        await bounded(panel.ready())
        form = panel.form
        assert panel.fill_samples()
        await bounded(panel.settle())
        assert float(form.duration.value) == pytest.approx(sample_seconds("audio"), abs=0.01)

        form.uploads["audio_url"].set_state(chosen(SAMPLES_DIR / "speech-zh.wav"))
        await bounded(panel.settle())
        seconds = float(form.duration.value)
        assert seconds == pytest.approx(sample_seconds("audio_zh"), abs=0.01)
        assert panel.estimated_credits == estimate_credits("kitta-lip-sync-v1", seconds)
        assert f"{panel.estimated_credits:,} credits" in panel.estimate_text
        assert len(form.uploads["audio_url"].value) == 1  # the picker reads "Choose file (1)"

        form.uploads["audio_url"].set_state(chosen(SAMPLES_DIR / "not-media.mp4"))
        await bounded(panel.settle())
        assert "kitta-media-problem" in form.notes["audio_url"].value
        assert form.duration.value == "" and panel.estimated_credits is None
        assert panel.estimate_text.startswith("Enter the audio duration")

        form.duration.value = "7"  # typed: no later audio replaces it
        form.uploads["audio_url"].set_state(chosen(SAMPLES_DIR / "speech-en.wav"))
        await bounded(panel.settle())
        assert form.duration.value == "7"
        assert sb.stats.route("create") == 0

    run(body())


def test_in_chinese_the_media_notes_have_no_english_sentence(sb: Sandbox) -> None:
    """Format names and the check's problems under each field read in Chinese too."""
    from kitta_notebook.sandbox.samples import SAMPLES_DIR

    async def body() -> None:
        panel = make_panel(sb, lang="zh", probe_delay=0)
        await bounded(panel.ready())
        form = panel.form
        form.uploads["video_url"].set_state(chosen(SAMPLES_DIR / "video.mp4"))
        form.uploads["audio_url"].set_state(chosen(SAMPLES_DIR / "not-media.mp4"))
        await bounded(panel.settle())
        notes = form.notes["video_url"].value + form.notes["audio_url"].value
        assert "MP4 视频" in notes and "这是文本文件，不是音频。" in notes
        shown = re.sub(r"<[^>]+>|\S*\.(?:mp4|wav)\S*", " ", notes + panel.estimate.value)
        english = re.findall(r"[A-Za-z]{2,}[ ,:;]+[A-Za-z]{2,}[ ,:;]+[A-Za-z]{2,}", shown)
        assert english == [], english

    run(body())
