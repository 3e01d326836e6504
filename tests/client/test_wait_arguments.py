"""Bad `timeout` / `poll_interval` values are refused before any request, sync and async."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from kitta_notebook import AsyncKittaClient, KittaClient, ValidationError

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
