"""Test media made with ffmpeg, a small Range-capable media host, and S3 test servers.

Everything listens on 127.0.0.1 only. The media host counts requests and body bytes per
path, so a test can assert what a probe really read.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import imageio_ffmpeg

from kitta_notebook.price import Price, price_for
from kitta_notebook.server_info import ServerInfo

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def priced(credits_per_second: float, model: str = "kitta-lip-sync-v1") -> Price:
    """A price the server publishes: `credits_per_second`, one second billed at least."""
    info = ServerInfo(credits_per_second={model: credits_per_second}, minimum_billed_seconds=1.0)
    return price_for(info, model)


def ffmpeg(*args: str) -> None:
    done = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {done.stderr[-500:]}")


def make_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate={rate}:duration={seconds}",
        "-c:a",
        "pcm_s16le",
        str(path),
    )
    return path


def make_mp3(path: Path, seconds: float) -> Path:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=44100:duration={seconds}",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        str(path),
    )
    return path


def make_m4a(path: Path, seconds: float) -> Path:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=44100:duration={seconds}",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        str(path),
    )
    return path


def make_mp4(
    path: Path,
    seconds: float,
    *,
    faststart: bool,
    audio: bool = True,
    size: str = "160x120",
    video_bitrate: str | None = None,
) -> Path:
    """H.264 (+ AAC) test video; `faststart` puts `moov` before `mdat`."""
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=44100:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if video_bitrate:
        args += [
            "-b:v",
            video_bitrate,
            "-maxrate",
            video_bitrate,
            "-bufsize",
            video_bitrate,
            "-x264-params",
            "nal-hrd=cbr:force-cfr=1",
        ]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k", "-shortest"]
    if faststart:
        args += ["-movflags", "+faststart"]
    ffmpeg(*args, str(path))
    return path


def make_png(path: Path, size: str = "64x48") -> Path:
    ffmpeg("-f", "lavfi", "-i", f"color=c=red:size={size}", "-frames:v", "1", str(path))
    return path


def make_jpeg(path: Path, size: str = "64x48") -> Path:
    ffmpeg("-f", "lavfi", "-i", f"color=c=blue:size={size}", "-frames:v", "1", str(path))
    return path


@dataclass
class Served:
    body: bytes | Path
    status: int = 200
    etag: str | None = None
    ranges: bool = True


@dataclass
class MediaHost:
    """Routes path -> Served; counts per path."""

    origin: str = ""
    routes: dict[str, Served] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    bytes_sent: dict[str, int] = field(default_factory=dict)
    authorization_seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, body: bytes | Path, **options: object) -> str:
        self.routes[path] = Served(body, **options)  # type: ignore[arg-type]
        return f"{self.origin}{path}"

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()
            self.bytes_sent.clear()


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def _handler(host: MediaHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with host.lock:
                host.requests[path] = host.requests.get(path, 0) + 1
                if self.headers.get("Authorization") is not None:
                    host.authorization_seen.append(self.headers["Authorization"])
            served = host.routes.get(path)
            if served is None or served.status != 200:
                status = 404 if served is None else served.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = served.body
            data = body.read_bytes() if isinstance(body, Path) else body
            if served.etag and self.headers.get("If-None-Match") == served.etag:
                self.send_response(304)
                self.send_header("ETag", served.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end, status = 0, len(data) - 1, 200
            match = _RANGE.match(self.headers.get("Range", "")) if served.ranges else None
            if match:
                first, last = match.groups()
                if first:
                    start = int(first)
                    end = min(int(last), len(data) - 1) if last else len(data) - 1
                else:
                    start = max(0, len(data) - int(last))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            chunk = data[start : end + 1]
            self.send_response(status)
            self.send_header("Content-Type", "video/mp4")  # deliberately wrong for most files
            self.send_header("Content-Length", str(len(chunk)))
            if served.etag:
                self.send_header("ETag", served.etag)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            with host.lock:  # counted before sending, so a client never sees it late
                host.bytes_sent[path] = host.bytes_sent.get(path, 0) + len(chunk)
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(chunk)

    return Handler


@contextmanager
def media_host() -> Iterator[MediaHost]:
    host = MediaHost()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host))
    server.daemon_threads = True
    host.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def nanio_server(data_dir: Path, access_key: str, secret_key: str) -> Iterator[str]:
    """A signature-checking S3 server (nanio) in a child process; yields its endpoint."""
    port = free_port()
    env = {**os.environ, "NANIO_ACCESS_KEY": access_key, "NANIO_SECRET_KEY": secret_key}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nanio",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # bounded: up to ~20 s for the server to listen
            if process.poll() is not None:
                raise RuntimeError("nanio exited at start")
            try:
                httpx.get(endpoint, timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("nanio did not start")
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
