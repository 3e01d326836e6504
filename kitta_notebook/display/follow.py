"""Following a task until it ends, once, for every live view (card, history, `watch()`).

`TaskFollower` is plain state: the poll loop feeds it events (a poll, the
end of the wait, the result bytes) and it decides what follows (retrying,
timed out, whether the final video must be fetched) and hands a
`FollowSnapshot` to every subscriber. It does no I/O, so its decisions are
tested directly; `follow()` is the thin async driver that polls through the
task's own client and fetches the result. Views subscribe and render
snapshots, the way a progress bar renders a `ProgressSnapshot`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from .. import _core
from ..errors import NotFoundError, WaitTimeoutError
from .video import MAX_EMBED_BYTES, VideoPlan, async_fetch_for_embed, plan_video

if TYPE_CHECKING:
    from .._client import AsyncKittaClient
    from .._client import KittaClient as ClientBase
    from ..models import LipSyncTask

Phase = Literal["following", "loading_video", "finished", "timed_out", "stopped", "failed"]
# How a wait ended, when it did not raise.
Outcome = Literal["finished", "timed_out", "stopped"]
# Fetches a result video's bytes: (bytes, None) or (None, why not).
VideoLoader = Callable[["LipSyncTask", str, int], Awaitable[tuple[bytes | None, str | None]]]


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


Listener = Callable[[FollowSnapshot], None]


class TaskFollower:
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
        self.task = task
        self.timeout = _core.DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        self.poll_interval = poll_interval
        self.embed = embed
        self.max_embed_bytes = max_embed_bytes
        self._clock = clock
        self._started = clock()
        self._listeners: list[Listener] = []
        self._final_phase: Phase = "finished"
        phase: Phase = "finished" if task.is_terminal else "following"
        self._snapshot = FollowSnapshot(task, task.status_text, phase, timeout=self.timeout)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def snapshot(self) -> FollowSnapshot:
        return self._snapshot

    def elapsed(self) -> float:
        """The task's own run time once finished, else the time followed so far."""
        if self.task.is_terminal and self.task.elapsed_seconds is not None:
            return self.task.elapsed_seconds
        return self._clock() - self._started

    def _emit(self, **changes: object) -> FollowSnapshot:
        changes.setdefault("status", self.task.status_text)
        changes.setdefault("elapsed", self.elapsed())
        self._snapshot = replace(self._snapshot, **changes)  # type: ignore[arg-type]
        for listener in list(self._listeners):
            listener(self._snapshot)
        return self._snapshot

    # --- events ----------------------------------------------------------------------
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

        Returns the plan whose bytes the driver must fetch (then `video_loaded`),
        or None when there is nothing to fetch.
        """
        error = outcome if isinstance(outcome, BaseException) else None
        phase: Phase = "failed" if isinstance(outcome, BaseException) else outcome
        plan = plan_video(self.task, self.embed) if self.task.succeeded else None
        if phase == "stopped" or plan is None:
            self._emit(phase=phase, retrying=False, error=error, video=plan)
            return None
        if plan.action == "embed" and plan.url is not None:
            self._final_phase = phase
            self._emit(phase="loading_video", retrying=False, error=error, video=plan)
            return plan
        self._emit(phase=phase, retrying=False, error=error, video=plan)
        return None

    def video_loaded(self, data: bytes | None, problem: str | None) -> FollowSnapshot:
        return self._emit(phase=self._final_phase, video_bytes=data, video_problem=problem)


@asynccontextmanager
async def async_client_for(owner: ClientBase, private: bool) -> AsyncIterator[AsyncKittaClient]:
    """The async client to poll with: the owner's own async twin on the kernel's loop, a
    short-lived one with the same configuration on a private loop (loops don't share
    connections). A task's own client is never replaced."""
    if not private:
        yield owner.as_async()
        return
    from .._client import AsyncKittaClient

    client = AsyncKittaClient(_config=owner._config)
    try:
        yield client
    finally:
        await client.aclose()


async def follow(
    follower: TaskFollower,
    client: AsyncKittaClient,
    load_video: VideoLoader = async_fetch_for_embed,
) -> None:
    """Drive `follower`: poll until the task ends, then fetch the result if it says so.

    Never raises but `CancelledError` (after reporting `stopped`).
    """
    follower.begin()
    outcome: Outcome | BaseException = "finished"
    try:
        if not follower.task.is_terminal:
            await client.lip_sync.wait(
                follower.task,
                timeout=follower.timeout,
                poll_interval=follower.poll_interval,
                raise_on_failure=False,
                on_poll=follower.polled,
            )
    except WaitTimeoutError:
        outcome = "timed_out"
    except asyncio.CancelledError:
        follower.ended("stopped")
        raise
    except Exception as exc:  # a view never raises: it shows what happened
        outcome = exc
    plan = follower.ended(outcome)
    if plan is not None and plan.url is not None:
        data, problem = await load_video(follower.task, plan.url, follower.max_embed_bytes)
        follower.video_loaded(data, problem)


# --- many unfinished tasks at once, from list pages (the history browser) -------------------
ACTIVE_STATUSES = ("pending", "processing")
LIST_PAGE_SIZE = 100


