"""Run the widgets' coroutines on the kernel's own event loop.

Click handlers run synchronously inside ipykernel's running asyncio loop, so
they can schedule work with `loop.create_task` and return at once: the kernel
stays free for other cells while a task is created and polled. asyncio only
keeps weak references to tasks, so every task started here is held in a set
until it ends. Nothing here depends on `nest_asyncio` (it may or may not
have been applied by the user).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Tasks started by the widgets, kept alive until they finish.
RUNNING: set[asyncio.Task[Any]] = set()


class NoEventLoopError(RuntimeError):
    """Raised when a widget action needs the kernel's loop and none is running."""


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
    # Retrieve the outcome so asyncio never logs "exception was never retrieved";
    # the widgets show their own errors.
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


async def settle(tasks: set[asyncio.Task[Any]] | None = None) -> None:
    """Await the given tasks (default: all running widget tasks) until none is left.

    Tasks started while waiting are awaited too; exceptions are not raised here.
    """
    pool = RUNNING if tasks is None else tasks
    current = asyncio.current_task()
    while True:
        pending = [t for t in pool if not t.done() and t is not current]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)
