"""Which progress view a batch shows, chosen without importing any widget.

In a notebook kernel: `display.gallery.HtmlProgress` (static HTML replaced in place through a
display id: no comm, so it also works where widgets do not render, and a
saved notebook keeps the final counts). On a terminal: a text bar. The widget
bar lives in the widgets layer, which depends on this package and never the
reverse: pass `progress=WidgetProgress` (any callable `(title=, total=) ->
ProgressView`) to get it.
"""

from __future__ import annotations

import sys

from .progress import ProgressMode, ProgressView, TextProgress


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
    if callable(mode):
        return mode(title=title, total=total)
    if in_kernel():
        from ..display.gallery import HtmlProgress  # imported when used (`.importlinter`)

        return HtmlProgress(title=title, total=total)
    if mode == "auto" and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    return TextProgress()


def open_progress(mode: ProgressMode, title: str, total: int) -> ProgressView | None:
    """The view a driver reports to, or None (no progress, or nothing to do)."""
    if mode is False or total == 0:
        return None
    return progress_view(mode, title=title, total=total)
