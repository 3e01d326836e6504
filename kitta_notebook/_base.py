"""What the sync and async clients have in common besides the wire logic:
configuration, a safe repr, the download target, and each other.

A sync client lazily owns an async twin (and the other way round) over the
same configuration, so a task fetched by either can be refreshed, waited on
or watched live from both sync code and the notebook's event loop.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx

from ._core import ClientConfig, Secret, result_url
from .errors import APIConnectionError, APIError
from .validation import CreateRequest, validate_create

if TYPE_CHECKING:
    from ._async_client import AsyncKittaClient
    from ._client import KittaClient
    from .journal import Journal
    from .models import LipSyncTask

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class TaskRecorder(Protocol):
    """Where a client records what it creates, so a created task is never forgotten.

    `before_create` runs before the request is sent and returns a handle;
    exactly one of the `after_*` calls follows. The journal implements this.
    """

    def before_create(
        self, origin: str, body: dict[str, Any], key: str | None = None
    ) -> object: ...

    def task_id_for_key(self, key: str) -> str | None:
        """The task created earlier under a batch item's `key`, if any."""
        ...

    def created(self, handle: object, task: LipSyncTask) -> None: ...

    def rejected(self, handle: object, error: BaseException) -> None: ...

    def outcome_unknown(self, handle: object, error: BaseException) -> None: ...

    def seen(self, task: LipSyncTask) -> None: ...


class NullRecorder:
    """Records nothing (the default until a journal is attached)."""

    def before_create(self, origin: str, body: dict[str, Any], key: str | None = None) -> object:
        return None

    def task_id_for_key(self, key: str) -> str | None:
        return None

    def created(self, handle: object, task: LipSyncTask) -> None:
        return None

    def rejected(self, handle: object, error: BaseException) -> None:
        return None

    def outcome_unknown(self, handle: object, error: BaseException) -> None:
        return None

    def seen(self, task: LipSyncTask) -> None:
        return None


class ClientBase:
    _config: ClientConfig

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        journal: Journal | bool | None = None,
        _config: ClientConfig | None = None,
    ) -> None:
        self._config = _config or ClientConfig.create(token, base_url, timeout, max_retries)
        # The journal is on by default (`journal=False` turns it off); it opens its
        # file only at the first create or get, so constructing a client stays cheap.
        from .journal import JournalRecorder

        self.recorder: TaskRecorder = JournalRecorder(self, journal)

    # --- public facts -------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def is_official(self) -> bool:
        """True when this client talks to the real service (media must be public URLs)."""
        return self._config.is_official

    @property
    def has_token(self) -> bool:
        return self._config.token is not None

    def set_token(self, token: str) -> None:
        """Replace the API token (for example after a password prompt); never echoed."""
        clean = token.strip() if isinstance(token, str) else ""
        if not clean:
            raise ValueError("the API token is empty")
        self._config.token = Secret(clean)

    def __repr__(self) -> str:
        config = getattr(self, "_config", None)  # a half-built client must still repr
        if config is None:
            return f"{type(self).__name__}(<not configured>)"
        token = "set" if config.token is not None else "missing"
        return f"{type(self).__name__}(base_url={config.base_url!r}, token={token})"

    @property
    def journal(self) -> Journal | None:
        """The local journal this client records its tasks in (None when turned off)."""
        from .journal import JournalRecorder

        recorder = self.recorder
        return recorder.journal() if isinstance(recorder, JournalRecorder) else None

    def _record_download(self, task: LipSyncTask, path: Path) -> None:
        """Tell the recorder where a result video was saved (recorders may not care)."""
        downloaded = getattr(self.recorder, "downloaded", None)
        if callable(downloaded):
            downloaded(task, path)

    # --- shared request preparation -----------------------------------------
    def _prepare_create(self, **fields: Any) -> CreateRequest:
        return validate_create(**fields, require_public_urls=self._config.is_official)

    def _record_outcome(self, handle: object, error: BaseException) -> None:
        """Tell the recorder whether a failed create may still have made a task.

        Only an answer from the server, or a connection that was never made,
        proves nothing was created; anything else (an interrupt, a 5xx, a read
        timeout) leaves the outcome unknown.
        """
        definite = isinstance(error, (APIError, APIConnectionError)) and not error.may_have_created
        if definite:
            self.recorder.rejected(handle, error)
        else:
            self.recorder.outcome_unknown(handle, error)

    # --- twins --------------------------------------------------------------
    def _sync_client(self) -> KittaClient:
        raise NotImplementedError

    def _async_client(self) -> AsyncKittaClient:
        raise NotImplementedError


def media_client_options() -> dict[str, Any]:
    """Options for the HTTP client that fetches result videos: no token, follows redirects."""
    return {"follow_redirects": True, "timeout": httpx.Timeout(60.0, connect=10.0)}


def download_target(task: LipSyncTask, path: str | Path | None) -> tuple[str, Path]:
    """(URL to fetch, file to write) for a task's result video."""
    url = result_url(task)
    suffix = Path(urlsplit(url).path).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        suffix = ".mp4"
    default_name = (_SAFE_NAME.sub("_", task.task_id) or "result") + suffix
    if path is None:
        target = Path(default_name)
    else:
        target = Path(path).expanduser()
        if target.is_dir() or str(path).endswith(("/", "\\")):
            target = target / default_name
    target.parent.mkdir(parents=True, exist_ok=True)
    return url, target


def refreshable_download_status(status_code: int) -> bool:
    """Result hosts answer these when a signed URL has expired: fetch the task for a fresh one."""
    return status_code in (401, 403, 404, 410)
