"""Fault injection: 500s, 429 + Retry-After, dropped connections, latency, and the
"may have been created" case of a create that fails after commit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from kitta_notebook.sandbox import FaultConfig, Sandbox
from tests.sandbox.sandbox_helpers import TASKS, api_client, assert_error, video_body, wait_terminal

TOKEN = "faulty-token"


@pytest.fixture(scope="module")
def faulty() -> Iterator[Sandbox]:
    with Sandbox({TOKEN: 1_000_000}, time_scale=0.05) as sb:
        yield sb


@pytest.fixture()
def sb(faulty: Sandbox) -> Iterator[Sandbox]:
    faulty.faults = None
    faulty.stats.reset()
    yield faulty
    faulty.faults = None


@pytest.fixture()
def client(sb: Sandbox) -> Iterator[httpx.Client]:
    with api_client(sb, TOKEN) as c:
        yield c


def _count(client: httpx.Client) -> int:
    return len(client.get(TASKS, params={"limit": 100}).json()["data"])


def test_faults_are_off_by_default(sb: Sandbox, client: httpx.Client) -> None:
    assert not sb.faults.active
    for _ in range(20):
        assert client.get(TASKS).status_code == 200


def test_error_rate_on_create_fails_before_anything_happens(
    sb: Sandbox, client: httpx.Client
) -> None:
    tasks, balance = _count(client), sb.balance(TOKEN)
    sb.faults = FaultConfig(error_rate=1.0, routes=("create",))
    for _ in range(3):
        assert_error(client.post(TASKS, json=video_body(sb)), 500, "internal_error")
    assert client.get(TASKS).status_code == 200  # only create is targeted
    sb.faults = None
    assert _count(client) == tasks
    assert sb.balance(TOKEN) == balance
    assert sb.stats.faults == {"error": 3}
    assert sb.stats.route("create") == 3 and sb.stats.creates_accepted == 0


def test_error_on_get_is_a_500_envelope(sb: Sandbox, client: httpx.Client) -> None:
    task_id = client.post(TASKS, json=video_body(sb)).json()["taskId"]
    sb.faults = FaultConfig(error_rate=1.0)
    assert_error(client.get(f"{TASKS}/{task_id}"), 500, "internal_error")
    assert_error(client.get(TASKS), 500)
    assert_error(client.get("/v1/usage"), 500)


def test_rate_limit_sends_retry_after(sb: Sandbox, client: httpx.Client) -> None:
    tasks = _count(client)
    sb.faults = FaultConfig(rate_limit_rate=1.0, retry_after=2)
    response = client.post(TASKS, json=video_body(sb))
    assert_error(response, 429, "rate_limited")
    assert response.headers["retry-after"] == "2"
    sb.faults = FaultConfig(rate_limit_rate=1.0, retry_after=0.25)
    assert client.get(TASKS).headers["retry-after"] == "0.25"
    sb.faults = None
    assert _count(client) == tasks


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_drop_closes_the_connection_without_a_response(
    sb: Sandbox, client: httpx.Client, method: str
) -> None:
    tasks, balance = _count(client), sb.balance(TOKEN)
    sb.faults = FaultConfig(drop_rate=1.0)
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            client.request(method, TASKS, json=video_body(sb))
    sb.faults = None
    assert client.get(TASKS).status_code == 200  # the client recovers on a new connection
    assert _count(client) == tasks and sb.balance(TOKEN) == balance
    assert sb.stats.faults == {"drop": 2}


def test_500_after_commit_created_and_charged_the_task(sb: Sandbox, client: httpx.Client) -> None:
    tasks, balance = _count(client), sb.balance(TOKEN)
    sb.faults = FaultConfig(error_rate=1.0, create_fault_after_commit=True)
    assert_error(client.post(TASKS, json=video_body(sb, durationSeconds=2)), 500)
    sb.faults = None
    assert _count(client) == tasks + 1
    assert sb.balance(TOKEN) == balance - 200
    assert sb.stats.creates_accepted == 1
    newest = client.get(TASKS, params={"limit": 1}).json()["data"][0]
    assert wait_terminal(client, newest["taskId"])["status"] == "succeeded"


def test_drop_after_commit_created_the_task(sb: Sandbox, client: httpx.Client) -> None:
    tasks = _count(client)
    sb.faults = FaultConfig(drop_rate=1.0, create_fault_after_commit=True)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(TASKS, json=video_body(sb))
    sb.faults = None
    assert _count(client) == tasks + 1


def test_after_commit_does_not_hide_a_rejected_create(sb: Sandbox, client: httpx.Client) -> None:
    sb.faults = FaultConfig(error_rate=1.0, create_fault_after_commit=True)
    assert_error(client.post(TASKS, json={"model": "nope"}), 400)


def test_seeded_faults_repeat(sb: Sandbox, client: httpx.Client) -> None:
    def run() -> list[int]:
        sb.faults = FaultConfig(error_rate=0.5, seed=7, routes=("list",))
        return [client.get(TASKS).status_code for _ in range(16)]

    first = run()
    assert set(first) == {200, 500}
    assert run() == first


def test_latency_delays_responses(sb: Sandbox, client: httpx.Client) -> None:
    sb.faults = FaultConfig(latency=0.3, routes=("usage",))
    start = time.monotonic()
    assert client.get("/v1/usage").status_code == 200
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    client.get(TASKS)
    assert time.monotonic() - start < 0.3


def test_media_faults_make_tasks_fail(sb: Sandbox, client: httpx.Client) -> None:
    sb.faults = FaultConfig(error_rate=1.0, routes=("media",))
    task_id = client.post(TASKS, json=video_body(sb)).json()["taskId"]
    done = wait_terminal(client, task_id)
    assert done["status"] == "failed" and done["errorCode"] == "media_unreachable"
    assert "HTTP 500" in done["errorMessage"]
    assert sb.stats.by_route.get("samples", 0) >= 1  # media faults: fetched over HTTP


def test_own_media_is_read_from_disk_when_no_media_fault_is_on(
    sb: Sandbox, client: httpx.Client
) -> None:
    sb.faults = FaultConfig(error_rate=1.0, routes=("usage",))  # faults elsewhere only
    done = wait_terminal(client, client.post(TASKS, json=video_body(sb)).json()["taskId"])
    assert done["status"] == "succeeded"
    assert "samples" not in sb.stats.by_route  # the server never asked itself for them


def test_task_failure_rate(sb: Sandbox, client: httpx.Client) -> None:
    sb.faults = FaultConfig(task_failure_rate=1.0)
    done = wait_terminal(client, client.post(TASKS, json=video_body(sb)).json()["taskId"])
    assert done["status"] == "failed"
    assert done["errorCode"] == "provider_error" and done["errorMessage"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"error_rate": 0.6, "drop_rate": 0.6},
        {"latency": -1},
        {"routes": ("create", "teapot")},
    ],
)
def test_fault_config_is_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**kwargs)  # type: ignore[arg-type]
