"""`HistoryBrowser` as Python objects: pages, filters, the card, actions, escaping."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import AsyncKittaClient, KittaClient
from kitta_notebook.history.store import JournalStore
from kitta_notebook.widgets.history import HistoryBrowser
from tests.journal.journal_helpers import AUDIO, VIDEO, mock_async_client, mock_client
from tests.support import dto, media_host

pytest.importorskip("ipywidgets")

STATUSES = ("pending", "processing", "succeeded", "failed")


def seed_journal(journal: JournalStore, count: int) -> None:
    """`count` tasks in the journal: statuses round-robin, one unknown-outcome create."""
    tasks = []
    for i in range(count):
        tasks.append(
            dto(
                taskId=f"lip_task_{i:03d}",
                status=STATUSES[i % 4],
                inputMode="image" if i % 5 == 0 else "video",
                creditsCharged=10 * i,
                createdAt=f"2026-07-01T{i // 60:02d}:{i % 60:02d}:00.000Z",
                errorCode="provider_error" if i % 4 == 3 else None,
                errorMessage="the face was not found" if i % 4 == 3 else None,
            )
        )
    journal.record_seen_many(tasks)
    entry_id = journal.record_request(
        {"model": "kitta-lip-sync-v1", "inputMode": "video", "videoUrl": VIDEO, "audioUrl": AUDIO},
    )
    journal.record_outcome(entry_id, rejected=False, error="ServerError: HTTP 500")


def visible(browser: HistoryBrowser) -> list[str]:
    return [r.open_button.description for r in browser.rows if r.visible]


@pytest.fixture()
def browser(journal_store: str) -> HistoryBrowser:
    """A browser over 46 entries, on each store in turn."""
    client = mock_client(lambda request: httpx.Response(500))
    assert client.journal is not None
    seed_journal(client.journal, 45)
    return HistoryBrowser(client, sync=False)


def test_pages_of_twenty_with_prev_and_next(browser: HistoryBrowser) -> None:
    assert browser.total == 46
    assert browser.pages == 3
    assert len(visible(browser)) == 20
    assert "Page 1 of 3" in browser.page_label.value
    assert browser.prev_button.disabled and not browser.next_button.disabled
    browser.next_button.click()
    browser.next_button.click()
    assert "Page 3 of 3" in browser.page_label.value
    assert len(visible(browser)) == 6
    assert browser.next_button.disabled
    browser.prev_button.click()
    assert browser.page == 1 and len(visible(browser)) == 20


def test_status_filter_shows_only_failed_rows(browser: HistoryBrowser) -> None:
    browser.status_filter.value = "failed"
    rows = [r for r in browser.rows if r.visible]
    assert len(rows) == 11
    assert all(r.entry is not None and r.entry.state == "failed" for r in rows)
    assert all('data-status="failed"' in r.badge.value for r in rows)
    assert "Page 1 of 1" in browser.page_label.value
    assert browser.summary is not None and browser.summary.counts == {"failed": 11}


def test_mode_search_and_sort(browser: HistoryBrowser) -> None:
    browser.mode_filter.value = "image"
    assert browser.total == 9
    browser.set_filters(mode="", search="lip_task_04")
    assert sorted(visible(browser)) == [f"lip_task_04{i}" for i in range(5)]
    browser.set_filters(search="", sort="credits:1")
    assert visible(browser)[0] == "lip_task_044"
    browser.set_filters(sort="credits:0")
    assert visible(browser)[0] == "lip_task_000"
    browser.set_filters(status="outcome_unknown")
    assert browser.total == 1 and browser.rows[0].entry is not None
    assert browser.rows[0].entry.needs_reconcile


def test_an_unknown_filter_choice_is_refused_by_name_and_nothing_changes(
    browser: HistoryBrowser,
) -> None:
    """A creator, status or sort the browser does not offer is a clear error naming the
    choices, raised before any filter is set (not the widget library's own error)."""
    browser.set_filters(status="failed")
    for wrong in ({"creator": "nobody"}, {"status": "done"}, {"sort": "credits"}):
        with pytest.raises(ValueError, match=f"^{next(iter(wrong))} must be one of ") as err:
            browser.set_filters(search="lip_task_04", **wrong)
        assert repr(next(iter(wrong.values()))) in str(err.value)
    assert browser.status_filter.value == "failed" and browser.search.value == ""
    assert browser.total == 11


def test_summary_strip_counts_and_credits(browser: HistoryBrowser) -> None:
    value = browser.summary_view.value
    assert "46 tasks" in value
    assert f"{sum(10 * i for i in range(45)):,}" in value
    assert value.count("kitta-count") == 5  # four statuses and "outcome unknown"


def test_selecting_a_row_opens_its_card(browser: HistoryBrowser) -> None:
    browser.status_filter.value = "failed"
    browser.rows[0].open_button.click()
    assert browser.selected is not None and browser.selected.state == "failed"
    card = browser.card.value
    assert browser.selected.task_id is not None and browser.selected.task_id in card
    assert "provider_error" in card and "the face was not found" in card
    assert browser.detail in browser.widget.children
    assert browser.watch_button.layout.display == "none"  # finished tasks are not watched
    assert browser.rows[0].open_button.button_style == "info"


def test_an_unknown_outcome_card_shows_what_was_sent(browser: HistoryBrowser) -> None:
    browser.set_filters(status="outcome_unknown")
    browser.rows[0].open_button.click()
    card = browser.card.value
    assert VIDEO in card and AUDIO in card and "HTTP 500" in card
    assert "may have reached the server" in card
    assert browser.reconcile_button.layout.display is None
    assert browser.refresh_button.layout.display == "none"


def test_labels_are_saved_and_everything_is_escaped(browser: HistoryBrowser) -> None:
    browser.rows[0].open_button.click()
    browser.labels_input.value = "<img src=x onerror=alert(1)>, promo"
    browser.labels_button.click()
    assert browser.selected is not None
    assert browser.selected.labels == ("<img src=x onerror=alert(1)>", "promo")
    for value in (browser.rows[0].rest.value, browser.card.value):
        assert "<img src=x" not in value
        assert "&lt;img src=x onerror=alert(1)&gt;" in value


def test_a_refused_label_is_said_in_the_note_and_nothing_is_saved(
    browser: HistoryBrowser,
) -> None:
    browser.rows[0].open_button.click()
    browser.labels_input.value = "promo, " + "x" * 101
    browser.labels_button.click()  # raised out of the click before
    assert browser.selected is not None and browser.selected.labels == ()
    assert "at most 100 characters" in browser.note.value and "#9b1c1c" in browser.note.value


def test_chinese_labels() -> None:
    client = mock_client(lambda request: httpx.Response(500))
    assert client.journal is not None
    seed_journal(client.journal, 3)
    browser = HistoryBrowser(client, "zh", sync=False)
    assert "任务历史" in browser.summary_view.value
    assert "状态" in browser.header.value and "积分" in browser.header.value
    assert "第 1 / 1 页" in browser.page_label.value
    assert "全部状态" in [label for label, _ in browser.status_filter.options]


def test_no_journal_is_a_clear_error() -> None:
    client = mock_client(lambda request: httpx.Response(500), journal=False)
    with pytest.raises(Exception, match="journal=False"):
        HistoryBrowser(client, sync=False)


MP4 = b"\x00\x00\x00\x18ftypmp42fake"


@pytest.fixture()
def media_url() -> Any:
    """A result host on 127.0.0.1 (media fetches use their own HTTP client, not the API's)."""
    with media_host(MP4) as base:
        yield f"{base}/r.mp4"


class Server:
    def __init__(self, result_url: str = "https://media.example.com/r.mp4") -> None:
        self.status = "processing"
        self.polls = 0
        self.result_url = result_url

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "media.example.com":
            return httpx.Response(200, content=MP4)
        if request.method == "POST":
            return httpx.Response(202, json=dto(status="pending"))
        if request.url.path.endswith("/tasks"):
            return httpx.Response(
                200,
                json={
                    "data": [
                        {
                            "taskId": "lip_elsewhere",
                            "status": "succeeded",
                            "inputMode": "video",
                            "creditsCharged": 7,
                        }
                    ],
                    "pagination": {"limit": 100, "offset": 0, "hasMore": False},
                },
            )
        if request.url.path.endswith("/lip_elsewhere"):  # its detail, fetched by the sync
            return httpx.Response(200, json=dto(taskId="lip_elsewhere", status="succeeded"))
        self.polls += 1
        if self.polls >= 2:
            self.status = "succeeded"
        result = self.result_url if self.status == "succeeded" else None
        return httpx.Response(200, json=dto(status=self.status, resultVideoUrl=result))


def test_watch_refresh_download_and_sync_on_the_event_loop(tmp_path: Path, media_url: str) -> None:
    server = Server(media_url)

    async def main() -> dict[str, Any]:
        client: AsyncKittaClient = mock_async_client(server)
        await client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
        browser = HistoryBrowser(
            client, sync=True, poll_interval=0.01, download_dir=tmp_path, embed=True
        )
        await browser.settle()
        assert browser.total == 2  # the sync brought in the task created elsewhere
        browser.set_filters(search="lip_task_1")
        browser.rows[0].open_button.click()
        assert browser.watch_button.layout.display is None
        browser.watch_button.click()
        await browser.settle()
        assert browser.selected is not None and browser.selected.state == "succeeded"
        assert 'data-status="succeeded"' in browser.rows[0].badge.value
        assert "data:video/mp4;base64," in browser.card.value
        browser.refresh_button.click()
        await browser.settle()
        browser.download_button.click()
        await browser.settle()
        entry = browser.history.get("lip_task_1")
        assert entry is not None and entry.download_path is not None
        await client.aclose()
        return {"note": browser.message, "path": entry.download_path}

    result = asyncio.run(main())
    assert Path(result["path"]).read_bytes().startswith(b"\x00\x00\x00\x18ftyp")
    assert "Saved to" in result["note"]


def test_a_failing_action_shows_a_message_and_the_table_stays() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"code": "down", "message": "maintenance"}})

    async def main() -> str:
        client = mock_async_client(handler)
        assert client.journal is not None
        seed_journal(client.journal, 2)
        browser = HistoryBrowser(client, sync=False)
        browser.select("lip_task_000")
        browser.refresh_button.click()
        await browser.settle()
        await client.aclose()
        return browser.message

    assert "maintenance" in asyncio.run(main())


