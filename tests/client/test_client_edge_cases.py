"""Edge cases a real server cannot easily produce, through httpx.MockTransport.

Everything else is tested against the sandbox over real HTTP
(`test_client_sandbox.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from kitta_notebook import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncKittaClient,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    KittaClient,
    LipSyncTask,
    MissingTokenError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    TaskStatus,
    ValidationError,
    WaitTimeoutError,
)
from kitta_notebook._core import retry_after_seconds
from kitta_notebook._responses import json_body
from kitta_notebook.models import TASK_FIELDS
from tests.support import dto

TOKEN = "tok-edge-5f1c9a"
BASE = "http://api.test/api"
VIDEO = "https://media.example.com/v.mp4"
AUDIO = "https://media.example.com/a.mp3"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A handler that replays scripted answers and keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


def make_client(handler: Recorder, **kwargs: object) -> KittaClient:
    client = KittaClient(
        TOKEN,
        base_url=BASE,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        **kwargs,  # type: ignore[arg-type]
    )
    client._config.retry_base_delay = 0.001
    return client


# --- responses a server rarely gives -------------------------------------------
def test_html_502_from_a_proxy_maps_to_server_error_without_the_body() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1><script>alert(1)</script></body></html>"
    handler = Recorder(httpx.Response(502, text=page, headers={"content-type": "text/html"}))
    with make_client(handler, max_retries=0) as client, pytest.raises(ServerError) as info:
        client.lip_sync.get("lip_task_1")
    error = info.value
    assert error.status_code == 502
    assert error.code is None
    assert "text/html" in str(error) and "<script>" not in str(error)


def test_an_unreadable_answer_to_a_get_names_its_status_and_request_and_created_nothing() -> None:
    handler = Recorder(httpx.Response(200, text="<html>", headers={"x-request-id": "req_7"}))
    with make_client(handler, max_retries=0) as client, pytest.raises(APIError) as info:
        client.lip_sync.get("lip_task_1")
    error = info.value
    assert (error.status_code, error.code, error.request_id) == (200, "invalid_response", "req_7")
    assert error.message == "the server answered success but the body is not a JSON object"
    assert not error.may_have_created  # only a create's accepted answer may have made a task


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
"""A gzip member's header; 0xff bytes after it are a deflate block of a type that is not."""


