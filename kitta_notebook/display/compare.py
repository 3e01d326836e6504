"""Results next to their input, or next to each other: the tiles and their static view.

A tile is one picture to compare: the input (the source video, or the image
in image mode) or a task's result. Resolving tiles does the I/O once: media
the browser may not reach (the sandbox on loopback, unreachable from a Binder
browser) are fetched by the kernel, without the token, through the same
policy and cache as a card's video (`display.video`). The interactive player
(`widgets.compare`) plays those bytes from Blob URLs; the static view here,
what a saved notebook or a text frontend keeps, inlines them as data URLs
under one budget for the whole view. No script: every value is escaped, and
only http(s) or our own data URLs reach a `src`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .._redact import clip
from ..i18n import Lang, check_lang, text
from ..media import SNIFF_BYTES, sniff
from ..validation import is_public_host
from .html import BOX, MUTED, esc, muted_html
from .video import MAX_EMBED_BYTES, fetch_for_embed, link_html, safe_http_url

if TYPE_CHECKING:
    from ..models import LipSyncTask

Role = Literal["source", "result"]
Kind = Literal["video", "image"]
DEFAULT_FPS = 25.0


def label_text(key: str, lang: Lang = "en", **values: object) -> str:
    """A Compare label (`compare_<key>` in `i18n.TEXTS`)."""
    return text(f"compare_{key}", lang, **values)


@dataclass(frozen=True)
class Tile:
    """One picture to compare; `data` is set when the kernel fetched the bytes."""

    role: Role
    kind: Kind
    label: str
    url: str | None = None
    data: bytes | None = None
    mime: str | None = None
    problem: str | None = None
    task_id: str | None = None

    @property
    def playable(self) -> bool:
        return self.problem is None and (self.data is not None or self.url is not None)


# --- what a task was made from ------------------------------------------------------
def _journal_entry(task: LipSyncTask) -> Any:
    """The journal's record of the task (its request, key, labels), or None."""
    try:  # a task bound to no client, or a client without a journal, raises here
        return task.client.history.get(task.task_id) if task.task_id else None
    except Exception:  # a view must never raise: without the record, we just know less
        return None


def task_source(task: LipSyncTask) -> tuple[Kind, str] | None:
    """The input a task was made from: the server's fields if it sends them, else the
    request this toolkit recorded when it created the task."""
    entry = _journal_entry(task)
    candidates = (
        ("video", task.raw.get("videoUrl")),
        ("image", task.raw.get("imageUrl")),
        ("video", getattr(entry, "video_url", None)),
        ("image", getattr(entry, "image_url", None)),
    )
    for kind, url in candidates:
        if isinstance(url, str) and url.strip():
            return ("video" if kind == "video" else "image"), url.strip()
    return None


def task_label(task: LipSyncTask) -> str:
    """A batch key, else the journal's labels, else the task id."""
    entry = _journal_entry(task)
    key = getattr(entry, "key", None)
    if isinstance(key, str) and key:
        return key
    labels = getattr(entry, "labels", None)
    if labels:
        return ", ".join(str(label) for label in labels)
    return task.task_id or "?"


# --- media -----------------------------------------------------------------------------
def _media_tile(
    owner: LipSyncTask,
    base: Tile,
    url: object,
    *,
    embed: bool | None,
    max_bytes: int,
    lang: Lang,
) -> Tile:
    safe = safe_http_url(url)
    if safe is None:
        return replace(base, problem=label_text("refused", lang))
    fetch_here = embed if embed is not None else not is_public_host(urlsplit(safe).hostname or "")
    if not fetch_here:
        return replace(base, url=safe)
    data, problem = fetch_for_embed(owner, safe, max_bytes, result=base.role == "result")
    if data is None:
        key = "too_large" if problem == "too large" else "unavailable"
        reason = f"> {max_bytes // (1024 * 1024)} MB" if key == "too_large" else problem
        return replace(base, url=safe, problem=label_text(key, lang, reason=reason or "unknown"))
    found = sniff(data[:SNIFF_BYTES])
    if found.kind != base.kind:
        return replace(base, url=safe, problem=label_text("not_kind", lang, kind=base.kind))
    return replace(base, url=safe, data=data, mime=found.content_type)


def resolve_tiles(
    tasks: Sequence[LipSyncTask],
    *,
    source: str | None = None,
    labels: Sequence[str] | None = None,
    show_source: bool | None = None,
    embed: bool | None = None,
    max_bytes: int = MAX_EMBED_BYTES,
    lang: str = "en",
) -> list[Tile]:
    """The input (when shown) then one tile per task, media fetched by the kernel when
    the browser may not reach them (`embed=None`), always (`True`) or never (`False`)."""
    language = check_lang(lang)
    if not tasks:
        raise ValueError("Compare needs at least one task")
    if labels is not None and len(labels) != len(tasks):
        raise ValueError(f"labels has {len(labels)} names for {len(tasks)} tasks")
    tiles: list[Tile] = []
    if show_source is None:
        show_source = len(tasks) == 1 or source is not None
    if show_source:
        tiles.append(_source_tile(tasks[0], source, embed, max_bytes, language))
    for index, task in enumerate(tasks):
        label = labels[index] if labels is not None else task_label(task)
        base = Tile("result", "video", clip(label, 120), task_id=task.task_id)
        if not task.result_video_url:
            status = task.error_message or task.status_text
            tiles.append(replace(base, problem=label_text("no_result", language, status=status)))
            continue
        tiles.append(
            _media_tile(
                task, base, task.result_video_url, embed=embed, max_bytes=max_bytes, lang=language
            )
        )
    return tiles


