"""The request loop's rules, free of I/O (`_core`): which answers and failures are retried,
after how long, what a transport failure tells the user, and what is logged.

A create is the one request that spends credits: it is resent only when the server
certainly did not take it (a 429, or no connection made). Gaps found by mutation testing
(`make mutate`); each test names the behaviour it protects.
"""

from __future__ import annotations

import logging
import math
import re
import time

import httpx
import pytest

from kitta_notebook import (
    APIConnectionError,
    APITimeoutError,
    KittaClient,
    LipSyncTask,
    ValidationError,
)
from kitta_notebook._core import (
    DEFAULT_BASE_URL,
    USER_AGENT,
    ClientConfig,
    RetryDecision,
    Secret,
    check_timeout,
    decide_after_exception,
    decide_after_response,
    log_response,
    task_id_of,
    transport_error,
)
from tests.support import dto

TASKS = "http://127.0.0.1:9/api/v1/lip-sync/tasks"
READ = httpx.Request("GET", TASKS + "/lip_task_1?page=2")
CREATE = httpx.Request("POST", TASKS, json={"model": "kitta-lip-sync-v1"})


class Highest:
    """A random source that always picks the top of the range: backoff is its ceiling."""

    def uniform(self, low: float, high: float) -> float:
        return high


def config(max_retries: int = 2) -> ClientConfig:
    made = ClientConfig("http://127.0.0.1:9/api", None, httpx.Timeout(5.0), max_retries)
    made.rng = Highest()  # type: ignore[assignment]
    return made


@pytest.mark.parametrize("status", [200, 201, 400, 401, 404, 409, 422, 429, 500, 502, 503])
@pytest.mark.parametrize("request_", [READ, CREATE], ids=["read", "create"])
def test_reads_retry_on_429_and_5xx_and_a_create_only_on_429(
    request_: httpx.Request, status: int
) -> None:
    retried = status == 429 or (status >= 500 and request_ is READ)
    answer = httpx.Response(status, request=request_)
    for attempt in (0, 1):
        expected = RetryDecision(True, 0.5 * 2**attempt) if retried else RetryDecision(False)
        assert decide_after_response(config(), request_, answer, attempt) == expected
    assert decide_after_response(config(), request_, answer, 2) == RetryDecision(False)
    assert decide_after_response(config(0), request_, answer, 0) == RetryDecision(False)


def test_a_429_waits_what_the_server_asked_else_the_backoff() -> None:
    asked = httpx.Response(429, headers={"Retry-After": "7"}, request=CREATE)
    assert decide_after_response(config(), CREATE, asked, 1) == RetryDecision(True, 7.0)
    now = httpx.Response(429, headers={"Retry-After": "0"}, request=CREATE)
    assert decide_after_response(config(), CREATE, now, 1) == RetryDecision(True, 0.0)
    unsaid = httpx.Response(503, request=READ)
    assert decide_after_response(config(), READ, unsaid, 1) == RetryDecision(True, 1.0)


@pytest.mark.parametrize(
    ("exc", "read_retried", "create_retried"),
    [
        (httpx.ConnectError("refused"), True, True),  # no connection: the create never left
        (httpx.ConnectTimeout("slow"), True, True),
        (httpx.ReadTimeout("slow"), True, False),  # sent: it may have created the task
        (httpx.RemoteProtocolError("cut"), True, False),
        (httpx.WriteError("broken"), True, False),
    ],
)
def test_a_failed_create_is_resent_only_when_it_never_reached_the_server(
    exc: httpx.TransportError, read_retried: bool, create_retried: bool
) -> None:
    for request_, retried in ((READ, read_retried), (CREATE, create_retried)):
        expected = RetryDecision(True, 1.0) if retried else RetryDecision(False)
        assert decide_after_exception(config(), request_, exc, 1) == expected
        assert decide_after_exception(config(), request_, exc, 2) == RetryDecision(False)


@pytest.mark.parametrize(
    ("request_", "exc", "kind", "message", "created"),
    [
        (READ, httpx.ConnectError("x"), APIConnectionError,
         f"Could not complete GET {TASKS}/lip_task_1: ConnectError. Check the network and "
         "base_url.", False),
        (CREATE, httpx.ConnectError("x"), APIConnectionError,
         f"Could not complete POST {TASKS}: ConnectError. Check the network and base_url.",
         False),
        (CREATE, httpx.RemoteProtocolError("x"), APIConnectionError,
         f"Could not complete POST {TASKS}: RemoteProtocolError. Check the network and "
         "base_url.", True),
        (READ, httpx.ReadTimeout("x"), APITimeoutError,
         f"Timed out waiting for the answer (GET {TASKS}/lip_task_1). Check the network, or "
         "raise the client's timeout.", False),
        (CREATE, httpx.ReadTimeout("x"), APITimeoutError,
         f"Timed out waiting for the answer (POST {TASKS}). Check the network, or raise the "
         "client's timeout.", True),
        (CREATE, httpx.ConnectTimeout("x"), APITimeoutError,
         f"Timed out connecting (POST {TASKS}). Check the network, or raise the client's "
         "timeout.", False),
    ],
)  # fmt: skip
def test_a_transport_failure_names_the_request_and_whether_a_task_may_exist(
    request_: httpx.Request,
    exc: httpx.TransportError,
    kind: type[APIConnectionError],
    message: str,
    created: bool,
) -> None:
    error = transport_error(request_, exc)
    assert type(error) is kind and error.may_have_created is created
    assert error.message == message  # the query (which may hold a signature) is left out


