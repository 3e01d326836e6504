"""`task.watch()`: a task view that updates itself in place until the task ends.

It renders the snapshots of a `TaskFollower` (`display.follow`), followed on
the kernel's running loop, so the cell returns at once and the kernel stays
free for other cells. The final output is the static HTML of the finished
task, so a saved notebook shows it. In a plain script (no running loop) it
follows to the end before it returns, printing one short line per change.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import TYPE_CHECKING, Any

from .._redact import clip
from ..i18n import Lang, check_lang, text
from .follow import FollowSnapshot, TaskFollower, follow, running_loop, spawn
from .html import format_seconds, task_html
from .video import MAX_EMBED_BYTES

if TYPE_CHECKING:
    from ..models import LipSyncTask

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain(value: object) -> str:
    """A server value made safe for a terminal: no control characters, bounded length."""
    return _CONTROL.sub("?", clip(value, 200))


class LiveTaskView:
    """Handle of one live view of a task: `await view.wait()`, `view.join()`, `view.stop()`.

    `task`, `done`, `polls`, `retries` and `error` (what ended the view, if it
    was an error) are plain state for code and tests; `follower.snapshot` has
    the rest.
    """

    def __init__(
        self,
        task: LipSyncTask,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        embed: bool | None = None,
        lang: str = "en",
        max_embed_bytes: int = MAX_EMBED_BYTES,
    ) -> None:
        self.task = task
        self.lang: Lang = check_lang(lang)
        self.follower = TaskFollower(
            task,
            timeout=timeout,
            poll_interval=poll_interval,
            embed=embed,
            max_embed_bytes=max_embed_bytes,
        )
        self.text_only = _in_a_script()
        if self.text_only:
            self.follower.embed = False  # a printed line links the result, never inlines it
        self.follower.subscribe(self._print if self.text_only else self._display)
        self._handle: Any = None
        self._printed: tuple[str, str, bool] | None = None
        self._task: asyncio.Task[None] | None = None
        self._finished = threading.Event()

    @property
    def timeout(self) -> float:
        return self.follower.timeout

    @property
    def polls(self) -> int:
        return self.follower.snapshot.polls

    @property
    def retries(self) -> int:
        return self.follower.snapshot.retries

    @property
    def error(self) -> BaseException | None:
        return self.follower.snapshot.error

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def stop(self) -> None:
        """Stop polling; the view keeps its last state (the task runs on, on the server)."""
        if self._task is not None:
            self._task.cancel()

    async def wait(self) -> LipSyncTask:
        """Await the end of the live view."""
        if self._task is not None:
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)
        return self.task

    def join(self, timeout: float | None = None) -> bool:
        """Block until the view has finished (never from the loop it runs on)."""
        return self._finished.wait(timeout)

    def _ipython_display_(self) -> None:
        """Shown already: a view returned as a cell's value adds no second output."""

    def __repr__(self) -> str:
        snap = self.follower.snapshot
        return (
            f"LiveTaskView(task_id={_plain(self.task.task_id)!r}, "
            f"status={_plain(snap.status)!r}, phase={snap.phase!r})"
        )

    # --- rendering ----------------------------------------------------------------------
    def _note(self, snap: FollowSnapshot) -> str | None:
        """The line under the task: what the view is doing, or why it stopped."""
        if snap.phase == "failed" and snap.error is not None:
            return f"{type(snap.error).__name__}: {snap.error}"
        if not snap.polling:
            return snap.ended_early(self.lang)
        base = f"{snap.status} · {format_seconds(snap.elapsed)} · {text('watching', self.lang)}"
        return f"{base} · {text('retrying', self.lang)}" if snap.retrying else base

    def _html(self, snap: FollowSnapshot) -> str:
        video = "" if snap.phase == "failed" else self.follower.video_html(self.lang)
        return task_html(self.task, lang=self.lang, video=video, note=self._note(snap))

    def _line(self, snap: FollowSnapshot) -> str:
        """One short plain-text line (no HTML, no video bytes) for a terminal or a log."""
        parts = [f"{_plain(self.task.task_id)}: {_plain(snap.status)}"]
        if snap.elapsed >= 0.05:
            parts.append(format_seconds(snap.elapsed))
        note = self._note(snap) if not snap.polling else None
        if snap.retrying:
            note = text("retrying", self.lang)
        if note:
            parts.append(_plain(note))
        if snap.phase == "finished" and self.task.failed:
            parts.append(_plain(self.task.error_code or self.task.error_message or ""))
        if snap.phase == "finished" and self.task.result_video_url:
            parts.append(_plain(self.task.result_video_url))
        return " · ".join(p for p in parts if p)

    def _display(self, snap: FollowSnapshot) -> None:
        """One output, updated in place; its last state is the finished task's static HTML."""
        from IPython.display import display

        bundle = {"text/html": self._html(snap), "text/plain": self._line(snap)}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _print(self, snap: FollowSnapshot) -> None:
        if snap.active and snap.task.is_terminal:
            return  # the line with the outcome comes when the follow ends
        key = (snap.status, snap.phase, snap.retrying)
        if key != self._printed:
            self._printed = key
            print(self._line(snap), flush=True)

    def _start(self) -> LiveTaskView:
        client = self.task.client  # a task without a client fails here, in the cell
        if running_loop() is None:  # a script: follow to the end here, with the sync client
            try:
                asyncio.run(follow(self.follower, client.as_sync()))
            finally:
                self._finished.set()
            return self
        self.follower.begin()  # shown at once, before the cell returns
        following = follow(self.follower, client.as_async())
        self._task = spawn(following, name=f"kitta-watch-{self.task.task_id}")
        self._task.add_done_callback(lambda _task: self._finished.set())
        return self


def _in_a_script() -> bool:
    """True without an IPython shell: IPython's own `display()` would then print the whole
    bundle (with the base64 video), so the view prints one short line per change instead."""
    from IPython.core.display_functions import display as ipython_display
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    return display is ipython_display and not InteractiveShell.initialized()


def watch_task(task: LipSyncTask, **options: Any) -> LiveTaskView:
    """Display `task` and keep the display current until it finishes (see `task.watch`)."""
    return LiveTaskView(task, **options)._start()
