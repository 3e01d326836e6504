"""`task.watch()`: a task view that updates itself in place until the task ends.

It polls on the kernel's running event loop (an asyncio task), so the cell
returns at once and the kernel stays free for other cells. Without a running
loop (a script) it polls on a private loop in a worker thread. The final
output is the static HTML of the finished task, so a saved notebook shows it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

from .. import _core
from ..errors import WaitTimeoutError
from ..i18n import Lang, check_lang, text
from .html import format_seconds, task_html, task_text
from .video import MAX_EMBED_BYTES, async_fetch_for_embed, plan_video, render_video

if TYPE_CHECKING:
    from ..models import LipSyncTask

# Running watchers, kept so their asyncio tasks are not garbage-collected.
_RUNNING: set[TaskWatcher] = set()


class TaskWatcher:
    """Handle of one live view: `await watcher.wait()` or `watcher.stop()`."""

    def __init__(
        self,
        task: LipSyncTask,
        *,
        poll_interval: float | None,
        timeout: float | None,
        embed: bool | None,
        lang: Lang,
        max_embed_bytes: int,
    ) -> None:
        self.task = task
        self.poll_interval = poll_interval
        self.timeout = _core.DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        self.embed = embed
        self.lang = lang
        self.max_embed_bytes = max_embed_bytes
        self.error: BaseException | None = None
        self.retries = 0
        self.polls = 0
        self._done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._private: asyncio.Task[None] | None = None
        self._handle: Any = None
        self._future: asyncio.Future[None] | None = None
        self._thread: threading.Thread | None = None

    # --- public -------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        """Stop polling; the view keeps its last state."""
        if self._future is not None:
            self._future.cancel()
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._cancel_private)

    async def wait(self) -> LipSyncTask:
        """Await the end of the live view (on the loop it runs on)."""
        if self._future is not None:
            try:
                await asyncio.shield(self._future)
            except asyncio.CancelledError:
                if not self._future.cancelled():
                    raise
        else:
            await asyncio.to_thread(self._done.wait)
        return self.task

    def _cancel_private(self) -> None:
        if self._private is not None:
            self._private.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """Block until the view has finished (for scripts; not from the loop it runs on)."""
        return self._done.wait(timeout)

    def _ipython_display_(self) -> None:
        """Shown already: a watcher returned as a cell's value adds no second output."""

    # --- rendering ------------------------------------------------------------
    def _note(self, started: float, problem: str | None = None) -> str:
        waited = format_seconds(time.monotonic() - started)
        base = f"{self.task.status_text} · {waited} · {text('watching', self.lang)}"
        return f"{base} · {problem}" if problem else base

    def _show(self, html_text: str, plain: str) -> None:
        bundle = {"text/html": html_text, "text/plain": plain}
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
            if self._handle is None:  # outside IPython: print once
                print(plain)
        else:
            self._handle.update(bundle, raw=True)

    def _live(self, note: str) -> None:
        self._show(task_html(self.task, lang=self.lang, note=note, video=""), task_text(self.task))

    async def _final(self, note: str | None = None) -> None:
        plan = plan_video(self.task, self.embed)
        data: bytes | None = None
        problem: str | None = None
        if plan.action == "embed" and plan.url is not None:
            data, problem = await async_fetch_for_embed(self.task, plan.url, self.max_embed_bytes)
        video = render_video(plan, data, problem, lang=self.lang, max_bytes=self.max_embed_bytes)
        self._show(
            task_html(self.task, lang=self.lang, video=video, note=note), task_text(self.task)
        )

    # --- polling --------------------------------------------------------------
    def _on_poll(self, started: float, task: LipSyncTask, error: Exception | None) -> None:
        self.polls += 1
        if error is not None:
            self.retries += 1
            self._live(self._note(started, text("retrying", self.lang)))
        elif not task.is_terminal:
            self._live(self._note(started))

    async def _run(self) -> None:
        started = time.monotonic()
        client = self.task._owner()._async_client()
        try:
            await client.lip_sync.wait(
                self.task,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
                raise_on_failure=False,
                on_poll=lambda task, error: self._on_poll(started, task, error),
            )
            await self._final()
        except WaitTimeoutError:
            await self._final(text("watch_timeout", self.lang, seconds=f"{self.timeout:g}"))
        except asyncio.CancelledError:
            self._live(text("watch_stopped", self.lang))
            raise
        except Exception as exc:
            self.error = exc
            self._live(f"{type(exc).__name__}: {exc}")
        finally:
            self._done.set()
            _RUNNING.discard(self)

    def _start(self) -> None:
        started = time.monotonic()
        if self.task.is_terminal:
            self._done.set()
            self._show(task_html(self.task, lang=self.lang, embed=self.embed), task_text(self.task))
            return
        self._live(self._note(started))
        _RUNNING.add(self)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._future = loop.create_task(self._run())
        else:
            self._thread = threading.Thread(
                target=lambda: asyncio.run(self._run_private()),
                name=f"kitta-watch-{self.task.task_id}",
                daemon=True,
            )
            self._thread.start()

    async def _run_private(self) -> None:
        """Poll on this thread's own loop, with its own async client (loops don't share)."""
        from .._async_client import AsyncKittaClient

        owner = self.task._owner()
        private = AsyncKittaClient(_config=owner._config)
        original = self.task._client
        self.task._client = private
        self._loop = asyncio.get_running_loop()
        self._private = asyncio.current_task()
        try:
            await self._run()
        except asyncio.CancelledError:
            pass
        finally:
            self.task._client = original
            await private.aclose()


def watch_task(
    task: LipSyncTask,
    *,
    poll_interval: float | None = None,
    timeout: float | None = None,
    embed: bool | None = None,
    lang: str = "en",
    max_embed_bytes: int = MAX_EMBED_BYTES,
) -> TaskWatcher:
    """Display `task` and keep the display current until it finishes; returns at once."""
    watcher = TaskWatcher(
        task,
        poll_interval=poll_interval,
        timeout=timeout,
        embed=embed,
        lang=check_lang(lang),
        max_embed_bytes=max_embed_bytes,
    )
    watcher._start()
    return watcher
