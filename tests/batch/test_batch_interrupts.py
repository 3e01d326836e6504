"""Stopping a batch half-way: nothing more is sent, nothing sent is forgotten.

A scripted service (httpx.MockTransport) holds creates back until the test
lets them go, so "half-way" is the same point on every run.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest

from kitta_notebook import KittaClient, LipSyncTask
from kitta_notebook.batch.progress import ProgressSnapshot

BASE = "http://api.test/api"
MEDIA = {"audio_url": "https://m.example.com/a.mp3", "video_url": "https://m.example.com/v.mp4"}
CONCURRENCY = 4


def created(number: int) -> httpx.Response:
    body = {"taskId": f"lip_task_{number}", "status": "pending", "creditsCharged": 100}
    return httpx.Response(202, content=json.dumps(body).encode())


class CountingRecorder:
    """A TaskRecorder that only counts what the client told it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[str] = []

    def _add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def before_create(
        self, origin: str, body: dict[str, Any], key: str | None = None, **extra: Any
    ) -> object:
        self._add("before")
        return None

    def task_id_for_key(self, key: str) -> str | None:
        return None

    def created(self, handle: object, task: LipSyncTask) -> None:
        self._add("created")

    def rejected(self, handle: object, error: BaseException) -> None:
        self._add("rejected")

    def outcome_unknown(self, handle: object, error: BaseException) -> None:
        self._add("unknown")

    def seen(self, task: LipSyncTask) -> None:
        return None

    def journal(self) -> None:
        return None

    def close(self) -> None:
        return None

    def count(self, event: str) -> int:
        with self.lock:
            return self.events.count(event)


class InterruptingView:
    """A progress view that 'presses Ctrl-C' at the third finished item."""

    def __init__(self, on_third: Any) -> None:
        self.updates = 0
        self.closed = False
        self.on_third = on_third

    def update(self, snapshot: ProgressSnapshot) -> None:
        self.updates += 1
        if self.updates == 3:
            self.on_third()

    def close(self, snapshot: ProgressSnapshot) -> None:
        self.closed = True


def test_an_interrupt_stops_sending_and_every_sent_create_is_recorded() -> None:
    release = threading.Event()
    posts: list[int] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            posts.append(1)
            number = len(posts)
        if number > 3:
            assert release.wait(10), "the test never released the held creates"
        return created(number)

    def interrupt() -> None:
        release.set()  # the creates in flight may now complete...
        raise KeyboardInterrupt  # ...but nothing new may be sent

    view = InterruptingView(interrupt)
    recorder = CountingRecorder()
    http = httpx.Client(transport=httpx.MockTransport(handler))
    with KittaClient("tok", base_url=BASE, http_client=http, journal=False) as client:
        client.recorder = recorder
        with pytest.raises(KeyboardInterrupt):
            client.lip_sync.create_many(
                [MEDIA] * 40, concurrency=CONCURRENCY, progress=lambda **_: view, preflight=False
            )
    assert 3 < len(posts) <= 3 + CONCURRENCY
    assert recorder.count("before") == len(posts) == recorder.count("created")
    assert view.closed


def test_cancelling_the_async_batch_stops_sending_and_records_every_sent_create() -> None:
    """The async batch runs the sync one on a worker thread: a cancelled await sends
    nothing more, and the creates already sent finish and are recorded."""
    release = threading.Event()
    posts: list[int] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            posts.append(1)
            number = len(posts)
        if number > 3:
            assert release.wait(10), "the test never released the held creates"
        return created(number)

    async def run(client: KittaClient, view: InterruptingView) -> None:
        loop = asyncio.get_running_loop()
        job = asyncio.ensure_future(
            client.as_async().lip_sync.create_many(
                [MEDIA] * 40, concurrency=CONCURRENCY, progress=lambda **_: view, preflight=False
            )
        )
        view.on_third = lambda: loop.call_soon_threadsafe(job.cancel)
        with pytest.raises(asyncio.CancelledError):
            await job

    view = InterruptingView(None)
    closed = threading.Event()
    view.close = lambda snapshot: closed.set()  # type: ignore[method-assign]
    recorder = CountingRecorder()
    http = httpx.Client(transport=httpx.MockTransport(handler))
    with KittaClient("tok", base_url=BASE, http_client=http, journal=False) as client:
        client.recorder = recorder
        asyncio.run(run(client, view))
        release.set()  # the creates in flight may now complete...
        assert closed.wait(10), "the batch never finished its creates in flight"
    sent = len(posts)
    assert 3 < sent <= 3 + CONCURRENCY  # ...but no new one was sent (40 without the cancel)
    assert recorder.count("before") == sent == recorder.count("created")
