"""How a result video reaches the browser.

A public http(s) URL is given to `<video src>`: the browser fetches it. A
URL the browser may not reach (the sandbox on loopback, which a Binder
browser cannot see) or `embed=True` makes the kernel fetch the bytes,
without the API token, and inline them as `data:video/mp4`, up to a size
cap; past it, a message and a download hint. Never autoplay, never loop.
"""

from __future__ import annotations

import base64
import html
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from ..i18n import Lang, text
from ..validation import is_public_host

if TYPE_CHECKING:
    from ..models import LipSyncTask

MAX_EMBED_BYTES = 8 * 1024 * 1024  # Colab drops outputs near 10 MB
_CACHE_LIMIT = 4 * MAX_EMBED_BYTES
_cache: OrderedDict[str, bytes] = OrderedDict()


@dataclass(frozen=True)
class VideoPlan:
    """What to do with a task's result URL."""

    action: Literal["none", "link", "embed", "refused"]
    url: str | None = None


def safe_http_url(url: object) -> str | None:
    """The URL when it is absolute http(s) with a host, else None (never rendered)."""
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in candidate):
        return None
    return candidate


def plan_video(task: LipSyncTask, embed: bool | None = None) -> VideoPlan:
    if not task.result_video_url:
        return VideoPlan("none")
    url = safe_http_url(task.result_video_url)
    if url is None:
        return VideoPlan("refused")
    host = urlsplit(url).hostname or ""
    if embed is None:
        embed = not is_public_host(host)
    return VideoPlan("embed" if embed else "link", url)


def cached_bytes(url: str) -> bytes | None:
    data = _cache.get(url)
    if data is not None:
        _cache.move_to_end(url)
    return data


def remember_bytes(url: str, data: bytes) -> None:
    _cache[url] = data
    _cache.move_to_end(url)
    while sum(len(v) for v in _cache.values()) > _CACHE_LIMIT and len(_cache) > 1:
        _cache.popitem(last=False)


Embedded = tuple[bytes | None, str | None]


def _settle(url: str, fetched: bytes | None) -> Embedded:
    if fetched is None:
        return None, "too large"
    remember_bytes(url, fetched)
    return fetched, None


def fetch_for_embed(task: LipSyncTask, url: str, max_bytes: int) -> Embedded:
    """(bytes, None), or (None, reason) when the video is too large or unreachable."""
    data = cached_bytes(url)
    if data is not None:
        return data, None
    if task._client is None:
        return None, "task has no client"
    try:
        fetched = task._client._sync_client().fetch_bytes(url, max_bytes=max_bytes)
    except Exception as exc:  # a display must never raise
        return None, type(exc).__name__
    return _settle(url, fetched)


async def async_fetch_for_embed(task: LipSyncTask, url: str, max_bytes: int) -> Embedded:
    """`fetch_for_embed` on the running event loop."""
    data = cached_bytes(url)
    if data is not None:
        return data, None
    if task._client is None:
        return None, "task has no client"
    try:
        fetched = await task._client._async_client().fetch_bytes(url, max_bytes=max_bytes)
    except Exception as exc:
        return None, type(exc).__name__
    return _settle(url, fetched)


_VIDEO_STYLE = "max-width:100%;width:480px;border-radius:6px;background:#000;display:block"


def render_video(
    plan: VideoPlan,
    data: bytes | None = None,
    problem: str | None = None,
    *,
    lang: Lang = "en",
    max_bytes: int = MAX_EMBED_BYTES,
) -> str:
    """The HTML block for a planned video; every value escaped."""
    if plan.action == "none":
        return ""
    if plan.action == "refused" or plan.url is None:
        return f'<div style="color:#9b1c1c">{html.escape(text("video_refused", lang))}</div>'
    link = html.escape(plan.url, quote=True)
    anchor = (
        f'<a href="{link}" target="_blank" rel="noopener noreferrer">'
        f"{html.escape(text('open_video', lang))}</a>"
    )
    if plan.action == "link":
        return (
            f'<video src="{link}" controls preload="metadata" style="{_VIDEO_STYLE}"></video>'
            f'<div style="font-size:12px;margin-top:4px">{anchor}</div>'
        )
    if data is None:
        if problem == "too large":
            message = text("video_too_large", lang, size=f"> {max_bytes // (1024 * 1024)} MB")
        else:
            message = text("video_unavailable", lang, reason=problem or "unknown")
        return (
            f'<div style="color:#7a4d00;margin:4px 0">{html.escape(message)}</div>'
            f'<div style="font-size:12px">{anchor}</div>'
        )
    payload = base64.b64encode(data).decode("ascii")
    return (
        f'<video src="data:video/mp4;base64,{payload}" controls preload="metadata" '
        f'style="{_VIDEO_STYLE}"></video>'
        f'<div style="font-size:12px;margin-top:4px">{anchor}</div>'
    )


def video_html(
    task: LipSyncTask,
    *,
    embed: bool | None = None,
    lang: Lang = "en",
    max_bytes: int = MAX_EMBED_BYTES,
) -> str:
    """The result video of a task as HTML (fetching bytes when the policy says so)."""
    plan = plan_video(task, embed)
    data: bytes | None = None
    problem: str | None = None
    if plan.action == "embed" and plan.url is not None:
        data, problem = fetch_for_embed(task, plan.url, max_bytes)
    return render_video(plan, data, problem, lang=lang, max_bytes=max_bytes)