def stale_task_ids(
    known: Mapping[str, str], listed: Mapping[str, str], complete: bool
) -> list[str]:
    """The unfinished tasks (id -> status as last recorded) that changed on the server.

    `listed` is what the server lists as pending or processing; when that listing
    is `complete`, a task missing from it has finished. Only these are fetched
    in detail (the detail is the truth, with timestamps and errors).
    """
    stale = []
    for task_id, status in known.items():
        now = listed.get(task_id)
        if (now is None and complete) or (now is not None and now != status):
            stale.append(task_id)
    return stale


@dataclass(frozen=True)
class RowsSnapshot:
    """One round of keeping unfinished rows current."""

    updated: tuple[LipSyncTask, ...] = ()
    active: int = 0
    polls: int = 0
    retries: int = 0
    error: BaseException | None = None
    phase: Literal["following", "idle", "timed_out", "stopped", "failed"] = "following"


RowsListener = Callable[[RowsSnapshot], None]


class ActiveTasksFollower:
    """The decisions of following many unfinished tasks by list pages, without I/O."""

    def __init__(
        self,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        max_pages: int = 10,
    ) -> None:
        self.poll_interval = poll_interval
        self.timeout = _core.DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        self.max_pages = max_pages
        self.missing: set[str] = set()
        self._listeners: list[RowsListener] = []
        self._snapshot = RowsSnapshot()

    def subscribe(self, listener: RowsListener) -> None:
        self._listeners.append(listener)

    @property
    def snapshot(self) -> RowsSnapshot:
        return self._snapshot

    def _emit(self, **changes: object) -> RowsSnapshot:
        self._snapshot = replace(self._snapshot, **changes)  # type: ignore[arg-type]
        for listener in list(self._listeners):
            listener(self._snapshot)
        return self._snapshot

    def watched(self, known: Mapping[str, str]) -> dict[str, str]:
        """The tasks worth polling: the unfinished ones the server has not said are gone."""
        return {k: v for k, v in known.items() if k not in self.missing}

    def polled(
        self, updated: tuple[LipSyncTask, ...], active: int, error: Exception | None = None
    ) -> RowsSnapshot:
        snap = self._snapshot
        return self._emit(
            updated=updated,
            active=active,
            polls=snap.polls + 1,
            retries=snap.retries + (1 if error is not None else 0),
            error=error,
            phase="following",
        )

    def gone(self, task_id: str) -> None:
        """The server no longer knows this task (404): stop asking for it."""
        self.missing.add(task_id)

    def ended(
        self,
        phase: Literal["idle", "timed_out", "stopped", "failed"],
        error: BaseException | None = None,
    ) -> RowsSnapshot:
        return self._emit(updated=(), phase=phase, error=error)


async def _list_active(client: AsyncKittaClient, max_pages: int) -> tuple[dict[str, str], bool]:
    """Every task the server lists as unfinished (id -> status), and whether that is all."""
    listed: dict[str, str] = {}
    for status in ACTIVE_STATUSES:
        offset = 0
        for _ in range(max_pages):
            page = await client.lip_sync.list(limit=LIST_PAGE_SIZE, offset=offset, status=status)
            for task in page.data:
                if task.status_text in ACTIVE_STATUSES:
                    listed[task.task_id] = task.status_text
            if page.next_offset is None:
                break
            offset = page.next_offset
        else:
            return listed, False
    return listed, True


async def follow_active(
    follower: ActiveTasksFollower,
    client: AsyncKittaClient,
    unfinished: Callable[[], Mapping[str, str]],
) -> None:
    """Keep the tasks `unfinished()` names current until none is left or time is up.

    Each round lists the unfinished tasks (a page or two) and fetches in detail
    only those that changed; the client records what it fetches. The first
    round runs at once, so a stale row is corrected as soon as it is shown.
    """
    plan = _core.WaitPlan(client._config, follower.timeout, follower.poll_interval)
    first = True
    try:
        while True:
            if not first:
                if not follower.watched(unfinished()):
                    follower.ended("idle")
                    return
                pause = plan.next_sleep()
                if pause is None:
                    follower.ended("timed_out")
                    return
                await asyncio.sleep(pause)
            first = False
            known = follower.watched(unfinished())
            if not known:
                follower.ended("idle")
                return
            try:
                updated = await _refresh_stale(follower, client, known)
            except Exception as exc:
                if not _core.is_transient(exc):
                    follower.ended("failed", exc)
                    return
                follower.polled((), len(known), exc)
                continue
            follower.polled(updated, len(known))
    except asyncio.CancelledError:
        follower.ended("stopped")
        raise


async def _refresh_stale(
    follower: ActiveTasksFollower, client: AsyncKittaClient, known: Mapping[str, str]
) -> tuple[LipSyncTask, ...]:
    listed, complete = await _list_active(client, follower.max_pages)
    updated = []
    for task_id in stale_task_ids(known, listed, complete):
        try:
            updated.append(await client.lip_sync.get(task_id))
        except NotFoundError:
            follower.gone(task_id)
    return tuple(updated)
