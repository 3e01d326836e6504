"""Static HTML of history rows, state badges and the summary strip.

Shared by `client.history`'s rich repr and the `HistoryBrowser` widget, so a
saved notebook and the live widget read the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..history import entry as schema

# Re-exported: the widgets read history rows through this view, never the storage.
from ..history.entry import STATES as STATES
from ..history.entry import JournalEntry as JournalEntry
from ..history.entry import JournalSummary as JournalSummary
from ..i18n import STATUS_STYLES, Lang, StatusStyle, status_label, text
from ..price import format_credits
from ..validation import URL_FIELDS  # the media a request names, in its order
from .html import (
    BOX,
    CARD,
    FONT,
    badge_html,
    bar_html,
    esc,
    format_time,
    labels_html,
    muted_html,
    pill_html,
    table_html,
)

# Badges for what became of a request that has no task (yet): not server statuses.
LOCAL_STATE_STYLES: dict[str, StatusStyle] = {
    schema.STATE_OUTCOME_UNKNOWN: StatusStyle(
        "outcome unknown", "结果未知", "#8a3b00", "#ffe8cc", "⚠"
    ),
    schema.STATE_REJECTED: StatusStyle("rejected", "已拒绝", "#555555", "#eeeeee", "⊘"),
    schema.STATE_NOT_CREATED: StatusStyle("not created", "未创建", "#555555", "#f3f3f3", "○"),
}

# Column widths shared by the static table and the widget's header and rows.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("history_status", "150px"),
    ("history_task", "190px"),
    ("history_mode", "60px"),
    ("history_model", "140px"),
    ("history_created", "130px"),
    ("history_creator", "90px"),
    ("history_duration", "70px"),
    ("history_credits", "70px"),
    ("history_labels", "150px"),
)


def state_style(state: str) -> StatusStyle:
    return LOCAL_STATE_STYLES.get(state) or STATUS_STYLES.get(state) or STATUS_STYLES["unknown"]


def state_label(state: str, lang: Lang = "en") -> str:
    local = LOCAL_STATE_STYLES.get(state)
    if local is None:
        return status_label(state, lang)
    return local.zh if lang == "zh" else local.en


def state_badge(state: str, lang: Lang = "en") -> str:
    """A coloured pill for a journal state (server statuses reuse the task card's badge)."""
    if state not in LOCAL_STATE_STYLES:
        return badge_html(state if state != schema.STATE_UNKNOWN_STATUS else None, lang)
    style = state_style(state)
    return pill_html(f"{style.icon} {state_label(state, lang)}", style, "status", state)


def format_when(entry: JournalEntry) -> str:
    """The card's UTC time, to the minute."""
    return format_time(entry.when)[:16]


def format_duration(entry: JournalEntry) -> str:
    if entry.duration_seconds is None:
        return "—"
    return f"{round(entry.duration_seconds, 2):g} s"


def creator_text(entry: JournalEntry, lang: Lang = "en") -> str:
    """Who created it; a task seen only on the server (or an older entry) says not known."""
    return entry.creator or text("history_creator_unknown", lang)


def cell(content: str, width: str, *, title: str = "", style: str = "") -> str:
    """One clipped cell; `title` (plain text) shows the whole of it on hover."""
    hover = f' title="{esc(title)}"' if title else ""
    return (
        f'<span{hover} style="display:inline-block;width:{width};overflow:hidden;'
        f'text-overflow:ellipsis;white-space:nowrap;vertical-align:middle;{style}">'
        f"{content}</span>"
    )


def cells_html(
    cells: Sequence[str], titles: Sequence[str] = (), *, first: int = 0, style: str = ""
) -> str:
    """Clipped cells of `COLUMNS` from column `first` on (each `titles` shows on hover)."""
    hovers = titles or [""] * len(cells)
    columns = COLUMNS[first:]
    return "".join(
        cell(content, width, title=title, style=style)
        for content, title, (_, width) in zip(cells, hovers, columns, strict=True)
    )


def head_cells(lang: Lang = "en") -> list[str]:
    """The column names, bold, in `COLUMNS` order."""
    return [f"<b>{esc(text(key, lang))}</b>" for key, _ in COLUMNS]


def row_titles(entry: JournalEntry, lang: Lang = "en") -> list[str]:
    """The plain text of each column of a row (a clipped cell's tooltip), in `COLUMNS` order."""
    return [
        state_label(entry.state, lang),
        entry.task_id or "",
        entry.input_mode or "",
        entry.model or "",
        format_when(entry),
        creator_text(entry, lang),
        format_duration(entry),
        format_credits(entry.credits),
        ", ".join(entry.labels),
    ]


def row_cells(entry: JournalEntry, lang: Lang = "en") -> list[str]:
    """The escaped HTML of each column of a row, in `COLUMNS` order."""
    task = esc(entry.task_id) if entry.task_id else "<i>—</i>"
    if entry.from_server:
        elsewhere = esc(text("history_from_server", lang))
        task += f' <span style="color:#59636e;font-size:11px">({elsewhere})</span>'
    return [
        state_badge(entry.state, lang),
        task,
        esc(entry.input_mode or "—"),
        esc(entry.model or "—"),
        esc(format_when(entry)),
        esc(entry.creator) if entry.creator else f"<i>{esc(creator_text(entry, lang))}</i>",
        esc(format_duration(entry)),
        esc(format_credits(entry.credits)),
        labels_html(entry.labels),
    ]


def summary_html(summary: JournalSummary, lang: Lang = "en") -> str:
    """Counts by state as proportional CSS bars, and the credits charged."""
    head = f'<div class="kitta-history-summary" style="{FONT};font-size:12px;color:#1f2328">'
    if summary.more:  # a capped count: no part shown as if it were the whole
        count = text("history_count_more", lang, count=f"{summary.total:,}")
        hint = text("history_count_more_hint", lang)
        more = f'<span class="kitta-count-more">{esc(hint)}</span>'
        return f"{head}<div><b>{esc(count)}</b> · {more}</div></div>"
    segments: list[tuple[str, int, str]] = []
    legend: list[str] = []
    ordered = [s for s in STATES if summary.counts.get(s)] + sorted(
        s for s in summary.counts if s not in STATES
    )
    for state in ordered:
        number, color = summary.counts[state], state_style(state).color
        label = esc(state_label(state, lang))
        segments.append((f' title="{label}: {number}"', number, color))
        legend.append(
            f'<span class="kitta-count" data-status="{esc(state)}" style="margin-right:12px;'
            f'white-space:nowrap"><span style="display:inline-block;width:9px;height:9px;'
            f'border-radius:2px;background:{color};margin-right:4px"></span>'
            f"{label} <b>{number}</b></span>"
        )
    credits = text("history_credits_total", lang, credits=format_credits(_int(summary.credits)))
    key = "history_count_one" if summary.total == 1 else "history_count"
    count = text(key, lang, count=summary.total)
    bar = bar_html(segments, summary.total, "kitta-history-bar")
    return (
        f'{head}<div><b>{esc(count)}</b> · <span class="kitta-credits">{esc(credits)}</span></div>'
        f"{bar}<div>{''.join(legend)}</div></div>"
    )


def _int(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def history_html(
    entries: Sequence[JournalEntry], summary: JournalSummary, lang: Lang = "en"
) -> str:
    """A static snapshot: the summary strip and the first rows (for `client.history`)."""
    if entries:
        rows = "".join(
            f'<div class="kitta-history-row" data-status="{esc(e.state)}" '
            f'style="padding:2px 0;border-top:1px solid #eef1f5">'
            f"{cells_html(row_cells(e, lang), row_titles(e, lang))}</div>"
            for e in entries
        )
    else:
        rows = muted_html(text("history_empty", lang))
    return (
        f'<div class="kitta-history" style="{BOX};overflow-x:auto">'
        '<div style="font-weight:600;margin-bottom:4px">'
        f"{esc(text('history_title', lang))}</div>{summary_html(summary, lang)}"
        f'<div style="margin-top:6px;white-space:nowrap">{cells_html(head_cells(lang))}</div>'
        f'<div style="white-space:nowrap">{rows}</div></div>'
    )


def history_text(entries: Sequence[JournalEntry], summary: JournalSummary) -> str:
    credits = f"credits charged {format_credits(_int(summary.credits))}"
    head = (
        f"more than {summary.total} entries"
        if summary.more
        else f"{summary.total} entries, {credits}"
    )
    lines = [f"Task history: {head}"]
    for e in entries:
        lines.append(
            f"  {e.state:<16} {e.task_id or '-':<24} {e.input_mode or '-':<5} "
            f"{format_when(e):<16} {format_credits(e.credits):>8}"
            + (f"  [{', '.join(e.labels)}]" if e.labels else "")
        )
    return "\n".join(lines)


def history_mimebundle(entries: Sequence[JournalEntry], summary: JournalSummary) -> dict[str, str]:
    """`client.history` in a cell: the summary strip and the first rows."""
    html = history_html(entries, summary)
    return {"text/plain": history_text(entries, summary), "text/html": html}


def entry_card_html(entry: JournalEntry, lang: Lang = "en") -> str:
    """The card of an entry without a task: what was sent and what became of it."""
    pairs: list[tuple[str, str]] = []
    for label, value in (
        ("history_model", entry.model),
        ("history_mode", entry.input_mode),
        ("history_requested", format_when(entry)),
        ("history_creator", creator_text(entry, lang)),
        ("history_duration", format_duration(entry) if entry.duration_seconds else None),
    ):
        if value:
            pairs.append((text(label, lang), esc(value)))
    for name in URL_FIELDS:
        value = getattr(entry, name)
        if value:
            pairs.append((name, f"<code>{esc(value)}</code>"))
    if entry.outcome_error:
        pairs.append((text("history_outcome_error", lang), esc(entry.outcome_error)))
    if entry.labels:
        pairs.append((text("history_labels", lang), labels_html(entry.labels)))
    note = ""
    if entry.state in LOCAL_STATE_STYLES:  # what became of it: "history_note_rejected", ...
        note = (
            f'<div class="kitta-note" style="margin:6px 0;padding:6px 10px;border-radius:6px;'
            f'background:#fff4e5;color:#5c3b00">{esc(text("history_note_" + entry.state, lang))}'
            "</div>"
        )
    return (
        f'<div class="kitta-task kitta-entry" style="{CARD}">{state_badge(entry.state, lang)} '
        f'<b style="margin-left:6px">{esc(text("history_sent", lang))}</b>{note}'
        f"{table_html((esc(k), v) for k, v in pairs)}</div>"
    )


def extra_facts_html(entry: JournalEntry, lang: Lang = "en") -> str:
    """Lines under a task card: who created it, inputs sent from here, labels, where it
    was downloaded."""
    parts = [
        f"<div><b>{esc(text('history_creator', lang))}</b> {esc(creator_text(entry, lang))}</div>"
    ]
    urls = [
        f"{name}: <code>{esc(getattr(entry, name))}</code>"
        for name in URL_FIELDS
        if getattr(entry, name)
    ]
    if urls:
        parts.append(
            f"<div><b>{esc(text('history_sent', lang))}</b><br>" + "<br>".join(urls) + "</div>"
        )
    if entry.labels:
        parts.append(
            f"<div><b>{esc(text('history_labels', lang))}</b> {labels_html(entry.labels)}</div>"
        )
    if entry.download_path:
        parts.append(
            f"<div><b>{esc(text('history_downloaded_to', lang))}</b> "
            f"<code>{esc(entry.download_path)}</code></div>"
        )
    return (
        f'<div class="kitta-entry-facts" style="{FONT};font-size:12px;color:#1f2328;'
        f'max-width:720px;margin-top:6px;word-break:break-all">{"".join(parts)}</div>'
    )
