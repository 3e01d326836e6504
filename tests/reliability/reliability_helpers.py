"""Shared helpers of the reliability suite.

* `assert_inert(markup)`: parses HTML as a browser would (``html.parser``) and
  fails on any tag, attribute or URL that is not ours.
* `FIGURES`: counters every test adds to (inputs tried, faults injected, hits
  found); ``conftest.py`` writes them to ``FIGURES.md`` when asked.
* `scan_for(secret, texts)`: where a secret appears in captured text.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]

# --- HTML: only our own tags, attributes and URLs ------------------------------------------
ALLOWED_TAGS = frozenset(
    {
        "div",
        "span",
        "code",
        "table",
        "thead",
        "tbody",
        "tr",
        "td",
        "th",
        "b",
        "i",
        "br",
        "video",
        "a",
    }
)
ALLOWED_ATTRS = frozenset(
    {
        "style",
        "class",
        "data-status",
        "data-outcome",
        "src",
        "href",
        "controls",
        "preload",
        "target",
        "rel",
    }
)
SAFE_URL_PREFIXES = ("https://", "http://", "data:video/mp4;base64,")
STYLE_FORBIDDEN = ("url(", "expression(", "javascript:", "@import", "behavior:", "-moz-binding")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.comments = 0
        self.declarations = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments += 1

    def handle_decl(self, decl: str) -> None:
        self.declarations += 1

    def unknown_decl(self, data: str) -> None:
        self.declarations += 1


class InertReport:
    """What one `assert_inert` call looked at (for figures)."""

    def __init__(self, tags: int, attrs: int, urls: int, text: str) -> None:
        self.tags = tags
        self.attrs = attrs
        self.urls = urls
        self.text = text


def inert_problems(markup: str) -> tuple[list[str], InertReport]:
    """Every way `markup` could run or load something that is not ours."""
    collector = _Collector()
    collector.feed(markup)
    collector.close()
    problems: list[str] = []
    attrs_seen = urls = 0
    for tag, attrs in collector.tags:
        if tag not in ALLOWED_TAGS:
            problems.append(f"foreign tag <{tag}>")
        for name, value in attrs:
            attrs_seen += 1
            if name.startswith("on"):
                problems.append(f"event handler {name} on <{tag}>")
            elif name not in ALLOWED_ATTRS:
                problems.append(f"foreign attribute {name} on <{tag}>")
            if name in ("src", "href", "poster", "action", "formaction", "xlink:href", "data"):
                urls += 1
                if value is None or not value.startswith(SAFE_URL_PREFIXES):
                    problems.append(f"unsafe URL {name}={value!r:.80} on <{tag}>")
                elif any(ch.isspace() or ord(ch) < 32 for ch in value):
                    problems.append(f"URL with whitespace {name}={value!r:.80}")
            if name == "style" and value is not None:
                lowered = value.lower().replace(" ", "")
                for bad in STYLE_FORBIDDEN:
                    if bad in lowered:
                        problems.append(f"style with {bad!r} on <{tag}>")
            if name == "target" and value == "_blank":
                rel = dict(attrs).get("rel") or ""
                if "noopener" not in rel:
                    problems.append(f"target=_blank without rel=noopener on <{tag}>")
    if collector.comments:
        problems.append(f"{collector.comments} HTML comment(s) (an escape leaked)")
    if collector.declarations:
        problems.append(f"{collector.declarations} declaration(s) (an escape leaked)")
    report = InertReport(len(collector.tags), attrs_seen, urls, "".join(collector.text))
    return problems, report


def assert_inert(markup: str, *, section: str = "hostile") -> InertReport:
    """Fail unless `markup` holds only our tags/attributes and only safe URLs."""
    problems, report = inert_problems(markup)
    FIGURES.add(section, "HTML documents parsed", 1)
    FIGURES.add(section, "HTML tags checked", report.tags)
    FIGURES.add(section, "HTML attributes checked", report.attrs)
    FIGURES.add(section, "src/href URLs checked", report.urls)
    FIGURES.add(section, "injected tags/attributes/URLs found", len(problems))
    assert not problems, "\n".join(problems[:20])
    return report


# --- secrets ----------------------------------------------------------------------------
def scan_for(secret: str, texts: Mapping[str, str | bytes], *, record: bool = True) -> list[str]:
    """Names of the texts that contain `secret` (as text, bytes, or escaped in a repr)."""
    needles = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}
    hits = []
    for name, value in texts.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if record:
            FIGURES.add("canary", "texts scanned", 1)
            FIGURES.add("canary", "characters scanned", len(text))
        if any(n in text for n in needles):
            hits.append(name)
    if record:
        FIGURES.add("canary", "token hits found", len(hits))
    return hits


# --- figures ------------------------------------------------------------------------------
class Figures:
    """Counters by section, thread-safe; written to FIGURES.md by conftest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, float]] = defaultdict(dict)

    def add(self, section: str, name: str, amount: float = 1) -> None:
        with self._lock:
            table = self._data[section]
            table[name] = table.get(name, 0) + amount

    def set(self, section: str, name: str, value: float) -> None:
        with self._lock:
            self._data[section][name] = value

    def get(self, section: str, name: str) -> float:
        with self._lock:
            return self._data.get(section, {}).get(name, 0)

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {k: dict(v) for k, v in self._data.items()}


FIGURES = Figures()

SECTION_TITLES = {
    "hostile": "Hostile server (Python-level rendering and client behaviour)",
    "canary": "Token canary",
    "fuzz": "Fuzzing (hypothesis) of validators and parsers",
    "schemathesis": "Schema-driven fuzzing of the sandbox (schemathesis)",
    "soak": "Fault soak against the sandbox",
    "crash": "Crash safety (journal)",
    "browser": "Real browser (JupyterLab + Chromium)",
}


def _fmt(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


def render_figures(data: Mapping[str, Mapping[str, float]], soak: Any = None) -> str:
    """FIGURES.md: one table per section, zero-hit rows in bold."""
    lines = [
        "# Reliability figures",
        "",
        "Written by `KITTA_RELIABILITY_FIGURES=tests/reliability/FIGURES.md "
        ".venv/bin/python -m pytest tests/reliability tests/browser/test_hostile_render.py`;",
        "the 300-task soak is `python benchmarks/soak.py` "
        "(its figures: `benchmarks/soak_results.json`).",
        "Counts are of one run; rows that must be zero are in **bold**.",
        "",
    ]
    order = [s for s in SECTION_TITLES if s in data] + sorted(set(data) - set(SECTION_TITLES))
    for section in order:
        lines += [
            f"## {SECTION_TITLES.get(section, section)}",
            "",
            "| what | count |",
            "|---|---:|",
        ]
        for name, value in sorted(data[section].items()):
            must_be_zero = any(
                word in name
                for word in ("found", "hits", "lost", "duplicate", "unhandled", "refused valid")
            ) or name.startswith(("5xx", "bad requests sent", "unauth"))
            label = f"**{name}**" if must_be_zero else name
            shown = f"**{_fmt(value)}**" if must_be_zero else _fmt(value)
            lines.append(f"| {label} | {shown} |")
        lines.append("")
    if soak:
        lines += ["## Soak benchmark (benchmarks/soak.py)", "", "```json"]
        lines += [json.dumps(soak, indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def iter_strings(value: Any) -> Iterable[str]:
    """Every string inside a JSON-like value (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from iter_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from iter_strings(item)
