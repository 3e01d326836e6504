"""The client against the real sandbox over real HTTP on 127.0.0.1.

Both twins run the same scenarios; request counts are read at the server.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import pytest

from kitta_notebook import (
    AsyncKittaClient,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    KittaClient,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TaskFailedError,
    TaskStatus,
)
from kitta_notebook.sandbox import FaultConfig, Sandbox

TOKEN = "tok-client-tests"
POOR = "tok-poor"
PRO = "tok-pro"


@pytest.fixture(scope="module", autouse=True)
def _accounts(shared_sandbox: Sandbox) -> None:
    shared_sandbox.add_account(TOKEN, 10_000_000)
    shared_sandbox.add_account(POOR, 150)
    shared_sandbox.add_account(PRO, 10_000_000, pro=True)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[KittaClient]:
    sandbox.faults = None
    with sandbox.client(TOKEN) as c:
        c._config.retry_base_delay = 0.01
        yield c
    sandbox.faults = None


def probe_duration(path: Path) -> float:
    """Seconds of media in a file, read by ffmpeg itself."""
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    for line in result.stderr.splitlines():
        if "Duration:" in line:
            stamp = line.split("Duration:")[1].split(",")[0].strip()
            hours, minutes, seconds = stamp.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    raise AssertionError(f"no duration in ffmpeg output: {result.stderr[-500:]}")


def test_video_task_from_create_to_download(
    client: KittaClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    media = sandbox.samples
    task = client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
    assert task.status == TaskStatus.PENDING
    assert task.task_id.startswith("lip_task_") and task.id and task.model == "kitta-lip-sync-v1"
    assert task.input_mode == "video" and task.credits_charged and task.created_at
    assert task.request_id
    same = task
    task.wait(timeout=60, poll_interval=0.05)
    assert same is task and task.status == TaskStatus.SUCCEEDED
    assert task.started_at and task.completed_at and task.completed_at >= task.started_at
    assert task.result_video_url and task.result_video_url.startswith(
        sandbox.base_url.split("/api")[0]
    )
    path = task.download(tmp_path)
    assert path == tmp_path / f"{task.task_id}.mp4"
    audio = tmp_path / "audio.wav"
    audio.write_bytes(client.fetch_bytes(media["audio"], max_bytes=10_000_000) or b"")
    assert abs(probe_duration(path) - probe_duration(audio)) < 0.5


def test_image_task_and_list_filter_and_iter(client: KittaClient, sandbox: Sandbox) -> None:
    media = sandbox.samples
    task = client.lip_sync.create(
        image_url=media["image"],
        audio_url=media["audio"],
        reference_image_url=media["reference_image"],
        duration_seconds=4.3,
    )
    assert task.input_mode == "image"
    assert task.credits_charged == 430
    client.lip_sync.wait(task.task_id, timeout=60, poll_interval=0.05)
    done = client.lip_sync.list(status="succeeded", limit=100)
    assert task.task_id in {t.task_id for t in done}
    assert all(t.status == TaskStatus.SUCCEEDED and t.is_partial for t in done)
    everything = list(client.lip_sync.iter(page_size=1))
    assert len({t.task_id for t in everything}) == len(everything)
    assert task.task_id in {t.task_id for t in everything}


def test_failed_task_raises_with_its_error(client: KittaClient, sandbox: Sandbox) -> None:
    media = sandbox.samples
    # The server's failure path: skip the preflight, which would refuse this input here.
    task = client.lip_sync.create(
        video_url=media["video"], audio_url=media["missing"], preflight=False
    )
    with pytest.raises(TaskFailedError) as info:
        task.wait(timeout=60, poll_interval=0.05)
    assert info.value.task is task and task.failed
    assert task.error_code and task.error_message


def test_server_errors_map_to_their_classes(client: KittaClient, sandbox: Sandbox) -> None:
    media = sandbox.samples
    with pytest.raises(BadRequestError) as bad:
        client.lip_sync.create(video_url=media["video"], audio_url=media["audio"], model="nope")
    assert bad.value.code == "invalid_request" and bad.value.request_id
    with pytest.raises(PermissionDeniedError):
        client.lip_sync.create(
            video_url=media["video"], audio_url=media["audio"], model="kitta-lip-sync-pro"
        )
    with pytest.raises(NotFoundError):
        client.lip_sync.get("lip_task_does_not_exist")
    with sandbox.client("wrong-token") as stranger, pytest.raises(AuthenticationError):
        stranger.lip_sync.list()
    with sandbox.client(POOR) as poor, pytest.raises(InsufficientCreditsError):
        poor.lip_sync.create(
            video_url=media["video"], audio_url=media["audio"], duration_seconds=100
        )
    with sandbox.client(PRO) as pro:
        task = pro.lip_sync.create(
            video_url=media["video"], audio_url=media["audio"], model="kitta-lip-sync-pro"
        )
        assert task.model == "kitta-lip-sync-pro"
        with pytest.raises(NotFoundError):  # another account's task
            client.lip_sync.get(task.task_id)


def test_reads_are_retried_and_creates_are_not(client: KittaClient, sandbox: Sandbox) -> None:
    media = sandbox.samples
    sandbox.stats.reset()
    sandbox.faults = FaultConfig(error_rate=1.0, routes=("get",))
    with pytest.raises(ServerError):
        client.lip_sync.get("lip_task_whatever")
    assert sandbox.stats.route("get") == 3  # max_retries=2

    sandbox.stats.reset()
    sandbox.faults = FaultConfig(error_rate=1.0, routes=("create",), create_fault_after_commit=True)
    with pytest.raises(ServerError) as info:
        client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
    assert info.value.may_have_created
    assert sandbox.stats.route("create") == 1
    sandbox.faults = None
    pending = client.lip_sync.list(status="pending", limit=100).data
    processing = client.lip_sync.list(status="processing", limit=100).data
    recent = client.lip_sync.list(limit=5).data
    assert pending or processing or recent  # the task the 500 hid is findable


def test_rate_limits_are_waited_out(client: KittaClient, sandbox: Sandbox) -> None:
    sandbox.stats.reset()
    sandbox.faults = FaultConfig(rate_limit_rate=1.0, retry_after=0.0, routes=("list",))
    with pytest.raises(Exception) as info:
        client.lip_sync.list()
    assert type(info.value).__name__ == "RateLimitError"
    assert sandbox.stats.route("list") == 3


def test_usage_and_server_info(client: KittaClient) -> None:
    usage = client.usage()
    assert isinstance(usage, dict) and usage
    info = client.server_info()
    assert "kitta-lip-sync-v1" in info.models and info.models_from_server
    assert info.is_sandbox and info.estimate("kitta-lip-sync-v1", 12) == 1200
    assert info.estimate("kitta-lip-sync-v1", 0.2) == 100  # billed as one second at least
    assert set(info.sample_urls()) >= {"video", "audio", "image"}


def test_async_twin_runs_the_same_flow(sandbox: Sandbox, tmp_path: Path) -> None:
    media = sandbox.samples

    async def main() -> None:
        async with sandbox.async_client(TOKEN) as client:
            assert isinstance(client, AsyncKittaClient)
            await client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
            task = await client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
            await task.async_wait(timeout=60, poll_interval=0.05)
            assert task.succeeded
            page = await client.lip_sync.list(limit=1)
            assert len(page) == 1 and page.has_more
            seen = [t.task_id async for t in client.lip_sync.iter(status="succeeded")]
            assert task.task_id in seen
            path = await task.async_download(tmp_path / "r.mp4")
            assert path.stat().st_size > 10_000
            with pytest.raises(NotFoundError):
                await client.lip_sync.get("lip_task_missing")
            # the sync twin of an async client shares its configuration
            assert task.refresh().succeeded

    asyncio.run(main())


def test_nest_asyncio_applied_changes_nothing(sandbox: Sandbox) -> None:
    import nest_asyncio

    media = sandbox.samples
    script = f"""
import asyncio, nest_asyncio
nest_asyncio.apply()
from kitta_notebook import KittaClient, AsyncKittaClient
sync = KittaClient({TOKEN!r}, base_url={sandbox.base_url!r})
task = sync.lip_sync.create(video_url={media["video"]!r}, audio_url={media["audio"]!r})
assert task.wait(timeout=60, poll_interval=0.05).succeeded

async def main():
    async with AsyncKittaClient({TOKEN!r}, base_url={sandbox.base_url!r}) as client:
        other = await client.lip_sync.create(
            video_url={media["video"]!r}, audio_url={media["audio"]!r}
        )
        await client.lip_sync.wait(other, timeout=60, poll_interval=0.05)
        return other.status
loop = asyncio.new_event_loop()
print(loop.run_until_complete(main()))
print(asyncio.run(main()))
sync.close()
"""
    assert nest_asyncio  # imported here to prove it is installed for the subprocess
    result = subprocess.run(
        [__import__("sys").executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["succeeded", "succeeded"]
