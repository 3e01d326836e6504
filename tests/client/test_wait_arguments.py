"""Bad `timeout` / `poll_interval` values are refused before any request, sync and async."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from kitta_notebook import AsyncKittaClient, KittaClient, ValidationError
from kitta_notebook._core import (
    DEFAULT_BASE_URL,
    DEFAULT_POLL_INTERVAL,
    OFFICIAL_POLL_RANGE,
    ClientConfig,
)

BAD = [
    ("poll_interval", math.nan),
    ("poll_interval", -1.0),
    ("poll_interval", "3"),
    ("timeout", math.nan),
    ("timeout", 0),
    ("timeout", math.inf * 0),
]


def refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent, but {request.method} {request.url} was")


@pytest.mark.parametrize(("name", "value"), BAD)
def test_sync_wait_refuses_before_sending(name: str, value: object) -> None:
    http = httpx.Client(transport=httpx.MockTransport(refuse))
    client = KittaClient("tok", base_url="http://api.test/api", http_client=http)
    with client, pytest.raises(ValidationError) as info:
        client.lip_sync.wait("lip_task_1", **{name: value})  # type: ignore[arg-type]
    assert name in info.value.fields
    assert info.value.fields[name].endswith(".")


@pytest.mark.parametrize(("name", "value"), BAD)
def test_async_wait_refuses_before_sending(name: str, value: object) -> None:
    async def run() -> ValidationError:
        http = httpx.Client(transport=httpx.MockTransport(refuse))
        async with AsyncKittaClient(
            "tok", base_url="http://api.test/api", http_client=http
        ) as client:
            with pytest.raises(ValidationError) as info:
                await client.lip_sync.wait("lip_task_1", **{name: value})  # type: ignore[arg-type]
            return info.value

    assert name in asyncio.run(run()).fields


def test_polls_pause_the_default_interval_with_jitter_and_the_real_service_a_few_seconds() -> None:
    local = ClientConfig("http://127.0.0.1:9/api", None, httpx.Timeout(5.0), 0)
    pauses = [local.poll_delay(None) for _ in range(200)]
    assert all(DEFAULT_POLL_INTERVAL <= p <= DEFAULT_POLL_INTERVAL * 1.2 for p in pauses)
    assert len(set(pauses)) > 1  # jittered: many clients do not poll in step
    assert all(0.5 <= local.poll_delay(0.5) <= 0.6 for _ in range(50))
    official = ClientConfig(DEFAULT_BASE_URL, None, httpx.Timeout(5.0), 0)
    low, high = OFFICIAL_POLL_RANGE
    assert all(low <= official.poll_delay(0.5) <= high for _ in range(50))
    assert all(low <= official.poll_delay(60.0) <= high for _ in range(50))
