"""Task progression: pending -> processing -> succeeded/failed on a scaled clock.

A scheduler thread owns the clock (a heap of due events); a pool of two worker
threads does the real work (fetch, probe, render). Waiting never occupies a
worker, so a thousand queued tasks only cost what their distinct inputs cost:
renders are cached by input content hash, and identical renders in flight are
serialised so ffmpeg runs once.

Several sandbox processes may share one database. Each engine works only on
tasks it holds a lease on (the ones created through it, and ones it adopted),
renews those leases while it runs, releases them on a clean stop, and adopts
unfinished tasks whose lease ran out (their process died).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .faults import FaultInjector
from .mark import sandbox_mark_png
from .media import PCM_RATE, Fetcher, Ffmpeg, MediaError
from .producer import Producer
from .stats import SandboxStats
from .store import Store, TaskRecord

__all__ = ["LEASE_SECONDS", "MIN_PROCESSING_SECONDS", "PENDING_SECONDS", "Engine"]

log = logging.getLogger(__name__)

PENDING_SECONDS = 1.0
"""How long a task stays pending (times ``time_scale``)."""
MIN_PROCESSING_SECONDS = 3.0
"""Shortest processing phase (times ``time_scale``); real rendering can make it longer."""
LEASE_SECONDS = 15.0
"""How long a task stays with a process that stopped renewing it (it died)."""


@dataclass(frozen=True)
class _Outcome:
    render_key: str | None = None
    audio_seconds: float = 0.0
    error_code: str | None = None
    error_message: str | None = None


def new_owner() -> str:
    """A name for this engine's leases: unique per process and start."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Engine:
    """Moves tasks through their statuses; start()/stop() bracket its threads."""

    def __init__(
        self,
        store: Store,
        renders_dir: Path,
        faults: FaultInjector,
        *,
        time_scale: float = 1.0,
        reconcile_credits: bool = True,
        workers: int = 2,
        stats: SandboxStats | None = None,
        lease_seconds: float = LEASE_SECONDS,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.store = store
        self.renders_dir = renders_dir
        self.faults = faults
        self.time_scale = time_scale
        self.reconcile_credits = reconcile_credits
        self.owner = new_owner()
        self.lease_seconds = lease_seconds
        self._workers = workers
        self._stats = stats
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._outcomes: dict[str, _Outcome] = {}
        self._stopping = False
        self._active = 0
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._pool: list[threading.Thread] = []
        self._ffmpeg: Ffmpeg | None = None
        self._fetcher = fetcher or Fetcher()
        self._producer: Producer | None = None

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads and carry on with tasks nobody else is working on."""
        self.renders_dir.mkdir(parents=True, exist_ok=True)
        mark = self.renders_dir / "sandbox-mark.png"
        partial = mark.with_name(f".mark.{secrets.token_hex(4)}.png")
        partial.write_bytes(sandbox_mark_png())
        os.replace(partial, mark)  # atomic: another process may be rendering with it
        self._ffmpeg = Ffmpeg()
        self._producer = Producer(
            self.store, self.renders_dir, self._ffmpeg, self._fetcher, mark, self._stats
        )
        # Daemon threads (not a ThreadPoolExecutor, whose threads are joined at interpreter
        # exit): a sandbox left running must not hold up the end of a script.
        self._pool = [
            threading.Thread(target=self._work, name=f"kitta-sandbox-worker-{i}", daemon=True)
            for i in range(self._workers)
        ]
        for thread in self._pool:
            thread.start()
        self._adopt()
        self._thread = threading.Thread(
            target=self._run_clock, name="kitta-sandbox-clock", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop at once: running ffmpeg processes are killed, queued work is dropped.

        Interrupted tasks stay pending/processing in the store, released, and resume
        on the next start with the same database (or in another sandbox sharing it).
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._ffmpeg is not None:
            self._ffmpeg.close()
        self._fetcher.close()  # in-flight downloads fail fast
        for _ in self._pool:
            self._jobs.put(None)
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.store.release(self.owner)
        except Exception:  # the store may already be closed
            log.debug("sandbox: could not release leases", exc_info=True)

    def audio_seconds(self, path: Path) -> float | None:
        """Length of the audio in ``path`` (decoded, like the final charge), or ``None``."""
        if self._ffmpeg is None:
            return None
        try:
            return len(self._ffmpeg.pcm(path)) / 2 / PCM_RATE or None
        except MediaError:
            return None

    # scheduling -----------------------------------------------------------------------

    def schedule(self, task: TaskRecord) -> None:
        """Queue a pending task to start processing after the pending delay."""
        self._push(task.created_ts + PENDING_SECONDS * self.time_scale, "start", task.task_id)

    def _push(self, due: float, action: str, task_id: str) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), action, task_id))
            self._cond.notify()

    def _adopt(self) -> None:
        for task in self.store.adopt(self.owner, time.time(), self.lease_seconds):
            if task.status == "pending":
                self.schedule(task)
            else:
                self._submit(task.task_id)

    def _housekeeping(self) -> None:
        now = time.time()
        self.store.renew(self.owner, now, self.lease_seconds)
        self._adopt()

    def _run_clock(self) -> None:
        chore_every = max(self.lease_seconds / 5, 0.05)
        next_chore = time.monotonic() + chore_every
        while True:
            action = task_id = None
            with self._cond:
                while not self._stopping:
                    now = time.time()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, action, task_id = heapq.heappop(self._heap)
                        break
                    if time.monotonic() >= next_chore:
                        break
                    wait = next_chore - time.monotonic()
                    if self._heap:
                        wait = min(wait, self._heap[0][0] - now)
                    self._cond.wait(max(wait, 0.0))
                if self._stopping:
                    return
            try:
                if action is None:
                    next_chore = time.monotonic() + chore_every
                    self._housekeeping()
                elif action == "start":
                    if self.store.mark_processing(task_id or "", time.time(), self.owner):
                        self._submit(task_id or "")
                else:
                    self._finish(task_id or "")
            except Exception:  # keep the clock alive whatever one task does
                if not self._stopping:
                    log.exception("sandbox: %s of %s failed", action or "housekeeping", task_id)

    def _submit(self, task_id: str) -> None:
        self._jobs.put(task_id)

    def _work(self) -> None:
        while True:
            task_id = self._jobs.get()
            if task_id is None or self._stopping:
                return
            try:
                self._process(task_id)
            except Exception:  # e.g. the store closed under a late job
                if not self._stopping:
                    log.exception("sandbox: worker failed on %s", task_id)

    def _finish(self, task_id: str) -> None:
        with self._cond:
            outcome = self._outcomes.pop(task_id, None)
        if outcome is None:
            return
        now = time.time()
        if outcome.render_key is not None:
            self.store.finish_succeeded(
                task_id,
                outcome.render_key,
                outcome.audio_seconds,
                now,
                self.reconcile_credits,
                owner=self.owner,
            )
        else:
            self.store.finish_failed(
                task_id,
                outcome.error_code or "internal_error",
                outcome.error_message or "the task failed",
                now,
                refund=self.reconcile_credits,
                owner=self.owner,
            )

    # processing -----------------------------------------------------------------------

    def _process(self, task_id: str) -> None:
        with self._cond:
            if self._stopping:
                return
            self._active += 1
        try:
            self._process_one(task_id)
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def _process_one(self, task_id: str) -> None:
        task = self.store.get_task(task_id)
        if task is None or task.status != "processing" or not self.store.holds(task_id, self.owner):
            return
        assert self._producer is not None
        try:
            if self.faults.task_fails():
                outcome = _Outcome(
                    error_code="provider_error",
                    error_message="the lip-sync provider failed (fault injected by the sandbox)",
                )
            else:
                key, seconds = self._producer.produce(task)
                outcome = _Outcome(render_key=key, audio_seconds=seconds)
        except MediaError as exc:
            outcome = _Outcome(error_code=exc.code, error_message=exc.message)
        except Exception:
            if self._stopping:
                return
            log.exception("sandbox: processing %s failed", task_id)
            outcome = _Outcome(error_code="internal_error", error_message="internal error")
        if self._stopping:
            return
        started = task.started_ts if task.started_ts is not None else time.time()
        due = max(started + MIN_PROCESSING_SECONDS * self.time_scale, time.time())
        with self._cond:
            self._outcomes[task_id] = outcome
        self._push(due, "finish", task_id)
