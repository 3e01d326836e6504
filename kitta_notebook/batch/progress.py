"""Batch progress: the snapshot every view draws, the text bar, and which view to show.

The batch builds `ProgressSnapshot`s; a view only draws them: `TextProgress` here as
text, `display.gallery.HtmlProgress` in a notebook kernel (static HTML replaced in
place through a display id, so it works where widgets do not render and a saved
notebook keeps the final counts), the widget bar in the widgets layer, which depends
on this package and never the reverse: pass `progress=WidgetProgress` (any callable
`(title=, total=) -> ProgressView`) to get it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Literal, Protocol

from ..errors import ValidationError
from ..price import format_credits

BAR_WIDTH = 24
TTY_REDRAW_SECONDS = 0.1
LOG_LINE_SECONDS = 10.0
"""Without a terminal (a CI log), one line at most this often: a bar redrawn with
carriage returns would be thousands of lines there."""


@dataclass(frozen=True)
class ProgressSnapshot:
    """What a progress view shows; built by the cores, drawn by the views."""

    title: str
    done: int
    total: int
    counts: Mapping[str, int]
    """Counts by status or outcome, in display order."""
    credits: int | float | None
    elapsed: float
    eta: float | None
    note: str = ""
    finished: bool = False
    failed: int = 0
    """Of `done`: failed tasks, or items refused at create. The bar shows them in red,
    so a batch with failures never looks all green."""
    unsure: int = 0
    """Of `done`: creates whose outcome is unknown (a task may exist)."""

    @property
    def good(self) -> int:
        return max(0, self.done - self.failed - self.unsure)


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Remaining seconds at the average pace so far; None before the first result."""
    if done <= 0 or total <= 0 or elapsed <= 0:
        return None
    if done >= total:
        return 0.0
    return elapsed / done * (total - done)


class ProgressView(Protocol):
    """Receives snapshots; `close` gets the last one."""

    def update(self, snapshot: ProgressSnapshot) -> None: ...

    def close(self, snapshot: ProgressSnapshot) -> None: ...


ViewFactory = Callable[..., ProgressView]
"""Makes a view: called as `factory(title=..., total=...)`."""

ProgressMode = bool | Literal["auto"] | ViewFactory
"""`True`: always show progress; `False`: never; `"auto"`: in a notebook, or on a
terminal; or a view factory such as `kitta_notebook.widgets.WidgetProgress`."""


def check_progress(progress: object) -> ProgressMode:
    if isinstance(progress, bool):
        return progress
    if progress == "auto":
        return "auto"
    if callable(progress):
        return progress  # type: ignore[no-any-return]
    raise ValidationError(
        [("progress", "must be True, False, 'auto' or a view factory (title=, total=)")]
    )


# --- text -------------------------------------------------------------------------------------
def format_clock(seconds: float | None) -> str:
    """`m:ss` or `h:mm:ss`; `--:--` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "--:--"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(snapshot: ProgressSnapshot, width: int = BAR_WIDTH) -> str:
    """One line of text: bar (`#` good, `x` failed, `?` unknown), done/total, counts,
    credits, elapsed, ETA, note."""
    total = max(snapshot.total, 1)
    filled = min(width, int(width * snapshot.done / total))
    bad = min(filled, max(int(snapshot.failed > 0), round(width * snapshot.failed / total)))
    unsure = min(
        filled - bad, max(int(snapshot.unsure > 0), round(width * snapshot.unsure / total))
    )
    bar = "#" * (filled - bad - unsure) + "x" * bad + "?" * unsure + "." * (width - filled)
    counts = " ".join(f"{name} {n}" for name, n in snapshot.counts.items() if n)
    parts = [
        f"{snapshot.title} [{bar}] {snapshot.done}/{snapshot.total}",
        counts,
        f"{format_credits(snapshot.credits)} credits",
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


# --- which view -------------------------------------------------------------------------
def in_kernel() -> bool:
    """True inside a Jupyter kernel. Never imports IPython: a kernel has it loaded."""
    module = sys.modules.get("IPython")
    get_ipython = getattr(module, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def open_progress(mode: ProgressMode, title: str, total: int) -> ProgressView | None:
    """The view a batch reports to, or None (no progress, or nothing to do): `"auto"`
    shows one in a notebook or on a terminal only."""
    if mode is False or total == 0:
        return None
    if callable(mode):
        return mode(title=title, total=total)
    if in_kernel():
        from ..display.gallery import HtmlProgress  # imported when used (`.importlinter`)

        return HtmlProgress(title=title, total=total)
    if mode == "auto" and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    return TextProgress()
