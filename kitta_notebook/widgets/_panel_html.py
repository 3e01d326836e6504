"""The HTML snippets of the panel: header, banner, estimate line and media notes.

Pure functions of what the panel knows; every value from a user, a server or a
media host is escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ..display.preflight import media_message, probe_summary
from ..i18n import Lang, text
from ..media import LocalBlob, Preflight

_BANNER_COLORS = {
    "info": ("#0b4f8a", "#dcecfb"),
    "success": ("#17622d", "#dcf5e3"),
    "error": ("#7a1111", "#fde2e2"),
    "warning": ("#5c4300", "#fff8e1"),
}
_WARNING = "color:#7a4d00"


def header_html(is_sandbox: bool, lang: Lang) -> str:
    badge = ""
    if is_sandbox:
        label = html.escape(text("panel_sandbox_badge", lang))
        badge = (
            '<span class="kitta-sandbox-badge" style="margin-left:10px;padding:1px 8px;'
            'border-radius:4px;font-size:12px;background:#fff8e1;color:#5c4300">'
            f"{label}</span>"
        )
    return (
        f'<div style="font-size:16px;font-weight:600;margin-bottom:4px">'
        f"{html.escape(text('panel_title', lang))}{badge}</div>"
    )


def banner_html(message: str, kind: str) -> str:
    color, background = _BANNER_COLORS.get(kind, _BANNER_COLORS["info"])
    return (
        f'<div class="kitta-message" data-kind="{html.escape(kind)}" style="color:{color};'
        f'background:{background};border-radius:6px;padding:6px 10px;margin:4px 0">'
        f"{html.escape(message)}</div>"
    )


def number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")


def over_balance(credits: int | None, balance: float | None, lang: Lang) -> str:
    """The warning for an estimate above the account's balance ("" when it is not)."""
    if credits is None or balance is None or credits <= balance:
        return ""
    return text("panel_over_balance", lang, credits=f"{credits:,}", balance=number(balance))


def estimate_sentence(
    rate: float | None, credits: int | None, model: str, seconds: float | None, lang: Lang
) -> str:
    """What the task will cost where the server publishes a price; never a guess."""
    if rate is None:
        return text("panel_estimate_unknown", lang)
    if credits is None or seconds is None:
        return text("panel_estimate_need_duration", lang, rate=f"{rate:g}")
    return text("panel_estimate", lang, credits=f"{credits:,}", model=model, seconds=f"{seconds:g}")


def estimate_html(message: str, balance_warning: str, general: list[str], lang: Lang) -> str:
    """The estimate line, then the balance warning and media warnings of no single field."""
    warning = (
        f'<div class="kitta-balance-warning" style="{_WARNING}">'
        f"⚠ {html.escape(balance_warning)}</div>"
        if balance_warning
        else ""
    )
    notes = "".join(
        f'<div style="{_WARNING}">⚠ {html.escape(media_message(m, lang))}</div>' for m in general
    )
    return (
        '<div style="color:#59636e;font-size:12px;margin:2px 0 0 150px">'
        f"{html.escape(message)}{warning}{notes}</div>"
    )


def media_note_html(
    name: str,
    fields: Mapping[str, Any],
    checked: Preflight,
    checking: set[str],
    lang: Lang,
) -> str:
    """What the media check says about one field: the file, its facts, problems, warnings."""
    value = fields.get(name)
    if value is None:
        return ""
    head = text("panel_file_chosen", lang, name=value.name) if isinstance(value, LocalBlob) else ""
    probed = checked.inputs.get(name)
    if name in checking:
        facts = text("panel_checking", lang)
    else:
        facts = probe_summary(probed, lang) if probed is not None else ""
    summary = " · ".join(part for part in (head, facts) if part)
    lines: list[str] = []
    if summary:
        lines.append(
            f'<span class="kitta-media-facts" data-field="{html.escape(name)}" '
            f'style="color:#59636e">{html.escape(summary)}</span>'
        )
    lines += [
        f'<span class="kitta-media-problem" style="color:#b42318">'
        f"✕ {html.escape(media_message(m, lang))}</span>"
        for field, m in checked.problems
        if field == name
    ]
    lines += [
        f'<span class="kitta-media-warning" style="{_WARNING}">'
        f"⚠ {html.escape(media_message(m, lang))}</span>"
        for field, m in checked.warnings
        if field == name
    ]
    if not lines:
        return ""
    return f'<div style="font-size:12px">{"<br>".join(lines)}</div>'
