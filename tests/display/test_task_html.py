"""HTML and text views of tasks and pages: content, escaping, URL policy."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

from kitta_notebook import LipSyncTask, Page
from kitta_notebook.display.html import page_html, page_mimebundle, task_html, task_mimebundle
from kitta_notebook.display.video import VideoPlan, plan_video, render_video

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
    "</table><iframe src=javascript:alert(4)>",
]


def full_dto(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "row_1",
        "taskId": "lip_task_1",
        "type": "lip_sync",
        "status": "succeeded",
        "model": "kitta-lip-sync-v1",
        "inputMode": "video",
        "resultVideoUrl": "https://cdn.example.com/r/result.mp4",
        "errorCode": None,
        "errorMessage": None,
        "creditsCharged": 1200,
        "createdAt": "2026-07-01T08:00:00.000Z",
        "startedAt": "2026-07-01T08:00:03.000Z",
        "completedAt": "2026-07-01T08:01:20.000Z",
    }
    body.update(overrides)
    return body


ALLOWED_TAGS = {
    "div",
    "span",
    "code",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "b",
    "br",
    "video",
    "a",
}
ALLOWED_ATTRS = {
    "style",
    "class",
    "data-status",
    "src",
    "href",
    "controls",
    "preload",
    "target",
    "rel",
}


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_inert(markup: str) -> None:
    """Parsed as a browser would: only our own tags and attributes, only safe URLs."""
    collector = TagCollector()
    collector.feed(markup)
    assert collector.tags
    for tag, attrs in collector.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in ALLOWED_ATTRS, (tag, name)
            if name in ("src", "href"):
                assert value is not None
                assert value.startswith(("https://", "http://", "data:video/mp4;base64,")), value


@pytest.mark.parametrize("payload", HOSTILE)
def test_every_string_field_is_escaped(payload: str) -> None:
    task = LipSyncTask(
        full_dto(
            taskId=payload,
            type=payload,
            status=payload,
            model=payload,
            inputMode=payload,
            errorCode=payload,
            errorMessage=payload,
            resultVideoUrl="https://cdn.example.com/x.mp4?q=" + payload,
        )
    )
    bundle = task_mimebundle(task)
    markup = bundle["text/html"]
    assert_inert(markup)
    assert html.escape(payload, quote=True) in markup
    assert payload in bundle["text/plain"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "JaVaScRiPt:alert(1)",
        "vbscript:x",
        "//evil.example/x.mp4",
        "https://cdn.example.com/a b.mp4",
    ],
)
def test_only_http_urls_reach_src_or_href(url: str) -> None:
    task = LipSyncTask(full_dto(resultVideoUrl=url))
    markup = task_html(task)
    assert "<video" not in markup
    assert "not an http(s) link" in markup
    assert_inert(markup)


def test_succeeded_public_result_is_a_video_src_without_autoplay_or_loop() -> None:
    task = LipSyncTask(full_dto())
    markup = task_html(task)
    assert '<video src="https://cdn.example.com/r/result.mp4" controls' in markup
    assert "autoplay" not in markup and "loop" not in markup
    assert "<script" not in markup
    for label in ("kitta-lip-sync-v1", "1,200", "2026-07-01 08:00:03 UTC", "1 min 20 s"):
        assert label in markup


def test_failed_task_shows_its_error_and_no_video() -> None:
    task = LipSyncTask(
        full_dto(
            status="failed",
            resultVideoUrl=None,
            errorCode="media_unreachable",
            errorMessage="could not fetch audioUrl (HTTP 404)",
        )
    )
    markup = task_html(task)
    assert 'data-status="failed"' in markup
    assert "media_unreachable" in markup and "could not fetch audioUrl (HTTP 404)" in markup
    assert "<video" not in markup
    assert "media_unreachable" in task_mimebundle(task)["text/plain"]


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("pending", "pending"),
        ("processing", "processing"),
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("warming_up", "unknown (warming_up)"),
    ],
)
def test_badge_names_each_status(status: str, label: str) -> None:
    markup = task_html(LipSyncTask(full_dto(status=status, resultVideoUrl=None)))
    assert label in markup
    # A narrow `list()` table never wraps the pill's icon and text onto two lines.
    badge = markup.split('class="kitta-badge"', 1)[1].split(">", 1)[0]
    assert "white-space:nowrap" in badge


def test_chinese_labels() -> None:
    markup = task_html(LipSyncTask(full_dto(status="processing", resultVideoUrl=None)), lang="zh")
    assert "处理中" in markup and "消耗积分" in markup


def test_loopback_results_are_embedded_and_public_ones_linked() -> None:
    local = LipSyncTask(full_dto(resultVideoUrl="http://127.0.0.1:8765/results/x.mp4"))
    public = LipSyncTask(full_dto())
    assert plan_video(local).action == "embed"
    assert plan_video(public).action == "link"
    assert plan_video(public, embed=True).action == "embed"


def test_embed_fallbacks_explain_what_to_do() -> None:
    plan = VideoPlan("embed", "http://127.0.0.1:1/results/x.mp4")
    too_big = render_video(plan, None, "too large", max_bytes=8 * 1024 * 1024)
    assert "too large to embed" in too_big and "task.download()" in too_big
    assert '<a href="http://127.0.0.1:1/results/x.mp4"' in too_big
    embedded = render_video(plan, b"\x00\x00\x00\x18ftypmp42")
    assert 'src="data:video/mp4;base64,AAAAGGZ0eXBtcDQy"' in embedded


def test_page_renders_as_a_table_with_escaped_items() -> None:
    items = [
        {
            "taskId": "lip_task_a",
            "type": "lip_sync",
            "status": "succeeded",
            "inputMode": "video",
            "resultVideoUrl": "https://cdn.example.com/a.mp4",
            "creditsCharged": 300,
        },
        {
            "taskId": HOSTILE[1],
            "type": "lip_sync",
            "status": "failed",
            "inputMode": HOSTILE[0],
            "resultVideoUrl": "javascript:alert(1)",
            "creditsCharged": 100,
        },
    ]
    page = Page(data=[LipSyncTask(item) for item in items], limit=20, offset=0, has_more=True)
    bundle = page_mimebundle(page)
    markup = bundle["text/html"]
    assert markup.count("<tr>") == 3
    assert 'href="https://cdn.example.com/a.mp4"' in markup
    assert_inert(markup)
    assert "lip_task_a" in bundle["text/plain"] and "has_more=True" in bundle["text/plain"]
    assert all(task.is_partial for task in page)
    # Every header goes through the label table; the table scrolls on a narrow page.
    assert ">Status</th>" in markup and 'style="overflow-x:auto"' in markup
    assert ">状态</th>" in page_html(page, lang="zh")


VSCODE_VARS = ("VSCODE_PID", "VSCODE_CWD")


@pytest.mark.parametrize("var", [*VSCODE_VARS, None], ids=[*VSCODE_VARS, "no-vscode"])
def test_under_vscode_the_card_warns_that_the_video_may_be_silent(
    monkeypatch: pytest.MonkeyPatch, var: str | None
) -> None:
    """VS Code's notebook player plays H.264 but not AAC audio: the note sits next to the
    video when the kernel's environment says VS Code started it, and only then."""
    for name in VSCODE_VARS:
        monkeypatch.delenv(name, raising=False)
    if var is not None:
        monkeypatch.setenv(var, "4242")
    task = LipSyncTask(full_dto())
    shown = task_html(task, embed=False)
    assert "<video" in shown
    note_count = shown.count('class="kitta-vscode-note"')
    assert note_count == (0 if var is None else 1)
    if var is not None:
        assert "AAC" in shown and shown.index("<video") < shown.index("kitta-vscode-note")
        zh = task_html(task, embed=False, lang="zh")
        assert "AAC 音频" in zh


def test_under_vscode_no_note_without_a_video(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VSCODE_CWD", raising=False)
    monkeypatch.setenv("VSCODE_PID", "4242")
    failed = LipSyncTask(full_dto(status="failed", resultVideoUrl=None, errorCode="x"))
    assert "kitta-vscode-note" not in task_html(failed)
    monkeypatch.setenv("VSCODE_PID", "")  # set but empty: not VS Code
    assert "kitta-vscode-note" not in task_html(LipSyncTask(full_dto()), embed=False)
