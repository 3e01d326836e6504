"""Every user-facing label in English and Chinese, and the status colours.

One table (`_labels.TEXTS`) serves the HTML views and the widgets, so a status
reads the same everywhere. Add a key there, not a string literal in a view. A problem
the core finds (a medium, a create's arguments) is a `Finding`: its key and facts, so
every view says it from the table, never by parsing its English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._labels import TEXTS as TEXTS
from ._labels import Lang as Lang

LANGS: tuple[Lang, ...] = ("en", "zh")


@dataclass(frozen=True)
class StatusStyle:
    en: str
    zh: str
    color: str
    background: str
    icon: str


STATUS_STYLES: Mapping[str, StatusStyle] = {
    "pending": StatusStyle("pending", "排队中", "#7a4d00", "#fff4d6", "◔"),
    "processing": StatusStyle("processing", "处理中", "#0b4f8a", "#dcecfb", "◑"),
    "succeeded": StatusStyle("succeeded", "已完成", "#17622d", "#dcf5e3", "●"),
    "failed": StatusStyle("failed", "失败", "#9b1c1c", "#fde2e2", "✕"),
    "unknown": StatusStyle("unknown", "未知", "#444444", "#ececec", "?"),
}


def status_style(status: object) -> StatusStyle:
    """The style of a status; any value the contract does not list is 'unknown'."""
    return STATUS_STYLES.get(
        str(status) if status is not None else "unknown", STATUS_STYLES["unknown"]
    )


def status_label(status: object, lang: Lang = "en") -> str:
    style = status_style(status)
    label = style.zh if lang == "zh" else style.en
    known = status is not None and str(status) in STATUS_STYLES
    return label if known or status is None else f"{label} ({status})"


def text(key: str, lang: Lang = "en", **values: object) -> str:
    """The label for `key` in `lang`, formatted with `values`."""
    english, chinese = TEXTS[key]
    template = chinese if lang == "zh" else english
    return template.format(**values) if values else template


class Finding(str):
    """A sentence of the label table with its facts: the English text itself (a `str`, so a
    problem reads the same in an exception, a log or a comparison) that any view can say
    in another language (`say`) without parsing it. A fact may be a `Finding` too (a
    format's name, a reason), said in the same language."""

    key: str
    facts: dict[str, object]

    def __new__(cls, key: str, /, **facts: object) -> Finding:
        self = super().__new__(cls, text(key, "en", **facts))
        self.key, self.facts = key, facts
        return self

    def __reduce__(self) -> tuple[object, ...]:
        return _finding, (self.key, self.facts)

    def say(self, lang: Lang) -> str:
        if lang == "en":
            return str(self)
        facts = {
            name: value.say(lang) if isinstance(value, Finding) else value
            for name, value in self.facts.items()
        }
        return text(self.key, lang, **facts)


def _finding(key: str, facts: dict[str, object]) -> Finding:
    return Finding(key, **facts)


def say(message: str, lang: Lang) -> str:
    """`message` in `lang` when it is a `Finding`; any other text as it is (a server's words)."""
    return message.say(lang) if isinstance(message, Finding) else message


def check_lang(lang: str) -> Lang:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang  # type: ignore[return-value]
