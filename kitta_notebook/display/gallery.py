"""Views of many tasks: a gallery of task cards, a batch's summary, and a batch's progress.

Static HTML like the task card it reuses. A card names its task the way the caller
did (its batch key and labels). Videos the browser may not reach (the sandbox) are
embedded up to one budget for the whole gallery, since Colab drops an output near
10 MB. The progress bar has one segment per outcome, so a batch with failures never
looks all green.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..batch.progress import ProgressSnapshot, format_clock, progress_line
from ..batch.results import OUTCOME_STATUS
from ..i18n import STATUS_STYLES, Lang, check_lang, status_style, text
from ..models import LipSyncTask
from ..price import format_credits
from .html import (
    BOX,
    FONT,
    badge_html,
    bar_html,
    esc,
    format_seconds,
    grid_html,
    labels_html,
    more_html,
    muted_html,
    pill_html,
    row_html,
    task_html,
)
from .video import MAX_EMBED_BYTES, VideoPlan, fetch_for_embed, plan_video, render_video

if TYPE_CHECKING:
    from ..batch.results import BatchItem, BatchResult, ItemTags

    Tags = ItemTags | BatchItem

DEFAULT_MAX_CARDS = 60
MAX_PROBLEM_ROWS = 200
MAX_TASK_ROWS = 50


def tags_html(tags: Tags | None) -> str:
    """The key in bold, then each label as a small chip; empty without either."""
    if tags is None or (tags.key is None and not tags.labels):
        return ""
    key = ""
    if tags.key is not None:
        key = f'<b class="kitta-key" style="word-break:break-all">{esc(tags.key)}</b> '
    return (
        '<div class="kitta-tags" style="display:flex;gap:6px;flex-wrap:wrap;'
        f'align-items:center;margin:0 0 4px">{key}{labels_html(tags.labels)}</div>'
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


def _tags_text(tags: Tags | None) -> str:
    if tags is None:
        return ""
    names = ([tags.key] if tags.key is not None else []) + [f"[{x}]" for x in tags.labels]
    return "  " + " ".join(names) if names else ""


class Gallery:
    """Many tasks (or batch items, or a batch result) as a grid of cards; `tags` by task id."""

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

    def _videos(self) -> Callable[[LipSyncTask], str]:
        """Each card's video, inlined while the gallery's one byte budget lasts."""
        left = self.max_embed_bytes

        def video(task: LipSyncTask) -> str:
            nonlocal left
            plan = plan_video(task, self.embed)
            if plan.action != "embed" or plan.url is None:
                return render_video(plan, lang=self.lang)
            data, problem = fetch_for_embed(task, plan.url, left) if left > 0 else (None, None)
            if data is None and problem in (None, "too large"):  # past the budget: a link
                return render_video(VideoPlan("link", plan.url), lang=self.lang)
            left -= len(data or b"")
            return render_video(plan, data, problem, lang=self.lang, max_bytes=left)

        return video

    def to_html(self) -> str:
        """A wrapping grid of task cards (with their videos), then a count of any not shown."""
        lang, video = self.lang, self._videos()
        cards = [
            '<div class="kitta-gallery-card" style="flex:1 1 320px;max-width:500px;'
            f'min-width:280px">{tags_html(self.tags.get(task.task_id))}'
            f"{task_html(task, lang=lang, video=video(task))}</div>"
            for task in self.tasks[: max(0, self.max_cards)]
        ]
        footer = more_html(len(self.tasks) - len(cards), lang)
        if not self.tasks:
            body = muted_html(text("no_tasks", lang))
        else:
            body = (
                '<div style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">'
                f"{''.join(cards)}</div>"
            )
        return f'<div class="kitta-gallery" style="{FONT}">{body}{footer}</div>'

    def __repr__(self) -> str:
        lines = [f"{len(self.tasks)} tasks"]
        for task in self.tasks:
            result = f"  {task.result_video_url}" if task.result_video_url else ""
            error = f"  {task.error_code or ''} {task.error_message or ''}".rstrip()
            lines.append(
                f"  {task.task_id}{_tags_text(self.tags.get(task.task_id))}  "
                f"{task.status_text:<10}  {format_credits(task.credits_charged)}{result}"
                f"{error if task.failed else ''}"
            )
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self.to_html()}


# --- a batch's summary ----------------------------------------------------------------------


def outcome_badge(outcome: str, lang: Lang) -> str:
    """A batch outcome's pill, coloured like the task status it stands for."""
    style = status_style(OUTCOME_STATUS.get(outcome, "unknown"))
    return pill_html(text("batch_" + outcome, lang), style, "outcome", outcome)


def _counted(pill: str, count: int) -> str:
    return f'<span style="white-space:nowrap">{pill} <b>{count}</b></span>'


def _counts_line(counts: list[str], facts: list[str], style: str = "") -> str:
    """Pills with their counts, then the facts (escaped already) in grey, on one line."""
    return (
        f'<div style="{style}display:flex;gap:8px;flex-wrap:wrap;align-items:center">'
        f'{" ".join(counts)}<span style="color:#59636e">{" · ".join(facts)}</span></div>'
    )


def _item_row(item: BatchItem, lang: Lang) -> str:
    task = item.task
    task_cell = f"<code>{esc(task.task_id)}</code> {badge_html(task.status, lang)}" if task else "—"
    error = "—"
    if item.error is not None:
        error = (
            f'<span style="color:#7a1111"><b>{esc(type(item.error).__name__)}</b>: '
            f"{esc(item.error)}</span>"
        )
    outcome = outcome_badge(item.outcome, lang)
    return row_html((str(item.index), tags_html(item) or "—", outcome, task_cell, error))


