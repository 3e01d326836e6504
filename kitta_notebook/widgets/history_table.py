"""The history table's building blocks: shared styles, one reusable row, the header.

Rows are built once and refilled on every page; they share their layout and
style models, because model count is what makes a widget table slow to appear.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from ..display.history_html import COLUMNS, row_cells, row_titles, state_label
from ..i18n import Lang, text

if TYPE_CHECKING:
    from ..display.history_html import JournalEntry


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def width(key: str) -> str:
    return dict(COLUMNS)[key]


class Shared:
    """Layout and style models shared by every row: each widget would otherwise bring
    its own, and model count is what makes a table slow to appear."""

    def __init__(self) -> None:
        self.badge = widgets.Layout(width=width("history_status"), margin="0")
        self.button = widgets.Layout(width=width("history_task"), height="26px", margin="1px 0")
        self.rest = widgets.Layout(margin="0")
        self.plain = widgets.Layout()
        self.action = widgets.Layout(width="auto", margin="2px 6px 2px 0")
        self.button_style = widgets.ButtonStyle()
        self.html_style = HTMLStyle()

    def html(self, value: str = "", css_class: str | None = None) -> widgets.HTML:
        view = widgets.HTML(value, layout=self.plain, style=self.html_style)
        if css_class:
            view.add_class(css_class)
        return view


class Row:
    """One reusable table row: badge, a clickable task id, the other cells."""

    def __init__(self, shared: Shared, on_open: Callable[[Row], None]) -> None:
        self.entry: JournalEntry | None = None
        self.badge = widgets.HTML(layout=shared.badge, style=shared.html_style)
        self.badge.add_class("kitta-history-badge")
        self.open_button = widgets.Button(layout=shared.button, style=shared.button_style)
        self.open_button.add_class("kitta-history-open")
        self.open_button.on_click(lambda _button: on_open(self))
        self.rest = widgets.HTML(layout=shared.rest, style=shared.html_style)
        self.rest.add_class("kitta-history-cells")
        self.cells = (self.badge, self.open_button, self.rest)

    @property
    def visible(self) -> bool:
        return self.entry is not None

    def show(self, entry: JournalEntry | None, lang: Lang, selected: bool) -> None:
        self.entry = entry
        if entry is None:
            return
        cells = row_cells(entry, lang)
        self.badge.value = cells[0]
        self.open_button.description = entry.task_id or f"({state_label(entry.state, lang)})"
        self.open_button.tooltip = entry.task_id or entry.entry_id
        self.open_button.button_style = "info" if selected else ""
        self.rest.value = rest_html(cells[2:], row_titles(entry, lang)[2:])


def rest_html(cells: list[str], titles: list[str] | None = None) -> str:
    """The cells after the task id; each clipped one shows its whole text on hover."""
    hovers = [f' title="{esc(t)}"' if t else "" for t in titles or [""] * len(cells)]
    return "".join(
        f'<span{hover} style="display:inline-block;width:{width};overflow:hidden;'
        "text-overflow:ellipsis;white-space:nowrap;vertical-align:middle;"
        f'font-size:13px;padding-right:4px;box-sizing:border-box">{content}</span>'
        for content, hover, (_, width) in zip(cells, hovers, COLUMNS[2:], strict=True)
    )


GRID_COLUMNS = f"{width('history_status')} {width('history_task')} max-content"
GRID_GAP = "0px 8px"


def grid_header(lang: Lang) -> str:
    cells = [f"<b>{esc(text(key, lang))}</b>" for key, _ in COLUMNS]
    return (
        f'<div style="display:grid;grid-template-columns:{GRID_COLUMNS};column-gap:8px;'
        'font-size:12px;color:#59636e;border-bottom:1px solid #d0d7de;padding:2px 0">'
        f"<div>{cells[0]}</div><div>{cells[1]}</div><div>{rest_html(cells[2:])}</div></div>"
    )
