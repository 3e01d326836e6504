"""The embedded sandbox's own media in the journal, recorded without its port.

The sandbox serves its samples and the files published to it at its own origin, and
that port changes with every start. A journal chosen by identity (the embedded
sandbox's, one for every run and port) records such a URL as ``kitta-sandbox:/path``
and reads it back against the origin of the sandbox running now, so "What was sent",
"Compare with input" and an export's input links still work after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .entry import JournalEntry

__all__ = ["SANDBOX_MEDIA", "portable_body", "portable_inputs", "resolved_entry", "resolved_url"]

SANDBOX_MEDIA = "kitta-sandbox:"
"""The prefix of a sandbox-served URL as the journal keeps it: ``kitta-sandbox:/samples/x.wav``."""

_BODY_URLS = ("videoUrl", "imageUrl", "audioUrl", "referenceImageUrl")
_ENTRY_URLS = ("video_url", "image_url", "audio_url", "reference_image_url")


def portable_body(body: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """A create body with every URL served at `origin` (the sandbox's) made port-free."""
    return _portable(body, origin, _BODY_URLS)


def portable_inputs(inputs: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """A key's compared inputs (`history.keys`) with the sandbox's own URLs port-free, so
    a keyed create re-run after a restart (a new port) matches its earlier task."""
    return _portable(inputs, origin, _ENTRY_URLS)


def _portable(values: Mapping[str, Any], origin: str, names: tuple[str, ...]) -> dict[str, Any]:
    prefix = origin.rstrip("/").lower() + "/"
    portable = dict(values)
    for name in names:
        url = portable.get(name)
        if isinstance(url, str) and url.lower().startswith(prefix):
            portable[name] = SANDBOX_MEDIA + url[len(prefix) - 1 :]
    return portable


def resolved_url(url: str | None, origin: str | None) -> str | None:
    """A recorded URL as the running sandbox serves it (others unchanged)."""
    if url is None or origin is None or not url.startswith(SANDBOX_MEDIA + "/"):
        return url
    return origin.rstrip("/") + url[len(SANDBOX_MEDIA) :]


def resolved_entry(entry: JournalEntry, origin: str | None) -> JournalEntry:
    """An entry whose input URLs (columns and recorded request) point at `origin`."""
    if origin is None:
        return entry
    changes: dict[str, Any] = {
        name: resolved_url(getattr(entry, name), origin)
        for name in _ENTRY_URLS
        if (getattr(entry, name) or "").startswith(SANDBOX_MEDIA)
    }
    request = entry.request
    if request is not None and any(
        str(request.get(name) or "").startswith(SANDBOX_MEDIA) for name in _BODY_URLS
    ):
        changes["request"] = {
            key: resolved_url(value, origin) if key in _BODY_URLS else value
            for key, value in request.items()
        }
    return replace(entry, **changes) if changes else entry
