"""Which library modules one create passes through, and how many HTTP requests it sends.

Traces `client.lip_sync.create(video_url=Path(...), audio_url=Path(...))` against the
embedded sandbox with `sys.setprofile`/`threading.setprofile` (every thread), counting
the functions of `kitta_notebook` (the sandbox server excluded) and the calls of
httpx's `Client.send`. The client is built and the sandbox started before tracing.
Run: ``python scripts/trace_create.py`` (prints the modules, then one summary line).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

PACKAGE = "kitta_notebook"
SAMPLES = Path(__file__).resolve().parent.parent / PACKAGE / "sandbox" / "samples"


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        os.environ["KITTA_HOME"] = home
        from kitta_notebook.sandbox import Sandbox

        with Sandbox(time_scale=0.05) as sandbox:
            client = sandbox.client()
            video = Path(home) / "clip.mp4"
            audio = Path(home) / "voice.wav"
            shutil.copyfile(SAMPLES / "video.mp4", video)
            shutil.copyfile(SAMPLES / "speech-en.wav", audio)
            root = str(Path(str(__import__(PACKAGE).__file__)).parent)
            functions: Counter[tuple[str, str]] = Counter()
            sends: list[str] = []

            def profile(frame: FrameType, event: str, arg: Any) -> None:
                if event != "call":
                    return
                filename = frame.f_code.co_filename
                if filename.startswith(root) and os.sep + "sandbox" + os.sep not in filename:
                    module = os.path.relpath(filename, root)
                    functions[(module, frame.f_code.co_name)] += 1
                elif frame.f_code.co_name == "send" and filename.endswith(
                    os.path.join("httpx", "_client.py")
                ):
                    request = frame.f_locals.get("request")
                    sends.append(f"{request.method} {request.url.path}" if request else "?")

            threading.setprofile(profile)
            sys.setprofile(profile)
            try:
                task = client.lip_sync.create(video_url=video, audio_url=audio)
            finally:
                sys.setprofile(None)
                threading.setprofile(None)  # type: ignore[arg-type]
            client.close()
    modules = sorted({module for module, _ in functions})
    for module in modules:
        print(module)
    for request in sends:
        print("  " + request)
    print(
        f"create {task.task_id}: {len(modules)} library modules, "
        f"{len(functions)} functions, {len(sends)} HTTP requests"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