def _items_table(items: Sequence[BatchItem], limit: int, lang: Lang) -> str:
    heads = [
        text(key, lang) for key in ("batch_index", "batch_key", "batch_outcome", "task", "error")
    ]
    rows = [_item_row(item, lang) for item in items[:limit]]
    return grid_html(heads, rows) + more_html(len(items) - limit, lang)


def batch_html(result: BatchResult, *, lang: Lang = "en") -> str:
    """Counts by outcome, credits and pace; every problem item; the first tasks."""
    counts = [
        _counted(outcome_badge(name, lang), n)
        for name, n in result.counts.items()
        if n or name == "created"
    ]
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
        _counts_line(counts, facts),
    ]
    problems = result.errors
    if problems:
        parts.append(
            f'<div style="margin-top:8px;font-weight:600;color:#7a1111">'
            f"{esc(text('batch_problems', lang, count=len(problems)))}</div>"
        )
        parts.append(_items_table(problems, MAX_PROBLEM_ROWS, lang))
        if result.unknown:
            parts.append(muted_html(text("batch_unknown_note", lang)))
    good = [item for item in result if item.error is None]
    if good:
        parts.append(
            f'<div style="margin-top:8px;font-weight:600">{esc(text("batch_tasks", lang))}</div>'
        )
        parts.append(_items_table(good, MAX_TASK_ROWS, lang))
    return f'<div class="kitta-batch" style="{BOX};max-width:900px">{"".join(parts)}</div>'


# --- a batch's progress --------------------------------------------------------------------
REDRAW_SECONDS = 0.25
"""A display update re-renders the output: a few a second are plenty."""
GOOD_COLOR = "#1f883d"
FAILED_COLOR = "#cf222e"
UNSURE_COLOR = "#8c959f"


def _count_html(name: str, count: int, lang: Lang) -> str:
    """A status (or batch outcome) pill and its count; the pills match the task cards'."""
    label = badge_html(name, lang) if name in STATUS_STYLES else outcome_badge(name, lang)
    return _counted(label, count)


def details_html(snapshot: ProgressSnapshot, lang: Lang = "en") -> str:
    """Counts, credits, elapsed and ETA as one escaped HTML line."""
    counts = [_count_html(name, n, lang) for name, n in snapshot.counts.items()]
    facts = [
        f"{esc(text('credits', lang))}: {esc(format_credits(snapshot.credits))}",
        f"{esc(text('elapsed', lang))}: {esc(format_clock(snapshot.elapsed))}",
    ]
    if not snapshot.finished:
        facts.append(f"{esc(text('batch_eta', lang))}: {format_clock(snapshot.eta)}")
    if snapshot.note:
        facts.append(esc(snapshot.note))
    return _counts_line(counts, facts, f"{FONT};font-size:13px;")


def progress_html(snapshot: ProgressSnapshot, lang: Lang = "en") -> str:
    """The whole progress view as static HTML (no widget, no script); the bar has a green,
    a red and a grey segment sized by outcome."""
    outcomes = (
        ("good", snapshot.good, GOOD_COLOR),
        ("failed", snapshot.failed, FAILED_COLOR),
        ("unsure", snapshot.unsure, UNSURE_COLOR),
    )
    segments = [(f' class="kitta-bar-{n}" data-count="{c}"', c, color) for n, c, color in outcomes]
    return (
        f'<div class="kitta-progress" style="{FONT};border:1px solid #d0d7de;border-radius:8px;'
        'padding:8px 12px;max-width:720px;background:#fff;color:#1f2328">'
        f'<div style="font-weight:600;margin-bottom:4px">{esc(snapshot.title)} — '
        f"{snapshot.done}/{snapshot.total}</div>"
        f"{bar_html(segments, snapshot.total, 'kitta-bar')}{details_html(snapshot, lang)}</div>"
    )


def progress_bundle(snapshot: ProgressSnapshot, lang: Lang = "en") -> dict[str, str]:
    return {"text/html": progress_html(snapshot, lang), "text/plain": progress_line(snapshot)}


class HtmlProgress:
    """Progress in a notebook without widgets: one output, redrawn in place; its last
    state is the static HTML (the widget's subclass redraws a widget meanwhile)."""

    redraw_seconds = REDRAW_SECONDS

    def __init__(self, *, title: str, total: int, lang: Lang = "en") -> None:
        self.lang = lang
        self._handle: Any = self._show(ProgressSnapshot(title, 0, total, {}, None, 0.0, None))
        self._last = time.monotonic()
        self._closed = False

    def _show(self, first: ProgressSnapshot) -> Any:
        from IPython.display import display

        return display(progress_bundle(first, self.lang), raw=True, display_id=True)

    def _draw(self, snapshot: ProgressSnapshot) -> None:
        self._handle.update(progress_bundle(snapshot, self.lang), raw=True)

    def update(self, snapshot: ProgressSnapshot) -> None:
        now = time.monotonic()
        if self._closed or now - self._last < self.redraw_seconds:
            return
        self._last = now
        self._draw(snapshot)

    def close(self, snapshot: ProgressSnapshot) -> None:
        if self._closed:
            return
        self._closed = True
        if self._handle is not None:  # None outside IPython
            self._handle.update(progress_bundle(snapshot, self.lang), raw=True)
