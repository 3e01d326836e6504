"""The media facade (`kitta_notebook.media`): what `publish`, `probe`, `preflight`,
`prober_for`, `plan`, `prepare`, `check` and `price_of` pass on to the parts they join,
against the real sandbox and a real media host on 127.0.0.1."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook import KittaClient
from kitta_notebook import media as facade
from kitta_notebook._core import ClientConfig
from kitta_notebook.errors import MediaWarning, ValidationError
from kitta_notebook.history.journal import Journal
from kitta_notebook.media import PublishedMedia, SandboxStore
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.server_info import ServerInfo
from tests.media.media_helpers import MediaHost
from tests.support import dto, shown_at

TOKEN = "sandbox-token"
MODEL = "kitta-lip-sync-v1"
PUBLISHED = ServerInfo(credits_per_second={MODEL: 100.0})
UNPRICED = ServerInfo()


def official() -> ClientConfig:
    return ClientConfig.create("t", "https://api.kittaaudio.com", None, 0)


class RecordingStore(SandboxStore):
    """The sandbox's store, remembering the `quiet` each publish was given."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.quiet_seen: list[object] = []

    def publish(
        self, source: object, *, progress: Any = None, quiet: bool = False
    ) -> PublishedMedia:
        self.quiet_seen.append(quiet)
        return super().publish(source, progress=progress, quiet=quiet)


# --- publish ------------------------------------------------------------------------------


def test_a_publish_passes_the_source_and_the_progress_on(
    sandbox: Sandbox, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KITTA_MEDIA_STORE", raising=False)
    seen: list[tuple[int, int]] = []
    done = media_publish(media["wav"], SandboxStore(sandbox.origin), seen.append, None)
    size = media["wav"].stat().st_size
    assert done.size == size and done.file_name == "speech.wav"
    assert done.store == SandboxStore(sandbox.origin).describe()
    assert seen and seen[-1] == (size, size)


def media_publish(path: Path, store: Any, record: Any, quiet: bool | None) -> PublishedMedia:
    def progress(done: int, total: int) -> None:
        record((done, total))

    if quiet is None:  # the default
        return facade.publish(path, store=store, progress=progress)
    return facade.publish(path, store=store, progress=progress, quiet=quiet)


def test_a_quiet_publish_reports_no_progress(sandbox: Sandbox, media: dict[str, Path]) -> None:
    seen: list[tuple[int, int]] = []
    media_publish(media["mp3"], SandboxStore(sandbox.origin), seen.append, True)
    assert seen == []
    media_publish(media["mp3"], SandboxStore(sandbox.origin), seen.append, False)
    assert seen == [(media["mp3"].stat().st_size,) * 2]  # already stored: one call


# --- probe, preflight, prober_for -------------------------------------------------------------


def test_probe_and_preflight_keep_the_callers_deadline(
    host: MediaHost, media: dict[str, Path]
) -> None:
    url = host.add("/front.mp4", media["mp4_front"])
    assert facade.probe(url).reachable is True
    assert facade.probe(url, deadline=1e-6).reachable is None  # no time to know
    checked = facade.preflight({"video_url": url}, is_official=False, deadline=1e-6)
    assert checked.inputs["video_url"].reachable is None


def test_probe_and_preflight_keep_the_callers_byte_budget(
    host: MediaHost, media: dict[str, Path]
) -> None:
    url = host.add("/end.mp4", media["long_mp4"], ranges=False)
    assert facade.probe(url).stopped is None
    assert facade.probe(url, byte_budget=2048).stopped == "byte budget"
    checked = facade.preflight({"video_url": url}, is_official=False, byte_budget=2048)
    assert checked.inputs["video_url"].stopped == "byte budget"


def test_prober_for_is_the_clients_own_prober(sandbox: Sandbox) -> None:
    with KittaClient(TOKEN, base_url=sandbox.base_url, journal=False) as client:
        prober = facade.prober_for(client)
        assert isinstance(prober, facade.MediaProber)
        assert facade.prober_for(client) is prober


# --- plan and prepare ---------------------------------------------------------------------


def test_plan_for_the_real_service_refuses_a_private_address() -> None:
    fields = {"audio_url": "http://127.0.0.1/a.wav", "video_url": "https://m.example.com/v.mp4"}
    with pytest.raises(ValidationError) as refused:
        facade.plan(official(), fields)
    assert "audio_url" in refused.value.fields
    facade.plan(ClientConfig.create("t", "http://127.0.0.1:9", None, 0), fields)  # a sandbox


def test_a_file_published_to_a_private_address_is_refused_for_the_real_service(
    sandbox: Sandbox, media: dict[str, Path]
) -> None:
    """The published URL passes the address policy too; the check says it ran from here."""
    config = official()
    planned = facade.plan(config, {"audio_url": media["wav"], "video_url": media["mp4_front"]})
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValidationError) as refused:
        warnings.simplefilter("always")
        facade.prepare(
            config, PUBLISHED, planned, preflight=True, store=SandboxStore(sandbox.origin)
        )
    assert [name for name, _ in refused.value.problems] == ["audio_url", "video_url"]
    assert any(str(w.message).startswith("preflight:") for w in caught)


