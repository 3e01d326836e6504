"""A static view of a `Preflight`: one row per input, then the verdict and the estimate.

Static HTML (inline CSS, no JavaScript) with a plain-text twin, like the task views,
so a saved notebook shows the same table everywhere. Every value came from a user or
a media host (file names, URLs, sniffed labels), so every value is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._text import clip
from ..i18n import Lang, text
from .html import _CARD, _CELL, esc
from .media_text import format_label, human_size, media_message

if TYPE_CHECKING:
    from ..media import Preflight, ProbeResult

__all__ = ["preflight_html", "preflight_mimebundle", "preflight_text"]

_PROBLEM = "color:#b42318"
_WARNING = "color:#7a4d00"
_HEAD = f"text-align:left;{_CELL};border-bottom:1px solid #d0d7de;white-space:nowrap"
# A value cell never breaks inside a word ("169.5 kB", "MP4 video"); a source (a URL, a
# file name) breaks after a slash only (the card scrolls sideways past a longer name).
_FACT = f"{_CELL};white-space:nowrap"


def _breakable(source: str) -> str:
    """An escaped URL or path that may wrap after each slash, never inside a name."""
    return "/<wbr>".join(
        f'<span style="white-space:nowrap">{esc(part)}</span>' if part else ""
        for part in source.split("/")
    )


def _format(result: ProbeResult, lang: Lang = "en") -> str:
    if result.uncertain:
        return text("media_not_checked", lang, reason=result.uncertain)
    if result.status is not None and result.status >= 400:
        return f"HTTP {result.status}"
    label = format_label(result.sniffed, lang)
    if result.dimensions:
        label += f" · {result.dimensions[0]}×{result.dimensions[1]}"
    return label


def _duration(result: ProbeResult) -> str:
    seconds = result.duration
    return "—" if seconds is None else f"{seconds:.2f} s"


def _size(result: ProbeResult) -> str:
    return human_size(result.size)


def _seconds(preflight: Preflight, lang: Lang) -> str:
    seconds = preflight.duration_seconds
    shown = "—" if seconds is None else f"{seconds:.2f} s"
    if preflight.duration_from_probe:
        shown += f" ({text('preflight_from_probe', lang)})"
    return shown


def _verdict(preflight: Preflight, lang: Lang) -> str:
    """Whether a create would be sent, and what a warning means for it."""
    if not preflight.ok:
        return text("preflight_refused", lang, count=len(preflight.problems))
    if preflight.warnings:
        return text("preflight_ok_warnings", lang, count=len(preflight.warnings))
    return text("preflight_ok", lang)


def _estimate(preflight: Preflight, lang: Lang) -> str:
    if preflight.estimated_credits is not None:
        shown = text(
            "preflight_estimate",
            lang,
            credits=f"{preflight.estimated_credits:,}",
            seconds=_seconds(preflight, lang),
        )
    else:
        reason = media_message(preflight.price_note, lang) if preflight.price_note else "—"
        shown = text("preflight_no_estimate", lang, reason=reason)
    if preflight.price is not None:
        shown += " · " + text("preflight_price_source", lang, source=preflight.price.describe(lang))
    return shown


def _general(preflight: Preflight) -> tuple[list[str], list[str]]:
    """Problems and warnings that belong to no single input (e.g. where the check ran)."""
    problems = [m for f, m in preflight.problems if f not in preflight.inputs]
    warnings = [m for f, m in preflight.warnings if f not in preflight.inputs]
    return problems, warnings


def _notes_html(problems: list[str], warnings: list[str], lang: Lang) -> str:
    lines = [f'<div style="{_PROBLEM}">✕ {esc(media_message(m, lang))}</div>' for m in problems]
    lines += [f'<div style="{_WARNING}">⚠ {esc(media_message(m, lang))}</div>' for m in warnings]
    return "".join(lines) or "—"


def preflight_html(preflight: Preflight, *, lang: Lang = "en") -> str:
    """The table of inputs with format, duration, size, problems and warnings."""
    heads = (
        "preflight_field",
        "preflight_source",
        "preflight_format",
        "preflight_duration",
        "preflight_size",
        "preflight_notes",
    )
    head = "".join(f'<th style="{_HEAD}">{esc(text(key, lang))}</th>' for key in heads)
    rows = []
    for row, result in zip(preflight.rows(), preflight.inputs.values(), strict=True):
        verdict = "problem" if row["problems"] else ("warning" if row["warnings"] else "ok")
        rows.append(
            f'<tr class="kitta-preflight-row" data-field="{esc(row["field"])}" '
            f'data-verdict="{verdict}">'
            f'<td style="{_CELL}"><code>{esc(row["field"])}</code></td>'
            f'<td style="{_CELL}">{_breakable(row["input"])}</td>'
            f'<td style="{_FACT}">{esc(_format(result, lang))}</td>'
            f'<td style="{_FACT}">{esc(_duration(result))}</td>'
            f'<td style="{_FACT}">{esc(_size(result))}</td>'
            f'<td style="{_CELL};min-width:12em">'
            f"{_notes_html(row['problems'], row['warnings'], lang)}</td></tr>"
        )
    problems, warnings = _general(preflight)
    general = _notes_html(problems, warnings, lang) if problems or warnings else ""
    color = "#b42318" if not preflight.ok else ("#7a4d00" if preflight.warnings else "#17622d")
    return (
        f'<div class="kitta-preflight" data-ok="{str(preflight.ok).lower()}" style="{_CARD}">'
        f'<div style="font-weight:600;margin-bottom:4px">{esc(text("preflight_title", lang))}'
        "</div>"
        '<div style="overflow-x:auto"><table style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f'<div style="font-size:12px;margin-top:6px">{general}</div>'
        f'<div class="kitta-preflight-verdict" style="color:{color};font-weight:600;'
        f'margin-top:6px">{esc(_verdict(preflight, lang))}</div>'
        f'<div class="kitta-preflight-estimate" style="color:#59636e;font-size:12px">'
        f"{esc(_estimate(preflight, lang))}</div></div>"
    )


def preflight_text(preflight: Preflight) -> str:
    """The same facts as plain text (terminals, and frontends that strip HTML)."""
    lines = [f"Preflight: {_verdict(preflight, 'en')}"]
    for row, result in zip(preflight.rows(), preflight.inputs.values(), strict=True):
        lines.append(
            f"  {clip(row['field'], 40)}: {clip(row['input'], 300)} | {_format(result)} | "
            f"{_duration(result)} | {_size(result)}"
        )
        lines += [f"    problem: {clip(m, 500)}" for m in row["problems"]]
        lines += [f"    warning: {clip(m, 500)}" for m in row["warnings"]]
    problems, warnings = _general(preflight)
    lines += [f"  problem: {clip(m, 500)}" for m in problems]
    lines += [f"  warning: {clip(m, 500)}" for m in warnings]
    lines.append(f"  {_estimate(preflight, 'en')}")
    return "\n".join(lines)


def preflight_mimebundle(preflight: Preflight) -> dict[str, str]:
    return {"text/plain": preflight_text(preflight), "text/html": preflight_html(preflight)}
