"""`HistoryBrowser`: every task of the account as a paged, filterable table.

Each page is one query of `client.history` (the local journal: indexes,
LIMIT/OFFSET), so ten thousand tasks cost no more to show than twenty. The
row widgets are built once and refilled on every page. Unfinished rows are
kept current by an `ActiveTasksFollower` (list pages, then the detail of
each task that changed); the selected task is followed by a `TaskFollower`.
Server calls run as asyncio tasks on the kernel's loop, so the table stays
usable while they work. The widget never writes the journal itself: the
client records what it fetches, and labels go through `client.history`.
The selected task's card, follower and actions are in `history_detail`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from ..display.follow import WIDGET_FOLLOW_TIMEOUT, running_loop, spawn
from ..display.history_html import (
    COLUMNS,
    STATES,
    cells_html,
    head_cells,
    history_html,
    history_text,
    row_cells,
    row_titles,
    state_label,
    summary_html,
)
from ..display.html import muted_html
from ..display.video import MAX_EMBED_BYTES
from ..errors import JournalError, ValidationError
from ..i18n import Lang, check_lang, text
from ._frontend import Snapshot, close_tree, esc, require_widget_frontend
from .history_detail import (
    ACTIVE_STATUSES,
    ActiveTasksFollower,
    RowsSnapshot,
    SelectedTaskView,
    follow_active,
)

if TYPE_CHECKING:
    from .. import AsyncKittaClient, KittaClient
    from ..display.history_html import JournalEntry, JournalSummary
    from ..models import LipSyncTask

SORTS: tuple[tuple[str, str, bool], ...] = (
    ("history_sort_created_desc", "created", True),
    ("history_sort_created_asc", "created", False),
    ("history_sort_credits_desc", "credits", True),
    ("history_sort_credits_asc", "credits", False),
)
DEFAULT_PAGE_SIZE = 20
# A search matching more is shown as "1,000+ tasks", not counted to the end (fast at 1M).
COUNT_AT_MOST = 1000
# At most this many unfinished tasks are kept current at once (the newest).
MAX_LIVE_ROWS = 1000


# --- the table's building blocks: shared styles, one reusable row, the header ----------------
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
        titles = row_titles(entry, lang)[2:]
        self.rest.value = cells_html(cells[2:], titles, first=2, style=_REST_STYLE)


_REST_STYLE = "font-size:13px;padding-right:4px;box-sizing:border-box"
GRID_COLUMNS = f"{width('history_status')} {width('history_task')} max-content"


def grid_header(lang: Lang) -> str:
    cells = head_cells(lang)
    rest = cells_html(cells[2:], first=2, style=_REST_STYLE)
    return (
        f'<div style="display:grid;grid-template-columns:{GRID_COLUMNS};column-gap:8px;'
        'font-size:12px;color:#59636e;border-bottom:1px solid #d0d7de;padding:2px 0">'
        f"<div>{cells[0]}</div><div>{cells[1]}</div><div>{rest}</div></div>"
    )


class HistoryBrowser(SelectedTaskView):
    """Browse, filter and act on every task in the journal (and on the server).

    >>> HistoryBrowser(client)              # or HistoryBrowser() for connect()

    `lang` is "en" or "zh". With `sync=True` (the default inside a running
    kernel) the server's list is read in the background once, so tasks
    created elsewhere appear too. With `live=True` (the same default) the
    unfinished rows are kept current every `live_interval` seconds (default:
    the client's poll interval) for up to `watch_timeout`. Selecting a row
    shows its task card, fetched again when the task had not finished.
    """

    def __init__(
        self,
        client: KittaClient | AsyncKittaClient | None = None,
        lang: str = "en",
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        sync: bool | None = None,
        poll_interval: float | None = None,
        watch_timeout: float | None = None,
        embed: bool | None = None,
        max_embed_bytes: int = MAX_EMBED_BYTES,
        download_dir: str | Path | None = None,
        live: bool | None = None,
        live_interval: float | None = None,
    ) -> None:
        require_widget_frontend(
            "HistoryBrowser",
            "read the history with client.history.items() and client.history.summary() "
            "(each entry's .task(client) is the task; task.watch() follows one).",
        )
        self.lang: Lang = check_lang(lang)
        if client is None:
            from ..connection import connect

            client = connect(quiet=True)
        self.client = client
        if client.journal is None:
            reason = "journal=False" if client.has_token else "no API token"
            raise JournalError(text("history_no_journal", "en", reason=reason))
        # Journal reads are local and quick: the sync history serves every redraw.
        self.history = client.as_sync().history
        if not isinstance(page_size, int) or page_size < 1:
            raise ValidationError([("page_size", "page_size must be a whole number ≥ 1.")])
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.watch_timeout = WIDGET_FOLLOW_TIMEOUT if watch_timeout is None else watch_timeout
        self.embed = embed
        self.max_embed_bytes = max_embed_bytes
        self.download_dir = download_dir
        self.page = 0
        self.total = 0
        self.entries: list[JournalEntry] = []
        self.summary: JournalSummary | None = None
        self.selected: JournalEntry | None = None
        self.selected_task: LipSyncTask | None = None
        self.message = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watching: asyncio.Task[Any] | None = None
        self._video_html = ""
        in_kernel = running_loop() is not None
        self.live = in_kernel if live is None else live
        self.live_rows = ActiveTasksFollower(
            poll_interval=live_interval, timeout=self.watch_timeout
        )
        self.live_rows.subscribe(self._on_rows)
        self._live_task: asyncio.Task[None] | None = None
        lang_ = self.lang

        def option(key: str) -> str:
            return text(key, lang_)

        shared = self._shared = Shared()
        self._snapshot = Snapshot(self._snapshot_content)
        self._title = (
            f'<div style="font-weight:600;font-size:14px">{esc(option("history_title"))}</div>'
        )
        self.summary_view = shared.html(css_class="kitta-history-summary-box")

        self._filter_controls: list[Any] = []  # in the order `set_filters` takes them

        def control(view: widgets.Widget, css_class: str) -> Any:
            view.add_class(f"kitta-history-{css_class}")
            view.observe(self._on_filter, names="value")
            self._filter_controls.append(view)
            return view

        def dropdown(options: list[tuple[str, str]], width: str, css_class: str) -> Any:
            layout = widgets.Layout(width=width)
            return control(widgets.Dropdown(options=options, layout=layout), css_class)

        statuses = [(state_label(s, lang_), s) for s in STATES]
        modes = [(option(f"history_mode_{mode}"), mode) for mode in ("video", "image")]
        sorts = [(option(key), f"{column}:{int(desc)}") for key, column, desc in SORTS]
        self.status_filter = dropdown(
            [(option("history_all_statuses"), ""), *statuses], "170px", "status"
        )
        self.mode_filter = dropdown([(option("history_all_modes"), ""), *modes], "130px", "mode")
        self.creator_filter = dropdown([(option("history_everyone"), "")], "130px", "creator")
        search = widgets.Text(
            placeholder=option("history_search"),
            continuous_update=False,
            layout=widgets.Layout(width="240px"),
        )
        self.search = control(search, "search")
        self.sort = dropdown(sorts, "150px", "sort")
        self.sync_button = self._action("history_sync", "cloud-download", self.sync)
        self._setting_filters = False

        self.header = shared.html(grid_header(lang_))
        self.rows = [Row(shared, self._on_open) for _ in range(page_size)]
        self.grid = widgets.GridBox(
            layout=widgets.Layout(
                grid_template_columns=GRID_COLUMNS, grid_gap="0px 8px", align_items="center"
            )
        )
        self.grid.add_class("kitta-history-table")
        self.empty = shared.html()
        self.prev_button = self._action("history_prev", "", lambda: self.go(self.page - 1))
        self.next_button = self._action("history_next", "", lambda: self.go(self.page + 1))
        self.page_label = shared.html(css_class="kitta-history-page")
        self.note = shared.html(css_class="kitta-history-note")
        table = widgets.VBox(
            [self.header, self.grid, self.empty], layout=widgets.Layout(overflow="auto")
        )
        self.widget = widgets.VBox(
            [
                self.summary_view,
                widgets.HBox(
                    [*self._filter_controls, self.sync_button],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                table,
                widgets.HBox(
                    [self.prev_button, self.page_label, self.next_button],
                    layout=widgets.Layout(align_items="center", margin="4px 0"),
                ),
                self.note,
                self._snapshot.hider(),
            ],
            layout=widgets.Layout(max_width="1100px"),
        )
        self.widget.add_class("kitta-history")
        self.render()  # starts keeping the unfinished rows current
        if sync if sync is not None else in_kernel:
            self.sync()

    @property
    def filters(self) -> dict[str, str | None]:
        """The filters shown, as `client.history` takes them."""
        return {
            "status": self.status_filter.value or None,
            "mode": self.mode_filter.value or None,
            "creator": self.creator_filter.value or None,
            "search": self.search.value or None,
        }

    @property
    def pages(self) -> int:
        """The pages counted (there are more when `summary.more`)."""
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def _pages_text(self) -> str:
        if self.summary is not None and self.summary.more:
            return f"{max(self.pages, self.page + 1)}+"
        return str(self.pages)

    # --- the table ----------------------------------------------------------------
    def render(self, *, totals: bool = True) -> None:
        """Query the current page and refill the table; `totals` recounts the filtered set."""
        filters = self.filters
        if totals or self.summary is None:
            self._offer_creators()
            self.summary = self.history.summary(**filters, at_most=COUNT_AT_MOST)
            self.total = self.summary.total
            self.summary_view.value = self._title + summary_html(self.summary, self.lang)
        more = self.summary.more
        self.page = max(self.page, 0) if more else min(max(self.page, 0), self.pages - 1)
        column, desc = self.sort.value.split(":")
        self.entries = self.history.items(
            **filters,
            sort=column,
            descending=desc == "1",
            limit=self.page_size,
            offset=self.page * self.page_size,
        )
        self._fill()
        self.page_label.value = (
            f'<span style="margin:0 10px">'
            f"{esc(text('history_page', self.lang, page=self.page + 1, pages=self._pages_text))}"
            "</span>"
        )
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = (
            len(self.entries) < self.page_size if more else self.page >= self.pages - 1
        )
        self._snapshot.refresh()
        if totals:
            self.follow_unfinished()  # tasks created since the last round are followed too

    def _fill(self) -> None:
        """Put the current page's entries into the row widgets (no query)."""
        selected_id = self.selected.entry_id if self.selected else None
        visible: list[widgets.Widget] = []
        for index, row in enumerate(self.rows):
            entry = self.entries[index] if index < len(self.entries) else None
            row.show(entry, self.lang, entry is not None and entry.entry_id == selected_id)
            if entry is not None:
                visible.extend(row.cells)
        if tuple(visible) != tuple(self.grid.children):
            self.grid.children = visible
        empty = text("history_empty", self.lang)
        self.empty.value = "" if self.entries else muted_html(empty, ";padding:6px 0")

    def _offer_creators(self) -> None:
        """The "who" filter offers everyone who created an entry (the choice is kept)."""
        everyone = self.creator_filter.options[0]
        options = (everyone, *((name, name) for name in self.history.creators()))
        if options == self.creator_filter.options:
            return
        chosen = self.creator_filter.value
        self._setting_filters = True  # a new list of options resets the value
        try:
            self.creator_filter.options = options
            self.creator_filter.value = chosen if (chosen, chosen) in options else ""
        finally:
            self._setting_filters = False

    def go(self, page: int) -> None:
        """Show page `page` (0-based; clamped to the pages there are)."""
        self.page = page
        self.render(totals=False)

    def _on_filter(self, _change: Any) -> None:
        if self._setting_filters:
            return
        self.page = 0
        self.render()

    def set_filters(
        self,
        *,
        status: str | None = None,
        mode: str | None = None,
        creator: str | None = None,
        search: str | None = None,
        sort: str | None = None,
    ) -> None:
        """Set several filters at once (one query); `sort` like 'credits:1' (descending),
        `creator` one of `client.history.creators()` ('' is everyone)."""
        values = {
            "status": status,
            "mode": mode,
            "creator": creator,
            "search": search,
            "sort": sort,
        }
        chosen = list(zip(self._filter_controls, values.values(), strict=True))
        self._offer_creators()  # someone who created since the last redraw is offered
        for name, (control, value) in zip(values, chosen, strict=True):
            allowed = [o[1] for o in getattr(control, "options", ())]  # (label, value) pairs
            if value is not None and allowed and value not in allowed:
                shown = ", ".join(repr(v) for v in allowed)
                raise ValueError(f"{name} must be one of {shown}; got {value!r}")
        self._setting_filters = True
        try:
            for control, value in chosen:
                if value is not None:
                    control.value = value
        finally:
            self._setting_filters = False
        self._on_filter(None)

    # --- keeping the unfinished rows current ----------------------------------------------
    def _unfinished(self) -> dict[str, str]:
        """The unfinished tasks as recorded (id -> status), newest first."""
        entries = self.history.items(status=ACTIVE_STATUSES, limit=MAX_LIVE_ROWS)
        return {e.task_id: e.state for e in entries if e.task_id}

    def follow_unfinished(self) -> asyncio.Task[None] | None:
        """Keep the unfinished rows current in the background (when `live` and in a kernel)."""
        if not self.live or running_loop() is None:
            return None
        if self._live_task is not None and not self._live_task.done():
            return self._live_task
        if not self._unfinished():
            return None
        client = self.client.as_async()
        self._live_task = spawn(
            follow_active(self.live_rows, client, self._unfinished), name="kitta-history-live"
        )
        return self._live_task

    def stop(self) -> None:
        """Stop every background poll of this browser (the table stays as it is)."""
        if self._live_task is not None:
            self._live_task.cancel()
        self._stop_watching()

    def close(self) -> None:
        """Stop, and remove the live view: the output shows the static snapshot of
        the page as it was last (what a saved notebook keeps)."""
        self.stop()
        self._snapshot.refresh()
        close_tree(self.widget)

    def _on_rows(self, snap: RowsSnapshot) -> None:
        # A row may also have ended through another view of the client (a card, a
        # `resume()` watcher, `wait_many`): the journal then says so before any round
        # fetches it, and the rounds rest with nothing to report. Redraw for that too.
        if not snap.updated and not self._page_is_stale():
            return
        for fresh in snap.updated:
            if self._adopt(fresh):
                self._show_card()
                if fresh.is_terminal and not self.watching:
                    self._follow_selected(fresh, poll=False)
        self.render()

    def _page_is_stale(self) -> bool:
        """True when a row shown unfinished is no longer unfinished in the journal."""
        shown = {e.task_id for e in self.entries if e.task_id and e.state in ACTIVE_STATUSES}
        return bool(shown - set(self._unfinished()))

    def sync(self) -> asyncio.Task[Any] | None:
        """Read the server's list into the journal (in the background), then redraw."""

        async def run(client: AsyncKittaClient) -> None:
            self.sync_button.disabled = True
            self._set_note(text("history_syncing", self.lang))
            try:
                report = await client.history.sync()
            finally:
                self.sync_button.disabled = False
            self._set_note(text("history_synced", self.lang, new=report.new), "ok")
            self.render()
            self.follow_unfinished()

        return self._spawn(run)

    # --- display ------------------------------------------------------------------------
    def _snapshot_content(self) -> tuple[str, str]:
        if self.summary is None:
            return "", repr(self)
        return (
            history_html(self.entries, self.summary, self.lang),
            history_text(self.entries, self.summary),
        )

    def _ipython_display_(self) -> None:
        """The static snapshot of the page, then the live widget, which hides the
        snapshot while it renders (see `widgets._frontend`): after a restart, a saved
        notebook shows the snapshot instead of a broken widget."""
        self._snapshot.display(self.widget, repr(self))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The live widget, plus a static snapshot of the page for where no widget runs
        (a notebook opened without its kernel, nbviewer, GitHub)."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        if self.summary is not None:
            bundle["text/html"], bundle["text/plain"] = self._snapshot_content()
        return bundle

    def __repr__(self) -> str:
        return (
            f"HistoryBrowser(lang={self.lang!r}, page={self.page + 1}/{self._pages_text}, "
            f"total={self.total}{'+' if self.summary and self.summary.more else ''})"
        )
