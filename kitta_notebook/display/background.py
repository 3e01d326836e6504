"""Run the views' coroutines in the background: on the kernel's loop, or a private one.

In a notebook, click handlers and `watch()` run inside ipykernel's running
asyncio loop, so they schedule work with `loop.create_task` and return at
once: the kernel stays free for other cells. asyncio keeps only weak
references to tasks, so every task started here is held until it ends.
A plain script has no running loop: `start()` then runs the coroutine on a
private loop in a daemon thread (loops don't share clients, so the coroutine
is told which case it is in). Nothing here depends on `nest_asyncio`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .._private_loop import run_in_private_loop
from ..errors import NoEventLoopError

T = TypeVar("T")

# Tasks started on a running loop, kept alive until they finish.
RUNNING: set[asyncio.Task[Any]] = set()

# Makes the coroutine to run; its argument says whether it runs on a private loop.
Starter = Callable[[bool], Coroutine[Any, Any, None]]


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread (the kernel's, in a notebook), or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """Schedule `coro` on the running loop and keep a reference until it ends.

    Raises `NoEventLoopError` (after closing the coroutine, so no "never
    awaited" warning) when no loop runs in this thread.
    """
    loop = running_loop()
    if loop is None:
        coro.close()
        raise NoEventLoopError("no running event loop in this thread")
    task = loop.create_task(coro, name=name)
    RUNNING.add(task)
    task.add_done_callback(_forget)
    return task


def _forget(task: asyncio.Task[Any]) -> None:
    RUNNING.discard(task)
    # Retrieve the outcome so asyncio never logs "exception was never retrieved":
    # the views show their own errors.
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


async def settle(tasks: set[asyncio.Task[Any]] | None = None) -> None:
    """Await the given tasks (default: every running one) until none is left.

    Tasks started while waiting are awaited too; exceptions are not raised here.
    """
    pool = RUNNING if tasks is None else tasks
    current = asyncio.current_task()
    while True:
        pending = [t for t in pool if not t.done() and t is not current]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


def run_to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` from sync code and return its result (a private loop when one runs here)."""
    if running_loop() is None:
        return asyncio.run(coro)
    return run_in_private_loop(lambda: coro)


class Background:
    """One coroutine running in the background: `cancel()`, `done`, `join()`, `await wait()`."""

    def __init__(self, make: Starter, *, name: str) -> None:
        self._make = make
        self._name = name
        self._finished = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._private_loop: asyncio.AbstractEventLoop | None = None
        self._private_task: asyncio.Task[None] | None = None
        self._cancelled = False

    @property
    def private(self) -> bool:
        """True when the coroutine runs on its own loop in a worker thread."""
        return self._task is None

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def start(self) -> Background:
        loop = running_loop()
        if loop is not None:
            self._task = spawn(self._make(False), name=self._name)
            self._task.add_done_callback(lambda _task: self._finished.set())
        else:
            threading.Thread(target=self._run_private, name=self._name, daemon=True).start()
        return self

    def _run_private(self) -> None:
        async def main() -> None:
            self._private_loop = asyncio.get_running_loop()
            self._private_task = asyncio.current_task()  # type: ignore[assignment]
            if self._cancelled:
                return
            with contextlib.suppress(asyncio.CancelledError):
                await self._make(True)

        try:
            asyncio.run(main())
        finally:
            self._finished.set()

    def cancel(self) -> None:
        """Stop the coroutine (it sees `CancelledError`)."""
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()
        elif self._private_loop is not None and self._private_task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._private_loop.call_soon_threadsafe(self._private_task.cancel)

    def join(self, timeout: float | None = None) -> bool:
        """Block until it has finished (for scripts; never from the loop it runs on)."""
        return self._finished.wait(timeout)

    async def wait(self) -> None:
        """Await the end (from any loop); cancellation of the work is not re-raised."""
        if self._task is not None:
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)
        else:
            await asyncio.to_thread(self._finished.wait)


def start(make: Starter, *, name: str) -> Background:
    """Run `make(private)` on the running loop, or on a private loop in a daemon thread."""
    return Background(make, name=name).start()
