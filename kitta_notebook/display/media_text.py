"""What a media check found, as a user reads it: format names, sizes and messages in a language.

The media core speaks English in its own terms (`ProbeResult`, the sentences of `judge`);
the views show them through this module, so the panel and the `check()` table name a
format, a size or a problem the same way, in English or Chinese. A message this table
does not know is shown as received.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..i18n import Lang, text

if TYPE_CHECKING:
    from ..media import ProbeResult, Sniffed

__all__ = ["format_label", "human_size", "media_message", "probe_summary"]

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


def probe_summary(result: ProbeResult, lang: Lang) -> str:
    """One line: "MP4 video · 12.0 s · 1280×720 · 4.1 MB" (the core's order, in `lang`)."""
    if result.uncertain:
        return text("media_not_checked", lang, reason=_reason(result.uncertain, lang))
    if result.status is not None and result.status >= 400:
        return f"HTTP {result.status}"
    parts = [format_label(result.sniffed, lang)]
    if result.duration is not None:
        parts.append(f"{result.duration:.1f} s")
    if result.dimensions:
        parts.append(f"{result.dimensions[0]}×{result.dimensions[1]}")
    if result.size is not None:
        parts.append(human_size(result.size))
    return " · ".join(parts)


# The media core's sentences (English) -> a label key; named groups are passed on,
# `label`/`want`/`reason` translated first.
_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
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
    )
)


def media_message(message: str, lang: Lang) -> str:
    """A problem or warning of the media check, in `lang` (unknown ones as received)."""
    if lang == "en":
        return message
    for pattern, key in _MESSAGES:
        found = pattern.match(message)
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
