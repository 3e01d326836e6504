"""One sandbox task end to end, for an environment under test (CI's lowest-versions venv).

create -> wait -> succeeded -> download, then ffmpeg decodes the whole MP4 (a file
that is not playable to its end fails); the sandbox's OpenAPI document is served
(pydantic), and the panel and Compare widgets are built (ipywidgets, anywidget,
traitlets). Prints one line; exits non-zero on failure.
Run from a folder outside the repository with the package installed:
``python scripts/sandbox_smoke.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import imageio_ffmpeg

from kitta_notebook import KittaClient, KittaError, LipSyncTask
from kitta_notebook.sandbox import Sandbox


def playable(path: Path) -> str | None:
    """None when ffmpeg decodes every frame with no error; else what it said."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    done = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    probe = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True
    )
    streams = probe.stderr
    if done.returncode != 0 or done.stderr.strip():
        return done.stderr.strip()[-300:] or f"ffmpeg exit {done.returncode}"
    if "Video: h264" not in streams or "Audio:" not in streams:
        return "the result has no H.264 video or no audio stream"
    return None


def widgets_build(client: KittaClient, task: LipSyncTask) -> None:
    """The widgets as a kernel would make them (this script stands in for the frontend)."""
    from kitta_notebook.widgets import _frontend
    from kitta_notebook.widgets.compare import Compare
    from kitta_notebook.widgets.panel import LipSyncPanel

    _frontend.widget_frontend_available = lambda: True
    LipSyncPanel(client)._repr_mimebundle_()
    Compare(task)._repr_mimebundle_()


def main() -> int:
    with tempfile.TemporaryDirectory() as folder, Sandbox(time_scale=0.05) as sandbox:
        client = sandbox.client(journal=False, keep_results=False)
        with client:
            media = sandbox.samples
            task = client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
            try:
                task.wait(timeout=180, poll_interval=0.2)
            except KittaError as error:
                print(f"sandbox smoke: FAILED: {error}")
                return 1
            path = Path(task.download(Path(folder) / "result.mp4"))
            schema = httpx.get(sandbox.openapi_url, timeout=30).json()
            if "/v1/lip-sync/tasks" not in str(schema.get("paths")):
                print("sandbox smoke: FAILED: the OpenAPI document has no task routes")
                return 1
            widgets_build(client, task)
        problem = playable(path)
        if problem:
            print(f"sandbox smoke: FAILED: the result is not a playable MP4: {problem}")
            return 1
        print(f"sandbox smoke: ok (task {task.task_id}, {path.stat().st_size} bytes, playable)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
