"""`task.watch()`: a task view that updates itself in place until the task ends.

It renders the snapshots of a `TaskFollower` (display/follow.py), which polls
on the kernel's running loop, so the cell returns at once and the kernel
stays free for other cells; without a running loop (a script) it polls on a
private loop in a worker thread. In a notebook the final output is the
static HTML of the finished task, so a saved notebook shows it. Outside a
notebook it prints one short line per change instead of HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..i18n import Lang, check_lang, text
from . import background
from .follow import FollowSnapshot, TaskFollower, async_client_for, follow
from .html import format_seconds, task_html
from .video import MAX_EMBED_BYTES, render_video

if TYPE_CHECKING:
    from ..models import LipSyncTask

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_LINE_VALUE = 200


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
        lang: Lang = "en",
        max_embed_bytes: int = MAX_EMBED_BYTES,
    ) -> None:
        self.task = task
        self.lang = lang
        self.follower = TaskFollower(
            task,
            timeout=timeout,
            poll_interval=poll_interval,
            embed=embed,
            max_embed_bytes=max_embed_bytes,
        )
        self._show, self.text_only = _sink(self._html, self._line)
        if self.text_only:
            self.follower.embed = False  # a printed line links the result, never inlines it
        self.follower.subscribe(self._show)
        self._runner: background.Background | None = None

    # --- public -------------------------------------------------------------
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
        return self._runner is None or self._runner.done

    def stop(self) -> None:
        """Stop polling; the view keeps its last state (the task runs on, on the server)."""
        if self._runner is not None:
            self._runner.cancel()

    async def wait(self) -> LipSyncTask:
        """Await the end of the live view (from any loop)."""
        if self._runner is not None:
            await self._runner.wait()
        return self.task

    def join(self, timeout: float | None = None) -> bool:
        """Block until the view has finished (for scripts; not from the loop it runs on)."""
        return self._runner is None or self._runner.join(timeout)

    def _ipython_display_(self) -> None:
        """Shown already: a view returned as a cell's value adds no second output."""

    def __repr__(self) -> str:
        snap = self.follower.snapshot
        return (
            f"LiveTaskView(task_id={_plain(self.task.task_id)!r}, "
            f"status={_plain(snap.status)!r}, phase={snap.phase!r})"
        )

    # --- rendering ------------------------------------------------------------
    def _note(self, snap: FollowSnapshot) -> str | None:
        """The line under the task: what the view is doing, or why it stopped."""
        if snap.phase == "timed_out":
            return text("watch_timeout", self.lang, seconds=f"{snap.timeout:g}")
        if snap.phase == "stopped":
            return text("watch_stopped", self.lang)
        if snap.phase == "failed" and snap.error is not None:
            return f"{type(snap.error).__name__}: {snap.error}"
        if not snap.polling:
            return None
        base = f"{snap.status} · {format_seconds(snap.elapsed)} · {text('watching', self.lang)}"
        return f"{base} · {text('retrying', self.lang)}" if snap.retrying else base

    def _html(self, snap: FollowSnapshot) -> str:
        note = self._note(snap)
        if snap.phase == "failed" or snap.active or snap.video is None:
            return task_html(self.task, lang=self.lang, note=note, video="")
        video = render_video(
            snap.video,
            snap.video_bytes,
            snap.video_problem,
            lang=self.lang,
            max_bytes=self.follower.max_embed_bytes,
        )
        return task_html(self.task, lang=self.lang, video=video, note=note)

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
            error = self.task.error_code or self.task.error_message or ""
            parts.append(_plain(error))
        if snap.phase == "finished" and self.task.result_video_url:
            parts.append(_plain(self.task.result_video_url))
        return " · ".join(p for p in parts if p)

    # --- running --------------------------------------------------------------
    def _start(self) -> LiveTaskView:
        follower = self.follower
        owner = self.task._owner()  # a task without a client fails here, in the cell

        async def run(private: bool) -> None:
            async with async_client_for(owner, private) as client:
                await follow(follower, client)

        follower.begin()
        self._runner = background.start(run, name=f"kitta-watch-{self.task.task_id}")
        return self


def _plain(value: object) -> str:
    """A server value made safe for a terminal: no control characters, bounded length."""
    shown = _CONTROL.sub("?", "" if value is None else str(value))
    return shown if len(shown) <= _MAX_LINE_VALUE else shown[:_MAX_LINE_VALUE] + "…"


Sink = Callable[[FollowSnapshot], None]


def _sink(
    html_of: Callable[[FollowSnapshot], str], line_of: Callable[[FollowSnapshot], str]
) -> tuple[Sink, bool]:
    """Where snapshots go: one display updated in place in IPython, else printed lines
    (then True: text only)."""
    from IPython.core.display_functions import display as ipython_display
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    # IPython's own display() without a shell prints the whole bundle (with the base64
    # video): a script gets one line per change instead.
    if display is ipython_display and not InteractiveShell.initialized():
        return _line_printer(line_of), True
    handle: Any = None

    def show(snap: FollowSnapshot) -> None:
        nonlocal handle
        bundle = {"text/html": html_of(snap), "text/plain": line_of(snap)}
        if handle is None:
            handle = display(bundle, raw=True, display_id=True)
        else:
            handle.update(bundle, raw=True)

    return show, False


def _line_printer(line_of: Callable[[FollowSnapshot], str]) -> Sink:
    last: list[tuple[str, str, bool]] = []

    def show(snap: FollowSnapshot) -> None:
        if snap.active and snap.task.is_terminal:
            return  # the line with the outcome comes when the follow ends
        key = (snap.status, snap.phase, snap.retrying)
        if last and last[0] == key:
            return
        last[:] = [key]
        print(line_of(snap), flush=True)

    return show


def watch_task(
    task: LipSyncTask,
    *,
    poll_interval: float | None = None,
    timeout: float | None = None,
    embed: bool | None = None,
    lang: str = "en",
    max_embed_bytes: int = MAX_EMBED_BYTES,
) -> LiveTaskView:
    """Display `task` and keep the display current until it finishes; returns at once."""
    view = LiveTaskView(
        task,
        poll_interval=poll_interval,
        timeout=timeout,
        embed=embed,
        lang=check_lang(lang),
        max_embed_bytes=max_embed_bytes,
    )
    return view._start()
