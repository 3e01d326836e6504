"""How a result video reaches the browser.

A public http(s) URL is given to `<video src>`: the browser fetches it. A
URL the browser may not reach (the sandbox on loopback, which a Binder
browser cannot see) or `embed=True` makes the kernel fetch the bytes,
without the API token, and inline them as `data:video/mp4`, up to a size
cap and within a time budget; past either, the link and a download hint.
A kept copy of the result (see `_kept`) is played first, without any
network (a team bucket's copy is embedded after its sha256 was checked, never
linked); a link the host refuses (401/403/404/410) reads "link expired"
with how to get a fresh one. Never autoplay, never loop.
"""

from __future__ import annotations

import base64
import html
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar
from urllib.parse import urlsplit

from .. import _bridge
from .._fetch import FetchLimits, fetch
from .._kept import keep_bytes, kept_bytes, kept_path
from ..errors import DownloadError, KittaError
from ..i18n import Lang, text
from ..validation import is_public_host

if TYPE_CHECKING:
    from ..models import LipSyncTask

MAX_EMBED_BYTES = 8 * 1024 * 1024  # Colab drops outputs near 10 MB
_CACHE_LIMIT = 4 * MAX_EMBED_BYTES
T = TypeVar("T")
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


def link_html(url: str, label: str) -> str:
    """A link opening in a new tab; `url` has passed `safe_http_url`."""
    return (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
        f"{html.escape(label)}</a>"
    )


def plan_video(task: LipSyncTask, embed: bool | None = None) -> VideoPlan:
    if not task.result_video_url:
        return VideoPlan("none")
    url = safe_http_url(task.result_video_url)
    if url is None:
        return VideoPlan("refused")
    host = urlsplit(url).hostname or ""
    if embed is None:
        embed = not is_public_host(host) or _kept(kept_path, task) is not None
    return VideoPlan("embed" if embed else "link", url)


Embedded = tuple[bytes | None, str | None]

# A card shown in a cell blocks the kernel while it fetches: it gives up after this
# and shows the link instead. A live view fetches beside the kernel, but also ends.
EMBED_BUDGET_SECONDS = 4.0
ASYNC_EMBED_DEADLINE = 60.0


def _problem(exc: DownloadError) -> str:
    """The short reason `render_video` understands."""
    short = {"too_large": "too large", "expired": "expired", "timeout": "slow"}
    if exc.reason in short:
        return short[exc.reason]
    if exc.arrived:
        return exc.arrived
    if exc.status_code:
        return f"HTTP {exc.status_code}"
    return "incomplete" if exc.reason == "incomplete" else "connection failed"


def _kept(look: Callable[..., T], task: LipSyncTask, *args: object) -> T | None:
    """The task's kept copy (`kept_path`), or its bytes within a cap and a time budget
    (`kept_bytes`: no network, or a bucket's object checked against its sha256);
    None when there is none, it cannot be read, or the task is bound to no client."""
    try:
        return look(task.client, task, *args)
    except (OSError, KittaError, RuntimeError):
        return None


def fetch_for_embed(
    task: LipSyncTask,
    url: str,
    max_bytes: int,
    budget: float = EMBED_BUDGET_SECONDS,
    *,
    result: bool = True,
) -> Embedded:
    """(bytes, None), or (None, reason): too large, expired, slow or unreachable.

    For the task's `result`, the kept copy wins and a fetched one is kept; other
    media (a compare's input, image or video) are only fetched. The fetch gets
    `budget` seconds.
    """
    data = _kept(kept_bytes, task, max_bytes, budget) if result else None
    if data is None and url in _cache:
        data = _cache[url]
        _cache.move_to_end(url)
    if data is not None:
        return (data, None) if len(data) <= max_bytes else (None, "too large")
    try:
        limits = FetchLimits(deadline=budget, max_bytes=max_bytes)
        fetched = fetch(url, limits, expect="video" if result else "any")
    except DownloadError as exc:
        return None, _problem(exc)
    except Exception as exc:  # a display must never raise
        return None, type(exc).__name__
    data = fetched.data or b""
    _cache[url] = data
    while sum(len(v) for v in _cache.values()) > _CACHE_LIMIT and len(_cache) > 1:
        _cache.popitem(last=False)
    if result:
        _kept(keep_bytes, task, data)  # keeping is a convenience: a failure is not shown
    return data, None


async def async_fetch_for_embed(
    task: LipSyncTask, url: str, max_bytes: int, deadline: float = ASYNC_EMBED_DEADLINE
) -> Embedded:
    """`fetch_for_embed` on a worker thread, so the kernel's loop stays free meanwhile."""
    return await _bridge.run_sync(fetch_for_embed, task, url, max_bytes, deadline)


_VIDEO_STYLE = "max-width:100%;width:480px;border-radius:6px;background:#000;display:block"


def _player(src: str, anchor: str) -> str:
    return (
        f'<video src="{src}" controls preload="metadata" style="{_VIDEO_STYLE}"></video>'
        f'<div style="font-size:12px;margin-top:4px">{anchor}</div>'
    )


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
    anchor = link_html(plan.url, text("open_video", lang))
    if plan.action == "link":
        return _player(html.escape(plan.url, quote=True), anchor)
    if data is None:
        if problem == "too large":
            message = text("video_too_large", lang, size=f"> {max_bytes // (1024 * 1024)} MB")
        elif problem == "expired":
            message = text("video_link_expired", lang)
        elif problem == "slow":
            message = text("video_slow", lang)
        else:
            message = text("video_unavailable", lang, reason=problem or "unknown")
        return (
            f'<div style="color:#7a4d00;margin:4px 0">{html.escape(message)}</div>'
            f'<div style="font-size:12px">{anchor}</div>'
        )
    payload = base64.b64encode(data).decode("ascii")
    return _player(f"data:video/mp4;base64,{payload}", anchor)


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
