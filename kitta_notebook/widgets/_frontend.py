"""What every widget shares: where it can render, the static snapshot shown where it
cannot, and how its background work is started on the kernel's loop.

A widget needs a kernel that talks to a frontend over comms. In a plain
script or a text console (IPython without a kernel) ipywidgets still builds
its models, but nothing ever draws them: the widget classes refuse to start
there (`require_widget_frontend`) and name the widget-free way instead.

`Snapshot` keeps a saved notebook readable after its kernel is gone. JupyterLab
draws a trusted widget output whose model was not saved (its default) as
"Error displaying widget: model not found" and never falls back to the
text/html of that output. So the static HTML goes out as its own output, just
before the widget, in a wrapper with a class of its own; the live widget
carries a `<style>` that hides that class. Where the widget renders, only the
widget shows; where it cannot, the style is absent and the snapshot shows.
A style in the snapshot hides the error line of the widget output right after
it (JupyterLab and Notebook 7 write that error as bare text into the output
node, with the class `jupyter-widgets`; a drawn widget has elements inside).
Untrusted notebooks strip every `<style>`: there the snapshot and the widget
output's one-line text both show.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import ipywidgets as widgets

from ..display.follow import spawn
from ..display.html import esc as esc  # the one escape, shared by every widget
from ..errors import NoEventLoopError, WidgetsUnavailableError

T = TypeVar("T")


def start(
    work: Coroutine[Any, Any, T], tasks: set[asyncio.Task[Any]], name: str | None = None
) -> asyncio.Task[T] | None:
    """Run `work` on the kernel's loop, held in `tasks` (which the view awaits in
    `settle()`) until it ends; None outside a running loop (a plain script)."""
    try:
        task = spawn(work, name=name)
    except NoEventLoopError:
        return None
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


def widget_frontend_available() -> bool:
    """True inside a Jupyter kernel (IPython with a `kernel`): the only place a
    widget can reach a frontend. Whether that frontend draws widgets cannot be
    known from the kernel (nbconvert's executor also has one)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def require_widget_frontend(widget: str, instead: str) -> None:
    """Raise `WidgetsUnavailableError` outside a kernel (see `widget_frontend_available`)."""
    if not widget_frontend_available():
        raise WidgetsUnavailableError(widget, instead)


def in_colab() -> bool:
    """Colab draws every output in its own frame: a style in one cannot hide another."""
    return "google.colab" in sys.modules


def button(
    description: str, icon: str, css_class: str, on_click: Any, **layout: Any
) -> widgets.Button:
    """A button with its own layout (`layout` overrides width "auto") and a CSS class."""
    view = widgets.Button(
        description=description, icon=icon, layout=widgets.Layout(**{"width": "auto", **layout})
    )
    view.on_click(on_click)
    view.add_class(css_class)
    return view


def close_tree(view: widgets.Widget) -> None:
    """Close a widget and everything inside it (their models leave the kernel)."""
    for child in getattr(view, "children", ()):
        close_tree(child)
    view.close()


def show(view: widgets.HTML, value: str) -> None:
    """Set an HTML widget's content; an empty one takes no room."""
    view.value = value
    view.layout.display = None if value else "none"


class Snapshot:
    """The static copy of one widget, shown as its own output before the widget and
    updated in place (`display_id`) so a saved notebook keeps its latest state.
    `content` gives the view's current (HTML, plain text)."""

    def __init__(self, content: Callable[[], tuple[str, str]]) -> None:
        self.content = content
        self.css_class = f"kitta-snap-{uuid.uuid4().hex[:16]}"
        self.display_id = self.css_class
        self.shown = False
        self._last: tuple[str, str] | None = None

    def hider(self) -> widgets.HTML:
        """A widget to put inside the live view: while it renders, the snapshot is hidden.
        (Its own box is `display:none`; the style inside still applies.)"""
        view = widgets.HTML(
            f"<style>.{self.css_class}{{display:none}}</style>",
            layout=widgets.Layout(display="none"),
        )
        view.add_class("kitta-snap-hider")
        return view

    def bundle(self, html: str, text: str) -> dict[str, str]:
        hide_error = (
            f"<style>.jp-OutputArea-child:has(.{self.css_class}) + .jp-OutputArea-child "
            ".jp-OutputArea-output.jupyter-widgets:not(:has(*)){display:none}</style>"
        )
        return {
            "text/html": f'<div class="kitta-snap {self.css_class}">{html}{hide_error}</div>',
            "text/plain": text,
        }

    def display(self, view: widgets.Widget, text: str) -> None:
        """Display the snapshot (all copies share one id), then the live `view`, which
        hides it while it is drawn; `text` is the view's `text/plain`."""
        from IPython.display import display

        if not in_colab():
            self._last = self.content()
            display(self.bundle(*self._last), raw=True, display_id=self.display_id)
            self.shown = True
        # The widget with a short `text/plain` (what an untrusted notebook, a text export
        # or a frontend without widgets shows in its place).
        bundle: Any = view._repr_mimebundle_()
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle or {})
        data["text/plain"] = text
        display(data, raw=True)

    def refresh(self) -> None:
        """Replace every shown copy, when the content changed."""
        if not self.shown:
            return
        content = self.content()
        if content != self._last:
            from IPython.display import update_display

            self._last = content
            update_display(self.bundle(*content), raw=True, display_id=self.display_id)
