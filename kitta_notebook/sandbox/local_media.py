"""This sandbox's own files behind a loopback URL.

Tasks keep the input URLs they were created with; after the embedded sandbox
restarts on another port, a task that still has to run would find the old port
dead. Its inputs were this sandbox's samples, results or uploads, which live in
the same folders now, so the worker reads them from disk instead (``__call__``,
whatever port the URL names).

A URL that names this sandbox's own port is read from disk at once (``own``):
fetching it over HTTP would only make the server answer itself, two requests per
task that compete with the clients' (at 10,000 tasks, most of its work). Media
faults are the exception: while they are on, the worker goes through HTTP so
that they apply.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .faults import FaultInjector
from .media import is_loopback
from .samples import Samples
from .store import Store
from .uploads import UploadStore

__all__ = ["LocalMedia"]

_RESULT = re.compile(r"^/results/(lip_task_[0-9a-f]+)\.mp4$")


class LocalMedia:
    def __init__(
        self,
        samples: Samples,
        store: Store,
        renders_dir: Path,
        uploads: UploadStore,
        faults: FaultInjector | None = None,
    ) -> None:
        self.samples = samples
        self.store = store
        self.renders_dir = renders_dir
        self.uploads = uploads
        self.faults = faults
        self.port: int | None = None
        """The port this sandbox serves on, once it is bound."""

    def own(self, url: str) -> Path | None:
        """The file behind ``url`` when the URL points at this very sandbox, else None."""
        if self.port is None or (self.faults is not None and self.faults.targets("media")):
            return None
        try:
            port = urlsplit(url).port
        except ValueError:
            return None
        return self(url) if port == self.port and is_loopback(url) else None

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
