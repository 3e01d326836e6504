"""Following tasks for the live views: what a task (or the unfinished rows) shows at each moment.

`TaskFollower` is plain state, without I/O: it is told what happened (a poll,
the end of the wait, the result bytes) and hands a snapshot to every subscriber
(`task.watch()`'s view, the card widget, the history browser). It owns no poll
loop: `follow` consumes the client's own follower (`lip_sync.wait`, on
`batch.follow`) on a worker thread, as the async client does. (The history
browser's unfinished rows, `widgets.history_detail.ActiveTasksFollower`, build on
`Snapshots` the same way.)

In a notebook they run as tasks on the kernel's running loop (`spawn`), so a
cell returns at once and the kernel stays free; snapshots reach the views on
that loop's thread only.

`task.watch()`'s view (`LiveTaskView`, at the end) renders a `TaskFollower`'s snapshots
in place; its final output is the finished task's static HTML, so a saved notebook shows
it. In a plain script (no running loop) it follows to the end before it returns,
printing one short line per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from .. import _bridge, _core
from .._redact import clip
from ..errors import NoEventLoopError, WaitTimeoutError
from ..i18n import Lang, check_lang, text
from .html import format_seconds, task_html
from .video import MAX_EMBED_BYTES, VideoPlan, async_fetch_for_embed, plan_video, render_video

if TYPE_CHECKING:
    from .._client import AsyncKittaClient, KittaClient
    from ..models import LipSyncTask

T = TypeVar("T")
S = TypeVar("S")
# How long a widget follows a task (the card, the history browser): generous, since real
# renders can take minutes; the task keeps running after it anyway.
WIDGET_FOLLOW_TIMEOUT = 1800.0

# --- running beside the kernel -------------------------------------------------------------
# Tasks started on a running loop, kept alive until they finish (asyncio holds weak references).
RUNNING: set[asyncio.Task[Any]] = set()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread (the kernel's, in a notebook), or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """Schedule `coro` on the running loop and keep it until it ends (`NoEventLoopError`
    without one; the coroutine is closed first, so no "never awaited" warning)."""
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
    if not task.cancelled():  # retrieved, so asyncio never logs it: views show their errors
        with contextlib.suppress(BaseException):
            task.exception()


async def settle(tasks: set[asyncio.Task[Any]] | None = None) -> None:
    """Await the given tasks (default: every running one), and those they start, until none
    is left; their exceptions are not raised here."""
    pool = RUNNING if tasks is None else tasks
    current = asyncio.current_task()
    while pending := [t for t in pool if not t.done() and t is not current]:
        await asyncio.gather(*pending, return_exceptions=True)


def _on_this_thread(callback: Callable[..., None]) -> Callable[..., None]:
    """`callback`, always run on the thread of the loop running now (the engine may call
    it from a worker thread: widgets and displays are touched from the kernel's loop)."""
    loop = asyncio.get_running_loop()
    owner = threading.get_ident()

    def call(*args: Any) -> None:
        if threading.get_ident() == owner:
            callback(*args)
        else:
            _bridge._deliver(loop, callback, *args)  # once the loop has closed, nobody looks

    return call


class Snapshots(Generic[S]):
    """The latest snapshot, handed to every subscriber on each change."""

    _snapshot: S

    def __init__(self) -> None:
        self._listeners: list[Callable[[S], None]] = []

    def subscribe(self, listener: Callable[[S], None]) -> None:
        self._listeners.append(listener)

    @property
    def snapshot(self) -> S:
        return self._snapshot

    def _emit(self, **changes: Any) -> S:
        self._snapshot = replace(self._snapshot, **changes)  # type: ignore[type-var]
        for listener in list(self._listeners):
            listener(self._snapshot)
        return self._snapshot


# --- one task ------------------------------------------------------------------------------
Phase = Literal["following", "loading_video", "finished", "timed_out", "stopped", "failed"]
Outcome = Literal["finished", "timed_out", "stopped"]  # how a wait ended, when it did not raise


@dataclass(frozen=True)
class FollowSnapshot:
    """What a view of one followed task shows at one moment."""

    task: LipSyncTask
    status: str
    phase: Phase
    polls: int = 0
    retries: int = 0
    retrying: bool = False
    elapsed: float = 0.0
    timeout: float = _core.DEFAULT_WAIT_TIMEOUT
    error: BaseException | None = None
    video: VideoPlan | None = None
    video_bytes: bytes | None = None
    video_problem: str | None = None

    @property
    def active(self) -> bool:
        """True while polling or fetching the result."""
        return self.phase in ("following", "loading_video")

    @property
    def polling(self) -> bool:
        return self.phase == "following"

    def ended_early(self, lang: Lang) -> str | None:
        """Why following ended before the task did (timed out, stopped), else None."""
        if self.phase == "timed_out":
            return text("watch_timeout", lang, seconds=f"{self.timeout:g}")
        return text("watch_stopped", lang) if self.phase == "stopped" else None


class TaskFollower(Snapshots[FollowSnapshot]):
    """The follow-a-task decisions for one task, without I/O.

    Events, in order: `begin()`, any number of `polled()`, `ended()`, then
    `video_loaded()` when `ended()` asked for the bytes.
    """

    def __init__(
        self,
        task: LipSyncTask,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        embed: bool | None = None,
        max_embed_bytes: int = MAX_EMBED_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.task = task
        self.timeout = _core.DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        self.poll_interval = poll_interval
        self.embed = embed
        self.max_embed_bytes = max_embed_bytes
        self._clock = clock
        self._started = clock()
        self._final_phase: Phase = "finished"
        phase: Phase = "finished" if task.is_terminal else "following"
        self._snapshot = FollowSnapshot(task, task.status_text, phase, timeout=self.timeout)

    def elapsed(self) -> float:
        """The task's own run time once finished, else the time followed so far."""
        if self.task.is_terminal and self.task.elapsed_seconds is not None:
            return self.task.elapsed_seconds
        return self._clock() - self._started

    def _emit(self, **changes: Any) -> FollowSnapshot:
        changes.setdefault("status", self.task.status_text)
        changes.setdefault("elapsed", self.elapsed())
        return super()._emit(**changes)

    def begin(self) -> FollowSnapshot:
        """Following starts (again); for a finished task nothing is shown until `ended()`."""
        self._started = self._clock()
        if self.task.is_terminal:
            return self._snapshot
        return self._emit(phase="following", retrying=False, error=None)

    def polled(self, task: LipSyncTask, error: Exception | None) -> None:
        """One poll came back; `error` is the transient error it met, if any."""
        snap = self._snapshot
        retries = snap.retries + (1 if error is not None else 0)
        self._emit(polls=snap.polls + 1, retries=retries, retrying=error is not None)

    def ended(self, outcome: Outcome | BaseException) -> VideoPlan | None:
        """The wait is over: `finished`, `timed_out`, `stopped` or the error it raised.

        Returns the plan whose bytes must be fetched (then `video_loaded`), or None.
        """
        error = outcome if isinstance(outcome, BaseException) else None
        phase: Phase = "failed" if isinstance(outcome, BaseException) else outcome
        plan = plan_video(self.task, self.embed) if self.task.succeeded else None
        fetch = phase != "stopped" and plan is not None and plan.action == "embed"
        if fetch:
            self._final_phase = phase
        self._emit(
            phase="loading_video" if fetch else phase, retrying=False, error=error, video=plan
        )
        return plan if fetch else None

    def video_loaded(self, data: bytes | None, problem: str | None) -> FollowSnapshot:
        return self._emit(phase=self._final_phase, video_bytes=data, video_problem=problem)

    def video_html(self, lang: Lang) -> str:
        """The result block of the latest snapshot ("" until the follow is over)."""
        snap = self._snapshot
        if snap.active or snap.video is None:
            return ""
        return render_video(
            snap.video,
            snap.video_bytes,
            snap.video_problem,
            lang=lang,
            max_bytes=self.max_embed_bytes,
        )


async def follow(follower: TaskFollower, client: KittaClient | AsyncKittaClient) -> None:
    """Drive `follower` with the client's own wait, then fetch the result if it says so.

    Never raises but `CancelledError` (after reporting `stopped`).
    """
    follower.begin()
    outcome: Outcome | BaseException = "finished"
    options: dict[str, Any] = {
        "timeout": follower.timeout,
        "poll_interval": follower.poll_interval,
        "raise_on_failure": False,
        "on_poll": _on_this_thread(follower.polled),
    }
    try:
        if not follower.task.is_terminal:  # else nothing to wait for: only the result to show
            await _bridge.run_sync(client.as_sync().lip_sync.wait, follower.task, **options)
    except WaitTimeoutError:
        outcome = "timed_out"
    except asyncio.CancelledError:
        follower.ended("stopped")
        raise
    except Exception as exc:  # a view never raises: it shows what happened
        outcome = exc
    plan = follower.ended(outcome)
    if plan is not None and plan.url is not None:
        data, problem = await async_fetch_for_embed(
            follower.task, plan.url, follower.max_embed_bytes
        )
        follower.video_loaded(data, problem)


# --- task.watch(): a task view that updates itself in place until the task ends ---------
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
