"""Rules of `create_many` that mutation testing found unprotected: how many times a
rate-limited create is sent, what a refused create gives back to the credit budget,
how long a 429 without `Retry-After` pauses the batch, and how an item invalid before
its checks is skipped.

Against the shared sandbox over real HTTP, or a scripted service (httpx.MockTransport).
"""

from __future__ import annotations

import threading

import httpx

from kitta_notebook import BadRequestError, KittaClient, RateLimitError, ValidationError
from kitta_notebook.batch.gate import MAX_RATE_LIMIT_ROUNDS
from kitta_notebook.sandbox import FaultConfig, Sandbox
from tests.batch.batch_helpers import ITEM_CREDITS, RICH, requests_for
from tests.journal.journal_helpers import AUDIO, VIDEO, mock_client
from tests.support import dto

MODEL = "kitta-lip-sync-v1"
ITEM = {"audio_url": AUDIO, "video_url": VIDEO, "duration_seconds": 4}
PUBLISHED = {"info": {"x-kitta-sandbox-pricing": {"models": {MODEL: {"creditsPerSecond": 100}}}}}
"""An OpenAPI document publishing 100 credits a second: an `ITEM` is estimated at 400."""


def is_create(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/lip-sync/tasks")


def rate_limited_client(sb: Sandbox, rounds: int) -> KittaClient:
    """A client of the sandbox whose creates are answered 429 (`Retry-After: 0`) until the
    server has seen `rounds` of them; the client itself never resends (`max_retries=0`),
    so every send is one of the batch's own rounds."""
    sb.faults = FaultConfig(rate_limit_rate=1.0, retry_after=0.0, routes=("create",))
    client = sb.client(RICH, journal=False, max_retries=0)
    answered: list[httpx.Response] = []

    def faults_off_after_the_rounds(response: httpx.Response) -> None:
        if is_create(response.request):
            answered.append(response)
            if len(answered) == rounds:
                sb.faults = None

    client._http.event_hooks["response"].append(faults_off_after_the_rounds)
    return client


def test_a_create_answered_429_every_time_gives_up_after_its_rounds(sandbox: Sandbox) -> None:
    """The 429s end just after the last round: a batch that kept resending would create
    the task (rather than loop forever)."""
    with rate_limited_client(sandbox, MAX_RATE_LIMIT_ROUNDS) as c:
        result = c.lip_sync.create_many(requests_for(sandbox, 1), progress=False)
    (item,) = result
    assert item.outcome == "rejected" and item.task is None
    assert isinstance(item.error, RateLimitError)
    assert item.attempts == MAX_RATE_LIMIT_ROUNDS
    assert sandbox.stats.route("create") == MAX_RATE_LIMIT_ROUNDS
    assert sandbox.stats.creates_accepted == 0
    assert result.rate_limited == MAX_RATE_LIMIT_ROUNDS


def test_a_create_accepted_after_one_429_is_created_in_two_attempts(sandbox: Sandbox) -> None:
    with rate_limited_client(sandbox, 1) as c:
        result = c.lip_sync.create_many(requests_for(sandbox, 1), progress=False)
    (item,) = result
    assert item.outcome == "created" and item.task is not None and item.error is None
    assert item.attempts == 2
    assert sandbox.stats.route("create") == 2 and sandbox.stats.creates_accepted == 1
    assert result.credits == ITEM_CREDITS


def test_a_create_the_server_refuses_frees_its_credits_for_the_other_items() -> None:
    """Three items estimated at 400 each under max_credits=1200. The first is refused
    (400); the second is charged 500, so the server is dearer than it publishes and the
    third is reserved at 500. Freed, the refused item's 400 no longer counts:
    500 + 500 ≤ 1200 sends the third. Kept, 400 + 500 + 500 > 1200 would not."""
    creates: list[httpx.Request] = []
    lock = threading.Lock()

    def service(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/openapi.json"):
            return httpx.Response(200, json=PUBLISHED)
        assert is_create(request), request
        with lock:
            creates.append(request)
            number = len(creates)
        if number == 1:
            error = {"code": "invalid_request", "message": "the server refuses this one"}
            return httpx.Response(400, json={"error": error})
        return httpx.Response(202, json=dto(taskId=f"lip_task_{number}", creditsCharged=500))

    with mock_client(service, journal=False) as c:
        result = c.lip_sync.create_many(
            [ITEM] * 3, progress=False, preflight=False, concurrency=1, max_credits=1200
        )
    assert [item.outcome for item in result] == ["rejected", "created", "created"]
    assert isinstance(result[0].error, BadRequestError) and result[0].attempts == 1
    assert result.credit_stop is None and result.credits == 1000
    assert len(creates) == 3


def test_a_429_without_retry_after_pauses_by_the_clients_backoff_then_creates() -> None:
    creates: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        assert is_create(request), request
        creates.append(request)
        if len(creates) == 1:
            error = {"code": "rate_limited", "message": "too many requests"}
            return httpx.Response(429, json={"error": error})
        return httpx.Response(202, json=dto())

    with mock_client(service, journal=False) as c:
        c._config.retry_base_delay = 0.02  # the first backoff: between 0.01 and 0.02 s
        result = c.lip_sync.create_many([ITEM], progress=False, preflight=False)
    (item,) = result
    assert item.outcome == "created" and item.error is None
    assert item.attempts == 2 and len(creates) == 2
    assert result.rate_limited == 1
    assert 0.01 <= result.paused_seconds <= 0.02


def test_an_item_invalid_before_its_checks_is_skipped_and_the_batch_goes_on(
    sandbox: Sandbox,
) -> None:
    batch = requests_for(sandbox, 3)
    batch[1] = {"video_url": sandbox.samples["video"]}  # no audio: refused before any probe
    with sandbox.client(RICH, journal=False) as c:
        result = c.lip_sync.create_many(batch, progress=False, skip_invalid=True)
    assert [item.outcome for item in result] == ["created", "skipped", "created"]
    skipped = result[1]
    assert isinstance(skipped.error, ValidationError) and skipped.task is None
    assert [name for name, _ in skipped.problems] == ["audio_url"]
    assert (skipped.key, skipped.labels) == (None, ())
    assert sandbox.stats.creates_accepted == 2
