"""This sandbox's own files behind a loopback URL, whatever port the URL names.

Tasks keep the input URLs they were created with; after the embedded sandbox
restarts on another port, a task that still has to run would find the old port
dead. Its inputs were this sandbox's samples, results or uploads, which live in
the same folders now, so the worker reads them from disk instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .samples import Samples
from .store import Store
from .uploads import UploadStore

__all__ = ["LocalMedia"]

_RESULT = re.compile(r"^/results/(lip_task_[0-9a-f]+)\.mp4$")


class LocalMedia:
    def __init__(self, samples: Samples, store: Store, renders_dir: Path, uploads: UploadStore):
        self.samples = samples
        self.store = store
        self.renders_dir = renders_dir
        self.uploads = uploads

    def __call__(self, url: str) -> Path | None:
        path = unquote(urlsplit(url).path)
        if path.startswith("/samples/"):
            name = path.removeprefix("/samples/")
            return self.samples.directory / name if self.samples.key_of(name) else None
        if path.startswith("/_sandbox/media/"):
            found = self.uploads.find(path.removeprefix("/_sandbox/media/"))
            return found[1] if found else None
        result = _RESULT.match(path)
        if result:
            task = self.store.get_task(result.group(1))
            render = self.store.get_render(task.render_key) if task and task.render_key else None
            return self.renders_dir / render.filename if render else None
        return None
