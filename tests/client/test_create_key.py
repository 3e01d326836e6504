"""`create(..., key=...)`: re-running a cell with the same key never pays twice.

Against the real sandbox over HTTP; creates are counted at the server.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook import (
    AsyncKittaClient,
    BatchValidationError,
    KeyInUseError,
    KeyReusedError,
    KittaClient,
    LipSyncTask,
    ValidationError,
)
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.samples import SAMPLES_DIR

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


# --- one key, one charge, whatever the timing (issue 17, defects 2 and 3) -------------------


def test_the_same_key_from_threads_at_once_creates_one_task(sandbox: Sandbox) -> None:
    """Threads started together: one create reaches the server; every other call gets
    its task or `KeyInUseError` (a create under the key is running), never a second task."""
    threads = 4
    barrier = threading.Barrier(threads)
    sandbox.stats.reset()
    with sandbox.client(TOKEN) as client:

        def call() -> str | BaseException:
            barrier.wait(timeout=60)
            try:
                return create(client, sandbox, "one-cell")
            except KeyInUseError as exc:
                return exc

        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(lambda _: call(), range(threads)))
        final = create(client, sandbox, "one-cell")  # every call has returned: the task
    assert sandbox.stats.route("create") == 1
    assert {o for o in outcomes if isinstance(o, str)} <= {final}
    assert all(isinstance(o, str | KeyInUseError) for o in outcomes)


def test_the_same_key_from_coroutines_at_once_creates_one_task(sandbox: Sandbox) -> None:
    async def run() -> list[object]:
        async with sandbox.async_client(TOKEN) as client:
            kwargs = dict(video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"])
            calls = [client.lip_sync.create(**kwargs, key="async-once") for _ in range(3)]
            return await asyncio.gather(*calls, return_exceptions=True)

    sandbox.stats.reset()
    outcomes = asyncio.run(run())
    assert sandbox.stats.route("create") == 1
    tasks = {o.task_id for o in outcomes if isinstance(o, LipSyncTask)}
    assert len(tasks) == 1
    assert all(isinstance(o, LipSyncTask | KeyInUseError) for o in outcomes)


def test_a_key_reused_with_another_file_is_refused_naming_the_earlier_task(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Changing the audio and re-running the cell must not show the old result."""
    video = SAMPLES_DIR / "video.mp4"
    english, chinese = SAMPLES_DIR / "speech-en.wav", SAMPLES_DIR / "speech-zh.wav"
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(english.read_bytes())
    with sandbox.client(TOKEN) as client:
        first = client.lip_sync.create(video_url=video, audio_url=english, key="dub")
        sandbox.stats.reset()
        same = client.lip_sync.create(video_url=video, audio_url=copy, key="dub")  # same bytes
        with pytest.raises(KeyReusedError) as info:
            client.lip_sync.create(video_url=video, audio_url=chinese, key="dub")
    assert same.task_id == first.task_id
    assert sandbox.stats.route("create") == 0
    error = info.value
    assert isinstance(error, ValidationError)
    assert error.task_id == first.task_id and first.task_id in str(error)
    assert [name for name, _, _ in error.differences] == ["audio_url"]
    assert "new key" in error.fields["key"]


def test_a_key_reused_with_another_duration_is_refused(sandbox: Sandbox) -> None:
    media = dict(video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"])
    with sandbox.client(TOKEN) as client:
        first = client.lip_sync.create(**media, key="dur")
        sandbox.stats.reset()
        with pytest.raises(KeyReusedError) as info:
            client.lip_sync.create(**media, duration_seconds=3, key="dur")
    assert info.value.task_id == first.task_id
    assert [name for name, _, _ in info.value.differences] == ["duration_seconds"]
    assert sandbox.stats.route("create") == 0


def test_a_resigned_media_url_is_the_same_input(sandbox: Sandbox) -> None:
    """A presigned URL's signature changes each time it is made: it is not another input."""
    video, audio = sandbox.samples["video"], sandbox.samples["audio"]
    with sandbox.client(TOKEN) as client:
        first = client.lip_sync.create(
            video_url=video, audio_url=f"{audio}?X-Amz-Signature=first", key="signed"
        )
        sandbox.stats.reset()
        again = client.lip_sync.create(
            video_url=video, audio_url=f"{audio}?X-Amz-Signature=second", key="signed"
        )
    assert again.task_id == first.task_id
    assert sandbox.stats.route("create") == 0


def test_a_refused_preflight_gives_the_key_back(sandbox: Sandbox) -> None:
    """Nothing was sent, so the key stays free for the corrected call."""
    with sandbox.client(TOKEN) as client:
        with pytest.raises(ValidationError, match="404"):
            client.lip_sync.create(
                video_url=sandbox.samples["video"].rsplit("/", 1)[0] + "/missing.mp4",
                audio_url=sandbox.samples["audio"],
                key="fixed-later",
            )
        sandbox.stats.reset()
        task_id = create(client, sandbox, "fixed-later")
        assert create(client, sandbox, "fixed-later") == task_id
    assert sandbox.stats.route("create") == 1


def test_a_refused_batch_gives_its_keys_back_and_a_reused_key_is_not_sent(
    sandbox: Sandbox,
) -> None:
    video, audio = sandbox.samples["video"], sandbox.samples["audio"]
    missing = video.rsplit("/", 1)[0] + "/missing.mp4"
    items = [dict(video_url=video, audio_url=audio, key=f"batch-{i}") for i in range(3)]
    with sandbox.client(TOKEN) as client:
        with pytest.raises(BatchValidationError):  # one item's video is a 404: nothing sent
            client.lip_sync.create_many([*items[:2], {**items[2], "video_url": missing}])
        first = client.lip_sync.create_many(items, progress=False)
        changed = [{**items[0], "duration_seconds": 2}, *items[1:]]
        sandbox.stats.reset()
        again = client.lip_sync.create_many(changed, progress=False)
    assert [item.outcome for item in first] == ["created"] * 3
    assert [item.outcome for item in again] == ["rejected", "existing", "existing"]
    error = again[0].error
    assert isinstance(error, KeyReusedError) and error.task_id == first[0].task.task_id
    assert sandbox.stats.route("create") == 0


def test_two_async_batches_with_the_same_keys_at_once_make_one_task_per_key(
    sandbox: Sandbox,
) -> None:
    video, audio = sandbox.samples["video"], sandbox.samples["audio"]
    items = [dict(video_url=video, audio_url=audio, key=f"async-batch-{i}") for i in range(3)]

    async def run() -> list[Any]:
        async with sandbox.async_client(TOKEN) as client:
            batches = [client.lip_sync.create_many(items, progress=False) for _ in range(2)]
            return list(await asyncio.gather(*batches))

    sandbox.stats.reset()
    results = asyncio.run(run())
    assert sandbox.stats.route("create") == 3
    by_key: dict[str, set[str]] = {}
    for result in results:
        for item in result:
            assert item.outcome in ("created", "existing", "rejected")
            if item.task is not None:
                by_key.setdefault(str(item.key), set()).add(item.task.task_id)
    assert sorted(by_key) == [f"async-batch-{i}" for i in range(3)]
    assert all(len(tasks) == 1 for tasks in by_key.values())