def test_a_script_without_a_loop_can_still_use_actions() -> None:
    client: KittaClient = mock_client(lambda request: httpx.Response(500))
    assert client.journal is not None
    seed_journal(client.journal, 2)
    browser = HistoryBrowser(client)
    assert browser._tasks == set()
    assert "HistoryBrowser(" in repr(browser)


# --- live rows and the saved output ---------------------------------------------------------
LIVE_TOKEN = "history-live-tok"


@pytest.fixture(scope="module")
def live_sandbox() -> Any:
    from kitta_notebook.sandbox import Sandbox

    with Sandbox(accounts={LIVE_TOKEN: 1_000_000}, time_scale=0.05) as sb:
        yield sb


async def bounded_until(check: Any, what: str, timeout: float = 30.0) -> None:
    """Yield to the loop until `check()` holds (bounded: fails after `timeout` seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_finished_tasks_never_stay_pending_and_a_click_opens_the_current_state(
    live_sandbox: Any,
) -> None:
    """The journal says pending (the task finished while nobody looked): the browser
    corrects the rows by itself, through the client, and the card shows the result."""
    sb = live_sandbox
    client = sb.client(LIVE_TOKEN)
    tasks = [
        client.lip_sync.create(video_url=sb.samples["video"], audio_url=sb.samples["audio"])
        for _ in range(3)
    ]
    assert client.history.count(status="pending") == 3
    with sb.client(LIVE_TOKEN, journal=False) as elsewhere:  # finishes them, records nothing
        for task in tasks:
            elsewhere.lip_sync.wait(task.task_id, poll_interval=0.05, timeout=60)
    assert client.history.count(status="pending") == 3  # the journal is stale

    async def main() -> tuple[list[str], str, int]:
        browser = HistoryBrowser(client, sync=False, live_interval=0.05, embed=True)
        assert browser.live and browser._live_task is not None
        await bounded_until(
            lambda: all('data-status="succeeded"' in r.badge.value for r in browser.rows[:3]),
            "the rows to show succeeded",
        )
        states = [e.state for e in client.history.items()]
        browser.rows[0].open_button.click()
        await browser.settle()
        await bounded_until(lambda: "data:video/mp4;base64," in browser.card.value, "video")
        await bounded_until(lambda: browser._live_task.done(), "the row follower to rest")
        card = browser.card.value
        browser.stop()
        return states, card, browser.live_rows.snapshot.polls

    states, card, polls = asyncio.run(main())
    assert states == ["succeeded"] * 3  # recorded by the client's own fetches
    assert 'data-status="succeeded"' in card
    assert polls >= 1
    assert 'data-status="pending"' not in card


def test_the_output_carries_a_static_snapshot_for_when_no_widget_runs(
    browser: HistoryBrowser,
) -> None:
    browser.rows[0].open_button.click()
    browser.labels_input.value = "<script>alert(1)</script>"
    browser.labels_button.click()
    bundle = browser._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    snapshot = bundle["text/html"]
    assert "kitta-history-row" in snapshot and "46 tasks" in snapshot
    assert snapshot.count("kitta-history-row") == 20  # the page shown, as static rows
    assert "<script>" not in snapshot and "&lt;script&gt;alert(1)&lt;/script&gt;" in snapshot
    assert "46" in bundle["text/plain"] and "<" not in bundle["text/plain"].split("\n")[0]


def test_a_search_matching_more_than_the_count_cap_is_said_as_more_and_pages_on(
    browser: HistoryBrowser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broad search over a large history is counted up to a cap (fast at 1M entries),
    shown as "N+ tasks" without state totals that would be a part shown as the whole,
    and its pages still run to the end."""
    from kitta_notebook.widgets import history as browser_module

    monkeypatch.setattr(browser_module, "COUNT_AT_MOST", 30)
    browser.set_filters(search="lip_task_0")  # 45 of the 46 entries match
    assert browser.summary is not None and browser.summary.more
    assert browser.summary.counts == {} and browser.total == 30
    assert "30+ tasks" in browser.summary_view.value
    assert "narrow the search" in browser.summary_view.value
    assert "Credits charged" not in browser.summary_view.value
    assert "Page 1 of 2+" in browser.page_label.value
    browser.next_button.click()
    assert "Page 2 of 2+" in browser.page_label.value and not browser.next_button.disabled
    browser.next_button.click()  # past the counted pages: the rows that are there
    assert "Page 3 of 3+" in browser.page_label.value
    assert len(visible(browser)) == 5 and browser.next_button.disabled
    assert browser.history.count(search="lip_task_0") == 45  # the API still counts exactly
    browser.set_filters(search="lip_task_04")  # few enough: counted and summed exactly
    assert browser.summary is not None and not browser.summary.more
    assert browser.total == 5 and "5 tasks" in browser.summary_view.value
    assert "Page 1 of 1" in browser.page_label.value and "+" not in browser.page_label.value


def test_a_capped_count_never_caps_what_the_kept_totals_answer(browser: HistoryBrowser) -> None:
    history = browser.history
    at_most = history.summary(at_most=10)  # no search: the totals answer at once, exactly
    assert not at_most.more and at_most.total == 46
    failed = history.summary(status="failed", at_most=10)
    assert not failed.more and failed.counts == {"failed": 11}
    searched = history.summary(search="lip_task", at_most=45)
    assert not searched.more and searched.total == 45  # exactly the cap: not "more"
    over = history.summary(search="lip_task", at_most=44)
    assert over.more and over.total == 44 and over.counts == {} and over.credits == 0
    assert over.kept_bytes == searched.kept_bytes


@pytest.mark.parametrize("at_most", [0, -5, 2.5, True, "100"])
def test_a_count_cap_that_is_not_a_whole_number_above_zero_is_refused(
    browser: HistoryBrowser, at_most: Any
) -> None:
    from kitta_notebook import ValidationError

    with pytest.raises(ValidationError, match="at_most"):
        browser.history.summary(search="lip_task", at_most=at_most)
