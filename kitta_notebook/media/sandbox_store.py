"""The sandbox's own media store: its sandbox-only upload route (not part of the real API).

`PUT {base}/_sandbox/media/{key}` stores the raw body (the sandbox checks that the key's
sha256 matches), `HEAD` says whether a key is there, `GET` serves it with Range. No Kitta
token is ever sent: these requests carry no Authorization header.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import httpx

from ..errors import PublishError
from .sources import LocalBlob
from .store import Progress, PublishMixin, cumulative_progress, verified_chunks

__all__ = ["SandboxStore"]

ROUTE = "/_sandbox/media/"
UPLOAD_CHUNK_BYTES = 256 * 1024


class SandboxStore(PublishMixin):
    """Publish local files to a running sandbox, e.g. ``SandboxStore(sandbox.origin)``.

    URLs never expire (the sandbox keeps uploads as long as its store lives).
    """

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SandboxStore({self.base_url!r})"

    def describe(self) -> str:
        return f"sandbox {self.base_url}"

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                # trust_env=False: the sandbox is local; a proxy from the environment
                # would only get in the way.
                self._client = httpx.Client(timeout=self._timeout, trust_env=False)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _url(self, key: str) -> str:
        return f"{self.base_url}{ROUTE}{key}"

    def exists(self, key: str) -> bool:
        try:
            response = self._http().head(self._url(key))
        except httpx.HTTPError as error:
            raise PublishError(
                f"the sandbox at {self.base_url} could not be reached ({type(error).__name__})"
            ) from None
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise PublishError(
            f"the sandbox answered HTTP {response.status_code} to HEAD {ROUTE}{key}",
            code=str(response.status_code),
        )

    def upload(self, blob: LocalBlob, key: str, progress: Progress | None) -> None:
        advance = cumulative_progress(progress, blob.size)

        def body() -> Iterator[bytes]:
            for chunk in verified_chunks(blob, UPLOAD_CHUNK_BYTES):
                yield chunk
                advance(len(chunk))

        headers = {"Content-Type": blob.content_type, "Content-Length": str(blob.size)}
        try:
            response = self._http().put(self._url(key), content=body(), headers=headers)
        except httpx.HTTPError as error:
            raise PublishError(
                f"uploading {blob.name} to the sandbox failed ({type(error).__name__})"
            ) from None
        if response.status_code not in (200, 201):
            detail = response.text[:200].strip()
            raise PublishError(
                f"the sandbox refused {blob.name}: HTTP {response.status_code} {detail}",
                code=str(response.status_code),
            )

    def url_for(self, key: str) -> tuple[str, datetime | None]:
        return self._url(key), None
