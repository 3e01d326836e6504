"""With keeping on, a result is kept when a wait sees it finish, not only when shown.

Against the shared sandbox over HTTP; the kept copy is checked on disk and in
the journal (size and sha256 of the bytes on disk).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from kitta_notebook import KittaClient
from kitta_notebook.sandbox import Sandbox

TOKEN = "tok-kept-on-wait"


@pytest.fixture(scope="module", autouse=True)
def _account(shared_sandbox: Sandbox) -> None:
    shared_sandbox.add_account(TOKEN, 10_000_000)


def assert_kept(client: KittaClient, task_id: str) -> None:
    kept = client.history.kept(task_id)
    assert kept is not None, "the finished task's result was not kept"
    data = Path(kept.path).read_bytes()
    assert len(data) == kept.size > 1000
    assert hashlib.sha256(data).hexdigest() == kept.sha256


def test_wait_keeps_the_result(shared_sandbox: Sandbox) -> None:
    with shared_sandbox.client(TOKEN, keep_results=True) as client:
        task = client.lip_sync.create(
            video_url=shared_sandbox.samples["video"], audio_url=shared_sandbox.samples["audio"]
        )
        task.wait(timeout=60, poll_interval=0.05)
        assert_kept(client, task.task_id)


def test_wait_many_keeps_every_result_sync_and_async(shared_sandbox: Sandbox) -> None:
    item = {
        "video_url": shared_sandbox.samples["video"],
        "audio_url": shared_sandbox.samples["audio"],
    }
    with shared_sandbox.client(TOKEN, keep_results=True) as client:
        batch = client.lip_sync.create_many([item, item], progress=False)
        done = client.lip_sync.wait_many(batch, timeout=60, poll_interval=0.05, progress=False)
        assert [task.status for task in done] == ["succeeded", "succeeded"]
        for task in done:
            assert_kept(client, task.task_id)

    async def run() -> list[str]:
        async with shared_sandbox.async_client(TOKEN, keep_results=True) as client:
            batch = await client.lip_sync.create_many([item], progress=False)
            done = await client.lip_sync.wait_many(
                batch, timeout=60, poll_interval=0.05, progress=False
            )
            return [task.task_id for task in done]

    finished = asyncio.run(run())
    assert len(finished) == 1
    with shared_sandbox.client(TOKEN) as reader:
        for task_id in finished:
            assert_kept(reader, task_id)


def test_nothing_is_kept_when_keeping_is_off(shared_sandbox: Sandbox) -> None:
    with shared_sandbox.client(TOKEN, keep_results=False) as client:
        task = client.lip_sync.create(
            video_url=shared_sandbox.samples["video"], audio_url=shared_sandbox.samples["audio"]
        )
        task.wait(timeout=60, poll_interval=0.05)
        assert client.history.kept(task.task_id) is None
