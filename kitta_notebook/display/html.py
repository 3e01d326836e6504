"""Static HTML (inline CSS, no JavaScript) and plain-text views of tasks and pages.

Static so a saved notebook shows the same thing on GitHub, nbviewer and in
an untrusted notebook. Every value a server or a user supplied passes through
`html.escape`; only http(s) URLs (and our own `data:video/mp4`) reach a
`src` or `href`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .._redact import clip
from ..i18n import Lang, StatusStyle, status_label, status_style, text
from ..price import format_credits
from .video import link_html, safe_http_url, video_html

if TYPE_CHECKING:
    from ..models import LipSyncTask, Page

# The styles every view shares (inline: a saved or untrusted notebook strips <style>).
FONT = "font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif"
BOX = (
    f"{FONT};border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;"
    "background:#fff;color:#1f2328;line-height:1.45;font-size:13px"
)
CARD = f"{BOX};max-width:720px"
CELL = "padding:2px 12px 2px 0;vertical-align:top;text-align:left;background:transparent"
MUTED = "color:#59636e;font-size:12px"
HEAD = f"text-align:left;{CELL};border-bottom:1px solid #d0d7de"
_KEY = f"{CELL};color:#59636e;white-space:nowrap"
_VALUE = f"{CELL};word-break:break-all"


# Exported by VS Code's processes, so inherited by the kernels its Jupyter extension starts.
VSCODE_ENV_VARS = ("VSCODE_PID", "VSCODE_CWD")


def in_vscode(environ: Mapping[str, str] | None = None) -> bool:
    """A guess that this kernel runs under VS Code: it has `VSCODE_PID` or `VSCODE_CWD`.

    Only a guess. A Jupyter server started from VS Code's terminal passes them on
    too (the note then shows in a browser, needlessly), and a kernel VS Code uses
    on a remote Jupyter server has neither (the note is then missing).
    """
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in VSCODE_ENV_VARS)


def vscode_note_html(lang: Lang = "en") -> str:
    """The line shown next to a video when VS Code is detected (see `in_vscode`)."""
    return (
        f'<div class="kitta-vscode-note" style="color:#7a4d00;font-size:12px;margin-top:4px">'
        f"{esc(text('vscode_audio_note', lang))}</div>"
    )


# The contract's largest page; a server sending more still gets a bounded table.
MAX_PAGE_ROWS = 100


def esc(value: object) -> str:
    return html.escape(clip(value), quote=True)


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    try:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError):  # e.g. year 1 at +14:00: not representable in UTC
        return moment.isoformat()


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def pill_html(label: str, style: StatusStyle, attribute: str, value: object) -> str:
    """A coloured pill (`label` escaped here) with `data-<attribute>="<value>"`."""
    return (
        f'<span class="kitta-badge" data-{attribute}="{esc(value)}" '
        f'style="display:inline-block;white-space:nowrap;padding:1px 10px;border-radius:999px;'
        f'font-weight:600;font-size:12px;color:{style.color};background:{style.background}">'
        f"{esc(label)}</span>"
    )


def badge_html(status: object, lang: Lang = "en") -> str:
    """A coloured status pill."""
    style = status_style(status)
    label = f"{style.icon} {status_label(status, lang)}"
    return pill_html(label, style, "status", status if status is not None else "unknown")


def labels_html(labels: Iterable[str]) -> str:
    """A task's labels (a batch's language, a take) as small chips."""
    return " ".join(
        '<span class="kitta-label" style="display:inline-block;padding:0 6px;margin:1px;'
        f'border-radius:4px;background:#eef1f5;color:#24292f;font-size:11px">{esc(x)}</span>'
        for x in labels
    )


def bar_html(segments: Iterable[tuple[str, int, str]], total: int, css_class: str) -> str:
    """A bar of coloured segments, each as wide as its share of `total`: (attributes,
    count, colour) each, `attributes` ready HTML (escaped by the caller); empty ones left out."""
    cells = "".join(
        f'<div{attributes} style="background:{color};height:8px;'
        f'width:{min(100.0, 100.0 * count / max(total, 1)):.1f}%"></div>'
        for attributes, count, color in segments
        if count > 0
    )
    return (
        f'<div class="{css_class}" style="display:flex;overflow:hidden;background:#eaeef2;'
        f'border-radius:4px;height:8px;margin:4px 0 6px;max-width:720px">{cells}</div>'
    )


def muted_html(message: str, style: str = "") -> str:
    """A grey line of plain text (escaped here), e.g. a note under a table."""
    return f'<div style="{MUTED}{style}">{esc(message)}</div>'


def more_html(hidden: int, lang: Lang) -> str:
    """The line under a list cut short: "… and N more" ("" when nothing was left out)."""
    return muted_html(text("gallery_more", lang, count=f"{hidden:,}")) if hidden > 0 else ""


def grid_html(heads: Iterable[str], rows: Iterable[str], head_style: str = HEAD) -> str:
    """A table that scrolls sideways: `heads` are plain text, `rows` ready `<tr>` HTML."""
    head = "".join(f'<th style="{head_style}">{esc(h)}</th>' for h in heads)
    return (
        '<div style="overflow-x:auto"><table style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def row_html(cells: Iterable[str]) -> str:
    """A table row of HTML cells (escaped by the caller)."""
    return "<tr>" + "".join(f"<td style='{CELL}'>{cell}</td>" for cell in cells) + "</tr>"


def table_html(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of (escaped name, HTML value) pairs."""
    rows = "".join(
        f'<tr><td style="{_KEY}">{key}</td><td style="{_VALUE}">{value}</td></tr>'
        for key, value in pairs
    )
    return f'<table style="border-collapse:collapse;margin:2px 0 6px">{rows}</table>'


