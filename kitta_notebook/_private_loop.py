"""Running a coroutine to completion from sync code, wherever that code runs.

A sync caller may sit inside a running loop (a notebook cell) where
`asyncio.run()` refuses, or in a kernel where nest-asyncio patched asyncio:
a fresh loop on a worker thread works everywhere, and the coroutine keeps
its exact deadline. Used by sync downloads, kept results and widget actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_private_loop(make: Callable[[], Coroutine[Any, Any, T]], grace: float = 5.0) -> T:
    """Run a coroutine to completion on a fresh loop in a worker thread.

    A sync caller may sit inside a running loop (a notebook cell); a private
    loop works there too, and the coroutine keeps its exact deadline. An
    interrupt of the caller cancels the coroutine and waits `grace` seconds
    for it to clean up (a download removes its partial file).
    """
    outcome: dict[str, Any] = {}
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def work() -> None:
        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(make())
            holder["loop"], holder["task"] = loop, task
            ready.set()
            outcome["value"] = loop.run_until_complete(task)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
        finally:
            ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=work, name="kitta-media-fetch", daemon=True)
    thread.start()
    try:
        thread.join()
    except BaseException:
        ready.wait(grace)
        loop, task = holder.get("loop"), holder.get("task")
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(task.cancel)
        thread.join(grace)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
