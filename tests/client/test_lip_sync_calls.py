"""`client.lip_sync`'s calls pass on what they are given, and their defaults hold.

Gaps found by mutation testing (`make mutate`) in `_lip_sync.py`: each test names the
behaviour it protects. Against the real sandbox where it can answer; a scripted
server (`httpx.MockTransport`) for answers it never gives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import (
    AsyncKittaClient,
    KittaClient,
    LipSyncTask,
    ValidationError,
    WaitManyTimeoutError,
    WaitTimeoutError,
    _core,
)
from kitta_notebook.sandbox import Sandbox

BASE = "http://api.test/api"
TASK_ID = "lip_task_1"


def task_dto(status: str = "processing") -> dict[str, Any]:
    return {"taskId": TASK_ID, "status": status, "model": "kitta-lip-sync-v1"}


def scripted(handler: Any) -> KittaClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return KittaClient("tok", base_url=BASE, http_client=http, max_retries=0, journal=False)


def list_limits(client: KittaClient) -> list[str]:
    """The `limit` of every list request this client sends from now on."""
    limits: list[str] = []

    def note(request: httpx.Request) -> None:
        if request.method == "GET" and request.url.path.endswith("/tasks"):
            limits.append(request.url.params.get("limit", ""))

    client._http.event_hooks["request"].append(note)
    return limits


@pytest.fixture
def two_tasks(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[tuple[str, list[str]]]:
    """A fresh account with two finished tasks: (its token, their ids)."""
    token = f"tok-lip-sync-calls-{request.node.name}"[:60]
    sandbox.faults = None
    sandbox.add_account(token, 10_000_000)
    with sandbox.client(token, journal=False) as client:
        video, audio = sandbox.samples["video"], sandbox.samples["audio"]
        tasks = [
            client.lip_sync.create(video_url=video, audio_url=audio, preflight=False)
            for _ in range(2)
        ]
        for task in tasks:
            client.lip_sync.wait(task, timeout=60, poll_interval=0.05)
    yield token, [t.task_id for t in tasks]


def test_list_asks_for_20_and_iter_for_pages_of_100_by_default(
    sandbox: Sandbox, two_tasks: tuple[str, list[str]]
) -> None:
    token, ids = two_tasks
    with sandbox.client(token, journal=False) as client:
        limits = list_limits(client)
        assert len(client.lip_sync.list()) == 2
        assert {t.task_id for t in client.lip_sync.iter()} == set(ids)
    assert limits == ["20", "100"]


def test_iter_pages_by_its_page_size(sandbox: Sandbox, two_tasks: tuple[str, list[str]]) -> None:
    token, ids = two_tasks
    with sandbox.client(token, journal=False) as client:
        limits = list_limits(client)
        assert sorted(t.task_id for t in client.lip_sync.iter(page_size=1)) == sorted(ids)
    assert limits == ["1", "1"]


def test_the_async_iter_passes_on_its_status_and_page_size(
    sandbox: Sandbox, two_tasks: tuple[str, list[str]]
) -> None:
    token, ids = two_tasks

    async def run() -> tuple[list[str], list[str], list[str]]:
        async with sandbox.async_client(token, journal=False) as client:
            assert isinstance(client, AsyncKittaClient)
            limits = list_limits(client._sync)
            failed = [t.task_id async for t in client.lip_sync.iter(status="failed")]
            done = [t.task_id async for t in client.lip_sync.iter(status="succeeded", page_size=1)]
            return failed, done, limits

    failed, done, limits = asyncio.run(run())
    assert failed == [] and sorted(done) == sorted(ids)
    assert limits == ["100", "1", "1"]


def test_a_listed_task_and_a_fetched_one_can_refresh_themselves(
    sandbox: Sandbox, two_tasks: tuple[str, list[str]]
) -> None:
    token, ids = two_tasks
    with sandbox.client(token, journal=False) as client:
        listed = client.lip_sync.list(limit=1)[0]
        fetched = client.lip_sync.get(ids[0])
        assert listed.refresh().succeeded and fetched.refresh().succeeded


def test_a_list_answer_without_pagination_keeps_the_limit_and_offset_asked() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [task_dto()]})

    with scripted(answer) as client:
        page = client.lip_sync.list(limit=5, offset=10)
    assert (page.limit, page.offset, page.has_more, page.next_offset) == (5, 10, False, None)


def test_wait_adopts_a_finished_task_made_without_a_client() -> None:
    """A `LipSyncTask` built by hand (e.g. from a saved dict) and already finished is not
    polled; once waited for it is this client's and can refresh."""
    gets: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        gets.append(request.url.path)
        return httpx.Response(200, json=task_dto("succeeded"))

    loose = LipSyncTask(task_dto("succeeded"))
    with scripted(answer) as client:
        done = client.lip_sync.wait(loose, poll_interval=0)
        assert done is loose and done.succeeded and gets == []
        assert done.refresh().succeeded
    assert len(gets) == 1


