"""Fetching, probing and rendering media with the ffmpeg binary of imageio-ffmpeg.

Inputs are fetched the way a media host would see the real service fetch them:
plain GET, no Authorization header, bounded size and time. Probing parses
``ffmpeg -i`` (imageio-ffmpeg ships no ffprobe). Renders are small H.264/AAC
MP4s made by ``render``. A URL of this sandbox's own files is read from disk
(``own``), and so is a loopback URL of a sandbox that no longer answers (an
earlier run on another port; ``local``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

__all__ = [
    "MAX_AUDIO_SECONDS",
    "MAX_FETCH_BYTES",
    "PCM_RATE",
    "Fetched",
    "Fetcher",
    "Ffmpeg",
    "MediaError",
    "Probe",
    "is_loopback",
]

MAX_FETCH_BYTES = 50 * 1024 * 1024
FETCH_DEADLINE_SECONDS = 60.0
MAX_AUDIO_SECONDS = 300.0
PCM_RATE = 16_000
IMAGE_CODECS = {"png": "png", "mjpeg": "jpg", "webp": "webp", "bmp": "bmp"}
"""Still-image codecs accepted for imageUrl/referenceImageUrl, with a file extension
that makes ffmpeg's image2 demuxer loop them."""


class MediaError(Exception):
    """A task input problem that ends the task ``failed`` with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Fetched:
    field: str
    url: str
    path: Path
    sha256: str
    size: int
    borrowed: bool = False
    """`path` is this sandbox's own file, read in place: never to be moved or changed."""


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Fetcher:
    """Downloads task inputs. Loopback URLs bypass proxy settings from the environment."""

    def __init__(
        self,
        max_bytes: int = MAX_FETCH_BYTES,
        local: Callable[[str], Path | None] | None = None,
        own: Callable[[str], Path | None] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.local = local
        self.own = own
        self._lock = threading.Lock()
        self._digests: dict[Path, tuple[int, int, str]] = {}
        """Own file -> (size, mtime_ns, sha256): a sample used by 10,000 tasks is hashed once."""
        self._clients: dict[bool, httpx.Client] = {}
        self._closed = False

    def _client(self, loopback: bool) -> httpx.Client:
        """Made on first use: an httpx client costs ~60 ms (its TLS context)."""
        with self._lock:
            if self._closed:
                raise MediaError("internal_error", "the sandbox is shutting down")
            client = self._clients.get(loopback)
            if client is None:
                client = self._clients[loopback] = httpx.Client(
                    timeout=httpx.Timeout(15.0, connect=5.0),
                    headers={"User-Agent": "kitta-sandbox-media-fetcher/1"},
                    follow_redirects=True,
                    trust_env=not loopback,
                )
            return client

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
        for client in clients:
            client.close()

    def fetch(self, field: str, url: str, dest: Path) -> Fetched:
        """GET ``url`` into ``dest`` (or read this sandbox's own file in place);
        raises ``MediaError('media_unreachable')``."""
        own = self.own(url) if self.own is not None else None
        borrowed = self._borrow(field, url, own) if own is not None else None
        if borrowed is not None:
            return borrowed
        try:
            return self._fetch(field, url, dest)
        except httpx.ConnectError:
            local = self.local(url) if self.local is not None and is_loopback(url) else None
            borrowed = self._borrow(field, url, local) if local is not None else None
            if borrowed is None:
                where = f"{field} could not be fetched from {url}"
                raise MediaError("media_unreachable", f"{where}: ConnectError") from None
        return borrowed

    def _borrow(self, field: str, url: str, source: Path) -> Fetched | None:
        """This sandbox's own file, in place, with its (cached) digest; None if it is gone
        (then the URL is fetched like any other and the server's answer decides)."""
        try:
            stat = source.stat()
        except OSError:
            return None
        if stat.st_size == 0:
            raise MediaError("media_invalid", f"{field} at {url} is empty")
        with self._lock:
            known = self._digests.get(source)
        if known is None or known[:2] != (stat.st_size, stat.st_mtime_ns):
            digest = hashlib.sha256()
            with source.open("rb") as src:
                while chunk := src.read(1024 * 1024):
                    digest.update(chunk)
            known = (stat.st_size, stat.st_mtime_ns, digest.hexdigest())
            with self._lock:
                self._digests[source] = known
        return Fetched(field, url, source, known[2], stat.st_size, borrowed=True)

    def _fetch(self, field: str, url: str, dest: Path) -> Fetched:
        client = self._client(is_loopback(url))
        digest = hashlib.sha256()
        size = 0
        deadline = time.monotonic() + FETCH_DEADLINE_SECONDS
        where = f"{field} could not be fetched from {url}"
        try:
            with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise MediaError("media_unreachable", f"{where}: HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise MediaError("media_too_large", self._too_large(field, url))
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes(64 * 1024):
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise MediaError("media_too_large", self._too_large(field, url))
                        if time.monotonic() > deadline:
                            raise MediaError("media_unreachable", f"{where}: download too slow")
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.InvalidURL:
            raise MediaError("media_unreachable", f"{where}: invalid URL") from None
        except httpx.TimeoutException:
            raise MediaError("media_unreachable", f"{where}: timed out") from None
        except httpx.ConnectError:
            raise  # fetch() may read it from this sandbox's own files
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            raise MediaError("media_unreachable", f"{where}: {reason}") from None
        if size == 0:
            raise MediaError("media_invalid", f"{field} at {url} is empty")
        return Fetched(field, url, dest, digest.hexdigest(), size)

    def _too_large(self, field: str, url: str) -> str:
        return f"{field} at {url} is larger than {self.max_bytes // (1024 * 1024)} MB"


@dataclass(frozen=True)
class Probe:
    """What ``ffmpeg -i`` says about a file."""

    container: str
    video_codec: str | None
    audio_codec: str | None
    duration: float | None

    @property
    def is_still_image(self) -> bool:
        return self.container.endswith("_pipe") or self.container == "image2"


_INPUT = re.compile(r"^Input #0, (.*), from ", re.MULTILINE)
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #0:\d+\S*: (Video|Audio): ([A-Za-z0-9_]+)(.*)$", re.MULTILINE)
_TIME = re.compile(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def _seconds(match: re.Match[str]) -> float:
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


class Ffmpeg:
    """Runs the ffmpeg binary; tracks child processes so ``close()`` stops them at once."""

    def __init__(self, exe: str | None = None) -> None:
        if exe is None:
            import imageio_ffmpeg

            exe = str(imageio_ffmpeg.get_ffmpeg_exe())
        self.exe = exe
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._closed = False
        self._encoder: list[str] | None = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            procs = list(self._running)
        for proc in procs:
            proc.kill()

    def run(self, args: list[str], timeout: float) -> tuple[int, str]:
        """Run ffmpeg with ``args``; returns (exit code, stderr text)."""
        code, _, err = self._run(args, timeout, capture=False)
        return code, err

    def _run(self, args: list[str], timeout: float, *, capture: bool) -> tuple[int, bytes, str]:
        with self._lock:
            if self._closed:
                raise MediaError("internal_error", "the sandbox is shutting down")
            proc = subprocess.Popen(
                [self.exe, "-hide_banner", "-nostdin", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self._running.add(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise MediaError("render_failed", "ffmpeg took too long") from None
        finally:
            with self._lock:
                self._running.discard(proc)
        return proc.returncode, out or b"", err.decode("utf-8", "replace")

    def probe(self, path: Path) -> Probe | None:
        """Container, codecs and duration; ``None`` when ffmpeg cannot read the file."""
        _, err = self.run(["-i", str(path)], timeout=30)
        found = _INPUT.search(err)
        if found is None:
            return None
        video = audio = None
        for kind, codec, rest in _STREAM.findall(err):
            if kind == "Video" and video is None and "attached pic" not in rest:
                video = codec
            elif kind == "Audio" and audio is None:
                audio = codec
        dur = _DURATION.search(err)
        return Probe(found.group(1), video, audio, _seconds(dur) if dur else None)

    def audio_seconds(self, path: Path) -> float | None:
        """Decode the first audio stream to measure it (when the header has no duration)."""
        code, err = self.run(["-i", str(path), "-map", "0:a:0", "-f", "null", "-"], timeout=120)
        times = list(_TIME.finditer(err))
        return _seconds(times[-1]) if code == 0 and times else None

    def pcm(self, path: Path, rate: int = PCM_RATE) -> bytes:
        """The first audio stream as mono signed 16-bit samples at ``rate`` Hz.

        Its length is the audio's duration to a sample, whatever the container's
        header says (``ffmpeg -i`` prints only hundredths, truncated)."""
        args = ["-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate)]
        code, out, err = self._run([*args, "-f", "s16le", "-"], timeout=120, capture=True)
        if code != 0:
            tail = err.strip().splitlines()[-1:] or ["no output"]
            raise MediaError("media_invalid", f"the audio could not be decoded: {tail[0]}")
        return out

    def video_encoder(self) -> list[str]:
        """libx264 when the build has it (imageio-ffmpeg's do), else OpenH264."""
        if self._encoder is None:
            # ffmpeg prints the list on stdout (only the banner goes to stderr).
            _, listing, _ = self._run(["-encoders"], timeout=30, capture=True)
            if b" libx264 " in listing:
                self._encoder = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "28"]
            else:
                self._encoder = ["-c:v", "libopenh264", "-b:v", "600k"]
        return self._encoder
