"""The client and every display against a hostile server of our own (127.0.0.1).

Each answer is something a broken, compromised or malicious server could send
(see `hostile_server.py`). The client must answer with a `KittaError` or a
value, never another exception, never a hang; every HTML view must hold only
our own tags and attributes, and only http(s) or data:video/mp4 URLs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kitta_notebook import (
    APIError,
    APITimeoutError,
    KittaClient,
    KittaError,
    LipSyncTask,
    WaitTimeoutError,
)
from kitta_notebook.display.html import page_html, task_html, task_mimebundle, task_text
from kitta_notebook.display.video import video_html
from tests.reliability.hostile_server import (
    HOSTILE_STRINGS,
    HOSTILE_URLS,
    HostileServer,
    hostile_dto,
)
from tests.reliability.reliability_helpers import FIGURES, assert_inert

TOKEN = "hostile-test-token-7d1e"
VIDEO = "https://media.example.com/v.mp4"
AUDIO = "https://media.example.com/a.mp3"


def make_client(server: HostileServer, scenario: str, **kwargs: Any) -> KittaClient:
    options: dict[str, Any] = {"timeout": httpx.Timeout(2.0), "max_retries": 0, "journal": False}
    options.update(kwargs)
    client = KittaClient(TOKEN, base_url=server.base_url(scenario), **options)
    client._config.retry_base_delay = 0.001
    client._config.retry_max_delay = 0.005
    return client


def outcome(call: Callable[[], object], *, record: bool = True) -> object:
    """Run one client call; a non-Kitta exception fails the test (and is counted).

    `record=False` for checks whose counts are not part of the figures.
    """
    if record:
        FIGURES.add("hostile", "client calls against hostile answers", 1)
    try:
        return call()
    except KittaError as exc:
        if record:
            FIGURES.add("hostile", "calls refused with a KittaError", 1)
        return exc
    except Exception as exc:  # pragma: no cover - the failure we look for
        if record:
            FIGURES.add("hostile", "unhandled non-Kitta exceptions found", 1)
        raise AssertionError(f"{type(exc).__name__} escaped the client: {exc!r:.300}") from exc


class FakeHandle:
    """Stands in for IPython's DisplayHandle: keeps every HTML the view showed."""

    def __init__(self, shown: list[str]) -> None:
        self.shown = shown

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        self.shown.append(bundle["text/html"])


