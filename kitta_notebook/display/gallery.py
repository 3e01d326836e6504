"""Static views of many tasks: a gallery of task cards, and a batch's summary.

Static HTML with inline styles (no script), like the single-task card it
reuses, so a saved notebook shows the same thing everywhere. Every value
passes through `html.escape`. A card names its task the way the caller did
(its batch key and labels) when they are known. Videos the browser may not reach (the sandbox)
are embedded up to one budget for the whole gallery, since a notebook output
near 10 MB is dropped by Colab; past it, cards link to their video.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from ..batch.results import OUTCOME_STATUS
from ..i18n import Lang, check_lang, text
from ..models import LipSyncTask
from .html import badge_html, format_credits, format_seconds, task_html
from .video import MAX_EMBED_BYTES, VideoPlan, fetch_for_embed, plan_video, render_video

DEFAULT_MAX_CARDS = 60
MAX_PROBLEM_ROWS = 200
MAX_TASK_ROWS = 50
_FONT = "font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif"
_BOX = (
    f"{_FONT};border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;background:#fff;"
    "color:#1f2328;font-size:13px;line-height:1.45"
)
_CELL = "padding:2px 10px 2px 0;vertical-align:top;text-align:left"
_MUTED = "color:#59636e;font-size:12px"


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# The shapes these views read, so display depends on no batch module (batch imports display).
class Tags(Protocol):
    """A task's names as the caller gave them (`kitta_notebook.batch.ItemTags`)."""

    @property
    def key(self) -> str | None: ...
    @property
    def labels(self) -> tuple[str, ...]: ...


class Item(Tags, Protocol):
    """One batch item (`kitta_notebook.batch.BatchItem`)."""

    @property
    def index(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def task(self) -> LipSyncTask | None: ...
    @property
    def error(self) -> Exception | None: ...


class Summary(Protocol):
    """A batch's result (`kitta_notebook.batch.BatchResult`)."""

    elapsed: float
    rate_limited: int
    paused_seconds: float

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Item]: ...
    @property
    def counts(self) -> dict[str, int]: ...
    @property
    def credits(self) -> int | float: ...
    @property
    def errors(self) -> Sequence[Item]: ...
    @property
    def unknown(self) -> Sequence[Item]: ...


def tags_html(tags: Tags | None) -> str:
    """The key in bold, then each label as a small chip; empty without either."""
    if tags is None or (tags.key is None and not tags.labels):
        return ""
    parts = []
    if tags.key is not None:
        parts.append(f'<b class="kitta-key" style="word-break:break-all">{esc(tags.key)}</b>')
    parts += [
        f'<span class="kitta-label" style="display:inline-block;padding:0 8px;'
        f'border-radius:999px;background:#ddf4ff;color:#0a3069;font-size:12px">{esc(label)}</span>'
        for label in tags.labels
    ]
    return (
        '<div class="kitta-tags" style="display:flex;gap:6px;flex-wrap:wrap;'
        f'align-items:center;margin:0 0 4px">{" ".join(parts)}</div>'
    )


def split_items(
    entries: Iterable[object], tags: Mapping[str, Tags] | None = None
) -> tuple[list[LipSyncTask], dict[str, Tags]]:
    """Tasks and their tags from tasks, batch items or a batch result (items without a
    task are left out: they have nothing to show as a card)."""
    found: dict[str, Tags] = dict(tags or {})
    tasks: list[LipSyncTask] = []
    for entry in entries:
        if isinstance(entry, LipSyncTask):
            tasks.append(entry)
            continue
        task = getattr(entry, "task", None)
        if isinstance(task, LipSyncTask):
            tasks.append(task)
            if getattr(entry, "key", None) is not None or getattr(entry, "labels", None):
                found.setdefault(task.task_id, entry)  # type: ignore[arg-type]
        elif task is None and hasattr(entry, "outcome"):
            continue
        else:
            raise TypeError(f"a gallery shows tasks or batch items, not {type(entry).__name__}")
    return tasks, found


