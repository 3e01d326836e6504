"""Local files through a store into a real sandbox task, and preflight of its samples.

The create is sent with plain httpx here: wiring `prepare_inputs` into the client's
create is the client's job, tested there.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import media as media_package
from kitta_notebook.media import MediaProber, S3Store, SandboxStore, preflight, prober_for
from kitta_notebook.sandbox import Sandbox
from tests.media.conftest import SECONDS, boto_session
from tests.media.media_helpers import MediaHost, priced

TOKEN = "media-suite-token"


def _route_exists(origin: str) -> bool:
    """The upload route answers a key whose sha256 does not match with 400; without the
    route the answer is 404 or 405."""
    key = "0" * 64 + ".bin"
    response = httpx.put(f"{origin}/_sandbox/media/{key}", content=b"x", timeout=10)
    return response.status_code == 400


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox({TOKEN: 10_000_000}, time_scale=0.05) as sb:
        if not _route_exists(sb.origin):
            pytest.skip("the sandbox has no /_sandbox/media/ upload route yet")
        yield sb


def _create_and_wait(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=sb.base_url, headers=headers, timeout=20) as api:
        created = api.post("/v1/lip-sync/tasks", json=body)
        assert created.status_code == 202, created.text
        task_id = created.json()["taskId"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # bounded poll for the task to finish
            task: dict[str, Any] = api.get(f"/v1/lip-sync/tasks/{task_id}").json()
            if task["status"] in ("succeeded", "failed"):
                return task
            time.sleep(0.05)
    pytest.fail("the task did not finish within 60 s")


def test_sandbox_store_publishes_once_and_serves_with_range(
    sandbox: Sandbox, media: dict[str, Path]
) -> None:
    store = SandboxStore(sandbox.origin)
    first = store.publish(media["wav"])
    again = store.publish(media["wav"])
    data = media["wav"].read_bytes()
    assert first.key == f"{hashlib.sha256(data).hexdigest()}.wav"
    assert (first.uploaded_bytes, again.uploaded_bytes) == (len(data), 0)
    assert first.expires_at is None and first.url == f"{sandbox.origin}/_sandbox/media/{first.key}"
    whole = httpx.get(first.url)
    assert whole.content == data and whole.headers["content-type"].startswith("audio/wav")
    part = httpx.get(first.url, headers={"Range": "bytes=0-11"})
    assert part.status_code == 206 and part.content == data[:12]


def test_local_files_to_a_succeeded_sandbox_task(sandbox: Sandbox, media: dict[str, Path]) -> None:
    prepared = MediaProber().prepare_inputs(
        {"video_url": media["mp4_front"], "audio_url": media["wav"]},
        sandbox_url=sandbox.origin,
        is_official=False,
        price=priced(100),
    )
    assert prepared.preflight is not None and prepared.preflight.ok
    assert prepared.preflight.estimated_credits == 250
    fields = prepared.fields
    task = _create_and_wait(
        sandbox,
        {
            "model": "kitta-lip-sync-v1",
            "videoUrl": fields["video_url"],
            "audioUrl": fields["audio_url"],
            "durationSeconds": fields["duration_seconds"],
        },
    )
    assert task["status"] == "succeeded", task
    assert task["creditsCharged"] == 250


def test_local_files_through_s3_to_a_succeeded_sandbox_task(
    sandbox: Sandbox, moto_endpoint: str, bucket: str, media: dict[str, Path]
) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, region="us-east-1", session=boto_session())
    prepared = MediaProber().prepare_inputs(
        {"video_url": media["mp4_end"], "audio_url": media["m4a"]},
        store=store,
        is_official=False,
        price=priced(100),
    )
    assert prepared.fields["video_url"].startswith(moto_endpoint)
    assert prepared.fields["duration_seconds"] == pytest.approx(SECONDS, abs=0.05)
    task = _create_and_wait(
        sandbox,
        {
            "model": "kitta-lip-sync-v1",
            "videoUrl": prepared.fields["video_url"],
            "audioUrl": prepared.fields["audio_url"],
        },
    )
    assert task["status"] == "succeeded", task


def test_preflight_of_the_sandbox_samples(sandbox: Sandbox) -> None:
    samples = sandbox.samples
    good = preflight(
        {"video_url": samples["video"], "audio_url": samples["audio"]},
        is_official=False,
        price=priced(100),
    )
    assert good.ok, good.problems
    assert good.duration_seconds is not None and good.duration_seconds > 0
    bad = preflight(
        {"video_url": samples["not_media"], "audio_url": samples["missing"]},
        is_official=False,
        price=priced(100),
    )
    assert bad.problems == [
        ("video_url", "It is a text file, not a video."),
        ("audio_url", "The media host answered HTTP 404, so the service cannot fetch it."),
    ]


def test_a_create_with_local_files_is_validated_once(
    sandbox: Sandbox, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rule runs before anything is published; the published URLs only fill in.
    A key's claim compares the inputs already validated (no second validation)."""
    calls: list[dict[str, Any]] = []
    validate = media_package.validate_create

    def counting(**fields: Any) -> Any:
        calls.append(fields)
        return validate(**fields)

    for name, module in list(sys.modules.items()):  # wherever the library imported it
        if (
            name.startswith("kitta_notebook")
            and getattr(module, "validate_create", None) is validate
        ):
            monkeypatch.setattr(module, "validate_create", counting)
    with sandbox.client(TOKEN) as client:
        task = client.lip_sync.create(
            video_url=media["mp4_front"], audio_url=media["wav"], key="validated-once"
        )
        entry = client.history.journal.get(task.task_id)
    assert len(calls) == 1
    assert calls[0]["video_url"].startswith(f"https://{media_package.LOCAL_STAND_IN}/")
    assert entry is not None and entry.request is not None
    sent = entry.request  # the body sent: published URLs and the probed audio's length
    assert sent["videoUrl"].startswith(f"{sandbox.origin}/_sandbox/media/")
    assert sent["durationSeconds"] == pytest.approx(SECONDS, abs=0.05)


def test_prober_for_is_the_client_s_own_cache(
    sandbox: Sandbox, host: MediaHost, media: dict[str, Path]
) -> None:
    """What a panel probed through `prober_for(client)` serves that client's check."""
    video = host.add("/clip.mp4", media["mp4_front"])
    audio = host.add("/dub.wav", media["wav"])
    with sandbox.client(TOKEN) as client:
        first = prober_for(client).probe(video)
        assert prober_for(client) is prober_for(client) and first.kind == "video"
        host.reset_counts()
        checked = client.lip_sync.check(video_url=video, audio_url=audio)
    assert checked.ok and checked.inputs["video_url"] is first
    assert "/clip.mp4" not in host.requests and host.requests["/dub.wav"] >= 1