class RawBody(httpx.SyncByteStream):
    """A body as it comes off the wire, not decoded by httpx (a mock's `content=` is)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self.data


def test_a_damaged_compressed_answer_over_a_users_http_client_says_why() -> None:
    damaged = httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=RawBody(GZIP_HEADER + b"\xff" * 20)
    )
    handler = Recorder(damaged)
    with make_client(handler, max_retries=0) as client, pytest.raises(APIConnectionError) as info:
        client.lip_sync.get("lip_task_1")
    assert str(info.value.__cause__).startswith(
        "the answer cannot be read: the compressed body is damaged ("
    )
    assert len(handler.requests) == 1


def test_an_answer_built_without_its_request_is_not_taken_for_a_create() -> None:
    with pytest.raises(APIError) as info:
        json_body(httpx.Response(200, text="not json"))
    assert not info.value.may_have_created


def test_a_list_answer_without_a_data_array_is_an_error_naming_it() -> None:
    handler = Recorder(httpx.Response(200, json={"items": []}))
    with make_client(handler, max_retries=0) as client, pytest.raises(APIError) as info:
        client.lip_sync.list()
    assert info.value.message == "the list response has no 'data' array"
    assert info.value.code == "invalid_response" and not info.value.may_have_created


def test_listed_tasks_carry_the_pages_request_id_and_refresh_through_their_client() -> None:
    page = {"data": [dto(status="processing")], "pagination": {"hasMore": False}}
    handler = Recorder(
        httpx.Response(200, json=page, headers={"x-request-id": "req_list"}),
        httpx.Response(200, json=dto(status="succeeded")),
    )
    with make_client(handler, max_retries=0) as client:
        listed = client.lip_sync.list()
        assert listed.request_id == "req_list"
        assert [task.request_id for task in listed.data] == ["req_list"]
        assert listed.data[0].refresh().status == TaskStatus.SUCCEEDED
    assert [r.method for r in handler.requests] == ["GET", "GET"]


@pytest.mark.parametrize(
    ("pagination", "limit", "offset"),
    [
        ({"limit": 5, "offset": 10, "hasMore": True}, 5, 10),  # the server's numbers win
        ({"limit": True, "offset": "10", "hasMore": True}, 20, 40),  # not integers: ours
    ],
)
def test_a_page_keeps_the_servers_integer_pagination_and_its_body(
    pagination: dict[str, object], limit: int, offset: int
) -> None:
    body = {"data": [], "pagination": pagination}
    handler = Recorder(httpx.Response(200, json=body))
    with make_client(handler, max_retries=0) as client:
        page = client.lip_sync.list(limit=20, offset=40)
    assert (page.limit, page.offset, page.has_more) == (limit, offset, True)
    assert page.raw == body


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            httpx.Response(502, text="<p>", headers={"content-type": "text/html; charset=utf-8"}),
            "Bad Gateway (the body was not the API's JSON error: text/html, 3 bytes; "
            "often a proxy or gateway page)",
        ),
        (
            httpx.Response(599, content=b"abcd"),
            "error (the body was not the API's JSON error: unknown type, 4 bytes; "
            "often a proxy or gateway page)",
        ),
        (httpx.Response(503, json={"error": "maintenance"}), "maintenance"),
    ],
)
def test_an_error_answer_that_is_not_the_apis_envelope_says_what_came_instead(
    answer: httpx.Response, message: str
) -> None:
    with make_client(Recorder(answer), max_retries=0) as client, pytest.raises(APIError) as info:
        client.lip_sync.get("lip_task_1")
    assert info.value.message == message


def test_a_refused_create_says_nothing_was_created() -> None:
    body = {"error": {"code": "invalid_url", "message": "no"}}
    handler = Recorder(httpx.Response(400, json=body))
    with make_client(handler, max_retries=0) as client, pytest.raises(BadRequestError) as info:
        client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
    assert not info.value.may_have_created


def test_a_fetched_task_carries_its_request_id_and_refreshes_through_its_client() -> None:
    handler = Recorder(
        httpx.Response(200, json=dto(status="processing"), headers={"x-request-id": "req_get"}),
        httpx.Response(200, json=dto(status="succeeded")),
    )
    with make_client(handler, max_retries=0) as client:
        task = client.lip_sync.get("lip_task_1")
        assert task.request_id == "req_get"
        refreshed = task.refresh()
    assert refreshed.status == TaskStatus.SUCCEEDED and refreshed.request_id is None


def test_a_task_answer_without_a_task_id_is_an_error_naming_it() -> None:
    handler = Recorder(httpx.Response(200, json=dto(taskId="")))
    with make_client(handler, max_retries=0) as client, pytest.raises(APIError) as info:
        client.lip_sync.get("lip_task_1")
    assert info.value.message == "the task in the response has no taskId"


def test_unknown_status_and_extra_fields_are_kept_not_fatal() -> None:
    handler = Recorder(
        httpx.Response(
            200, json=dto(status="queued_for_gpu", newField={"a": 1}, creditsCharged=3.5)
        )
    )
    with make_client(handler) as client:
        task = client.lip_sync.get("lip_task_1")
    assert task.status == "queued_for_gpu"
    assert not isinstance(task.status, TaskStatus)
    assert task.is_terminal is False
    assert task.raw["newField"] == {"a": 1}
    assert task.credits_charged == 3.5
    assert "queued_for_gpu" in repr(task)


def test_missing_fields_parse_to_none() -> None:
    handler = Recorder(httpx.Response(200, json={"taskId": "lip_task_9"}))
    with make_client(handler) as client:
        task = client.lip_sync.get("lip_task_9")
    assert task.task_id == "lip_task_9"
    assert task.status is None and task.status_text == "unknown"
    assert task.created_at is None and task.credits_charged is None
    assert task.is_partial


def test_null_fields_parse_to_none_and_known_statuses_to_the_enum() -> None:
    nulls = {name: None for name in TASK_FIELDS if name != "taskId"}
    task = LipSyncTask({"taskId": "lip_task_9", **nulls})
    assert all(getattr(task, attr) is None for attr in TASK_FIELDS.values() if attr != "task_id")
    for status in TaskStatus:
        parsed = LipSyncTask({"taskId": "t", "status": status.value}).status
        assert parsed is status and isinstance(parsed, TaskStatus)


def test_unreadable_timestamp_is_none_but_kept_raw() -> None:
    handler = Recorder(httpx.Response(200, json=dto(createdAt="yesterday-ish")))
    with make_client(handler) as client:
        task = client.lip_sync.get("lip_task_1")
    assert task.created_at is None
    assert task.raw["createdAt"] == "yesterday-ish"


def test_timestamps_are_aware_utc() -> None:
    handler = Recorder(httpx.Response(200, json=dto(startedAt="2026-07-01T08:00:03.000Z")))
    with make_client(handler) as client:
        task = client.lip_sync.get("lip_task_1")
    assert task.started_at == datetime(2026, 7, 1, 8, 0, 3, tzinfo=timezone.utc)
    assert task.created_at is not None and task.created_at.tzinfo is not None


def test_success_with_a_non_json_body_is_a_clear_error() -> None:
    handler = Recorder(httpx.Response(200, text="not json"))
    with make_client(handler) as client, pytest.raises(Exception) as info:
        client.lip_sync.get("lip_task_1")
    assert "not a JSON object" in str(info.value)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_error_envelope_maps_to_one_class_per_status(status: int, cls: type) -> None:
    body = {"error": {"code": "some_code", "message": "told you so", "requestId": "req_42"}}
    handler = Recorder(httpx.Response(status, json=body))
    with make_client(handler, max_retries=0) as client, pytest.raises(cls) as info:
        client.lip_sync.get("lip_task_1")
    assert info.value.code == "some_code"
    assert info.value.request_id == "req_42"
    assert "told you so" in str(info.value) and "req_42" in str(info.value)


# --- retries ----------------------------------------------------------------------
def test_get_retries_5xx_then_succeeds_and_counts_requests() -> None:
    handler = Recorder(
        httpx.Response(500, json={"error": {"code": "x", "message": "boom"}}),
        httpx.Response(503, text="down"),
        httpx.Response(200, json=dto()),
    )
    with make_client(handler, max_retries=2) as client:
        task = client.lip_sync.get("lip_task_1")
    assert task.task_id == "lip_task_1"
    assert len(handler.requests) == 3


def test_get_gives_up_after_max_retries() -> None:
    handler = Recorder(httpx.Response(500, json={"error": {"code": "x", "message": "boom"}}))
    with make_client(handler, max_retries=2) as client, pytest.raises(ServerError):
        client.lip_sync.get("lip_task_1")
    assert len(handler.requests) == 3


def test_create_is_never_resent_after_a_500() -> None:
    handler = Recorder(httpx.Response(500, json={"error": {"code": "x", "message": "db"}}))
    with make_client(handler, max_retries=5) as client, pytest.raises(ServerError) as info:
        client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
    assert len(handler.requests) == 1
    assert info.value.may_have_created
    assert "may have been created" in str(info.value)


def test_create_is_never_resent_after_a_read_timeout() -> None:
    handler = Recorder(httpx.ReadTimeout("slow"))
    with make_client(handler, max_retries=5) as client, pytest.raises(APITimeoutError) as info:
        client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
    assert len(handler.requests) == 1
    assert info.value.may_have_created
    assert "list(status='pending')" in str(info.value)


def test_create_is_resent_when_the_connection_was_never_made() -> None:
    handler = Recorder(
        httpx.ConnectError("refused"), httpx.ConnectTimeout("t/o"), httpx.Response(202, json=dto())
    )
    with make_client(handler, max_retries=2) as client:
        task = client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
    assert task.status == TaskStatus.PENDING
    assert len(handler.requests) == 3


def test_create_after_429_is_retried_honouring_retry_after() -> None:
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"code": "rate"}}),
        httpx.Response(202, json=dto()),
    )
    with make_client(handler) as client:
        client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
    assert [r.method for r in handler.requests] == ["POST", "POST"]


def test_connection_error_message_is_readable() -> None:
    handler = Recorder(httpx.ConnectError("refused"))
    with make_client(handler, max_retries=1) as client, pytest.raises(APIConnectionError) as info:
        client.lip_sync.get("lip_task_1")
    assert "GET http://api.test/api/v1/lip-sync/tasks/lip_task_1" in str(info.value)
    assert not info.value.may_have_created
    assert len(handler.requests) == 2


def test_retry_after_accepts_seconds_and_http_dates_and_is_capped() -> None:
    def resp(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after_seconds(resp("2")) == 2.0
    assert retry_after_seconds(resp("100000")) == 60.0
    later = datetime.now(timezone.utc) + timedelta(seconds=30)
    parsed = retry_after_seconds(resp(format_datetime(later, usegmt=True)))
    assert parsed is not None and 25 <= parsed <= 30
    assert retry_after_seconds(resp("soon")) is None
    assert retry_after_seconds(httpx.Response(429)) is None
    assert retry_after_seconds(resp("nan")) is None
    assert retry_after_seconds(resp("0")) == retry_after_seconds(resp("-5")) == 0.0
    assert retry_after_seconds(resp("0.25")) == 0.25
    earlier = datetime.now(timezone.utc) - timedelta(seconds=30)
    assert retry_after_seconds(resp(format_datetime(earlier, usegmt=True))) == 0.0


def test_a_retry_after_date_without_a_zone_is_read_as_utc() -> None:
    """`-0000` (RFC 5322: a time in UTC, its zone unknown) parses to a naive datetime."""
    later = (datetime.now(timezone.utc) + timedelta(seconds=30)).replace(tzinfo=None)
    header = format_datetime(later)
    assert header.endswith("-0000")
    parsed = retry_after_seconds(httpx.Response(429, headers={"Retry-After": header}))
    assert parsed is not None and 25 <= parsed <= 30


# --- security -----------------------------------------------------------------------
def test_token_is_in_no_repr_error_or_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = Recorder(
        httpx.Response(401, json={"error": {"code": "unauthorized", "message": "bad token"}})
    )
    with make_client(handler, max_retries=0) as client:
        with pytest.raises(AuthenticationError) as info:
            client.lip_sync.get("lip_task_1")
        texts = [repr(client), str(client), repr(client._config), str(info.value), repr(info.value)]
    assert handler.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert info.value.token_source == "argument"  # the 401 names the token given in code
    texts.append(caplog.text)
    for text in texts:
        assert TOKEN not in text


def test_redirects_are_not_followed_so_the_token_stays_on_the_api_origin() -> None:
    handler = Recorder(httpx.Response(302, headers={"Location": "https://evil.example/steal"}))
    with make_client(handler, max_retries=0) as client, pytest.raises(APIError) as info:
        client.lip_sync.get("lip_task_1")
    assert info.value.status_code == 302
    assert [str(r.url.host) for r in handler.requests] == ["api.test"]


def test_task_id_cannot_escape_the_tasks_path() -> None:
    handler = Recorder(httpx.Response(200, json=dto()))
    with make_client(handler) as client:
        client.lip_sync.get("../../usage?x=1#frag")
    assert (
        handler.requests[0].url.raw_path == b"/api/v1/lip-sync/tasks/..%2F..%2Fusage%3Fx%3D1%23frag"
    )


def test_missing_token_fails_before_any_request() -> None:
    handler = Recorder(httpx.Response(200, json=dto()))
    client = KittaClient(
        base_url=BASE, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    with client, pytest.raises(MissingTokenError) as info:
        client.lip_sync.get("lip_task_1")
    assert handler.requests == []
    assert "KITTA_API_TOKEN" in str(info.value)


# --- validation: nothing is sent -------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"audio_url": AUDIO}, "video_url"),
        ({"audio_url": "", "video_url": VIDEO}, "audio_url"),
        ({"audio_url": AUDIO, "video_url": VIDEO, "model": " "}, "model"),
        ({"audio_url": AUDIO, "video_url": "file:///etc/passwd"}, "video_url"),
        ({"audio_url": "javascript:alert(1)", "video_url": VIDEO}, "audio_url"),
        ({"audio_url": "data:audio/wav;base64,AAAA", "video_url": VIDEO}, "audio_url"),
        ({"audio_url": "/relative/a.mp3", "video_url": VIDEO}, "audio_url"),
        ({"audio_url": "https:///nohost", "video_url": VIDEO}, "audio_url"),
        ({"audio_url": AUDIO, "video_url": VIDEO, "duration_seconds": 0}, "duration_seconds"),
        (
            {"audio_url": AUDIO, "video_url": VIDEO, "duration_seconds": float("inf")},
            "duration_seconds",
        ),
        ({"audio_url": AUDIO, "video_url": VIDEO, "duration_seconds": True}, "duration_seconds"),
        ({"audio_url": AUDIO, "video_url": VIDEO, "input_mode": "audio"}, "input_mode"),
        ({"audio_url": AUDIO, "video_url": VIDEO, "input_mode": "image"}, "image_url"),
        (
            {"audio_url": AUDIO, "video_url": VIDEO, "reference_image_url": VIDEO},
            "reference_image_url",
        ),
    ],
)
def test_bad_create_input_is_refused_before_sending(kwargs: dict[str, object], field: str) -> None:
    handler = Recorder(httpx.Response(202, json=dto()))
    with make_client(handler) as client, pytest.raises(ValidationError) as info:
        client.lip_sync.create(**kwargs)  # type: ignore[arg-type]
    assert field in info.value.fields
    assert handler.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"limit": 101}, {"limit": True}, {"offset": -1}, {"status": "done"}],
)
def test_bad_list_params_are_refused_before_sending(kwargs: dict[str, object]) -> None:
    handler = Recorder(httpx.Response(200, json={"data": [], "pagination": {}}))
    with make_client(handler) as client, pytest.raises(ValidationError):
        client.lip_sync.list(**kwargs)  # type: ignore[arg-type]
    assert handler.requests == []


def test_private_media_urls_are_refused_only_for_the_real_service() -> None:
    handler = Recorder(httpx.Response(202, json=dto()))
    real = KittaClient(
        TOKEN,
        base_url="https://kittaaudio.com/api",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    for host in ("127.0.0.1", "localhost", "10.1.2.3", "192.168.0.5", "[::1]", "nas.local"):
        with pytest.raises(ValidationError) as info:
            real.lip_sync.create(audio_url=f"http://{host}/a.mp3", video_url=VIDEO)
        assert "public internet" in info.value.fields["audio_url"]
    assert handler.requests == []
    real.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
    assert len(handler.requests) == 1
    real.close()


def test_input_mode_is_inferred_and_explicit_wins() -> None:
    handler = Recorder(lambda request: httpx.Response(202, json=dto()))
    with make_client(handler) as client:
        client.lip_sync.create(audio_url=AUDIO, image_url=VIDEO)
        client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
        client.lip_sync.create(
            audio_url=AUDIO,
            video_url=VIDEO,
            image_url=VIDEO,
            input_mode="image",
            reference_image_url=VIDEO,
            duration_seconds=8,
        )
    bodies = [json.loads(r.content) for r in handler.requests]
    assert bodies[0] == {
        "model": "kitta-lip-sync-v1",
        "inputMode": "image",
        "imageUrl": VIDEO,
        "audioUrl": AUDIO,
    }
    assert bodies[1]["inputMode"] == "video" and "imageUrl" not in bodies[1]
    assert bodies[2]["inputMode"] == "image" and bodies[2]["durationSeconds"] == 8
    assert bodies[2]["referenceImageUrl"] == VIDEO
    assert all(r.headers["content-type"] == "application/json" for r in handler.requests)


# --- wait -----------------------------------------------------------------------------
def test_wait_times_out_with_the_last_snapshot_and_does_not_cancel() -> None:
    handler = Recorder(httpx.Response(200, json=dto(status="processing")))
    with make_client(handler) as client, pytest.raises(WaitTimeoutError) as info:
        client.lip_sync.wait("lip_task_1", timeout=0.05, poll_interval=0.01)
    assert info.value.task.status == TaskStatus.PROCESSING
    assert all(r.method == "GET" for r in handler.requests)


def test_wait_polls_through_transient_errors_and_raises_on_failure() -> None:
    failed = dto(status="failed", errorCode="media_unreachable", errorMessage="audio 404")
    handler = Recorder(
        httpx.Response(200, json=dto(status="processing")),
        httpx.ConnectError("blip"),
        httpx.ConnectError("blip"),
        httpx.ConnectError("blip"),
        httpx.Response(200, json=failed),
    )
    seen: list[object] = []
    with make_client(handler, max_retries=0) as client:
        with pytest.raises(TaskFailedError) as info:
            client.lip_sync.wait(
                "lip_task_1",
                timeout=5,
                poll_interval=0.001,
                on_poll=lambda task, error: seen.append(error),
            )
        assert info.value.task.error_code == "media_unreachable"
        assert "audio 404" in str(info.value)
        task = client.lip_sync.wait("lip_task_1", poll_interval=0.001, raise_on_failure=False)
    assert task.failed
    assert sum(isinstance(e, APIConnectionError) for e in seen) == 3


def test_wait_stops_on_a_permanent_error() -> None:
    handler = Recorder(
        httpx.Response(200, json=dto(status="processing")),
        httpx.Response(404, json={"error": {"code": "not_found", "message": "gone"}}),
    )
    with make_client(handler) as client, pytest.raises(NotFoundError):
        client.lip_sync.wait("lip_task_1", timeout=5, poll_interval=0.001)


def test_poll_interval_stays_within_3_to_5_seconds_for_the_real_service() -> None:
    real = KittaClient(TOKEN, base_url="https://kittaaudio.com/api")
    local = KittaClient(TOKEN, base_url=BASE)
    assert all(3.0 <= real._config.poll_delay(0.1) <= 5.0 for _ in range(50))
    assert all(3.0 <= real._config.poll_delay(60) <= 5.0 for _ in range(50))
    delays = {local._config.poll_delay(0.1) for _ in range(50)}
    assert all(0.1 <= d <= 0.12 for d in delays) and len(delays) > 1  # jittered
    real.close()
    local.close()


# --- pagination -------------------------------------------------------------------------
def test_iter_walks_pages_dedupes_and_stops_on_empty_page() -> None:
    def page(ids: list[str], offset: int, more: bool) -> httpx.Response:
        items = [{"taskId": i, "type": "lip_sync", "status": "failed"} for i in ids]
        return httpx.Response(
            200, json={"data": items, "pagination": {"limit": 2, "offset": offset, "hasMore": more}}
        )

    handler = Recorder(
        page(["a", "b"], 0, True),
        page(["b", "c"], 2, True),  # a task shifted by a newer one
        page([], 4, True),  # a server claiming more with an empty page must not loop
    )
    with make_client(handler) as client:
        ids = [t.task_id for t in client.lip_sync.iter(status="failed", page_size=2)]
    assert ids == ["a", "b", "c"]
    assert [r.url.params["offset"] for r in handler.requests] == ["0", "2", "4"]
    assert all(r.url.params["status"] == "failed" for r in handler.requests)


# --- async twin --------------------------------------------------------------------------
def test_async_client_shares_the_same_rules() -> None:
    handler = Recorder(
        httpx.Response(500, json={"error": {"code": "x", "message": "db"}}),
    )

    async def main() -> None:
        client = AsyncKittaClient(
            TOKEN,
            base_url=BASE,
            http_client=httpx.Client(transport=httpx.MockTransport(handler)),
            max_retries=3,
        )
        async with client:
            with pytest.raises(ServerError) as info:
                await client.lip_sync.create(audio_url=AUDIO, video_url=VIDEO)
            assert info.value.may_have_created
            with pytest.raises(ValidationError):
                await client.lip_sync.list(limit=500)

    asyncio.run(main())
    assert len(handler.requests) == 1


def test_an_async_http_client_is_refused_with_a_clear_error() -> None:
    """The engine is synchronous: an `httpx.AsyncClient` would fail at the first request."""
    http = httpx.AsyncClient()
    for client_class in (AsyncKittaClient, KittaClient):
        with pytest.raises(ValidationError) as caught:
            client_class(TOKEN, base_url=BASE, http_client=http)  # type: ignore[arg-type]
        assert caught.value.fields == {
            "http_client": "must be an httpx.Client (the async client runs it on a thread)"
        }
    asyncio.run(http.aclose())


def test_cancelling_an_awaited_wait_stops_the_polling_at_once() -> None:
    """The async client runs the sync `wait` on a thread; its pause ends with the cancel."""
    polled = threading.Event()
    gets: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        gets.append(request.url.path)
        polled.set()
        return httpx.Response(200, json={"taskId": "lip_task_w", "status": "processing"})

    before = set(threading.enumerate())

    async def main() -> None:
        http = httpx.Client(transport=httpx.MockTransport(handler))
        async with AsyncKittaClient(TOKEN, base_url=BASE, http_client=http, journal=False) as c:
            waiting = asyncio.ensure_future(c.lip_sync.wait("lip_task_w", poll_interval=60))
            assert await asyncio.to_thread(polled.wait, 10)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting

    asyncio.run(main())
    for thread in set(threading.enumerate()) - before:
        thread.join(10)  # a pause that ignored the cancel would last 60 s
        assert not thread.is_alive(), thread.name
    assert len(gets) == 1


def test_the_request_loop_waits_out_a_batch_pause_and_tells_the_gate_each_answer() -> None:
    """A batch's rate gate is read in the request loop, not hooked into the user's pool."""
    from kitta_notebook._core import REQUEST_GATE
    from kitta_notebook.batch.gate import RateGate

    answers = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json=dto())]
    http = httpx.Client(transport=httpx.MockTransport(lambda request: answers.pop(0)))
    with KittaClient(TOKEN, base_url=BASE, http_client=http, journal=False) as client:
        gate = RateGate(4, client._config)
        # Another worker met a 429: everyone pauses 0.3 s.
        gate.after_response(httpx.Response(429, headers={"Retry-After": "0.3"}))
        token = REQUEST_GATE.set(gate)
        try:
            started = time.monotonic()
            client.lip_sync.get("lip_task_1")
            waited = time.monotonic() - started
        finally:
            REQUEST_GATE.reset(token)
    assert waited >= 0.3
    assert gate.rate_limited == 2  # the loop's own 429 reached the gate too
    assert http.event_hooks == {"request": [], "response": []}
