"""One task's work: fetch its inputs, check them, and reuse or make its render.

Renders are cached by the content hash of their inputs (in the database shared
by every sandbox on it); identical renders in flight in this process are
serialised so ffmpeg runs once. A partial file has a unique name and is moved
into place atomically, so two processes rendering the same key never clash.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from .media import IMAGE_CODECS, MAX_AUDIO_SECONDS, PCM_RATE, Fetched, Fetcher, Ffmpeg, MediaError
from .records import RenderRecord, TaskRecord
from .render import render
from .speaking import SpeakingFaces
from .stats import SandboxStats
from .store import Store

__all__ = ["RENDER_VERSION", "Producer"]

RENDER_VERSION = "2"
"""Bump to invalidate cached renders when the render recipe changes."""


class Producer:
    def __init__(
        self,
        store: Store,
        renders_dir: Path,
        ffmpeg: Ffmpeg,
        fetcher: Fetcher,
        mark: Path,
        stats: SandboxStats | None = None,
    ) -> None:
        self.store = store
        self.renders_dir = renders_dir
        self.ffmpeg = ffmpeg
        self.fetcher = fetcher
        self.mark = mark
        self.stats = stats
        self.faces = SpeakingFaces()
        self._key_locks: dict[str, threading.Lock] = {}
        self._key_locks_guard = threading.Lock()

    def produce(self, task: TaskRecord) -> tuple[str, float]:
        """Fetch the inputs, then reuse or make the render; returns (key, audio seconds)."""
        with tempfile.TemporaryDirectory(prefix="kitta-sandbox-") as tmp:
            work = Path(tmp)
            if task.input_mode == "video":
                assert task.video_url is not None
                primary = self.fetcher.fetch("videoUrl", task.video_url, work / "primary")
            else:
                assert task.image_url is not None
                primary = self.fetcher.fetch("imageUrl", task.image_url, work / "primary")
            audio = self.fetcher.fetch("audioUrl", task.audio_url, work / "audio")
            reference = None
            if task.input_mode == "image" and task.reference_image_url:
                reference = self.fetcher.fetch(
                    "referenceImageUrl", task.reference_image_url, work / "reference"
                )
            parts = [RENDER_VERSION, task.input_mode, primary.sha256, audio.sha256]
            parts.append(reference.sha256 if reference else "")
            key = hashlib.sha256("|".join(parts).encode()).hexdigest()
            with self._key_lock(key):
                cached = self.store.get_render(key)
                if cached is not None and (self.renders_dir / cached.filename).is_file():
                    return key, cached.audio_seconds
                record = self._render(key, task.input_mode, primary, audio, reference, work)
                self.store.put_render(record)
                if self.stats is not None:
                    self.stats.record_render()
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
        work: Path,
    ) -> RenderRecord:
        ffmpeg = self.ffmpeg
        probe = ffmpeg.probe(audio.path)
        if probe is None or probe.audio_codec is None:
            raise MediaError("media_invalid", f"audioUrl at {audio.url} has no decodable audio")
        pcm = ffmpeg.pcm(audio.path)
        seconds = len(pcm) / 2 / PCM_RATE
        if seconds <= 0:
            raise MediaError("media_invalid", f"audioUrl at {audio.url} has no audio duration")
        if seconds > MAX_AUDIO_SECONDS:
            raise MediaError(
                "media_invalid",
                f"audioUrl at {audio.url} is {seconds:.0f} s long; the sandbox renders at most "
                f"{MAX_AUDIO_SECONDS:.0f} s",
            )
        primary_path = self._checked_visual(primary, work, still=mode == "image")
        reference_path = self._checked_visual(reference, work, still=True) if reference else None
        mouth = self.faces.mouth_track(primary.sha256, pcm, PCM_RATE, work)
        partial = self.renders_dir / f".{key}.{secrets.token_hex(4)}.partial.mp4"
        try:
            render(
                ffmpeg,
                mode=mode,
                primary=primary_path,
                audio=audio.path,
                seconds=seconds,
                mark=self.mark,
                reference=reference_path,
                out=partial,
                mouth=mouth,
            )
            final = self.renders_dir / f"{key}.mp4"
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return RenderRecord(key, final.name, round(seconds, 6), final.stat().st_size)

    def _checked_visual(self, item: Fetched, work: Path, *, still: bool) -> Path:
        """Check a video/image input; stills get the extension ffmpeg needs to loop them."""
        probe = self.ffmpeg.probe(item.path)
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
            if item.borrowed:  # this sandbox's own file: a copy gets the extension
                named = work / f"{item.field}.{ext}"
                shutil.copyfile(item.path, named)
                return named
            renamed = item.path.with_suffix("." + ext)
            item.path.rename(renamed)
            return renamed
        if probe.is_still_image:
            raise MediaError(
                "media_invalid",
                f"{item.field} at {item.url} is a still image; use inputMode 'image' for images",
            )
        return item.path
