"""Where batch progress is shown: a widget in a notebook, a text bar on a terminal.

Kept apart from `widgets/` so a script gets its text bar without importing
ipywidgets; the widget module loads only inside a Jupyter kernel.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Protocol

from ._batch_core import ProgressMode, ProgressSnapshot

BAR_WIDTH = 24
TTY_REDRAW_SECONDS = 0.1
LOG_LINE_SECONDS = 10.0
"""Without a terminal (a CI log), one line at most this often: a bar redrawn with
carriage returns would be thousands of lines there."""


class ProgressView(Protocol):
    """Receives snapshots; `close` gets the last one."""

    def update(self, snapshot: ProgressSnapshot) -> None: ...

    def close(self, snapshot: ProgressSnapshot) -> None: ...


def format_clock(seconds: float | None) -> str:
    """`m:ss` or `h:mm:ss`; `--:--` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "--:--"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def progress_line(snapshot: ProgressSnapshot, width: int = BAR_WIDTH) -> str:
    """One line of text: bar, done/total, counts, credits, elapsed, ETA, note."""
    total = max(snapshot.total, 1)
    filled = min(width, int(width * snapshot.done / total))
    bar = "#" * filled + "." * (width - filled)
    counts = " ".join(f"{name} {n}" for name, n in snapshot.counts.items() if n)
    parts = [
        f"{snapshot.title} [{bar}] {snapshot.done}/{snapshot.total}",
        counts,
        f"{format_number(snapshot.credits)} credits",
        f"{format_clock(snapshot.elapsed)} elapsed",
    ]
    if not snapshot.finished:
        parts.append(f"ETA {format_clock(snapshot.eta)}")
    if snapshot.note:
        parts.append(snapshot.note)
    return " · ".join(p for p in parts if p)


class TextProgress:
    """A text bar on a stream (stderr by default), redrawn in place on a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self._tty = bool(isatty()) if callable(isatty) else False
        self._every = TTY_REDRAW_SECONDS if self._tty else LOG_LINE_SECONDS
        self._last = float("-inf")
        self._width = 0
        self._closed = False

    def _write(self, line: str, final: bool) -> None:
        if self._tty:
            padding = " " * max(0, self._width - len(line))
            self._stream.write("\r" + line + padding + ("\n" if final else ""))
            self._width = len(line)
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def update(self, snapshot: ProgressSnapshot) -> None:
        now = time.monotonic()
        if self._closed or now - self._last < self._every:
            return
        self._last = now
        self._write(progress_line(snapshot), final=False)

    def close(self, snapshot: ProgressSnapshot) -> None:
        if self._closed:
            return
        self._closed = True
        self._write(progress_line(snapshot), final=True)


def in_kernel() -> bool:
    """True inside a Jupyter kernel. Never imports IPython: a kernel has it loaded."""
    module = sys.modules.get("IPython")
    if module is None:
        return False
    get_ipython = getattr(module, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_view(mode: ProgressMode, *, title: str, total: int) -> ProgressView | None:
    """The view for `progress=`: `"auto"` shows one in a notebook or on a terminal only."""
    if mode is False:
        return None
    if in_kernel():
        try:
            from .widgets.progress import WidgetProgress

            return WidgetProgress(title=title, total=total)
        except ImportError:  # ipywidgets missing or broken: fall back to text
            pass
    if mode == "auto" and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    return TextProgress()