def test_wait_gives_up_after_its_default_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """No `timeout`: `wait` stops at DEFAULT_WAIT_TIMEOUT (the documented 600 s), never
    at the batch follower's longer default."""
    monkeypatch.setattr(_core, "DEFAULT_WAIT_TIMEOUT", 0.3)
    started = time.monotonic()

    def answer(request: httpx.Request) -> httpx.Response:
        # Fails the task after 20 s, so a wait without the default ends anyway.
        late = time.monotonic() - started > 20
        return httpx.Response(200, json=task_dto("failed" if late else "processing"))

    with scripted(answer) as client, pytest.raises(WaitTimeoutError) as caught:
        client.lip_sync.wait(TASK_ID, poll_interval=0.02)
    assert caught.value.timeout == 0.3
    assert time.monotonic() - started < 20


def test_create_many_shows_progress_only_when_asked(
    sandbox: Sandbox, two_tasks: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """`progress=True` shows it even off a terminal; `False` never (the default, "auto",
    only in a notebook or on a terminal)."""
    token, _ids = two_tasks
    item = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    with sandbox.client(token, journal=False) as client:
        quiet = client.lip_sync.create_many([item], progress=False, preflight=False)
        assert capsys.readouterr() == ("", "")
        shown = client.lip_sync.create_many([item], progress=True, preflight=False)
    out = capsys.readouterr()
    assert "Creating tasks" in out.out + out.err and "1/1" in out.out + out.err
    assert [i.outcome for i in [*quiet, *shown]] == ["created", "created"]


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_watch_by_id_fetches_the_task_and_passes_on_its_options(
    sandbox: Sandbox,
    two_tasks: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    twin: str,
) -> None:
    import IPython.display

    shown: list[object] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **_: shown.append(obj))
    token, ids = two_tasks
    options: dict[str, Any] = dict(poll_interval=0.05, timeout=42.0, embed=False, lang="zh")
    if twin == "sync":
        with sandbox.client(token, journal=False) as client:
            view = client.lip_sync.watch(ids[0], **options)
            assert view.join(60)
            gets = sandbox.stats.route("get")
            again = client.lip_sync.watch(view.task, timeout=30)  # a task: no fetch first
            assert again.join(60) and again.lang == "en" and again.task is view.task
            assert sandbox.stats.route("get") - gets <= 1  # at most the view's own poll
    else:

        async def run() -> Any:
            async with sandbox.async_client(token, journal=False) as client:
                view = await client.lip_sync.watch(ids[0], **options)
                await view.wait()
                return view

        view = asyncio.run(run())
    assert view.task.task_id == ids[0] and view.task.succeeded
    assert (view.timeout, view.follower.poll_interval, view.lang) == (42.0, 0.05, "zh")
    assert view.follower.embed is False and shown