@pytest.fixture
def displayed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every HTML a live view displays or updates (IPython's display is replaced)."""
    import IPython.display

    shown: list[str] = []

    def fake_display(obj: Any, raw: bool = False, display_id: Any = None, **_: Any) -> Any:
        html = obj.get("text/html") if isinstance(obj, dict) else None
        if html is None and hasattr(obj, "_repr_mimebundle_"):
            html = obj._repr_mimebundle_().get("text/html")
        if html is not None:
            shown.append(html)
        return FakeHandle(shown) if display_id else None

    monkeypatch.setattr(IPython.display, "display", fake_display)
    yield shown


# --- rendering: every field and URL hostile ---------------------------------------------------
def test_every_hostile_task_renders_inert_in_every_view(hostile: HostileServer) -> None:
    ids = [f"t-{i}" for i in range(max(len(HOSTILE_STRINGS), len(HOSTILE_URLS)))]
    with make_client(hostile, "xss") as client:
        for task_id in ids:
            task = outcome(lambda task_id=task_id: client.lip_sync.get(task_id))
            assert isinstance(task, LipSyncTask)
            for status in ("pending", "processing", "succeeded", "failed", HOSTILE_STRINGS[2]):
                task.raw["status"] = status
                task._update_from(LipSyncTask(task.raw, client=client))
                bundle = task_mimebundle(task)
                report = assert_inert(bundle["text/html"])
                for lang in ("en", "zh"):
                    for embed in (None, True, False):
                        assert_inert(task_html(task, lang=lang, embed=embed))
                        assert_inert(video_html(task, embed=embed, lang=lang))
                # The hostile text is shown as text (escaped), not dropped.
                shown = task.error_message or ""
                assert shown.replace("\x00", "")[:40] in report.text.replace("\x00", "")
                FIGURES.add("hostile", "hostile tasks rendered", 1)
    FIGURES.add("hostile", "hostile strings in the corpus", len(HOSTILE_STRINGS))
    FIGURES.add("hostile", "hostile result URLs in the corpus", len(HOSTILE_URLS))


@pytest.mark.parametrize("url", [u for u in HOSTILE_URLS if u and "{media}" not in u])
def test_hostile_result_urls_never_reach_src_or_href(url: str) -> None:
    task = LipSyncTask(hostile_dto(0) | {"resultVideoUrl": url, "taskId": "lip_task_u"})
    for embed in (None, True, False):
        markup = task_html(task, embed=embed)
        assert_inert(markup)
        if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
            assert "<video" not in markup and "href=" not in markup
            FIGURES.add("hostile", "hostile result URLs refused", 1)


def test_pages_render_inert_and_bounded(hostile: HostileServer) -> None:
    with make_client(hostile, "xss") as client:
        page = outcome(lambda: client.lip_sync.list(limit=100))
        assert not isinstance(page, Exception)
        assert_inert(page._repr_mimebundle_()["text/html"])
        assert_inert(page_html(page, lang="zh"))
    with make_client(hostile, "unknown") as client:
        page = outcome(lambda: client.lip_sync.list())
        assert not isinstance(page, Exception)
        assert [t.task_id for t in page][-1] == "lip_task_8"
        assert_inert(page._repr_mimebundle_()["text/html"])


def test_a_page_of_10000_items_renders_a_bounded_table(hostile: HostileServer) -> None:
    with make_client(hostile, "bigpage") as client:
        started = time.monotonic()
        page = outcome(lambda: client.lip_sync.list(limit=20))
        assert not isinstance(page, Exception)
        assert len(page) == 10_000  # kept as received: nothing is silently dropped
        markup = page._repr_mimebundle_()["text/html"]
        elapsed = time.monotonic() - started
    FIGURES.add("hostile", "items in the 10,000-item page", len(page))
    assert_inert(markup)
    # A notebook output near 10 MB is dropped by Colab and bloats the .ipynb in git.
    assert len(markup) < 512 * 1024, f"{len(markup):,} bytes of HTML for one page"
    assert "9,900 more" in markup or "9900 more" in markup
    assert elapsed < 10


def test_live_watch_view_renders_inert_on_every_update(
    hostile: HostileServer, displayed: list[str]
) -> None:
    with make_client(hostile, "xss") as client:
        watchers = []
        for index in (0, 1, 3, 8, 16):
            task = LipSyncTask({"taskId": f"prog-{index}", "status": "pending"}, client=client)
            watchers.append(task.watch(poll_interval=0.01, timeout=10, embed=True))
        for watcher in watchers:
            assert watcher.join(15), "watch() did not finish"
            assert watcher.error is None, watcher.error
            assert watcher.task.succeeded
    assert len(displayed) >= 3 * len(watchers)
    for markup in displayed:
        assert_inert(markup)
    FIGURES.add("hostile", "live watch() updates checked", len(displayed))


def test_live_watch_shows_hostile_errors_inert(
    hostile: HostileServer, displayed: list[str]
) -> None:
    with make_client(hostile, "errors") as client:
        for _ in range(6):
            task = LipSyncTask({"taskId": "lip_task_e", "status": "pending"}, client=client)
            watcher = task.watch(poll_interval=0.01, timeout=5)
            assert watcher.join(10)
    assert displayed
    for markup in displayed:
        assert_inert(markup)
    FIGURES.add("hostile", "live watch() updates checked", len(displayed))


def test_batch_and_gallery_views_render_inert(hostile: HostileServer) -> None:
    batch = pytest.importorskip("kitta_notebook.batch")
    with make_client(hostile, "xss") as client:
        tasks = [client.lip_sync.get(f"t-{i}") for i in range(len(HOSTILE_STRINGS))]
        gallery = batch.TaskList(tasks)
        assert_inert(gallery._repr_mimebundle_()["text/html"])
        result = client.lip_sync.create_many(
            [{"audio_url": AUDIO, "video_url": VIDEO, "key": s} for s in HOSTILE_STRINGS[:5]],
            progress=False,
        )
        assert_inert(result.to_html())
    with make_client(hostile, "errors") as client:
        result = client.lip_sync.create_many(
            [{"audio_url": AUDIO, "video_url": VIDEO, "key": s} for s in HOSTILE_STRINGS[:8]],
            progress=False,
        )
        assert len(result.errors) == 8
        assert_inert(result.to_html())


# --- the client: only KittaErrors, never a hang -------------------------------------------------
CALLS: dict[str, Callable[[KittaClient], object]] = {
    "get": lambda c: c.lip_sync.get("lip_task_1"),
    "get hostile id": lambda c: c.lip_sync.get(HOSTILE_STRINGS[3]),
    "list": lambda c: c.lip_sync.list(),
    "list filtered": lambda c: c.lip_sync.list(limit=100, offset=5, status="failed"),
    "iter": lambda c: list(itertools.islice(c.lip_sync.iter(page_size=5), 50)),
    "create": lambda c: c.lip_sync.create(audio_url=AUDIO, video_url=VIDEO),
    "usage": lambda c: c.usage(),
    "server_info": lambda c: c.server_info(refresh=True),
    "wait": lambda c: c.lip_sync.wait("lip_task_1", timeout=0.2, poll_interval=0.01),
    "refresh": lambda c: LipSyncTask({"taskId": "lip_task_1"}, client=c).refresh(),
}


@pytest.mark.parametrize(
    "scenario", ["unknown", "badjson", "htmlerror", "errors", "redirect", "hugefield", "loop"]
)
def test_every_call_returns_or_raises_a_kitta_error(hostile: HostileServer, scenario: str) -> None:
    rounds = 6 if scenario in ("badjson", "htmlerror", "errors", "unknown") else 1
    with make_client(hostile, scenario, max_retries=1) as client:
        for _ in range(rounds):
            for call in CALLS.values():
                result = outcome(lambda call=call: call(client))
                if isinstance(result, LipSyncTask):
                    assert_inert(task_mimebundle(result)["text/html"])
                    task_text(result)
                    repr(result)
                elif hasattr(result, "_repr_mimebundle_"):
                    assert_inert(result._repr_mimebundle_()["text/html"])  # type: ignore[union-attr]
                elif isinstance(result, WaitTimeoutError):
                    assert_inert(task_html(result.task))
                if isinstance(result, KittaError):
                    repr(result)  # plain text: IPython escapes it in a traceback
    FIGURES.add("hostile", "scenarios exercised", 1)


def test_server_info_survives_a_deeply_nested_json_schema() -> None:
    nested = b"[" * 50_000 + b"]" * 50_000
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=nested))
    client = KittaClient(
        TOKEN, base_url="http://api.test/api", http_client=httpx.Client(transport=transport)
    )
    with client:
        info = outcome(lambda: client.server_info(), record=False)
    assert not isinstance(info, Exception)


