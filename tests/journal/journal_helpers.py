"""Helpers of the journal suite."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from kitta_notebook import AsyncKittaClient, KittaClient
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.store import JournalStore

BASE = "http://api.test/api"
VIDEO = "https://media.example.com/v.mp4"
AUDIO = "https://media.example.com/a.mp3"
IMAGE = "https://media.example.com/p.png"

Handler = Callable[[httpx.Request], httpx.Response]


def list_body(items: list[dict[str, Any]], *, offset: int = 0, more: bool = False) -> Any:
    keys = ("taskId", "type", "status", "inputMode", "resultVideoUrl", "creditsCharged")
    return {
        "data": [{k: item.get(k) for k in keys} for item in items],
        "pagination": {"limit": 100, "offset": offset, "hasMore": more},
    }


def mock_client(handler: Handler, token: str = "tok-test", **options: Any) -> KittaClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return KittaClient(token, base_url=BASE, http_client=http, max_retries=0, **options)


def mock_async_client(
    handler: Handler, token: str = "tok-test", **options: Any
) -> AsyncKittaClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = AsyncKittaClient(token, base_url=BASE, http_client=http, max_retries=0, **options)
    # `AsyncHistory` runs the sync engine (`client.as_sync()`): answer it from the same handler.
    engine = mock_client(handler, token, _config=client._config)
    client._twin, engine._twin = engine, client
    return client


REOPENED: list[JournalStore] = []
"""The PostgreSQL stores `reopen` made: `journal_store` closes them after the test."""


def reopen(journal: JournalStore | None) -> JournalStore:
    """A second store object on the same journal (file or database): what it reads was
    written, not remembered by the first."""
    # The store the run asked for (`journal_store`), never the other one by mistake.
    assert isinstance(journal, Journal) == (not os.environ.get("KITTA_JOURNAL_URL")), journal
    if isinstance(journal, Journal):
        return Journal(journal.path)
    from kitta_notebook.history.postgres import PostgresJournal

    assert isinstance(journal, PostgresJournal), journal
    again = PostgresJournal(journal._url, account=journal.account)
    REOPENED.append(again)
    return again


def create(client: KittaClient, **overrides: Any) -> Any:
    fields: dict[str, Any] = {"audio_url": AUDIO, "video_url": VIDEO, "duration_seconds": 4}
    fields.update(overrides)
    return client.lip_sync.create(**fields)


def poll_until(condition: Callable[[], bool], timeout: float = 20.0, step: float = 0.02) -> None:
    """Bounded polling (never a bare sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)
