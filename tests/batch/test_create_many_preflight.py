"""`create_many` checks every item's media before any create, and keeps `max_credits`.

Against the shared sandbox over real HTTP: creates and uploads are counted at the
server, probes at the prober's network call.
"""

from __future__ import annotations

import asyncio
import os
import wave
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook import KittaClient, ValidationError
from kitta_notebook.batch import BatchValidationError, CreditLimitError, CreditWarning
from kitta_notebook.errors import MediaWarning
from kitta_notebook.media import prober as prober_module
from kitta_notebook.media.probe import probe_url as real_probe
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.pricing import PRICES, ModelPrice
from kitta_notebook.sandbox.samples import SAMPLES_DIR

TOKEN = "tok-batch-preflight"
VIDEO = SAMPLES_DIR / "video.mp4"


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    sandbox.add_account(TOKEN, 100_000_000)
    return sandbox


def client(sb: Sandbox, token: str = TOKEN) -> KittaClient:
    return sb.client(token, journal=False)


def track(folder: Path, name: str, seconds: float) -> Path:
    """A WAV of noise: new bytes on every run, so the store has never seen it."""
    path = folder / name
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(os.urandom(int(seconds * 8000) * 2))
    return path


def mixed_batch(sb: Sandbox) -> list[dict[str, object]]:
    media = sb.samples
    good = {"audio_url": media["audio"], "video_url": media["video"], "duration_seconds": 1}
    return [
        dict(good, key="ok-0"),
        {**good, "video_url": media["not_media"]},  # a web page / undecodable as the video
        dict(good),
        {**good, "audio_url": media["missing"]},  # a 404
    ]


def test_one_bad_input_refuses_the_whole_batch_and_nothing_is_created(sb: Sandbox) -> None:
    with client(sb) as c, pytest.raises(BatchValidationError) as caught:
        c.lip_sync.create_many(mixed_batch(sb), progress=False)
    error = caught.value
    assert sorted(error.by_index) == [1, 3]
    assert [name for name, _ in error.by_index[1]] == ["video_url"]
    assert [name for name, _ in error.by_index[3]] == ["audio_url"]
    assert "requests[1].video_url" in str(error) and "requests[3].audio_url" in str(error)
    assert "2 of 4 batch items are invalid; nothing was sent" in str(error)
    assert sb.stats.route("create") == 0


def test_skip_invalid_creates_only_the_valid_items_and_reports_the_rest(
    sb: Sandbox, tmp_path: Path
) -> None:
    with client(sb) as c:
        result = c.lip_sync.create_many(mixed_batch(sb), progress=False, skip_invalid=True)
    assert [item.outcome for item in result] == ["created", "skipped", "created", "skipped"]
    assert sb.stats.route("create") == 2
    assert [name for name, _ in result[1].problems] == ["video_url"]
    assert result[1].task is None and isinstance(result[1].error, ValidationError)
    assert [i.index for i in result.skipped] == [1, 3] and not result.ok
    assert result.counts["skipped"] == 2 and "skipped=2" in repr(result)
    page = result.to_html()
    assert page.count('data-outcome="skipped"') >= 3  # the count, and each problem row
    with pytest.raises(Exception, match="2 of 4 batch items"):
        result.raise_for_errors()
    report = result.export(tmp_path / "review")
    assert [row.outcome for row in report.rows] == ["created", "skipped", "created", "skipped"]
    assert "video_url" in (report.rows[1].error or "")


