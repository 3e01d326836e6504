"""Task progression: pending -> processing -> succeeded/failed on a scaled clock.

A scheduler thread owns the clock (a heap of due events); a pool of two worker
threads does the real work (fetch, probe, render). Waiting never occupies a
worker, so a thousand queued tasks only cost what their distinct inputs cost:
renders are cached by input content hash, and identical renders in flight are
serialised so ffmpeg runs once.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .faults import FaultInjector
from .mark import sandbox_mark_png
from .media import IMAGE_CODECS, MAX_AUDIO_SECONDS, Fetched, Fetcher, Ffmpeg, MediaError
from .stats import SandboxStats
from .store import RenderRecord, Store, TaskRecord

__all__ = ["MIN_PROCESSING_SECONDS", "PENDING_SECONDS", "Engine"]

log = logging.getLogger(__name__)

PENDING_SECONDS = 1.0
"""How long a task stays pending (times ``time_scale``)."""
MIN_PROCESSING_SECONDS = 3.0
"""Shortest processing phase (times ``time_scale``); real rendering can make it longer."""
RENDER_VERSION = "1"
"""Bump to invalidate cached renders when the render recipe changes."""


@dataclass(frozen=True)
class _Outcome:
    render_key: str | None = None
    audio_seconds: float = 0.0
    error_code: str | None = None
    error_message: str | None = None


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
    ) -> None:
        self.store = store
        self.renders_dir = renders_dir
        self.faults = faults
        self.time_scale = time_scale
        self.reconcile_credits = reconcile_credits
        self._workers = workers
        self._stats = stats
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._outcomes: dict[str, _Outcome] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._key_locks_guard = threading.Lock()
        self._stopping = False
        self._active = 0
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._pool: list[threading.Thread] = []
        self._ffmpeg: Ffmpeg | None = None
        self._fetcher: Fetcher | None = None
        self._mark = renders_dir / "sandbox-mark.png"

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads and resume tasks left unfinished by a previous run."""
        self.renders_dir.mkdir(parents=True, exist_ok=True)
        self._mark.write_bytes(sandbox_mark_png())
        self._ffmpeg = Ffmpeg()
        self._fetcher = Fetcher()
        # Daemon threads (not a ThreadPoolExecutor, whose threads are joined at interpreter
        # exit): a sandbox left running must not hold up the end of a script.
        self._pool = [
            threading.Thread(target=self._work, name=f"kitta-sandbox-worker-{i}", daemon=True)
            for i in range(self._workers)
        ]
        for thread in self._pool:
            thread.start()
        self._thread = threading.Thread(
            target=self._run_clock, name="kitta-sandbox-clock", daemon=True
        )
        self._thread.start()
        for task in self.store.unfinished():
            if task.status == "pending":
                self.schedule(task)
            else:
                self._submit(task.task_id)

    def stop(self) -> None:
        """Stop at once: running ffmpeg processes are killed, queued work is dropped.

        Interrupted tasks stay pending/processing in the store and resume on the
        next start with the same database.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._ffmpeg is not None:
            self._ffmpeg.close()
        if self._fetcher is not None:
            self._fetcher.close()  # in-flight downloads fail fast
        for _ in self._pool:
            self._jobs.put(None)
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # scheduling -----------------------------------------------------------------------

    def schedule(self, task: TaskRecord) -> None:
        """Queue a new pending task to start processing after the pending delay."""
        self._push(task.created_ts + PENDING_SECONDS * self.time_scale, "start", task.task_id)

    def _push(self, due: float, action: str, task_id: str) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), action, task_id))
            self._cond.notify()

    def _run_clock(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.time()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    wait = (self._heap[0][0] - now) if self._heap else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, action, task_id = heapq.heappop(self._heap)
            try:
                if action == "start":
                    if self.store.mark_processing(task_id, time.time()):
                        self._submit(task_id)
                else:
                    self._finish(task_id)
            except Exception:  # keep the clock alive whatever one task does
                log.exception("sandbox: %s of %s failed", action, task_id)

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
                task_id, outcome.render_key, outcome.audio_seconds, now, self.reconcile_credits
            )
        else:
            self.store.finish_failed(
                task_id,
                outcome.error_code or "internal_error",
                outcome.error_message or "the task failed",
                now,
                refund=self.reconcile_credits,
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
        if task is None or task.status != "processing":
            return
        try:
            if self.faults.task_fails():
                outcome = _Outcome(
                    error_code="provider_error",
                    error_message="the lip-sync provider failed (fault injected by the sandbox)",
                )
            else:
                key, seconds = self._produce(task)
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

    def _produce(self, task: TaskRecord) -> tuple[str, float]:
        """Fetch the inputs, then reuse or make the render; returns (key, audio seconds)."""
        assert self._fetcher is not None and self._ffmpeg is not None
        with tempfile.TemporaryDirectory(prefix="kitta-sandbox-") as tmp:
            work = Path(tmp)
            if task.input_mode == "video":
                assert task.video_url is not None
                primary = self._fetcher.fetch("videoUrl", task.video_url, work / "primary")
            else:
                assert task.image_url is not None
                primary = self._fetcher.fetch("imageUrl", task.image_url, work / "primary")
            audio = self._fetcher.fetch("audioUrl", task.audio_url, work / "audio")
            reference = None
            if task.input_mode == "image" and task.reference_image_url:
                reference = self._fetcher.fetch(
                    "referenceImageUrl", task.reference_image_url, work / "reference"
                )
            parts = [RENDER_VERSION, task.input_mode, primary.sha256, audio.sha256]
            parts.append(reference.sha256 if reference else "")
            key = hashlib.sha256("|".join(parts).encode()).hexdigest()
            with self._key_lock(key):
                cached = self.store.get_render(key)
                if cached is not None and (self.renders_dir / cached.filename).is_file():
                    return key, cached.audio_seconds
                record = self._render(key, task.input_mode, primary, audio, reference)
                self.store.put_render(record)
                if self._stats is not None:
                    self._stats.record_render()
                return key, record.audio_seconds

    def _key_lock(self, key: str) -> threading.Lock:
        with self._key_locks_guard:
            return self._key_locks.setdefault(key, threading.Lock())

    def _render(
        self,
        key: str,
        mode: str,
        primary: Fetched,
        audio: Fetched,
        reference: Fetched | None,
    ) -> RenderRecord:
        assert self._ffmpeg is not None
        ffmpeg = self._ffmpeg
        probe = ffmpeg.probe(audio.path)
        if probe is None or probe.audio_codec is None:
            raise MediaError("media_invalid", f"audioUrl at {audio.url} has no decodable audio")
        seconds = probe.duration or ffmpeg.audio_seconds(audio.path)
        if not seconds or seconds <= 0:
            raise MediaError("media_invalid", f"audioUrl at {audio.url} has no audio duration")
        if seconds > MAX_AUDIO_SECONDS:
            raise MediaError(
                "media_invalid",
                f"audioUrl at {audio.url} is {seconds:.0f} s long; the sandbox renders at most "
                f"{MAX_AUDIO_SECONDS:.0f} s",
            )
        primary_path = self._checked_visual(ffmpeg, primary, still=mode == "image")
        reference_path = self._checked_visual(ffmpeg, reference, still=True) if reference else None
        partial = self.renders_dir / f"{key}.partial.mp4"
        ffmpeg.render(
            mode=mode,
            primary=primary_path,
            audio=audio.path,
            seconds=seconds,
            mark=self._mark,
            reference=reference_path,
            out=partial,
        )
        final = self.renders_dir / f"{key}.mp4"
        shutil.move(str(partial), final)
        return RenderRecord(key, final.name, round(seconds, 3), final.stat().st_size)

    @staticmethod
    def _checked_visual(ffmpeg: Ffmpeg, item: Fetched, *, still: bool) -> Path:
        """Check a video/image input; stills get the extension ffmpeg needs to loop them."""
        probe = ffmpeg.probe(item.path)
        if probe is None or probe.video_codec is None:
            what = "an image" if still else "a video"
            raise MediaError("media_invalid", f"{item.field} at {item.url} is not {what}")
        if still:
            ext = IMAGE_CODECS.get(probe.video_codec)
            if not probe.is_still_image or ext is None:
                raise MediaError(
                    "media_invalid",
                    f"{item.field} at {item.url} is not a PNG, JPEG, WebP or BMP image",
                )
            renamed = item.path.with_suffix("." + ext)
            item.path.rename(renamed)
            return renamed
        if probe.is_still_image:
            raise MediaError(
                "media_invalid",
                f"{item.field} at {item.url} is a still image; use inputMode 'image' for images",
            )
        return item.path
