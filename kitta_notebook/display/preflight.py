"""The media check as a user reads it: the `Preflight` table, and the names of formats,
sizes and findings in English or Chinese.

The media core speaks English in its own terms (`ProbeResult`, the sentences of `judge`);
this module shows them, so the panel and the `check()` table name a format, a size or a
problem the same way. A message the table below does not know is shown as received.
The table is static HTML (inline CSS, no script) with a plain-text twin; every value
came from a user or a media host (file names, URLs, sniffed labels), so it is escaped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .._redact import clip
from ..i18n import Lang, text
from .html import CARD, CELL, HEAD, MUTED, esc, grid_html

if TYPE_CHECKING:
    from ..media import Preflight, ProbeResult, Sniffed

_KINDS_ZH = {"video": "视频", "audio": "音频", "image": "图片"}
_DOCUMENTS_ZH = {
    "HTML page": "HTML 网页",
    "XML document": "XML 文档",
    "JSON document": "JSON 文档",
    "text file": "文本文件",
    "file of unknown format": "未知格式的文件",
    "file": "文件",
}
_REASONS_ZH = {
    "timed out": "超时",
    "DNS lookup failed": "域名解析失败",
    "connection refused": "连接被拒绝",
    "byte budget": "已达读取字节上限",
    "deadline": "已达时间上限",
}
_WANTS_ZH = {"a video": "视频", "audio": "音频", "an image": "图片"}


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


def _label_zh(label: str) -> str:
    """An English format label ("MP4 video", "HTML page") in Chinese."""
    if label in _DOCUMENTS_ZH:
        return _DOCUMENTS_ZH[label]
    found = re.fullmatch(r"(\S+) (video|audio|image)", label)
    return f"{found[1]} {_KINDS_ZH[found[2]]}" if found else label


def format_label(sniffed: Sniffed | None, lang: Lang) -> str:
    """The short name of a sniffed format ("MP4 video" / "MP4 视频")."""
    label = sniffed.label if sniffed is not None else "file of unknown format"
    return _label_zh(label) if lang == "zh" else label


def _reason(reason: str, lang: Lang) -> str:
    if lang != "zh":
        return reason
    network = re.fullmatch(r"network error \((\w+)\)", reason)
    if network:
        return f"网络错误（{network[1]}）"
    return _REASONS_ZH.get(reason, reason)


def probe_summary(result: ProbeResult, lang: Lang, *, facts: bool = True) -> str:
    """One line: "MP4 video · 12.0 s · 1280×720 · 4.1 MB" (the core's order, in `lang`);
    without `facts`, the format and dimensions only (the preflight table's format column)."""
    if result.uncertain:
        return text("media_not_checked", lang, reason=_reason(result.uncertain, lang))
    if result.status is not None and result.status >= 400:
        return f"HTTP {result.status}"
    parts = [format_label(result.sniffed, lang)]
    if facts and result.duration is not None:
        parts.append(f"{result.duration:.1f} s")
    if result.dimensions:
        parts.append(f"{result.dimensions[0]}×{result.dimensions[1]}")
    if facts and result.size is not None:
        parts.append(human_size(result.size))
    return " · ".join(parts)


# The media core's sentences (English) -> a label key; named groups are passed on,
# `label`/`want`/`reason` translated first.
_MESSAGES: tuple[tuple[str, str], ...] = (
    (r"It could not be checked from this machine \((?P<reason>.+)\)\.", "media_uncertain"),
    (r"It is an empty file\.", "media_empty"),
    (r"The media host answered HTTP (?P<status>\d+); it may be", "media_http_5xx"),
    (r"The media host answered HTTP (?P<status>\d+), so", "media_http_4xx"),
    (r"It could not be checked: reading stopped \((?P<reason>.+)\)\.", "media_stopped"),
    (r"It could not be fully checked: reading stopped \((?P<reason>.+)\)\.", "media_partial"),
    (r"It is in a format no decoder knows, not (?P<want>.+)\.", "media_unknown_format"),
    (r"It looks like (?P<ext>\S+) but cannot be read as one\.", "media_undecodable"),
    (r"It is an image \((?P<label>.+)\), not a video", "media_image_not_video"),
    (r"It is audio only \((?P<label>.+)\), not a video\.", "media_audio_not_video"),
    (r"It is an image \((?P<label>.+)\), not audio\.", "media_image_not_audio"),
    (r"It has no audio stream \((?P<label>.+)\)\.", "media_no_audio"),
    (r"Its duration was not measured \((?P<label>.+)\)\.", "media_no_duration"),
    (r"It has zero duration\.", "media_zero_duration"),
    (r"It is an? (?P<label>.+), not (?P<want>a video|audio|an image)\.", "media_wrong_kind"),
    (
        r"The audio \((?P<audio>[\d.]+) s\) is much longer than the video "
        r"\((?P<video>[\d.]+) s\)",
        "media_audio_longer",
    ),
    (
        r"The audio \((?P<audio>[\d.]+) s\) is much shorter than the video "
        r"\((?P<video>[\d.]+) s\)",
        "media_audio_shorter",
    ),
    (r"checked from this machine: the service fetches", "media_from_here"),
    (r"price unknown: the server publishes no price", "media_price_unknown"),
    (r"duration unknown: give duration_seconds", "media_duration_unknown"),
    (r"This is a local file, and no media store is set up\.", "media_no_store"),
    # The core's validation sentences (`validate_create`), shown next to a form's field.
    (r"This must be a URL string", "val_not_text"),
    (r"This is empty", "val_required"),
    (r"This is not a URL", "val_not_url"),
    (r"This is a file path", "val_file_path"),
    (r"The URL has no scheme", "val_no_scheme"),
    (r"The URL uses (?P<scheme>[\w+.-]+),", "val_scheme"),
    (r"The URL contains whitespace", "val_whitespace"),
    (r"The URL has an invalid host or port", "val_bad_host"),
    (r"The URL has no host name", "val_no_host"),
    (r"The service cannot reach (?P<host>.+?): ", "val_not_public"),
    (r"A model is required", "val_model_required"),
    (r"An audio URL is required", "val_audio_required"),
    (r"A video URL is required", "val_video_required"),
    (r"An image URL is required", "val_image_required"),
    (r"A reference image is only used", "val_reference_video_mode"),
    (r"The duration must be a number", "val_not_number"),
    (r"The duration must be a finite number", "val_positive"),
    (r"The input mode must be", "val_input_mode"),
)


def media_message(message: str, lang: Lang) -> str:
    """A problem or warning of the media check or a create's validation, in `lang`.

    English keeps the core's own sentence (the most specific); an unknown one is shown
    as received in either language.
    """
    if lang == "en":
        return message
    for pattern, key in _MESSAGES:
        found = re.match(pattern, message)
        if not found:
            continue
        values = found.groupdict()
        if "label" in values:
            values["label"] = _label_zh(values["label"])
        if "want" in values:
            values["want"] = _WANTS_ZH.get(values["want"], values["want"])
        if "reason" in values:
            values["reason"] = _reason(values["reason"], lang)
        return text(key, lang, **values)
    return message


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


def finding_html(kind: str, message: str, css_class: str = "") -> str:
    """One finding as a line (`message` escaped here): a "problem" ✕ in red, else a warning ⚠."""
    mark, style = ("✕", _PROBLEM) if kind == "problem" else ("⚠", _WARNING)
    return f'<div class="{css_class}" style="{style}">{mark} {esc(message)}</div>'


def _notes_html(problems: list[str], warnings: list[str], lang: Lang) -> str:
    lines = [finding_html("problem", media_message(m, lang)) for m in problems]
    lines += [finding_html("warning", media_message(m, lang)) for m in warnings]
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