def test_each_answer_is_logged_at_debug_without_its_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = httpx.Response(201, request=READ)
    caplog.set_level(logging.INFO, logger="kitta_notebook")
    log_response(READ, answer, time.monotonic())
    assert caplog.records == []
    caplog.set_level(logging.DEBUG, logger="kitta_notebook")
    log_response(READ, answer, time.monotonic() - 0.25)
    (record,) = caplog.records
    found = re.fullmatch(rf"GET {re.escape(TASKS)}/lip_task_1 -> 201 in (\d+) ms", record.message)
    assert found is not None, record.message
    assert 250 <= int(found[1]) < 10_000


@pytest.mark.parametrize("timeout", [True, False, "5", None, 0, -1.0, math.nan, -math.inf])
def test_a_timeout_must_be_a_number_of_seconds_above_zero(timeout: object) -> None:
    with pytest.raises(ValidationError) as caught:
        check_timeout(timeout)
    assert caught.value.fields == {"timeout": "The timeout must be a number of seconds above 0."}


def test_a_timeout_is_kept_as_seconds() -> None:
    assert check_timeout(5) == 5.0 and isinstance(check_timeout(5), float)
    assert check_timeout(0.25) == 0.25 and check_timeout(math.inf) == math.inf


def test_the_token_shows_as_stars() -> None:
    assert repr(Secret("tok-secret")) == "Secret('***')" == str(Secret("tok-secret"))


def test_a_request_carries_its_http_clients_headers_and_says_json_only_with_a_body() -> None:
    """The merged headers are cached per HTTP client and body kind: a cached GET's headers
    must never go out on a create, nor one client's headers on another's request."""
    made = ClientConfig("http://127.0.0.1:9/api", Secret("tok-h"), httpx.Timeout(5.0), 0)
    with (
        httpx.Client(headers={"X-Team": "dubbing"}) as mine,
        httpx.Client(headers={"X-Team": "research"}) as theirs,
    ):
        read = made.build_request(mine, "GET", "/v1/lip-sync/tasks", params={"page": 2})
        create = made.build_request(mine, "POST", "/v1/lip-sync/tasks", body={"model": "m"})
        again = made.build_request(mine, "GET", "/v1/lip-sync/tasks/lip_task_1")
        other = made.build_request(theirs, "GET", "/v1/lip-sync/tasks")
    assert str(read.url) == TASKS + "?page=2" and create.content == b'{"model":"m"}'
    assert read.content == b"" and "content-length" not in read.headers
    assert create.headers["content-type"] == "application/json"
    assert "content-type" not in read.headers and "content-type" not in again.headers
    for request_ in (read, create, again, other):
        assert request_.headers["accept"] == "application/json"
        assert request_.headers["user-agent"] == USER_AGENT
        assert request_.headers["authorization"] == "Bearer tok-h"
    assert [r.headers["x-team"] for r in (read, create, other)] == ["dubbing"] * 2 + ["research"]
    assert all("authorization" not in h for h in made._header_cache.values())


def test_a_task_or_its_id_names_the_same_task() -> None:
    assert task_id_of(LipSyncTask(dto(taskId="lip_task_9"))) == "lip_task_9"
    assert task_id_of("lip_task_3") == "lip_task_3"


@pytest.mark.parametrize("token", ["!", "~", "tok-!~", "A" * 300])
def test_every_printable_ascii_character_may_be_in_a_token(token: str) -> None:
    assert Secret(token).reveal() == token


@pytest.mark.parametrize(
    ("token", "position"),
    [("tok en", 4), ("tok\t", 4), ("\x7ftok", 1), ("tok\x00", 4), ("tokén", 4), ("tok\u200b", 4)],
)
def test_a_token_with_a_space_control_or_non_ascii_character_is_refused_naming_where(
    token: str, position: int
) -> None:
    """Pasted tokens pick up spaces and invisible characters: refused before any request,
    and the message never repeats the token."""
    with pytest.raises(ValidationError) as caught:
        Secret(token)
    assert caught.value.fields == {
        "token": f"has a space, control or non-ASCII character at position {position}; "
        "copy the API token again (it is printable ASCII only)"
    }


@pytest.mark.parametrize(
    "base_url",
    [
        "kittaaudio.com/api",
        "ftp://kittaaudio.com/api",
        "https:///api",
        "http://",
        "http://[::1/api",
    ],
)
def test_a_base_url_must_be_an_absolute_http_url(base_url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        KittaClient("tok", base_url=base_url, journal=False)
    assert caught.value.fields == {
        "base_url": f"must be an absolute http(s) URL such as {DEFAULT_BASE_URL}"
    }


def test_a_base_url_with_a_password_is_refused_before_httpx_sends_it_as_basic_auth() -> None:
    with pytest.raises(ValidationError) as caught:
        KittaClient("tok", base_url="https://user:secret@kittaaudio.com/api", journal=False)
    assert caught.value.fields == {
        "base_url": "must not carry user:password@ (the API token signs each request; give a "
        "proxy's credentials to the proxy settings instead)"
    }
    assert "secret" not in str(caught.value)
