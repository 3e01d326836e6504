"""Local files straight into `create`, and the preflight that runs before credits are spent.

Against the real sandbox over HTTP: local inputs are published to its own
store, probed, and created; creates are counted at the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kitta_notebook import KittaClient, ValidationError
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.samples import SAMPLES_DIR

TOKEN = "tok-local-media"
VIDEO = SAMPLES_DIR / "video.mp4"
SPEECH = SAMPLES_DIR / "speech-en.wav"


@pytest.fixture(scope="module", autouse=True)
def _account(shared_sandbox: Sandbox) -> None:
    shared_sandbox.add_account(TOKEN, 10_000_000)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[KittaClient]:
    sandbox.stats.reset()
    with sandbox.client(TOKEN) as c:
        yield c


def test_paths_are_published_and_the_task_succeeds(
    client: KittaClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    task = client.lip_sync.create(video_url=VIDEO, audio_url=SPEECH)
    assert task.wait(timeout=60, poll_interval=0.05).succeeded
    saved = task.download(tmp_path)
    assert saved.stat().st_size > 1000
    assert sandbox.stats.route("create") == 1
    entry = client.history.journal.get(task.task_id)
    assert entry is not None and entry.request is not None
    published = entry.request["x-published"]  # what was published for it, beside the body
    assert {published[name]["file_name"] for name in ("video_url", "audio_url")} == {
        VIDEO.name,
        SPEECH.name,
    }
    assert published["audio_url"]["sha256"] == hashlib.sha256(SPEECH.read_bytes()).hexdigest()


def test_path_text_bytes_and_file_objects_are_local_media_too(
    client: KittaClient, sandbox: Sandbox
) -> None:
    named = io.BytesIO(SPEECH.read_bytes())
    named.name = "dub.wav"
    task = client.lip_sync.create(video_url=str(VIDEO), audio_url=named)
    again = client.lip_sync.create(video_url=VIDEO.read_bytes(), audio_url=SPEECH)
    for created in (task, again):
        assert created.wait(timeout=60, poll_interval=0.05).succeeded


def test_check_of_a_web_page_given_as_the_video_refuses_it(
    client: KittaClient, sandbox: Sandbox
) -> None:
    media = sandbox.samples
    report = client.lip_sync.check(video_url=media["not_media"], audio_url=media["audio"])
    assert not report.ok
    assert [name for name, _ in report.problems] == ["video_url"]
    with pytest.raises(ValidationError) as info:
        client.lip_sync.create(video_url=media["not_media"], audio_url=media["audio"])
    message = info.value.fields["video_url"]
    assert message[0].isupper() and message.endswith(".")
    assert sandbox.stats.route("create") == 0


def test_check_reads_the_duration_and_estimates_the_price(
    client: KittaClient, sandbox: Sandbox
) -> None:
    report = client.lip_sync.check(video_url=VIDEO, audio_url=SPEECH)
    assert report.ok, report.problems
    info = client.server_info()
    assert report.duration_seconds == pytest.approx(
        info.samples["audio"].duration_seconds, abs=0.05
    )
    assert report.duration_from_probe
    assert report.estimated_credits == info.estimate("kitta-lip-sync-v1", report.duration_seconds)
    assert sandbox.stats.route("create") == 0


def test_a_missing_local_file_is_named_before_anything_is_sent(
    client: KittaClient, sandbox: Sandbox
) -> None:
    with pytest.raises(ValidationError) as info:
        client.lip_sync.create(video_url=VIDEO, audio_url="dub-that-does-not-exist.wav")
    assert "dub-that-does-not-exist.wav" in info.value.fields["audio_url"]
    assert sandbox.stats.total == 0


def test_local_media_against_the_real_service_without_a_store_says_how_to_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KITTA_MEDIA_STORE", raising=False)
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with KittaClient("tok-real", http_client=http) as client:
        assert client.is_official
        with pytest.raises(ValidationError) as info:
            client.lip_sync.create(video_url=VIDEO, audio_url=SPEECH)
    assert "KITTA_MEDIA_STORE" in str(info.value)
    assert sent == []


def test_the_async_client_publishes_local_files_too(sandbox: Sandbox) -> None:
    async def run() -> bool:
        async with sandbox.async_client(TOKEN) as client:
            task = await client.lip_sync.create(video_url=VIDEO, audio_url=SPEECH)
            done = await client.lip_sync.wait(task, timeout=60, poll_interval=0.05)
            report = await client.lip_sync.check(video_url=VIDEO, audio_url=SPEECH)
            return done.succeeded and report.ok

    assert asyncio.run(run())