def test_a_large_body_is_read_within_bounds(hostile: HostileServer) -> None:
    """64 MB that never ends: the client fails with a KittaError, and stops reading."""
    hostile.bytes_sent.clear()
    with make_client(hostile, "huge", max_retries=0) as client:
        result = outcome(lambda: client.lip_sync.get("lip_task_1"))
    assert isinstance(result, KittaError)
    FIGURES.add("hostile", "scenarios exercised", 1)


def test_a_huge_body_is_refused_before_it_is_all_read(hostile: HostileServer) -> None:
    hostile.bytes_sent.clear()
    with make_client(hostile, "huge", max_retries=0) as client:
        result = outcome(lambda: client.lip_sync.get("lip_task_1"), record=False)
    assert isinstance(result, KittaError)
    assert hostile.bytes_sent["api:huge"] < 32 * 1024 * 1024, hostile.bytes_sent


def test_a_create_answered_2xx_but_unreadable_may_have_created(hostile: HostileServer) -> None:
    """A 202 whose body cannot be read: the task exists; the error must say so."""
    with make_client(hostile, "badjson", max_retries=3) as client:
        for _ in range(10):
            before = len(hostile.recorded(lambda r: r.method == "POST"))
            result = outcome(lambda: client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO))
            sent = len(hostile.recorded(lambda r: r.method == "POST")) - before
            assert sent == 1, "a create that reached the server was sent again"
            if isinstance(result, APIError):
                assert result.may_have_created, str(result)
                assert "may have been created" in str(result)
            FIGURES.add("hostile", "unreadable 2xx creates flagged may_have_created", 1)


