"""The sandbox's media store: content-addressed files behind ``/_sandbox/media/<key>``.

Sandbox-only (the real API has no upload endpoint): it lets a notebook turn a
local file into a URL that the sandbox's worker can fetch. A key is the sha256
of the bytes plus an extension; the body must hash to it, so a key names
exactly one content and re-uploading it changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from .envelope import ApiError
from .records import UploadRecord
from .settings import MAX_UPLOAD_BYTES
from .store import Store

__all__ = ["MAX_UPLOAD_BYTES", "UPLOAD_KEY", "UploadStore"]

UPLOAD_KEY = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]{1,5}$")
_FLUSH_BYTES = 1024 * 1024
_CONTENT_TYPE = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,199}$")


class AudioMeter(Protocol):
    def audio_seconds(self, path: Path) -> float | None: ...


class UploadStore:
    """Files under ``directory`` (named by key), indexed with their content type."""

    def __init__(self, directory: Path, store: Store, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.directory = directory
        self.store = store
        self.max_bytes = max_bytes
        self._seconds: dict[str, float | None] = {}

    def audio_seconds(self, key: str, measure: AudioMeter) -> float | None:
        """The audio length of an upload (measured once per key: the content never
        changes under a key), or ``None`` when it is missing or not audio."""
        if key not in self._seconds:
            found = self.find(key)
            if found is None:
                return None
            self._seconds[key] = measure.audio_seconds(found[1])
        return self._seconds[key]

    @staticmethod
    def check_key(key: str) -> None:
        if not UPLOAD_KEY.match(key):
            raise ApiError(
                400,
                "the key must be the sha256 of the body in lowercase hex, a dot and an "
                "extension of 1 to 5 lowercase letters or digits, such as <sha256>.mp4",
            )

    def too_large(self) -> ApiError:
        limit = self.max_bytes / (1024 * 1024)
        return ApiError(
            413,
            f"the upload is larger than the sandbox's limit of {limit:g} MiB",
            headers={"Connection": "close"},
        )

    def find(self, key: str) -> tuple[UploadRecord, Path] | None:
        """The stored upload and its file, or ``None``."""
        if not UPLOAD_KEY.match(key):
            return None
        record = self.store.get_upload(key)
        path = self.directory / key
        if record is None or not path.is_file():
            return None
        return record, path

    async def receive(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str | None,
        declared_size: int | None,
        now: float,
    ) -> UploadRecord:
        """Stream the body to disk, check its size and hash, then publish it under ``key``."""
        self.check_key(key)
        kind = (content_type or "").strip()
        if not kind:
            kind = "application/octet-stream"
        elif not _CONTENT_TYPE.match(kind):
            raise ApiError(400, "the Content-Type header is not a printable media type")
        if declared_size is not None and declared_size > self.max_bytes:
            raise self.too_large()
        await run_in_threadpool(self.directory.mkdir, parents=True, exist_ok=True)
        part = self.directory / f".{key}.{secrets.token_hex(6)}.part"
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        out = await run_in_threadpool(part.open, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise self.too_large()
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= _FLUSH_BYTES:
                    await run_in_threadpool(out.write, bytes(buffer))
                    buffer.clear()
            await run_in_threadpool(out.write, bytes(buffer))
            await run_in_threadpool(out.close)
            if digest.hexdigest() != key.split(".", 1)[0]:
                raise ApiError(
                    400,
                    f"the body's sha256 is {digest.hexdigest()}, which does not match the key "
                    f"{key}",
                )
            record = UploadRecord(key, kind, size, now)
            await run_in_threadpool(self._publish, part, record)
        finally:
            out.close()
            await run_in_threadpool(part.unlink, missing_ok=True)
        return record

    def _publish(self, part: Path, record: UploadRecord) -> None:
        os.replace(part, self.directory / record.key)
        self.store.put_upload(record)
