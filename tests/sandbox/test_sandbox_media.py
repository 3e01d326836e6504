"""Media handling: inputs are fetched like a media host would see them (no token,
bounded size), and every result carries the visible SANDBOX mark."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest

import kitta_notebook.sandbox as sandbox_package
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.media import Fetcher, MediaError
from tests.sandbox.sandbox_helpers import TASKS, video_body, wait_terminal

SAMPLES = Path(sandbox_package.__file__).parent / "samples"


class MediaHost:
    """A plain static file server that remembers the headers it was sent."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.seen.append({k.lower(): v for k, v in self.headers.items()})
                path = SAMPLES / self.path.lstrip("/")
                if not path.is_file() or path.parent != SAMPLES:
                    self.send_error(404)
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


@pytest.fixture()
def media_host() -> Iterator[MediaHost]:
    host = MediaHost()
    host.thread.start()
    yield host
    host.server.shutdown()
    host.server.server_close()


def test_inputs_are_fetched_without_the_api_token(
    sandbox: Sandbox, fresh: httpx.Client, media_host: MediaHost
) -> None:
    body = video_body(
        sandbox, videoUrl=media_host.url("video.mp4"), audioUrl=media_host.url("speech-zh.wav")
    )
    done = wait_terminal(fresh, fresh.post(TASKS, json=body).json()["taskId"])
    assert done["status"] == "succeeded", done
    assert len(media_host.seen) >= 2
    for headers in media_host.seen:
        assert "authorization" not in headers
        assert "fresh-" not in " ".join(headers.values())


def test_oversized_input_is_refused(media_host: MediaHost, tmp_path: Path) -> None:
    fetcher = Fetcher(max_bytes=10_000)
    try:
        with pytest.raises(MediaError) as caught:
            fetcher.fetch("audioUrl", media_host.url("speech-en.wav"), tmp_path / "a")
        assert caught.value.code == "media_too_large"
        assert "audioUrl" in caught.value.message
        small = fetcher.fetch("imageUrl", media_host.url("reference.png"), tmp_path / "i")
        assert small.size == (SAMPLES / "reference.png").stat().st_size
    finally:
        fetcher.close()


def _frame_rgb(path: Path, width: int, height: int) -> bytes:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-ss", "1", "-i", str(path)]
    cmd += ["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert len(proc.stdout) == width * height * 3
    return proc.stdout


def test_result_has_a_visible_sandbox_mark(
    sandbox: Sandbox, fresh: httpx.Client, tmp_path: Path
) -> None:
    done = wait_terminal(fresh, fresh.post(TASKS, json=video_body(sandbox)).json()["taskId"])
    result = tmp_path / "r.mp4"
    result.write_bytes(httpx.get(done["resultVideoUrl"], timeout=20).content)
    source = tmp_path / "s.mp4"
    source.write_bytes(httpx.get(sandbox.samples["video"], timeout=20).content)
    width, height = 320, 240

    def mark_pixels(frame: bytes) -> tuple[int, int]:
        red = white = 0
        for y in range(10, 32):
            for x in range(10, 100):
                r, g, b = frame[(y * width + x) * 3 : (y * width + x) * 3 + 3]
                red += r > 150 and g < 90 and b < 100
                white += r > 200 and g > 200 and b > 200
        return red, white

    red, white = mark_pixels(_frame_rgb(result, width, height))
    assert red > 500 and white > 100  # red box with white letters
    assert mark_pixels(_frame_rgb(source, width, height)) == (0, 0)  # not in the source