def test_check_probes_every_input_of_an_image_create(
    sandbox: Sandbox, two_tasks: tuple[str, list[str]]
) -> None:
    token, _ids = two_tasks
    samples = sandbox.samples
    with sandbox.client(token, journal=False) as client:
        checked = client.lip_sync.check(
            audio_url=samples["audio"],
            image_url=samples["image"],
            reference_image_url=samples["image"],
            input_mode="image",
        )
        with pytest.raises(ValidationError, match="video_url"):  # the mode asked is checked
            client.lip_sync.check(
                audio_url=samples["audio"], image_url=samples["image"], input_mode="video"
            )
    assert set(checked.inputs) == {"audio_url", "image_url", "reference_image_url"}
    assert checked.problems == [] and checked.duration_seconds is not None


@pytest.mark.parametrize("call", ["wait_many", "watch_many"])
def test_waiting_for_many_keeps_its_timeout_and_default_progress(call: str) -> None:
    started = time.monotonic()
    polls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        polls.append(request.url.path)
        late = time.monotonic() - started > 20  # ends a wait that lost its timeout anyway
        body = task_dto("failed" if late else "processing")
        if request.url.path.endswith("/tasks"):
            return httpx.Response(200, json={"data": [body], "pagination": {"hasMore": False}})
        return httpx.Response(200, json=body)

    with scripted(answer) as client, pytest.raises(WaitManyTimeoutError) as caught:
        if call == "wait_many":
            client.lip_sync.wait_many([TASK_ID], timeout=0.3, poll_interval=0.02)
        else:
            list(client.lip_sync.watch_many([TASK_ID], timeout=0.3, poll_interval=0.02))
    assert caught.value.timeout == 0.3 and time.monotonic() - started < 20
    assert len(polls) >= 3  # every 0.02 s, not the default 3 s


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_documented_defaults_of_the_batch_calls_and_of_watch(flavour: str) -> None:
    """`create_many`, `wait_many` and `watch_many` keep 8 requests in flight unless told
    otherwise (the docstrings' and README's figure); a live view speaks English by default."""
    import inspect

    from kitta_notebook._lip_sync import AsyncLipSync, LipSync

    owner = LipSync if flavour == "sync" else AsyncLipSync
    for name in ("create_many", "wait_many", "watch_many"):
        parameters = inspect.signature(getattr(owner, name)).parameters
        assert parameters["concurrency"].default == 8, name
        assert parameters["progress"].default == "auto", name
    assert inspect.signature(owner.watch).parameters["lang"].default == "en"


def test_a_create_on_the_embedded_sandbox_records_its_media_port_free(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The embedded sandbox's journal outlives its port: the create is written down with
    the sandbox's own media made port-free (by the client's origin), and read back at the
    port it runs on now."""
    from kitta_notebook.connection import SANDBOX_JOURNAL_IDENTITY
    from kitta_notebook.history.entry import SANDBOX_MEDIA
    from kitta_notebook.history.journal import Journal

    journal = Journal(tmp_path / "journal.db")
    with sandbox.client(journal=journal) as client:
        client._config.journal_identity = SANDBOX_JOURNAL_IDENTITY  # as connect() does
        task = client.lip_sync.create(
            video_url=sandbox.samples["video"], audio_url=sandbox.samples["audio"]
        )
    stored = Journal(tmp_path / "journal.db")
    entry = stored.get(task.task_id)
    assert entry is not None and entry.request is not None
    assert entry.request["videoUrl"].startswith(SANDBOX_MEDIA + "/")
    assert sandbox.origin not in entry.request["videoUrl"]
    stored.close()


def test_the_async_watch_of_a_task_shows_that_very_task_without_fetching_it(
    sandbox: Sandbox, two_tasks: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task passed in is watched as it is (updated in place), in English by default;
    only an id is fetched first."""
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, **_: None)
    token, ids = two_tasks

    async def run() -> tuple[Any, LipSyncTask, int]:
        async with sandbox.async_client(token, journal=False) as client:
            task = await client.lip_sync.get(ids[0])
            gets = sandbox.stats.route("get")
            view = await client.lip_sync.watch(task, timeout=30)
            fetched_first = sandbox.stats.route("get") - gets
            await view.wait()
            return view, task, fetched_first

    view, task, fetched_first = asyncio.run(run())
    assert view.task is task and view.lang == "en" and fetched_first == 0


