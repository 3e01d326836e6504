"""`HistoryBrowser`'s live rows against the real sandbox: a row never stays unfinished
after the task ended, whoever recorded the end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets.history import HistoryBrowser
from kitta_notebook.widgets.history_detail import RowsSnapshot

TOKEN = "history-live"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """Tasks pending 2 s, then processing 6 s: the browser's first round sees one unfinished."""
    with Sandbox(accounts={TOKEN: 100_000}, time_scale=2.0) as sb:
        yield sb


async def until(check: Any, what: str, timeout: float = 30.0) -> None:
    """Yield to the loop until `check()` holds (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_task_finished_by_another_view_does_not_stay_pending_in_the_table(
    sandbox: Sandbox,
) -> None:
    """The notebook's Run All: the browser shows a task pending, then another view of the
    same client (a `resume()` watcher, `wait_many`) records its end in the journal between
    two rounds of the browser's live rows. The next round finds nothing unfinished and
    rests: the row must show the end all the same."""
    client = sandbox.client(TOKEN)
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
    )

    def finish_elsewhere(snap: RowsSnapshot) -> None:
        # Right after the browser's first round, on the loop (no round can run meanwhile):
        # the client's own wait records the end in the journal.
        if snap.polls == 1 and snap.phase == "following":
            client.lip_sync.wait(task, poll_interval=0.05, timeout=60)

    async def main() -> tuple[str, str]:
        browser = HistoryBrowser(client, sync=False, live_interval=0.05)
        row = browser.rows[0]
        assert row.entry is not None and row.entry.task_id == task.task_id
        first = row.badge.value
        browser.live_rows.subscribe(finish_elsewhere)
        assert browser._live_task is not None
        await until(browser._live_task.done, "the live rows to rest")
        browser.stop()
        return first, row.badge.value

    first, last = asyncio.run(main())
    assert task.succeeded and client.history.count(status="succeeded") >= 1
    assert 'data-status="succeeded"' not in first
    assert 'data-status="succeeded"' in last, last


def test_tasks_learnt_from_the_list_get_their_model_and_time_and_sort_by_it(
    sandbox: Sandbox,
) -> None:
    """A task made elsewhere (another kernel, the web console) is learnt from a list
    item, which has no model and no created time: the sync fills them from the task's
    detail, so it shows both and sorts by when it was created, not to the top."""
    samples = sandbox.samples
    with sandbox.client(TOKEN, journal=False) as elsewhere:  # records nothing here
        older = elsewhere.lip_sync.create(video_url=samples["video"], audio_url=samples["audio"])
    client = sandbox.client(TOKEN)
    newer = client.lip_sync.create(video_url=samples["video"], audio_url=samples["audio"])
    listed = client.lip_sync.list(limit=100)
    assert all(t.created_at is None and t.model is None for t in listed.data)  # list items

    async def main() -> tuple[HistoryBrowser, Any]:
        browser = HistoryBrowser(client, sync=False, live=False)
        report = await client.as_async().history.sync()
        browser.render()
        return browser, report

    browser, report = asyncio.run(main())
    assert report.detailed >= 1
    shown = [e.task_id for e in browser.entries]
    assert shown.index(newer.task_id) < shown.index(older.task_id)  # newest first
    learnt = client.history.get(older.task_id)
    assert learnt is not None and learnt.from_server
    assert learnt.model == "kitta-lip-sync-v1" and learnt.created_at is not None
    assert "kitta-lip-sync-v1" in browser.rows[shown.index(older.task_id)].rest.value
