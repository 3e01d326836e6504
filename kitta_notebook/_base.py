"""What the sync and async clients have in common besides the wire logic:
configuration, a safe repr, the download target, and each other.

A sync client lazily owns an async twin (and the other way round) over the
same configuration, so a task fetched by either can be refreshed, waited on
or watched live from both sync code and the notebook's event loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ._core import MAX_KEY_LENGTH, ClientConfig, Secret
from .errors import APIConnectionError, APIError, ValidationError
from .validation import CreateRequest, validate_create

if TYPE_CHECKING:
    import os

    from ._async_client import AsyncKittaClient
    from ._client import KittaClient
    from .history.keys import KeyClaim
    from .history.store import JournalStore as Journal
    from .media import MediaStore
    from .models import LipSyncTask


class TaskRecorder(Protocol):
    """Where a client records what it creates, so a created task is never forgotten.

    `before_create` runs before the request is sent and returns a handle;
    exactly one of the `after_*` calls follows. The journal implements this.
    """

    def before_create(
        self,
        origin: str,
        body: dict[str, Any],
        key: str | None = None,
        published: dict[str, Any] | None = None,
        claim: str | None = None,
    ) -> object: ...

    def task_id_for_key(self, key: str) -> str | None:
        """The task created earlier under a batch item's `key`, if any."""
        ...

    def claim_key(self, key: str, inputs: Mapping[str, Any]) -> KeyClaim:
        """Reserve `key` for one create (or find its task) before anything is sent."""
        ...

    def release_keys(self, claims: Iterable[KeyClaim]) -> None: ...

    def created(self, handle: object, task: LipSyncTask) -> None: ...

    def rejected(self, handle: object, error: BaseException) -> None: ...

    def outcome_unknown(self, handle: object, error: BaseException) -> None: ...

    def seen(self, task: LipSyncTask) -> None: ...

    def downloaded(self, task: LipSyncTask, path: str | os.PathLike[str]) -> None: ...


def recorder_extras(published: dict[str, Any] | None, claim: KeyClaim | None) -> dict[str, Any]:
    """`before_create`'s optional arguments, passed only when there is any: a recorder
    written before they existed still works."""
    extra: dict[str, Any] = {"published": published} if published else {}
    if claim is not None and claim.token is not None:
        extra["claim"] = claim.token
    return extra


class NullRecorder:
    """Records nothing (the default until a journal is attached)."""

    def before_create(
        self,
        origin: str,
        body: dict[str, Any],
        key: str | None = None,
        published: dict[str, Any] | None = None,
        claim: str | None = None,
    ) -> object:
        return None

    def task_id_for_key(self, key: str) -> str | None:
        return None

    def claim_key(self, key: str, inputs: Mapping[str, Any]) -> KeyClaim:
        from .history.keys import KeyClaim

        return KeyClaim(key)

    def release_keys(self, claims: Iterable[KeyClaim]) -> None:
        return None

    def created(self, handle: object, task: LipSyncTask) -> None:
        return None

    def rejected(self, handle: object, error: BaseException) -> None:
        return None

    def outcome_unknown(self, handle: object, error: BaseException) -> None:
        return None

    def seen(self, task: LipSyncTask) -> None:
        return None

    def downloaded(self, task: LipSyncTask, path: str | os.PathLike[str]) -> None:
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
        keep_results: bool | str | os.PathLike[str] | None = None,
        media_store: MediaStore | None = None,
        _config: ClientConfig | None = None,
    ) -> None:
        self._config = _config or ClientConfig.create(token, base_url, timeout, max_retries)
        if keep_results is not None:  # else KITTA_KEEP_RESULTS (on for the embedded sandbox)
            self._config.keep_results = keep_results
        if media_store is not None:  # else the sandbox's own store, or KITTA_MEDIA_STORE
            self._config.media_store = media_store
        # The journal is on by default (`journal=False` turns it off); the choice lives
        # on the configuration, which the async twin and live views share. The file
        # opens only at the first create or get, so constructing a client stays cheap.
        if journal is not None:
            self._config.journal = journal
        from .history.recorder import JournalRecorder

        self.recorder: TaskRecorder = JournalRecorder(self._config)

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
        self._config.token_source = "entered"

    def __repr__(self) -> str:
        config = getattr(self, "_config", None)  # a half-built client must still repr
        if config is None:
            return f"{type(self).__name__}(<not configured>)"
        token = "set" if config.token is not None else "missing"
        return f"{type(self).__name__}(base_url={config.base_url!r}, token={token})"

    @property
    def journal(self) -> Journal | None:
        """The local journal this client records its tasks in (None when turned off)."""
        from .history.recorder import JournalRecorder

        recorder = self.recorder
        return recorder.journal() if isinstance(recorder, JournalRecorder) else None

    def _close_resources(self) -> None:
        """Close what the configuration opened on first use: the media prober's and the
        media store's connections and the journal's database (each reopens if used
        again), so nothing is left for the interpreter to warn about at exit."""
        for resource in (self._config.prober, self._config.media_store):
            close = getattr(resource, "close", None)
            if callable(close):
                close()
        journal = self.journal
        if journal is not None:
            journal.close()

    def _record_download(self, task: LipSyncTask, path: Path) -> None:
        """Tell the recorder where a result video was saved."""
        self.recorder.downloaded(task, path)

    # --- shared request preparation -----------------------------------------
    def _prepare_create(self, **fields: Any) -> CreateRequest:
        return validate_create(**fields, require_public_urls=self._config.is_official)

    def _claim_key(self, key: str | None, planned: Mapping[str, Any]) -> KeyClaim | None:
        """Reserve `key` for this create before anything is published, probed or sent.

        `planned` are the create's arguments with local files read. Returns None
        without a key; else the task made earlier under it from the same inputs,
        or a claim to send with (give it back with `_release_keys`). Raises
        `KeyReusedError` for other inputs, `KeyInUseError` while a create under
        the key runs, and `UnresolvedCreateError` while an earlier one may or
        may not have reached the server, so it is never paid twice.
        """
        if key is None:
            return None
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise ValidationError(
                [
                    (
                        "key",
                        f"The key must be a non-empty text of at most {MAX_KEY_LENGTH} characters.",
                    )
                ]
            )
        if self.journal is None:
            raise ValidationError(
                [("key", "A key needs the local journal, which this client has turned off.")]
            )
        from .history.keys import request_inputs

        return self.recorder.claim_key(key, request_inputs(planned))

    def _release_keys(self, claims: Iterable[KeyClaim | None]) -> None:
        """Give back the keys of creates that were sent, or will not be."""
        held = [claim for claim in claims if claim is not None and claim.token is not None]
        if held:
            self.recorder.release_keys(held)

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
    def as_sync(self) -> KittaClient:
        """The synchronous client over the same settings, token and journal."""
        return self._sync_client()

    def as_async(self) -> AsyncKittaClient:
        """The asynchronous client over the same settings, token and journal (for widgets
        and `await` code that holds a `KittaClient`)."""
        return self._async_client()

    def _sync_client(self) -> KittaClient:
        raise NotImplementedError

    def _async_client(self) -> AsyncKittaClient:
        raise NotImplementedError
