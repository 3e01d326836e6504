"""`create(..., key=...)`: re-running a cell with the same key never pays twice.

Against the real sandbox over HTTP; creates are counted at the server.
"""

from __future__ import annotations

import asyncio

import pytest

from kitta_notebook import AsyncKittaClient, KittaClient, ValidationError
from kitta_notebook.sandbox import Sandbox

TOKEN = "tok-create-key"


@pytest.fixture(scope="module", autouse=True)
def _account(shared_sandbox: Sandbox) -> None:
    shared_sandbox.add_account(TOKEN, 10_000_000)


def create(client: KittaClient, sandbox: Sandbox, key: str) -> str:
    task = client.lip_sync.create(
        video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"], key=key
    )
    return task.task_id


def test_the_same_key_returns_the_same_task_in_one_process(sandbox: Sandbox) -> None:
    sandbox.stats.reset()
    with sandbox.client(TOKEN) as client:
        first = create(client, sandbox, "cell-1")
        again = create(client, sandbox, "cell-1")
        other = create(client, sandbox, "cell-2")
    assert first == again
    assert other != first
    assert sandbox.stats.route("create") == 2


def test_the_same_key_returns_the_same_task_after_a_restart(sandbox: Sandbox) -> None:
    """A new client over the same journal folder stands for a restarted kernel."""
    with sandbox.client(TOKEN) as client:
        first = create(client, sandbox, "restart-key")
    sandbox.stats.reset()
    with sandbox.client(TOKEN) as restarted:
        again = create(restarted, sandbox, "restart-key")
    assert again == first
    assert sandbox.stats.route("create") == 0


def test_the_async_client_honours_keys_too(sandbox: Sandbox) -> None:
    async def run() -> tuple[str, str]:
        async with sandbox.async_client(TOKEN) as client:
            assert isinstance(client, AsyncKittaClient)
            kwargs = dict(video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"])
            first = await client.lip_sync.create(**kwargs, key="async-key")
            again = await client.lip_sync.create(**kwargs, key="async-key")
            return first.task_id, again.task_id

    sandbox.stats.reset()
    first, again = asyncio.run(run())
    assert first == again
    assert sandbox.stats.route("create") == 1


@pytest.mark.parametrize("key", ["", "   ", "k" * 201])
def test_a_bad_key_is_refused_before_anything_is_sent(sandbox: Sandbox, key: str) -> None:
    sandbox.stats.reset()
    with sandbox.client(TOKEN) as client, pytest.raises(ValidationError) as info:
        create(client, sandbox, key)
    assert info.value.fields["key"].endswith(".")
    assert sandbox.stats.route("create") == 0


def test_a_key_without_the_journal_is_refused(sandbox: Sandbox) -> None:
    """With the journal off nothing could remember the key: refuse rather than pay twice."""
    sandbox.stats.reset()
    with sandbox.client(TOKEN, journal=False) as client, pytest.raises(ValidationError) as info:
        create(client, sandbox, "no-journal")
    assert "journal" in info.value.fields["key"]
    assert sandbox.stats.route("create") == 0
