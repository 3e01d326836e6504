"""The static side by side of `Compare`: tiles, labels, escaping, and what the kernel fetches.

Media on the sandbox (127.0.0.1, which a Binder browser cannot reach) must
arrive as bytes fetched by the kernel; public URLs must be handed to the
browser untouched (no fetch: there is no network here, so a fetch would
fail and show a problem instead of the URL).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from kitta_notebook import KittaClient, LipSyncTask
from kitta_notebook.display.compare import (
    StaticCompare,
    Tile,
    compare_html,
    compare_text,
    resolve_tiles,
    task_label,
    task_source,
)
from kitta_notebook.sandbox import Sandbox

TOKEN = "compare-tok"
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
]
SAFE_SRC = ("https://", "http://", "data:video/", "data:image/")


def dto(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "taskId": "lip_task_1",
        "status": "succeeded",
        "inputMode": "video",
        "resultVideoUrl": "https://cdn.example.com/r/result.mp4",
    }
    body.update(overrides)
    return body


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(markup)
    return parser.tags


def assert_inert(markup: str) -> None:
    allowed = {"div", "video", "img", "a"}
    for tag, attrs in parse(markup):
        assert tag in allowed, tag
        assert not [name for name in attrs if name.startswith("on")], attrs
        for name in ("src", "href"):
            if name in attrs:
                assert (attrs[name] or "").startswith(SAFE_SRC), attrs[name]


def media(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    return [(tag, attrs) for tag, attrs in parse(markup) if tag in ("video", "img")]


# --- without a server ---------------------------------------------------------------
def test_public_urls_go_to_the_browser_untouched() -> None:
    task = LipSyncTask(dto(videoUrl="https://cdn.example.com/in/source.mp4"))
    tiles = resolve_tiles([task])
    assert [(t.role, t.kind) for t in tiles] == [("source", "video"), ("result", "video")]
    assert [t.url for t in tiles] == [
        "https://cdn.example.com/in/source.mp4",
        "https://cdn.example.com/r/result.mp4",
    ]
    assert all(t.data is None and t.problem is None for t in tiles)
    videos = media(compare_html(tiles))
    assert [attrs["src"] for _, attrs in videos] == [t.url for t in tiles]
    # The input is muted; the result keeps its sound.
    assert "muted" in videos[0][1] and "muted" not in videos[1][1]


def test_explicit_source_wins_and_an_image_source_is_an_img() -> None:
    task = LipSyncTask(dto(videoUrl="https://cdn.example.com/in/other.mp4"))
    tiles = resolve_tiles([task], source="https://cdn.example.com/in/person.png")
    assert (tiles[0].kind, tiles[0].url) == ("image", "https://cdn.example.com/in/person.png")
    assert media(compare_html(tiles))[0][0] == "img"


def test_an_unknown_input_says_how_to_give_it() -> None:
    tiles = resolve_tiles([LipSyncTask(dto())])
    assert tiles[0].role == "source" and not tiles[0].playable
    assert "source=URL" in (tiles[0].problem or "")
    assert len(media(compare_html(tiles))) == 1  # only the result plays


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<script>x</script>", "file:///etc/passwd", ""]
)
def test_only_http_urls_reach_a_src(url: str) -> None:
    task = LipSyncTask(dto(resultVideoUrl=url or None, videoUrl=url))
    tiles = resolve_tiles([task])
    markup = compare_html(tiles)
    assert_inert(markup)
    assert media(markup) == []
    assert url.split(":")[0] + ":" not in markup or not url


@pytest.mark.parametrize("payload", HOSTILE)
def test_labels_and_server_text_are_escaped(payload: str) -> None:
    tasks = [
        LipSyncTask(
            dto(taskId=payload, resultVideoUrl=None, status="failed", errorMessage=payload)
        ),
        LipSyncTask(dto(taskId="b", resultVideoUrl="https://cdn.example.com/x.mp4?q=" + payload)),
    ]
    markup = compare_html(resolve_tiles(tasks, labels=[payload, "B"]))
    assert_inert(markup)
    assert html.escape(payload, quote=True) in markup
    assert payload not in markup


def test_labels_default_to_task_ids_and_must_match_the_tasks() -> None:
    a, b = LipSyncTask(dto(taskId="task_a")), LipSyncTask(dto(taskId="task_b"))
    tiles = resolve_tiles([a, b])
    assert [t.label for t in tiles] == ["task_a", "task_b"]  # A/B: no input tile by default
    assert [t.label for t in resolve_tiles([a, b], labels=["v1", "v2"])] == ["v1", "v2"]
    with pytest.raises(ValueError, match="2 tasks"):
        resolve_tiles([a, b], labels=["only one"])
    with pytest.raises(ValueError, match="at least one"):
        resolve_tiles([])


def test_a_task_without_a_result_says_its_status() -> None:
    tiles = resolve_tiles([LipSyncTask(dto(status="processing", resultVideoUrl=None))])
    assert "processing" in (tiles[1].problem or "")


def test_the_static_view_inlines_bytes_within_its_budget() -> None:
    first = Tile(
        "result", "video", "a", url="http://127.0.0.1/a.mp4", data=b"A" * 10, mime="video/mp4"
    )
    second = Tile(
        "result", "video", "b", url="http://127.0.0.1/b.mp4", data=b"B" * 10, mime="video/mp4"
    )
    markup = compare_html([first, second], max_embed_bytes=15)
    sources = [attrs["src"] for _, attrs in media(markup)]
    assert sources == ["data:video/mp4;base64," + base64.b64encode(b"A" * 10).decode()]
    assert "size budget" in markup and 'href="http://127.0.0.1/b.mp4"' in markup
    assert "2 views" in compare_text([first, second])


def test_chinese_labels() -> None:
    task = LipSyncTask(dto(videoUrl="https://cdn.example.com/in.mp4"))
    markup = StaticCompare(task, lang="zh").to_html()
    assert "输入" in markup and "结果" in markup
    with pytest.raises(ValueError, match="lang"):
        StaticCompare(task, lang="fr")


# --- against the sandbox (real HTTP on 127.0.0.1) ----------------------------------
@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts={TOKEN: 1_000_000}, time_scale=0.02) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[KittaClient]:
    with sandbox.client(TOKEN) as made:
        yield made


def finished(client: KittaClient, **inputs: str) -> LipSyncTask:
    task = client.lip_sync.create(duration_seconds=4.29, **inputs)  # type: ignore[arg-type]
    return task.wait(timeout=60, poll_interval=0.05)


def test_the_input_comes_from_the_recorded_request(sandbox: Sandbox, client: KittaClient) -> None:
    samples = sandbox.samples
    task = finished(client, video_url=samples["video"], audio_url=samples["audio"])
    assert "videoUrl" not in task.raw  # the server does not echo inputs: the journal knows
    assert task_source(task) == ("video", samples["video"])
    image_task = finished(client, image_url=samples["image"], audio_url=samples["audio"])
    assert task_source(image_task) == ("image", samples["image"])


def test_loopback_media_are_fetched_by_the_kernel(sandbox: Sandbox, client: KittaClient) -> None:
    samples = sandbox.samples
    task = finished(client, video_url=samples["video"], audio_url=samples["audio"])
    source, result = resolve_tiles([task])
    assert source.data is not None and source.mime == "video/mp4"
    assert source.data[4:8] == b"ftyp"
    assert result.data is not None and result.mime == "video/mp4"
    markup = StaticCompare(task).to_html()
    sources = [attrs["src"] or "" for _, attrs in media(markup)]
    assert [s.split(",")[0] for s in sources] == ["data:video/mp4;base64"] * 2
    assert base64.b64decode(sources[0].split(",", 1)[1]) == source.data
    assert_inert(markup)


def test_image_mode_shows_the_image(sandbox: Sandbox, client: KittaClient) -> None:
    samples = sandbox.samples
    task = finished(client, image_url=samples["image"], audio_url=samples["audio"])
    source = resolve_tiles([task])[0]
    assert (source.kind, source.mime) == ("image", "image/png")
    tag, attrs = media(StaticCompare(task).to_html())[0]
    assert tag == "img" and (attrs["src"] or "").startswith("data:image/png;base64,")


def test_embed_false_never_fetches(sandbox: Sandbox, client: KittaClient) -> None:
    samples = sandbox.samples
    task = finished(client, video_url=samples["video"], audio_url=samples["audio"])
    tiles = resolve_tiles([task], embed=False)
    assert [t.data for t in tiles] == [None, None]
    assert [t.url for t in tiles] == [samples["video"], task.result_video_url]


@pytest.mark.parametrize(
    ("name", "words"), [("not_media", "not a playable"), ("missing", "Could not load")]
)
def test_a_bad_input_is_a_message_not_a_crash(
    sandbox: Sandbox, client: KittaClient, name: str, words: str
) -> None:
    samples = sandbox.samples
    task = finished(client, video_url=samples["video"], audio_url=samples["audio"])
    source = resolve_tiles([task], source=samples[name])[0]
    assert source.data is None and words in (source.problem or ""), source.problem


def test_too_large_media_are_linked(sandbox: Sandbox, client: KittaClient) -> None:
    samples = sandbox.samples
    task = finished(client, video_url=samples["video"], audio_url=samples["audio"])
    source = resolve_tiles([task], source=samples["audio"] + "?big", max_bytes=1000)[0]
    assert source.data is None and "Too large" in (source.problem or "")
    assert 'href="' + html.escape(source.url or "", quote=True) + '"' in compare_html([source])


def test_ab_labels_come_from_batch_keys_and_journal_labels(
    sandbox: Sandbox, client: KittaClient
) -> None:
    samples = sandbox.samples
    a = finished(client, video_url=samples["video"], audio_url=samples["audio"], key="en take")
    b = finished(client, video_url=samples["video"], audio_url=samples["audio_zh"])
    c = finished(client, video_url=samples["video"], audio_url=samples["audio_zh"])
    journal = client.journal
    assert journal is not None
    journal.set_labels(b, ["take 2", "zh"])
    assert [task_label(t) for t in (a, b, c)] == ["en take", "take 2, zh", c.task_id]
    tiles = resolve_tiles([a, b])
    assert [t.label for t in tiles] == ["en take", "take 2, zh"]
    assert all(t.role == "result" and t.data is not None for t in tiles)
    with_source = resolve_tiles([a, b], show_source=True)
    assert [t.role for t in with_source] == ["source", "result", "result"]