def test_redirects_to_another_origin_are_not_followed(
    hostile: HostileServer, recorder: HostileServer
) -> None:
    recorder.clear()
    with make_client(hostile, "redirect", max_retries=2) as client:
        for name, call in CALLS.items():
            result = outcome(lambda call=call: call(client))
            assert isinstance(result, (APIError, WaitTimeoutError)) or name == "server_info"
    stolen = recorder.recorded(lambda r: r.path.startswith("/stolen"))
    assert stolen == [], "a redirect was followed to another origin"
    FIGURES.add("hostile", "cross-origin redirects followed (token exposure)", len(stolen))


def test_a_stalled_answer_hits_the_read_timeout(hostile: HostileServer) -> None:
    with make_client(hostile, "stall", timeout=httpx.Timeout(0.5), max_retries=0) as client:
        started = time.monotonic()
        result = outcome(lambda: client.lip_sync.get("lip_task_1"))
        elapsed = time.monotonic() - started
    assert isinstance(result, APITimeoutError), result
    assert elapsed < 3, elapsed
    FIGURES.add("hostile", "scenarios exercised", 1)


def test_a_slow_drip_is_cut_off_by_a_total_deadline() -> None:
    with HostileServer(drip_interval=0.1, drip_max_seconds=4) as server:
        client = make_client(server, "drip", timeout=httpx.Timeout(1.0), max_retries=0)
        with client:
            started = time.monotonic()
            result = outcome(lambda: client.lip_sync.get("lip_task_1"), record=False)
            elapsed = time.monotonic() - started
    assert isinstance(result, APITimeoutError), result
    assert elapsed < 3.0, f"a 1 s read timeout let a trickling answer run {elapsed:.1f} s"


def test_iter_stops_when_the_server_repeats_the_same_page(hostile: HostileServer) -> None:
    before = len(hostile.recorded(lambda r: "/s/loop/" in r.path))
    with make_client(hostile, "loop") as client:
        ids = [t.task_id for t in client.lip_sync.iter(page_size=3)]
    sent = len(hostile.recorded(lambda r: "/s/loop/" in r.path)) - before
    assert ids == ["loop-0", "loop-1", "loop-2"]
    assert sent <= 3, f"{sent} list requests for 3 tasks"


def test_huge_string_fields_render_bounded(hostile: HostileServer) -> None:
    with make_client(hostile, "hugefield") as client:
        task = outcome(lambda: client.lip_sync.get("lip_task_huge"))
    assert isinstance(task, LipSyncTask)
    assert len(task.error_message or "") > 4_000_000
    markup = task_html(task)
    plain = task_text(task)
    assert_inert(markup)
    assert len(markup) < 64 * 1024, f"{len(markup):,} bytes of HTML for one card"
    assert len(plain) < 64 * 1024, f"{len(plain):,} bytes of text for one card"


# --- media: the download path and the embed path ----------------------------------------------
def test_media_answers_are_handled(
    hostile: HostileServer, recorder: HostileServer, tmp_path
) -> None:
    recorder.clear()
    with make_client(hostile, "ok") as client:
        base = hostile_dto(0) | {"taskId": "lip_task_m", "status": "succeeded"}
        for name, expect_bytes in (
            ("ok.mp4", True),
            ("html.mp4", False),
            ("huge.mp4", False),
            ("redirect.mp4", True),
        ):
            url = hostile.media_url(name)  # redirect.mp4 sends the client to `recorder`
            task = LipSyncTask(base | {"resultVideoUrl": url}, client=client)
            markup = task_html(task, embed=True)
            assert_inert(markup)
            assert ("data:video/mp4;base64," in markup) is expect_bytes, name
            FIGURES.add("hostile", "media answers embedded or refused", 1)
        ok = LipSyncTask(base | {"resultVideoUrl": hostile.media_url("ok.mp4")}, client=client)
        path = ok.download(tmp_path / "r.mp4")
        assert path.read_bytes() == hostile.media_bytes
    # media requests carry no token, even after a cross-origin redirect
    media = hostile.recorded(lambda r: r.path.startswith("/media/"))
    media += recorder.recorded()
    assert media and all(r.authorization is None for r in media)
