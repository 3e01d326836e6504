"""The media check as a user reads it: the `Preflight` table, and a probe's one-line
summary, in English or Chinese.

The media core states each finding as an `i18n.Finding` (a key of the label table and
its facts), so this view says it in the reader's language from that table; a message
that is not a `Finding` (a server's words) is shown as received.
The table is static HTML (inline CSS, no script) with a plain-text twin; every value
came from a user or a media host (file names, URLs, sniffed labels), so it is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._redact import clip
from ..i18n import Finding, Lang, say, text
from ..price import format_credits
from .html import CARD, CELL, HEAD, MUTED, esc, grid_html

if TYPE_CHECKING:
    from ..media import Preflight, ProbeResult


def human_size(size: int | None) -> str:
    """Bytes as people read them: "812 B", "32.1 kB", "4.2 MB" (decimal units)."""
    if size is None:
        return "—"
    if size < 1000:
        return f"{size} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6)):
        if size < scale * 1000:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e9:.1f} GB"


def probe_summary(result: ProbeResult, lang: Lang, *, facts: bool = True) -> str:
    """One line: "MP4 video · 12.0 s · 1280×720 · 4.1 MB" (the core's order, in `lang`);
    without `facts`, the format and dimensions only (the preflight table's format column)."""
    if result.uncertain:
        return text("media_not_checked", lang, reason=say(result.uncertain, lang))
    if result.status is not None and result.status >= 400:
        return f"HTTP {result.status}"
    label = result.sniffed.label if result.sniffed is not None else Finding("format_unknown")
    parts = [label.say(lang)]
    if facts and result.duration is not None:
        parts.append(f"{result.duration:.1f} s")
    if result.dimensions:
        parts.append(f"{result.dimensions[0]}×{result.dimensions[1]}")
    if facts and result.size is not None:
        parts.append(human_size(result.size))
    return " · ".join(parts)


# --- the preflight table ------------------------------------------------------------
_PROBLEM = "color:#b42318"
_WARNING = "color:#7a4d00"
_HEAD = f"{HEAD};white-space:nowrap"
# A value cell never breaks inside a word ("169.5 kB", "MP4 video"); a source (a URL, a
# file name) breaks after a slash only (the card scrolls sideways past a longer name).
_FACT = f"{CELL};white-space:nowrap"


def _breakable(source: str) -> str:
    """An escaped URL or path that may wrap after each slash, never inside a name."""
    return "/<wbr>".join(
        f'<span style="white-space:nowrap">{esc(part)}</span>' if part else ""
        for part in source.split("/")
    )


def _seconds_text(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def _seconds(preflight: Preflight, lang: Lang) -> str:
    shown = _seconds_text(preflight.duration_seconds)
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
            credits=format_credits(preflight.estimated_credits),
            seconds=_seconds(preflight, lang),
        )
    else:
        reason = say(preflight.price_note, lang) if preflight.price_note else "—"
        shown = text("preflight_no_estimate", lang, reason=reason)
    if preflight.price is not None:
        shown += " · " + text("preflight_price_source", lang, source=preflight.price.describe(lang))
    return shown


def _general(preflight: Preflight) -> tuple[list[str], list[str]]:
    """Problems and warnings that belong to no single input (e.g. where the check ran)."""
    problems = [m for f, m in preflight.problems if f not in preflight.inputs]
    warnings = [m for f, m in preflight.warnings if f not in preflight.inputs]
    return problems, warnings


def finding_html(kind: str, message: str, lang: Lang, css_class: str = "") -> str:
    """One finding as a line, said in `lang` and escaped here: a "problem" ✕ in red, else
    a warning ⚠."""
    mark, style = ("✕", _PROBLEM) if kind == "problem" else ("⚠", _WARNING)
    return f'<div class="{css_class}" style="{style}">{mark} {esc(say(message, lang))}</div>'


def _notes_html(problems: list[str], warnings: list[str], lang: Lang) -> str:
    lines = [finding_html("problem", m, lang) for m in problems]
    lines += [finding_html("warning", m, lang) for m in warnings]
    return "".join(lines) or "—"


def preflight_html(preflight: Preflight, *, lang: Lang = "en") -> str:
    """The table of inputs with format, duration, size, problems and warnings."""
    heads = ("field", "source", "format", "duration", "size", "notes")
    rows = []
    for row, result in zip(preflight.rows(), preflight.inputs.values(), strict=True):
        verdict = "problem" if row["problems"] else ("warning" if row["warnings"] else "ok")
        rows.append(
            f'<tr class="kitta-preflight-row" data-field="{esc(row["field"])}" '
            f'data-verdict="{verdict}">'
            f'<td style="{CELL}"><code>{esc(row["field"])}</code></td>'
            f'<td style="{CELL}">{_breakable(row["input"])}</td>'
            f'<td style="{_FACT}">{esc(probe_summary(result, lang, facts=False))}</td>'
            f'<td style="{_FACT}">{esc(_seconds_text(result.duration))}</td>'
            f'<td style="{_FACT}">{esc(human_size(result.size))}</td>'
            f'<td style="{CELL};min-width:12em">'
            f"{_notes_html(row['problems'], row['warnings'], lang)}</td></tr>"
        )
    problems, warnings = _general(preflight)
    general = _notes_html(problems, warnings, lang) if problems or warnings else ""
    color = "#b42318" if not preflight.ok else ("#7a4d00" if preflight.warnings else "#17622d")
    return (
        f'<div class="kitta-preflight" data-ok="{str(preflight.ok).lower()}" style="{CARD}">'
        f'<div style="font-weight:600;margin-bottom:4px">{esc(text("preflight_title", lang))}'
        "</div>"
        f"{grid_html((text(f'preflight_{key}', lang) for key in heads), rows, _HEAD)}"
        f'<div style="font-size:12px;margin-top:6px">{general}</div>'
        f'<div class="kitta-preflight-verdict" style="color:{color};font-weight:600;'
        f'margin-top:6px">{esc(_verdict(preflight, lang))}</div>'
        f'<div class="kitta-preflight-estimate" style="{MUTED}">'
        f"{esc(_estimate(preflight, lang))}</div></div>"
    )


def _notes_text(problems: list[str], warnings: list[str], indent: str) -> list[str]:
    notes = [("problem", m) for m in problems] + [("warning", m) for m in warnings]
    return [f"{indent}{kind}: {clip(m, 500)}" for kind, m in notes]


def preflight_text(preflight: Preflight) -> str:
    """The same facts as plain text (terminals, and frontends that strip HTML)."""
    lines = [f"Preflight: {_verdict(preflight, 'en')}"]
    for row, result in zip(preflight.rows(), preflight.inputs.values(), strict=True):
        kind = probe_summary(result, "en", facts=False)
        lines.append(
            f"  {clip(row['field'], 40)}: {clip(row['input'], 300)} | {kind} | "
            f"{_seconds_text(result.duration)} | {human_size(result.size)}"
        )
        lines += _notes_text(row["problems"], row["warnings"], "    ")
    lines += _notes_text(*_general(preflight), "  ")
    lines.append(f"  {_estimate(preflight, 'en')}")
    return "\n".join(lines)


def preflight_mimebundle(preflight: Preflight) -> dict[str, str]:
    return {"text/plain": preflight_text(preflight), "text/html": preflight_html(preflight)}
