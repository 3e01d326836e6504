"""The async layer's bridge: results, errors, cancellation reach the sync engine."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from kitta_notebook import _bridge


def test_run_sync_returns_the_value_and_raises_the_error() -> None:
    async def main() -> None:
        assert await _bridge.run_sync(lambda a, b: a + b, 2, b=3) == 5
        with pytest.raises(KeyError):
            await _bridge.run_sync({}.__getitem__, "missing")

    asyncio.run(main())


def test_a_cancelled_await_ends_the_engines_pause() -> None:
    stopped = threading.Event()

    def engine() -> None:
        try:
            _bridge.pause(60)
        except _bridge.CallCancelled:
            stopped.set()
            raise

    async def main() -> None:
        call = asyncio.ensure_future(_bridge.run_sync(engine))
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(main())
    assert stopped.wait(10)


def test_pause_outside_an_async_call_just_sleeps() -> None:
    _bridge.pause(0)
    _bridge.check_cancelled()


def test_iterate_sync_yields_in_order_and_closes_the_generator_on_early_exit() -> None:
    closed = threading.Event()

    def numbers() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
                _bridge.pause(0.001)
        finally:
            closed.set()

    async def main() -> list[int]:
        seen: list[int] = []
        stream = _bridge.iterate_sync(numbers)
        async for n in stream:
            seen.append(n)
            if n == 4:
                break
        await stream.aclose()
        return seen

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert closed.wait(10)


def test_iterate_sync_raises_the_generators_error() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    async def main() -> None:
        seen = []
        with pytest.raises(ValueError, match="boom"):
            async for n in _bridge.iterate_sync(failing):
                seen.append(n)
        assert seen == [1]

    asyncio.run(main())