def facts_html(task: LipSyncTask, lang: Lang = "en") -> str:
    """The facts of a task as a table (model, mode, credits, times): the card's body."""
    facts = [
        ("model", task.model),
        ("input_mode", task.input_mode),
        ("credits", format_credits(task.credits_charged)),
    ]
    if not task.is_partial:
        facts += [
            ("created", format_time(task.created_at)),
            ("started", format_time(task.started_at)),
            ("completed", format_time(task.completed_at)),
            ("elapsed", format_seconds(task.elapsed_seconds)),
        ]
    return table_html((esc(text(key, lang)), esc(v)) for key, v in facts if v is not None)


def error_html(task: LipSyncTask, lang: Lang = "en") -> str:
    """The task's error code and message in red ("" without an error)."""
    if not (task.error_code or task.error_message):
        return ""
    return (
        '<div class="kitta-error" style="background:#fde2e2;color:#7a1111;border-radius:6px;'
        'padding:6px 10px;margin:4px 0">'
        f"<b>{esc(text('error', lang))}</b> "
        f"<code>{esc(task.error_code or '')}</code> {esc(task.error_message or '')}</div>"
    )


def task_html(
    task: LipSyncTask,
    *,
    lang: Lang = "en",
    video: str | None = None,
    note: str | None = None,
    embed: bool | None = None,
) -> str:
    """A task card. `video` is a pre-rendered video block (fetched when None);
    `note` is a line of live status (escaped here)."""
    header = (
        f'<div style="display:flex;align-items:center;gap:10px;flex-wrap:wrap;margin-bottom:6px">'
        f"{badge_html(task.status, lang)}"
        f'<code style="font-size:13px">{esc(task.task_id)}</code>'
        f"</div>"
    )
    parts = [header, facts_html(task, lang), error_html(task, lang)]
    if task.is_partial:
        parts.append(muted_html(text("partial_note", lang)))
    if note:
        parts.append(
            f'<div class="kitta-note" style="color:#59636e;margin:4px 0">{esc(note)}</div>'
        )
    block = video if video is not None else video_html(task, embed=embed, lang=lang)
    if block:
        if "<video" in block and in_vscode():
            block += vscode_note_html(lang)
        parts.append(f'<div style="margin-top:6px">{block}</div>')
    return f'<div class="kitta-task" style="{CARD}">{"".join(parts)}</div>'


def task_text(task: LipSyncTask) -> str:
    """A readable plain-text summary (the `text/plain` of a task)."""
    lines = [f"LipSyncTask {clip(task.task_id)} — {clip(task.status_text)}"]
    facts = [
        f"model: {clip(task.model)}" if task.model else "",
        f"mode: {clip(task.input_mode)}" if task.input_mode else "",
        f"credits: {format_credits(task.credits_charged)}",
    ]
    lines.append("  " + "   ".join(f for f in facts if f))
    if not task.is_partial:
        lines.append(
            f"  created: {format_time(task.created_at)}   "
            f"elapsed: {format_seconds(task.elapsed_seconds)}"
        )
    if task.error_code or task.error_message:
        error = f"{clip(task.error_code or '')} {clip(task.error_message or '')}"
        lines.append(f"  error: {error}".rstrip())
    if task.result_video_url:
        lines.append(f"  result: {clip(task.result_video_url)}")
    return "\n".join(lines)


def task_mimebundle(task: LipSyncTask) -> dict[str, str]:
    return {"text/plain": task_text(task), "text/html": task_html(task)}


def page_html(page: Page, *, lang: Lang = "en") -> str:
    """A page of list items as a table."""
    if not page.data:
        body = muted_html(text("no_tasks", lang))
    else:
        heads = ("history_status", "task", "input_mode", "credits", "result")
        rows = []
        for task in page.data[:MAX_PAGE_ROWS]:
            url = safe_http_url(task.result_video_url)
            result = link_html(url, text("open_video", lang)) if url else "—"
            cells = (
                badge_html(task.status, lang),
                f"<code>{esc(task.task_id)}</code>",
                esc(task.input_mode or "—"),
                esc(format_credits(task.credits_charged)),
                result,
            )
            rows.append(row_html(cells))
        body = grid_html((text(key, lang) for key in heads), rows)
        body += more_html(len(page.data) - MAX_PAGE_ROWS, lang)

    footer = text(
        "page_of",
        lang,
        offset=page.offset,
        count=len(page.data),
        more=text("yes" if page.has_more else "no", lang),
    )
    footer_html = muted_html(footer, ";margin-top:6px")
    return f'<div class="kitta-page" style="{CARD}">{body}{footer_html}</div>'


def page_text(page: Page) -> str:
    lines = [f"Page offset={page.offset} limit={page.limit} has_more={page.has_more}"]
    for task in page.data[:MAX_PAGE_ROWS]:
        credits = format_credits(task.credits_charged)
        mode = clip(task.input_mode or "-", 200)
        lines.append(
            f"  {clip(task.task_id, 200)}  {clip(task.status_text, 200):<10}  {mode:<5}  {credits}"
        )
    if len(page.data) > MAX_PAGE_ROWS:
        lines.append(f"  … and {len(page.data) - MAX_PAGE_ROWS:,} more")
    return "\n".join(lines)


def page_mimebundle(page: Page) -> dict[str, str]:
    return {"text/plain": page_text(page), "text/html": page_html(page)}


def notice_html(message: str, message_zh: str | None = None) -> str:
    """A highlighted notice (used to say that the sandbox is in use)."""
    extra = f"<br><span>{esc(message_zh)}</span>" if message_zh else ""
    return (
        f'<div style="{FONT};border-left:4px solid #d4a72c;background:#fff8e1;color:#5c4300;'
        f'padding:6px 12px;border-radius:4px;font-size:13px">{esc(message)}{extra}</div>'
    )
