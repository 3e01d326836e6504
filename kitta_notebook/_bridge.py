"""Where sync and async meet: the async API runs the sync engine on worker threads.

Every feature is written once, as plain synchronous code (`KittaClient`). The
async names (`AsyncKittaClient`, `AsyncHistory`, ...) hold no logic: each
method awaits `run_sync(sync_method, ...)`, and async iterators wrap a sync
generator with `iterate_sync`. No event loop is ever created or re-entered,
so the same code works in a script, a notebook cell, and a kernel where
nest-asyncio was applied.

Cancelling an await sets that call's cancel event. The engine's sleeps go
through `pause()`, which ends at once and raises `CallCancelled` there, so
a cancelled `wait()` stops polling; long loops call `check_cancelled()` at
points where stopping is safe (never between sending a create and recording
its outcome: a create that was sent always finishes and is recorded).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:  # asyncio loads on the first await, not at `import kitta_notebook`
    import asyncio

T = TypeVar("T")
P = ParamSpec("P")

_cancel_event: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "kitta_cancel_event", default=None
)


class CallCancelled(Exception):
    """Raised inside the engine when its async caller was cancelled (never reaches a user)."""


def check_cancelled() -> None:
    """Stop here when the async caller that started this work was cancelled."""
    event = _cancel_event.get()
    if event is not None and event.is_set():
        raise CallCancelled


def pause(seconds: float) -> None:
    """The engine's one sleep: `time.sleep`, cut short when the async caller is cancelled."""
    event = _cancel_event.get()
    if event is None:
        time.sleep(max(0.0, seconds))
    elif event.wait(max(0.0, seconds)):
        raise CallCancelled


def _start(work: Callable[[], None], event: threading.Event) -> None:
    context = contextvars.copy_context()
    context.run(_cancel_event.set, event)
    thread = threading.Thread(target=context.run, args=(work,), name="kitta-async", daemon=True)
    thread.start()


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _deliver(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
        loop.call_soon_threadsafe(callback, *args)


async def run_sync(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Await `fn(*args, **kwargs)` run on a daemon thread; cancelling the await cancels it."""
    import asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    event = threading.Event()

    def work() -> None:
        try:
            value = fn(*args, **kwargs)
        except BaseException as error:  # handed to the awaiting coroutine
            _deliver(loop, _settle, future, None, error)
        else:
            _deliver(loop, _settle, future, value, None)

    _start(work, event)
    try:
        return await future
    except asyncio.CancelledError:
        event.set()
        raise


def awaitable(
    method: Callable[Concatenate[Any, P], T],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """An async layer's method: the engine's `method` on the layer's `_sync`, awaited.

    It keeps the engine method's name, docstring and signature (`__wrapped__`), so
    the two flavours cannot drift apart.
    """

    async def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await run_sync(method, self._sync, *args, **kwargs)

    functools.update_wrapper(call, method)
    call.__qualname__ = f"Async{method.__qualname__}"
    return call


_DONE = object()


async def iterate_sync(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Iterate a sync generator on a daemon thread; `aclose()` or a cancel stops it.

    Items arrive in order through a queue; the generator is closed on its own
    thread (its `finally` blocks run there) when the consumer stops.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    event = threading.Event()

    def work() -> None:
        iterator = make()
        try:
            for item in iterator:
                _deliver(loop, queue.put_nowait, (item, None))
                if event.is_set():
                    break
        except CallCancelled:
            pass
        except BaseException as error:  # handed to the consumer
            _deliver(loop, queue.put_nowait, (_DONE, error))
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        _deliver(loop, queue.put_nowait, (_DONE, None))

    _start(work, event)
    try:
        while True:
            item, error = await queue.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        event.set()