def test_on_poll_is_told_of_an_error_met_by_the_very_first_poll() -> None:
    answers = iter(
        [
            httpx.Response(503, json={"error": {"code": "busy", "message": "later"}}),
            httpx.Response(200, json=task_dto("succeeded")),
        ]
    )
    polls: list[tuple[object, str]] = []
    with scripted(lambda request: next(answers)) as client:
        done = client.lip_sync.wait(
            TASK_ID,
            poll_interval=0,
            on_poll=lambda task, error: polls.append((task, type(error).__name__)),
        )
    assert done.succeeded
    assert polls == [(done, "ServerError"), (done, "NoneType")]


def test_check_estimates_the_price_of_the_model_asked(sandbox: Sandbox) -> None:
    """The pro model costs twice the default one a second: `check` prices the model
    it is given, never the default."""
    token = "tok-lip-sync-calls-check-model"
    sandbox.add_account(token, 1_000)
    media = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    with sandbox.client(token, journal=False) as client:
        default = client.lip_sync.check(**media)
        pro = client.lip_sync.check(**media, model="kitta-lip-sync-pro")
    assert default.estimated_credits is not None and pro.estimated_credits is not None
    assert pro.estimated_credits == 2 * default.estimated_credits
    assert sandbox.stats.route("create") == 0


@pytest.mark.parametrize("call", ["wait_many", "watch_many"])
def test_waiting_for_many_reports_to_the_progress_view_asked(call: str) -> None:
    made: list[tuple[str, int]] = []
    closed: list[object] = []

    class View:
        def update(self, snapshot: object) -> None:
            return None

        def close(self, snapshot: object) -> None:
            closed.append(snapshot)

    def factory(*, title: str, total: int) -> View:
        made.append((title, total))
        return View()

    def answer(request: httpx.Request) -> httpx.Response:
        body = task_dto("succeeded")
        if request.url.path.endswith("/tasks"):
            return httpx.Response(200, json={"data": [body], "pagination": {"hasMore": False}})
        return httpx.Response(200, json=body)

    with scripted(answer) as client:
        if call == "wait_many":
            done = list(client.lip_sync.wait_many([TASK_ID], progress=factory, poll_interval=0))
        else:
            done = list(client.lip_sync.watch_many([TASK_ID], progress=factory, poll_interval=0))
    assert [t.succeeded for t in done] == [True]
    assert len(made) == 1 and made[0][1] == 1 and len(closed) == 1


@pytest.mark.parametrize("call", ["create_many", "wait_many", "watch_many"])
def test_the_batch_calls_keep_8_requests_in_flight_by_default(
    call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each call hands the batch engine when not told otherwise (the signature test
    above cannot see a changed default under mutmut, whose wrappers keep the signature)."""
    import importlib

    batch_create = importlib.import_module("kitta_notebook.batch.create")
    batch_follow = importlib.import_module("kitta_notebook.batch.follow")
    handed: dict[str, Any] = {}

    class Followed:
        def __iter__(self) -> Any:
            return iter(())

        def task_list(self) -> list[Any]:
            return []

    def follow(*args: Any, **kwargs: Any) -> Followed:
        handed.update(kwargs)
        return Followed()

    def create_many(lip_sync: Any, requests: Any, options: Any) -> None:
        handed.update(concurrency=options.concurrency, progress=options.progress)

    monkeypatch.setattr(batch_create, "create_many", create_many)
    monkeypatch.setattr(batch_follow, "follow", follow)
    with scripted(lambda request: httpx.Response(500)) as client:
        getattr(client.lip_sync, call)([])
    assert handed["concurrency"] == 8 and handed["progress"] == "auto"