class _EmbedBudget:
    """Bytes of video the whole gallery may still inline."""

    def __init__(self, total: int) -> None:
        self.left = total

    def video(self, task: LipSyncTask, embed: bool | None, lang: Lang) -> str:
        plan = plan_video(task, embed)
        if plan.action != "embed" or plan.url is None:
            return render_video(plan, lang=lang)
        if self.left <= 0:
            return render_video(VideoPlan("link", plan.url), lang=lang)
        data, problem = fetch_for_embed(task, plan.url, self.left)
        if data is None and problem == "too large":
            return render_video(VideoPlan("link", plan.url), lang=lang)
        if data is not None and len(data) > self.left:  # a cached video bigger than the rest
            return render_video(VideoPlan("link", plan.url), lang=lang)
        if data is not None:
            self.left -= len(data)
        return render_video(plan, data, problem, lang=lang, max_bytes=self.left)


def gallery_html(
    tasks: Iterable[object],
    *,
    lang: Lang = "en",
    embed: bool | None = None,
    max_cards: int = DEFAULT_MAX_CARDS,
    max_embed_bytes: int = MAX_EMBED_BYTES,
    tags: Mapping[str, Tags] | None = None,
) -> str:
    """A wrapping grid of task cards (with their videos), then a count of any not shown.

    `tasks` may also be batch items or a batch result; `tags` names tasks by id.
    """
    items, found = split_items(tasks, tags)
    budget = _EmbedBudget(max_embed_bytes)
    cards = [
        '<div class="kitta-gallery-card" style="flex:1 1 320px;max-width:500px;min-width:280px">'
        f"{tags_html(found.get(task.task_id))}"
        f"{task_html(task, lang=lang, video=budget.video(task, embed, lang))}</div>"
        for task in items[: max(0, max_cards)]
    ]
    hidden = len(items) - len(cards)
    footer = ""
    if hidden > 0:
        footer = (
            f'<div style="{_MUTED};margin-top:6px">'
            f"{esc(text('gallery_more', lang, count=hidden))}</div>"
        )
    if not items:
        body = f'<div style="{_MUTED}">{esc(text("no_tasks", lang))}</div>'
    else:
        body = (
            '<div style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">'
            f"{''.join(cards)}</div>"
        )
    return f'<div class="kitta-gallery" style="{_FONT}">{body}{footer}</div>'


def _tags_text(tags: Tags | None) -> str:
    if tags is None:
        return ""
    names = ([tags.key] if tags.key is not None else []) + [f"[{x}]" for x in tags.labels]
    return "  " + " ".join(names) if names else ""


def gallery_text(tasks: Iterable[object], tags: Mapping[str, Tags] | None = None) -> str:
    items, found = split_items(tasks, tags)
    lines = [f"{len(items)} tasks"]
    for task in items:
        result = f"  {task.result_video_url}" if task.result_video_url else ""
        error = f"  {task.error_code or ''} {task.error_message or ''}".rstrip()
        lines.append(
            f"  {task.task_id}{_tags_text(found.get(task.task_id))}  {task.status_text:<10}  "
            f"{format_credits(task.credits_charged)}{result}{error if task.failed else ''}"
        )
    return "\n".join(lines)


class Gallery:
    """Many tasks as a grid of cards in a notebook (text elsewhere)."""

    def __init__(
        self,
        tasks: Iterable[object],
        *,
        lang: str = "en",
        embed: bool | None = None,
        max_cards: int = DEFAULT_MAX_CARDS,
        max_embed_bytes: int = MAX_EMBED_BYTES,
        tags: Mapping[str, Tags] | None = None,
    ) -> None:
        tasks_found, self.tags = split_items(tasks, tags)
        self.tasks: Sequence[LipSyncTask] = tasks_found
        self.lang = check_lang(lang)
        self.embed = embed
        self.max_cards = max_cards
        self.max_embed_bytes = max_embed_bytes

    def to_html(self) -> str:
        return gallery_html(
            self.tasks,
            lang=self.lang,
            embed=self.embed,
            max_cards=self.max_cards,
            max_embed_bytes=self.max_embed_bytes,
            tags=self.tags,
        )

    def __repr__(self) -> str:
        return gallery_text(self.tasks, self.tags)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        return {"text/plain": gallery_text(self.tasks, self.tags), "text/html": self.to_html()}