def _source_tile(
    task: LipSyncTask, source: str | None, embed: bool | None, max_bytes: int, lang: Lang
) -> Tile:
    if source is not None:
        kind: Kind = "image" if _looks_like_image(source) else "video"
        found: tuple[Kind, str] | None = (kind, source)
    else:
        found = task_source(task)
    if found is None:
        return Tile(
            "source", "video", label_text("source", lang), problem=label_text("no_source", lang)
        )
    kind, url = found
    base = Tile("source", kind, label_text("source", lang), task_id=task.task_id)
    return _media_tile(task, base, url, embed=embed, max_bytes=max_bytes, lang=lang)


def _looks_like_image(url: str) -> bool:
    try:
        path = urlsplit(url).path.lower()
    except ValueError:
        return False
    return path.endswith((".png", ".jpg", ".jpeg", ".webp", ".gif"))


# --- the static view -------------------------------------------------------------------
# Inline here (a saved page strips <style>); the player's stylesheet reuses them.
PLAYER_STYLE = f"{BOX};max-width:1000px"
GRID_STYLE = "display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start"
TILE_STYLE = "flex:1 1 280px;max-width:480px;min-width:220px"
LABEL_STYLE = "font-weight:600;margin-bottom:4px"
MEDIA_STYLE = "width:100%;border-radius:6px;background:#000;display:block"
PROBLEM_STYLE = "color:#7a4d00"


def caption_text(tile: Tile, lang: Lang) -> str:
    """ "Source", or "Result · <label>" (the static view's and the player's caption)."""
    role = label_text(tile.role, lang)
    return role if tile.role == "source" else f"{role} · {tile.label}"


def _tile_html(tile: Tile, inline: bool, lang: Lang) -> str:
    link = ""
    url = html.escape(tile.url, quote=True) if tile.url is not None else None
    if tile.url is not None:
        anchor = link_html(tile.url, label_text("open", lang))
        link = f'<div style="{MUTED};margin-top:4px">{anchor}</div>'
    if tile.problem is not None or (tile.data is not None and not inline):
        reason = tile.problem or label_text("over_budget", lang)
        body = f'<div class="kitta-compare-problem" style="{PROBLEM_STYLE}">{esc(reason)}</div>'
    elif tile.data is not None and tile.mime is not None:
        payload = base64.b64encode(tile.data).decode("ascii")
        body = _media_html(tile, f"data:{tile.mime};base64,{payload}")
    elif url is not None:
        body = _media_html(tile, url)
    else:
        body = ""
    return (
        f'<div class="kitta-compare-tile" data-role="{tile.role}" style="{TILE_STYLE}">'
        f'<div class="kitta-compare-label" style="{LABEL_STYLE}">'
        f"{esc(caption_text(tile, lang))}</div>{body}{link}</div>"
    )


def _media_html(tile: Tile, src: str) -> str:
    if tile.kind == "image":
        return f'<img src="{src}" alt="" style="{MEDIA_STYLE}">'
    muted = " muted" if tile.role == "source" else ""
    return f'<video src="{src}" controls preload="metadata"{muted} style="{MEDIA_STYLE}"></video>'


def compare_html(
    tiles: Sequence[Tile], *, lang: str = "en", max_embed_bytes: int = MAX_EMBED_BYTES
) -> str:
    """The tiles side by side, each with its own native controls; fetched bytes are
    inlined in order until `max_embed_bytes` (one output near 10 MB is dropped by Colab)."""
    language = check_lang(lang)
    left = max_embed_bytes
    parts = []
    for tile in tiles:
        inline = tile.data is not None and len(tile.data) <= left
        if inline and tile.data is not None:
            left -= len(tile.data)
        parts.append(_tile_html(tile, inline, language))
    return (
        f'<div class="kitta-compare" style="{PLAYER_STYLE}">'
        f'<div style="{GRID_STYLE}">{"".join(parts)}</div>'
        f"{muted_html(label_text('static_note', language), ';margin-top:6px')}"
        "</div>"
    )


def compare_text(tiles: Sequence[Tile], lang: str = "en") -> str:
    language = check_lang(lang)
    lines = [f"Compare: {len(tiles)} views"]
    for tile in tiles:
        where = tile.problem or clip(tile.url) or ""
        kept = f" ({len(tile.data)} bytes in the kernel)" if tile.data is not None else ""
        role = label_text(tile.role, language)
        lines.append(f"  {role}: {clip(tile.label)} [{tile.kind}] {where}{kept}".rstrip())
    return "\n".join(lines)


class StaticCompare:
    """The side-by-side view without a widget (a text console, nbconvert, a saved page).

    Takes the arguments of `resolve_tiles` (`source`, `labels`, `show_source`, `embed`),
    or `tiles` resolved already instead of `tasks`.
    """

    def __init__(
        self,
        *tasks: LipSyncTask,
        max_bytes: int = MAX_EMBED_BYTES,
        lang: str = "en",
        tiles: Sequence[Tile] | None = None,
        **options: Any,
    ) -> None:
        self.lang = check_lang(lang)
        self.max_bytes = max_bytes
        if tiles is None:
            tiles = resolve_tiles(tasks, max_bytes=max_bytes, lang=lang, **options)
        self.tiles = list(tiles)

    def to_html(self) -> str:
        return compare_html(self.tiles, lang=self.lang, max_embed_bytes=self.max_bytes)

    def __repr__(self) -> str:
        return compare_text(self.tiles, self.lang)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self.to_html()}