def test_one_clip_for_five_local_tracks_is_probed_once(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted at the prober's network probe: the sandbox's worker also GETs the sample
    # clip (for tasks of earlier tests too), so the server's count cannot tell them apart.
    probes: Counter[str] = Counter()

    def counting(url: str, **options: Any) -> Any:
        probes[url] += 1
        return real_probe(url, **options)

    monkeypatch.setattr(prober_module, "probe_url", counting)
    lengths = [1.0, 1.5, 2.0, 2.5, 3.0]
    tracks = [track(tmp_path, f"dub-{i}.wav", s) for i, s in enumerate(lengths)]
    batch = [{"video_url": sb.samples["video"], "audio_url": t} for t in tracks]
    with client(sb) as c, pytest.warns(MediaWarning, match="much shorter than the video"):
        result = c.lip_sync.create_many(batch, progress=False, concurrency=5)
    assert result.ok and sb.stats.route("create") == 5
    assert probes[sb.samples["video"]] == 1
    assert probes == {sb.samples["video"]: 1}  # the 5 published tracks keep their local probe
    assert sb.stats.uploads == 5
    for item, seconds in zip(result, lengths, strict=True):
        assert item.request is not None
        assert item.request.duration_seconds == pytest.approx(seconds, abs=0.05)
        assert item.task is not None and item.task.credits_charged == round(seconds * 100)


def test_local_paths_in_a_batch_are_published_once_per_content(sb: Sandbox, tmp_path: Path) -> None:
    shared = track(tmp_path, "shared.wav", 1.0)
    other = track(tmp_path, "other.wav", 1.2)
    batch = [
        {"video_url": VIDEO, "audio_url": shared, "labels": "en"},
        {"video_url": str(VIDEO), "audio_url": str(shared)},
        {"video_url": VIDEO.read_bytes(), "audio_url": other},
    ]
    with client(sb) as c:
        result = c.lip_sync.create_many(batch, progress=False, concurrency=3)
        assert result.ok, result
        done = c.lip_sync.wait_many(result, timeout=60, poll_interval=0.05, progress=False)
    assert all(task.succeeded for task in done)
    video_urls = {item.request.video_url for item in result if item.request}
    assert len(video_urls) == 1  # a path, its text and its bytes: one content, one URL
    assert sb.stats.route("upload") == sb.stats.uploads <= 3  # the clip (if new) and 2 tracks
    assert sb.stats.route("create") == 3


def test_max_credits_refuses_a_batch_over_its_estimate_before_any_create(sb: Sandbox) -> None:
    batch = [{"audio_url": sb.samples["audio"], "video_url": sb.samples["video"]}] * 3
    with client(sb) as c:  # 4.29 s of audio at 100 credits a second: 429 each
        with pytest.raises(CreditLimitError) as caught:
            c.lip_sync.create_many(batch, progress=False, max_credits=1286)
        assert "estimated at 1287 credits" in str(caught.value)
        assert "price published by the server" in str(caught.value)
        assert "Nothing was sent" in str(caught.value)
        assert sb.stats.route("create") == 0
        result = c.lip_sync.create_many(batch, progress=False, max_credits=1287)
    assert result.ok and result.credits == 1287 and result.credit_stop is None
    assert sb.stats.route("create") == 3


def test_max_credits_stops_sending_once_the_charges_would_pass_it(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [{"audio_url": sb.samples["audio"], "video_url": sb.samples["video"]}] * 5
    with client(sb) as c:
        c.server_info()  # the published price, 100 credits a second (429 an item)...
        model = "kitta-lip-sync-v1"
        # ...and a server that charges three times that: only the charges tell.
        monkeypatch.setitem(PRICES, model, ModelPrice(model, 300, requires_grant=False))
        result = c.lip_sync.create_many(batch, progress=False, concurrency=1, max_credits=2145)
    assert [item.outcome for item in result] == ["created"] + ["not_sent"] * 4
    assert result.credits == 1287 and sb.stats.route("create") == 1
    assert result.credit_stop is not None and "max_credits reached" in result.credit_stop
    assert all(isinstance(i.error, CreditLimitError) for i in result.not_sent)
    assert "max_credits reached" in str(result[1].error) and not result.ok
    assert 'data-outcome="not_sent"' in result.to_html()


def test_a_batch_beyond_the_balance_warns_first(sb: Sandbox) -> None:
    sb.add_account("tok-batch-preflight-poor", 500)
    batch = [{"audio_url": sb.samples["audio"], "video_url": sb.samples["video"]}] * 3
    with (
        client(sb, "tok-batch-preflight-poor") as c,
        pytest.warns(CreditWarning, match="estimated at 1287 credits.*balance is 500"),
    ):
        result = c.lip_sync.create_many(batch, progress=False, concurrency=1)
    assert [item.outcome for item in result] == ["created", "rejected", "rejected"]


def test_the_async_client_checks_skips_and_keeps_the_limit(sb: Sandbox, tmp_path: Path) -> None:
    tracks = [track(tmp_path, f"async-{i}.wav", 1.0) for i in range(3)]
    media = sb.samples

    async def run() -> None:
        async with sb.async_client(TOKEN, journal=False) as c:
            bad: list[dict[str, object]] = [{"video_url": VIDEO, "audio_url": t} for t in tracks]
            bad[2] = {"video_url": media["not_media"], "audio_url": tracks[2]}
            with pytest.raises(BatchValidationError) as caught:
                await c.lip_sync.create_many(bad, progress=False)
            assert sorted(caught.value.by_index) == [2]
            assert sb.stats.route("create") == 0
            with pytest.raises(CreditLimitError):
                await c.lip_sync.create_many(bad[:2], progress=False, max_credits=150)
            assert sb.stats.route("create") == 0
            result = await c.lip_sync.create_many(bad, progress=False, skip_invalid=True)
            assert [i.outcome for i in result] == ["created", "created", "skipped"]
            assert sb.stats.route("create") == 2
            assert all(
                i.request is not None and i.request.duration_seconds == pytest.approx(1.0, abs=0.05)
                for i in result.created
            )

    asyncio.run(run())


def test_without_preflight_nothing_is_probed_or_asked_before_the_creates(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[str] = []
    monkeypatch.setattr(prober_module, "probe_url", lambda c, url, **o: probes.append(url))
    batch = mixed_batch(sb)[:1] * 1 + [
        {"audio_url": sb.samples["audio"], "video_url": sb.samples["not_media"]}
    ]
    with client(sb) as c:
        result = c.lip_sync.create_many(batch, progress=False, preflight=False)
    assert [i.outcome for i in result] == ["created", "created"]  # the server judges it later
    assert probes == [] and sb.stats.route("openapi") == 0 and sb.stats.route("usage") == 0


def test_a_rerun_with_keys_costs_nothing_and_keeps_any_limit(sb: Sandbox) -> None:
    batch = [dict(item, key=f"rerun-{i}") for i, item in enumerate(mixed_batch(sb)[::2])]
    with sb.client(TOKEN) as c:  # with its journal, which remembers the keys
        first = c.lip_sync.create_many(batch, progress=False, max_credits=858)
        again = c.lip_sync.create_many(batch, progress=False, max_credits=0)
    assert [i.outcome for i in first] == ["created", "created"]
    assert [i.outcome for i in again] == ["existing", "existing"]
    assert [i.task_id for i in again] == [i.task_id for i in first]
    assert sb.stats.route("create") == 2