# --- a batch's summary ----------------------------------------------------------------------


def _outcome_badge(outcome: str, lang: Lang) -> str:
    from ..i18n import status_style

    style = status_style(OUTCOME_STATUS.get(outcome, "unknown"))
    return (
        f'<span class="kitta-badge" data-outcome="{esc(outcome)}" style="display:inline-block;'
        f"padding:1px 10px;border-radius:999px;font-weight:600;font-size:12px;"
        f'color:{style.color};background:{style.background}">'
        f"{esc(text('batch_' + outcome, lang))}</span>"
    )


def _item_row(item: Item, lang: Lang) -> str:
    task = item.task
    task_cell = f"<code>{esc(task.task_id)}</code> {badge_html(task.status, lang)}" if task else "—"
    error = "—"
    if item.error is not None:
        error = (
            f'<span style="color:#7a1111"><b>{esc(type(item.error).__name__)}</b>: '
            f"{esc(item.error)}</span>"
        )
    return (
        f"<tr><td style='{_CELL}'>{item.index}</td>"
        f"<td style='{_CELL}'>{tags_html(item) or '—'}</td>"
        f"<td style='{_CELL}'>{_outcome_badge(item.outcome, lang)}</td>"
        f"<td style='{_CELL}'>{task_cell}</td>"
        f"<td style='{_CELL}'>{error}</td></tr>"
    )


def _items_table(items: Sequence[Item], limit: int, lang: Lang) -> str:
    head = "".join(
        f'<th style="{_CELL};border-bottom:1px solid #d0d7de">{esc(text(key, lang))}</th>'
        for key in ("batch_index", "batch_key", "batch_outcome", "task", "error")
    )
    rows = "".join(_item_row(item, lang) for item in items[:limit])
    more = ""
    if len(items) > limit:
        hidden = text("gallery_more", lang, count=len(items) - limit)
        more = f'<div style="{_MUTED}">{esc(hidden)}</div>'
    return (
        f'<table style="border-collapse:collapse;margin:4px 0"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>{more}"
    )


def batch_html(result: Summary, *, lang: Lang = "en") -> str:
    """Counts by outcome, credits and pace; every problem item; the first tasks."""
    counts = " ".join(
        f'<span style="white-space:nowrap">{_outcome_badge(name, lang)} <b>{n}</b></span>'
        for name, n in result.counts.items()
        if n or name == "created"
    )
    facts = [
        f"{esc(text('credits', lang))}: {esc(format_credits(result.credits))}",
        f"{esc(text('elapsed', lang))}: {esc(format_seconds(result.elapsed))}",
    ]
    if result.rate_limited:
        facts.append(
            esc(
                text(
                    "batch_rate_limited",
                    lang,
                    count=result.rate_limited,
                    seconds=f"{result.paused_seconds:.1f}",
                )
            )
        )
    parts = [
        f'<div style="font-weight:600;margin-bottom:4px">'
        f"{esc(text('batch_title', lang, count=len(result)))}</div>",
        f'<div style="display:flex;gap:8px;flex-wrap:wrap;align-items:center">{counts}'
        f'<span style="color:#59636e">{" · ".join(facts)}</span></div>',
    ]
    problems = result.errors
    if problems:
        parts.append(
            f'<div style="margin-top:8px;font-weight:600;color:#7a1111">'
            f"{esc(text('batch_problems', lang, count=len(problems)))}</div>"
        )
        parts.append(_items_table(problems, MAX_PROBLEM_ROWS, lang))
        if result.unknown:
            parts.append(f'<div style="{_MUTED}">{esc(text("batch_unknown_note", lang))}</div>')
    good = [item for item in result if item.error is None]
    if good:
        parts.append(
            f'<div style="margin-top:8px;font-weight:600">{esc(text("batch_tasks", lang))}</div>'
        )
        parts.append(_items_table(good, MAX_TASK_ROWS, lang))
    return f'<div class="kitta-batch" style="{_BOX};max-width:900px">{"".join(parts)}</div>'
