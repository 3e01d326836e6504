"""After a restart the embedded sandbox runs on another port: the inputs the journal
recorded from it must still open ("What was sent", "Compare with input", export links)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from kitta_notebook.connection import SANDBOX_JOURNAL_IDENTITY
from kitta_notebook.display.compare import resolve_tiles
from kitta_notebook.display.history_html import entry_card_html
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.widgets.history import HistoryBrowser

TOKEN = "restart-tok"


def test_inputs_from_the_sandbox_open_after_it_restarts_on_another_port(tmp_path: Path) -> None:
    data = tmp_path / "sandbox"
    with Sandbox(accounts={TOKEN: 100_000}, time_scale=0.05, data_dir=data) as before:
        client = before.client(TOKEN)
        client._config.journal_identity = SANDBOX_JOURNAL_IDENTITY  # as connect() does
        task = client.lip_sync.create(
            video_url=before.samples["video"], audio_url=before.samples["audio"]
        )
        task.wait(timeout=60, poll_interval=0.05)
        old_origin = before.origin
        journal = client.journal
        assert journal is not None
        client.close()

    # The journal keeps the sandbox's own media without its port.
    with sqlite3.connect(journal.path) as db:
        stored = db.execute("SELECT video_url, request_json FROM entries").fetchall()
    assert stored and stored[0][0] == "kitta-sandbox:/samples/video.mp4"
    assert old_origin not in stored[0][1]

    with Sandbox(accounts={TOKEN: 100_000}, time_scale=0.05, data_dir=data) as after:
        assert after.origin != old_origin  # "the kernel restarted": another port
        client = after.client(TOKEN)
        client._config.journal_identity = SANDBOX_JOURNAL_IDENTITY
        entry = client.history.get(task.task_id)
        assert entry is not None and entry.request is not None
        assert entry.video_url == after.samples["video"]
        assert entry.request["audioUrl"] == after.samples["audio"]
        sent = entry_card_html(entry)  # "What was sent"
        assert after.samples["video"] in sent and old_origin not in sent
        assert httpx.get(entry.video_url, timeout=10).status_code == 200

        fresh = client.lip_sync.get(task.task_id)
        source = resolve_tiles([fresh], embed=True)[0]  # "Compare with input"
        assert source.kind == "video" and source.problem is None, source
        assert source.data is not None and source.data[4:8] == b"ftyp"

        async def browse() -> str:
            browser = HistoryBrowser(client, sync=False, live=False)
            browser.select(task.task_id)
            await browser.settle()
            return str(browser.card.value)

        assert old_origin not in asyncio.run(browse())
        client.close()


def test_a_keyed_create_rerun_after_a_restart_returns_its_task(tmp_path: Path) -> None:
    """The quickstart's `key=` cell run again after a restart: the sandbox's sample URLs
    now carry another port, yet they are the same inputs, so the earlier task comes back."""
    data = tmp_path / "sandbox"
    with Sandbox(accounts={TOKEN: 100_000}, time_scale=0.05, data_dir=data) as before:
        client = before.client(TOKEN)
        client._config.journal_identity = SANDBOX_JOURNAL_IDENTITY  # as connect() does
        first = client.lip_sync.create(
            video_url=before.samples["video"], audio_url=before.samples["audio"], key="demo-1"
        )
        old_origin = before.origin
        client.close()

    with Sandbox(accounts={TOKEN: 100_000}, time_scale=0.05, data_dir=data) as after:
        assert after.origin != old_origin
        client = after.client(TOKEN)
        client._config.journal_identity = SANDBOX_JOURNAL_IDENTITY
        again = client.lip_sync.create(
            video_url=after.samples["video"], audio_url=after.samples["audio"], key="demo-1"
        )
        assert again.task_id == first.task_id
        assert after.stats.creates_accepted == 0
        client.close()