def test_prepare_prices_the_planned_model_and_returns_its_check(
    sandbox: Sandbox, media: dict[str, Path]
) -> None:
    config = ClientConfig.create(TOKEN, sandbox.base_url, None, 0)
    planned = facade.plan(config, {"audio_url": media["wav"], "video_url": media["mp4_front"]})
    ready = facade.prepare(
        config, PUBLISHED, planned, preflight=True, store=SandboxStore(sandbox.origin)
    )
    assert ready.preflight is not None
    assert ready.preflight.price_source == "published by the server"
    assert ready.preflight.estimated_credits == 250  # 2.5 s at 100 a second
    assert set(ready.published) == {"audio_url", "video_url"}


def test_prepare_publishes_to_the_store_given_and_passes_quiet_on(
    sandbox: Sandbox, media: dict[str, Path]
) -> None:
    config = ClientConfig.create(TOKEN, sandbox.base_url, None, 0)
    config.media_store = SandboxStore(sandbox.origin)
    planned = facade.plan(config, {"audio_url": media["wav"], "video_url": media["mp4_front"]})
    mine = RecordingStore(sandbox.origin)
    facade.prepare(config, UNPRICED, planned, preflight=True, store=mine, quiet=True)
    assert mine.quiet_seen == [True, True]
    facade.prepare(config, UNPRICED, planned, preflight=True, store=mine)
    assert mine.quiet_seen == [True, True, False, False]


def test_prepare_without_preflight_checks_nothing(sandbox: Sandbox, media: dict[str, Path]) -> None:
    config = ClientConfig.create(TOKEN, sandbox.base_url, None, 0)
    planned = facade.plan(config, {"audio_url": media["text"], "video_url": media["mp4_front"]})
    ready = facade.prepare(
        config, UNPRICED, planned, preflight=False, store=SandboxStore(sandbox.origin)
    )
    assert ready.preflight is None and set(ready.published) == {"audio_url", "video_url"}


def test_a_media_warning_points_at_the_callers_create(
    sandbox: Sandbox, media: dict[str, Path]
) -> None:
    with (
        KittaClient(TOKEN, base_url=sandbox.base_url, journal=False) as client,
        pytest.warns(MediaWarning) as caught,
    ):
        client.lip_sync.create(audio_url=media["wav"], video_url=media["long_mp4"])
    assert {shown_at(w.filename, __file__) for w in caught} == {__file__}


# --- price_of and check -------------------------------------------------------------------


def _journal_with_a_charge(path: Path) -> Journal:
    """A journal holding one succeeded create: 10 s of audio charged 1000 credits."""
    journal = Journal(path)
    body = {"model": MODEL, "inputMode": "video", "durationSeconds": 10.0}
    body |= {"audioUrl": "https://m.example.com/a.wav", "videoUrl": "https://m.example.com/v.mp4"}
    entry_id = journal.record_request(body)
    task = dto(taskId="lip_1", createdAt="2026-07-01T08:01:00.000Z")
    journal.record_created(entry_id, {**task, "status": "succeeded", "creditsCharged": 1000})
    return journal


class CountingJournal(Journal):
    reads = 0

    def entries(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return super().entries(*args, **kwargs)


def test_a_price_is_learned_from_the_journal_only_when_none_is_published(tmp_path: Path) -> None:
    journal = _journal_with_a_charge(tmp_path / "j.sqlite3")
    learned = facade.price_of(UNPRICED, MODEL, journal)
    assert learned.source == "learned" and learned.estimate(10.0) == 1000
    counting = CountingJournal(tmp_path / "j.sqlite3")
    assert facade.price_of(PUBLISHED, MODEL, counting).source == "published"
    assert counting.reads == 0  # a published price costs no SQLite read
    assert facade.price_of(UNPRICED, MODEL, counting).source == "learned"
    assert counting.reads == 1


def test_check_uses_the_journal_and_says_where_it_ran(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    journal = _journal_with_a_charge(tmp_path / "j.sqlite3")
    config = official()
    planned = facade.plan(config, {"audio_url": media["wav"], "video_url": media["mp4_front"]})
    checked = facade.check(config, UNPRICED, planned, journal)
    assert checked.price is not None and checked.price.source == "learned"
    assert checked.estimated_credits == checked.price.estimate(2.5) is not None
    assert "preflight" in [name for name, _ in checked.warnings]
