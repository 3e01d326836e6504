"""`HistoryBrowser`: every task of the account as a paged, filterable table.

Each page is one SQL query against the local journal (indexes, LIMIT/OFFSET),
so ten thousand tasks cost no more to show than twenty. The row widgets are
built once and refilled on every page. Server calls (sync, refresh, watch,
download, reconcile) run as asyncio tasks on the kernel's loop, so the table
stays usable while they work.
"""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from .._history_html import (
    COLUMNS,
    entry_card_html,
    extra_facts_html,
    row_cells,
    state_badge,
    state_label,
    summary_html,
)
from ..display.html import task_html
from ..display.video import MAX_EMBED_BYTES, async_fetch_for_embed, plan_video, render_video
from ..errors import KittaError, WaitTimeoutError
from ..i18n import Lang, check_lang, text
from ..journal import STATES, Journal, JournalEntry, JournalError, JournalSummary, Query

if TYPE_CHECKING:
    from .._async_client import AsyncKittaClient
    from .._base import ClientBase
    from ..models import LipSyncTask

SORTS: tuple[tuple[str, str, bool], ...] = (
    ("history_sort_created_desc", "created", True),
    ("history_sort_created_asc", "created", False),
    ("history_sort_credits_desc", "credits", True),
    ("history_sort_credits_asc", "credits", False),
)
DEFAULT_PAGE_SIZE = 20
DEFAULT_WATCH_TIMEOUT = 1800.0


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _width(key: str) -> str:
    return dict(COLUMNS)[key]


class _Shared:
    """Layout and style models shared by every row: each widget would otherwise bring
    its own, and model count is what makes a table slow to appear."""

    def __init__(self) -> None:
        self.badge = widgets.Layout(width=_width("history_status"), margin="0")
        self.button = widgets.Layout(width=_width("history_task"), height="26px", margin="1px 0")
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


class _Row:
    """One reusable table row: badge, a clickable task id, the other cells."""

    def __init__(self, shared: _Shared, on_open: Callable[[_Row], None]) -> None:
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
        self.rest.value = _rest_html(cells[2:])


def _rest_html(cells: list[str]) -> str:
    return "".join(
        f'<span style="display:inline-block;width:{width};overflow:hidden;'
        "text-overflow:ellipsis;white-space:nowrap;vertical-align:middle;"
        f'font-size:13px;padding-right:4px;box-sizing:border-box">{content}</span>'
        for content, (_, width) in zip(cells, COLUMNS[2:], strict=True)
    )


_GRID_COLUMNS = f"{_width('history_status')} {_width('history_task')} max-content"
_GRID_GAP = "0px 8px"


def _grid_header(lang: Lang) -> str:
    cells = [f"<b>{_esc(text(key, lang))}</b>" for key, _ in COLUMNS]
    return (
        f'<div style="display:grid;grid-template-columns:{_GRID_COLUMNS};column-gap:8px;'
        'font-size:12px;color:#59636e;border-bottom:1px solid #d0d7de;padding:2px 0">'
        f"<div>{cells[0]}</div><div>{cells[1]}</div><div>{_rest_html(cells[2:])}</div></div>"
    )


class HistoryBrowser:
    """Browse, filter and act on every task in the journal (and on the server).

    >>> HistoryBrowser(client)              # or HistoryBrowser() for connect()

    `lang` is "en" or "zh". With `sync=True` (the default inside a running
    kernel) the server's list is read in the background once, so tasks
    created elsewhere appear too. Selecting a row shows its task card.
    """

    def __init__(
        self,
        client: ClientBase | None = None,
        lang: str = "en",
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        sync: bool | None = None,
        poll_interval: float | None = None,
        watch_timeout: float | None = None,
        embed: bool | None = None,
        max_embed_bytes: int = MAX_EMBED_BYTES,
        download_dir: str | Path | None = None,
    ) -> None:
        self.lang: Lang = check_lang(lang)
        if client is None:
            from ..connection import connect

            client = connect(quiet=True)
        self.client: ClientBase = client
        journal = client.journal
        if journal is None:
            reason = "journal=False" if client.has_token else "no API token"
            raise JournalError(text("history_no_journal", "en", reason=reason))
        self.journal: Journal = journal
        if not isinstance(page_size, int) or page_size < 1:
            raise ValueError("page_size must be a whole number ≥ 1")
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.watch_timeout = DEFAULT_WATCH_TIMEOUT if watch_timeout is None else watch_timeout
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
        lang_ = self.lang

        def option(key: str) -> str:
            return text(key, lang_)

        shared = self._shared = _Shared()
        self._title = (
            f'<div style="font-weight:600;font-size:14px">{_esc(option("history_title"))}</div>'
        )
        self.summary_view = shared.html(css_class="kitta-history-summary-box")
        self.status_filter = widgets.Dropdown(
            options=[(option("history_all_statuses"), "")]
            + [(state_label(s, lang_), s) for s in STATES],
            value="",
            layout=widgets.Layout(width="170px"),
        )
        self.status_filter.add_class("kitta-history-status")
        self.mode_filter = widgets.Dropdown(
            options=[
                (option("history_all_modes"), ""),
                (option("history_mode_video"), "video"),
                (option("history_mode_image"), "image"),
            ],
            value="",
            layout=widgets.Layout(width="130px"),
        )
        self.mode_filter.add_class("kitta-history-mode")
        self.search = widgets.Text(
            placeholder=option("history_search"),
            continuous_update=False,
            layout=widgets.Layout(width="240px"),
        )
        self.search.add_class("kitta-history-search")
        self.sort = widgets.Dropdown(
            options=[(option(key), f"{column}:{int(desc)}") for key, column, desc in SORTS],
            value="created:1",
            layout=widgets.Layout(width="150px"),
        )
        self.sort.add_class("kitta-history-sort")
        self.sync_button = self._action("history_sync", "cloud-download", self.sync)
        for control in (self.status_filter, self.mode_filter, self.search, self.sort):
            control.observe(self._on_filter, names="value")

        self.header = shared.html(_grid_header(lang_))
        self.rows = [_Row(shared, self._on_open) for _ in range(page_size)]
        self.grid = widgets.GridBox(
            layout=widgets.Layout(
                grid_template_columns=_GRID_COLUMNS, grid_gap=_GRID_GAP, align_items="center"
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
                    [
                        self.status_filter,
                        self.mode_filter,
                        self.search,
                        self.sort,
                        self.sync_button,
                    ],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                table,
                widgets.HBox(
                    [self.prev_button, self.page_label, self.next_button],
                    layout=widgets.Layout(align_items="center", margin="4px 0"),
                ),
                self.note,
            ],
            layout=widgets.Layout(max_width="1100px"),
        )
        self.widget.add_class("kitta-history")
        self.render()
        if sync is None:
            sync = _running_loop() is not None
        if sync:
            self.sync()

    # --- building blocks ------------------------------------------------------
    def _action(
        self, key: str, icon: str, handler: Callable[[], object], *, hideable: bool = False
    ) -> widgets.Button:
        """A button; `hideable` ones get their own layout (shown and hidden one by one)."""
        layout = (
            widgets.Layout(width="auto", margin="2px 6px 2px 0")
            if hideable
            else self._shared.action
        )
        button = widgets.Button(
            description=text(key, self.lang),
            icon=icon,
            layout=layout,
            style=self._shared.button_style,
        )
        button.add_class("kitta-history-" + key.removeprefix("history_").replace("_", "-"))
        button.on_click(lambda _b: handler())
        return button

    def _build_detail(self) -> None:
        """The card and its actions, built at the first selection (not for the first page)."""
        if hasattr(self, "detail"):
            return
        self.card = widgets.HTML()
        self.card.add_class("kitta-history-card")
        self.watch_button = self._action("history_watch", "eye", self._on_watch, hideable=True)
        self.refresh_button = self._action(
            "history_refresh", "refresh", self._on_refresh, hideable=True
        )
        self.download_button = self._action(
            "history_download", "download", self._on_download, hideable=True
        )
        self.reconcile_button = self._action(
            "history_reconcile", "search", self._on_reconcile, hideable=True
        )
        self.labels_input = widgets.Text(
            placeholder=text("history_labels_placeholder", self.lang),
            layout=widgets.Layout(width="220px"),
        )
        self.labels_input.add_class("kitta-history-labels")
        self.labels_button = self._action("history_save_labels", "tag", self._on_labels)
        self.detail = widgets.VBox(
            [
                self.card,
                widgets.HBox(
                    [
                        self.watch_button,
                        self.refresh_button,
                        self.download_button,
                        self.reconcile_button,
                        self.labels_input,
                        self.labels_button,
                    ],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
            ],
            layout=widgets.Layout(margin="8px 0 0 0"),
        )
        self.detail.add_class("kitta-history-detail")
        self.widget.children = (*self.widget.children, self.detail)

    @property
    def query(self) -> Query:
        return Query.build(
            status=self.status_filter.value or None,
            mode=self.mode_filter.value or None,
            search=self.search.value or None,
        )

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    # --- the table ----------------------------------------------------------------
    def render(self, *, totals: bool = True) -> None:
        """Query the current page and refill the table; `totals` recounts the filtered set."""
        query = self.query
        if totals:
            self.total = self.journal.count(query)
            self.summary = self.journal.summary(query)
            self.summary_view.value = self._title + summary_html(self.summary, self.lang)
        self.page = min(max(self.page, 0), self.pages - 1)
        column, desc = self.sort.value.split(":")
        self.entries = self.journal.entries(
            query,
            sort=column,
            descending=desc == "1",
            limit=self.page_size,
            offset=self.page * self.page_size,
        )
        self._fill()
        self.page_label.value = (
            f'<span style="margin:0 10px">'
            f"{_esc(text('history_page', self.lang, page=self.page + 1, pages=self.pages))}</span>"
        )
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.pages - 1

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
        empty = _esc(text("history_empty", self.lang))
        self.empty.value = (
            "" if self.entries else f'<div style="color:#59636e;padding:6px 0">{empty}</div>'
        )

    def go(self, page: int) -> None:
        """Show page `page` (0-based; clamped to the pages there are)."""
        self.page = page
        self.render(totals=False)

    def _on_filter(self, _change: Any) -> None:
        self.page = 0
        self.render()

    def set_filters(
        self,
        *,
        status: str | None = None,
        mode: str | None = None,
        search: str | None = None,
        sort: str | None = None,
    ) -> None:
        """Set several filters at once (one query); `sort` like 'credits:1' (descending)."""
        with self.widget.hold_trait_notifications():
            for control in (self.status_filter, self.mode_filter, self.search, self.sort):
                control.unobserve(self._on_filter, names="value")
            try:
                if status is not None:
                    self.status_filter.value = status
                if mode is not None:
                    self.mode_filter.value = mode
                if search is not None:
                    self.search.value = search
                if sort is not None:
                    self.sort.value = sort
            finally:
                for control in (self.status_filter, self.mode_filter, self.search, self.sort):
                    control.observe(self._on_filter, names="value")
        self.page = 0
        self.render()

    # --- the selected task ------------------------------------------------------------
    def _on_open(self, row: _Row) -> None:
        if row.entry is not None:
            self.select(row.entry)

    def select(self, entry: JournalEntry | str) -> None:
        """Open the card of an entry (or a task id)."""
        found = self.journal.get(entry) if isinstance(entry, str) else entry
        if found is None:
            raise KeyError(f"no journal entry for {entry!r}")
        self._build_detail()
        self._stop_watching()
        self.selected = found
        self.selected_task = found.task(self.client)
        self._video_html = ""
        self.labels_input.value = ", ".join(found.labels)
        self._show_card()
        self._load_video()
        self._fill()

    def _show_card(self, note: str | None = None) -> None:
        entry = self.selected
        if entry is None:
            return
        task = self.selected_task
        if task is None:
            self.card.value = entry_card_html(entry, self.lang)
        else:
            self.card.value = task_html(
                task, lang=self.lang, video=self._video_html, note=note
            ) + extra_facts_html(entry, self.lang)
        active = task is not None and not task.is_terminal
        self.watch_button.layout.display = None if active else "none"
        self.watch_button.disabled = self.watching
        self.refresh_button.layout.display = None if entry.task_id else "none"
        self.download_button.layout.display = (
            None if task is not None and task.succeeded else "none"
        )
        self.reconcile_button.layout.display = None if entry.needs_reconcile else "none"

    def _load_video(self) -> None:
        task = self.selected_task
        if task is None or not task.result_video_url:
            return
        plan = plan_video(task, self.embed)
        if plan.action != "embed" or plan.url is None:
            self._video_html = render_video(plan, lang=self.lang)
            self._show_card()
            return
        url = plan.url

        async def fetch() -> None:
            data, problem = await async_fetch_for_embed(task, url, self.max_embed_bytes)
            if self.selected_task is task:
                self._video_html = render_video(
                    plan, data, problem, lang=self.lang, max_bytes=self.max_embed_bytes
                )
                self._show_card()

        self._spawn(fetch())

    def _reload_selected(self) -> None:
        """Read the selected entry again from the journal (after a poll or an action)."""
        if self.selected is None:
            return
        fresh = self.journal.get(self.selected.entry_id)
        if fresh is not None:
            self.selected = fresh

    def _set_note(self, message: str, kind: str = "info") -> None:
        self.message = message
        color = {"info": "#59636e", "ok": "#17622d", "error": "#9b1c1c"}.get(kind, "#59636e")
        self.note.value = (
            f'<div style="color:{color};font-size:12px;margin:2px 0">{_esc(message)}</div>'
            if message
            else ""
        )

    # --- actions ----------------------------------------------------------------------
    @property
    def watching(self) -> bool:
        return self._watching is not None and not self._watching.done()

    def _async_client(self) -> AsyncKittaClient:
        return self.client._async_client()

    def _on_watch(self) -> None:
        task = self.selected_task
        if task is None or task.is_terminal or self.watching:
            return

        def on_poll(polled: LipSyncTask, error: Exception | None) -> None:
            if self.selected_task is polled:
                self._reload_selected()
                note = text("retrying", self.lang) if error else text("watching", self.lang)
                self._show_card(note)
                self.render()

        async def follow() -> None:
            try:
                await self._async_client().lip_sync.wait(
                    task,
                    timeout=self.watch_timeout,
                    poll_interval=self.poll_interval,
                    raise_on_failure=False,
                    on_poll=on_poll,
                )
            except WaitTimeoutError:
                seconds = f"{self.watch_timeout:g}"
                self._set_note(text("watch_timeout", self.lang, seconds=seconds))
            if self.selected_task is task:
                self._reload_selected()
                self._show_card()
                self._load_video()
                self.render()

        self._watching = self._spawn(follow())
        self._show_card(text("watching", self.lang))

    def _stop_watching(self) -> None:
        if self._watching is not None and not self._watching.done():
            self._watching.cancel()
        self._watching = None

    def _on_refresh(self) -> None:
        entry = self.selected
        if entry is None or not entry.task_id:
            return
        task_id = entry.task_id

        async def refresh() -> None:
            fresh = await self._async_client().lip_sync.get(task_id)
            if self.selected is not None and self.selected.task_id == task_id:
                fresh._client = self.client
                self.selected_task = fresh
                self._reload_selected()
                self._video_html = ""
                self._show_card()
                self._load_video()
            self.render()

        self._spawn(refresh(), working=True)

    def _on_download(self) -> None:
        task = self.selected_task
        entry = self.selected
        if task is None or entry is None or not task.succeeded:
            return
        target = self.download_dir if self.download_dir is not None else Path.cwd()

        async def download() -> None:
            path = await self._async_client().download(task, target)
            self.journal.record_download(task, path)
            self._reload_selected()
            self._show_card()
            self._set_note(text("history_downloaded", self.lang, path=str(path)), "ok")

        self._spawn(download(), working=True)

    def _on_labels(self) -> None:
        entry = self.selected
        if entry is None:
            return
        labels = [x.strip() for x in self.labels_input.value.split(",")]
        self.journal.set_labels(entry, labels)
        self._reload_selected()
        self._show_card()
        self.render()
        self._set_note(text("history_labels_saved", self.lang), "ok")

    def _on_reconcile(self) -> None:
        async def reconcile() -> None:
            report = await self.journal.areconcile(self._async_client())
            self._set_note(
                text(
                    "history_reconciled",
                    self.lang,
                    matched=len(report.matched),
                    absent=len(report.absent),
                    unresolved=len(report.unresolved),
                ),
                "ok",
            )
            if self.selected is not None:
                self._reload_selected()
                self.selected_task = self.selected.task(self.client)
                self._show_card()
            self.render()

        self._spawn(reconcile(), working=True)

    def sync(self) -> asyncio.Task[Any] | None:
        """Read the server's list into the journal (in the background), then redraw."""
        from ..history import AsyncHistory

        async def run() -> None:
            self.sync_button.disabled = True
            self._set_note(text("history_syncing", self.lang))
            try:
                report = await AsyncHistory(self._async_client()).sync()
            finally:
                self.sync_button.disabled = False
            self._set_note(text("history_synced", self.lang, new=report.new), "ok")
            self.render()

        return self._spawn(run())

    # --- running coroutines -------------------------------------------------------------
    def _spawn(
        self, coro: Coroutine[Any, Any, None], *, working: bool = False
    ) -> asyncio.Task[Any] | None:
        """Run on the kernel's loop; without one (a plain script), run to completion here."""
        if working:
            self._set_note(text("history_working", self.lang))

        async def guarded() -> None:
            try:
                await coro
                if working and self.message == text("history_working", self.lang):
                    self._set_note("")
            except asyncio.CancelledError:
                raise
            except (KittaError, OSError, ValueError) as exc:
                self._set_note(
                    text("history_failed_action", self.lang, reason=f"{type(exc).__name__}: {exc}"),
                    "error",
                )

        loop = _running_loop()
        if loop is None:
            asyncio.run(guarded())
            return None
        task = loop.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def settle(self) -> None:
        """Await every background action of this browser (for tests and scripts)."""
        while True:
            pending = [t for t in self._tasks if not t.done() and t is not asyncio.current_task()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    # --- display ------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return (
            f"HistoryBrowser(journal={str(self.journal.path)!r}, lang={self.lang!r}, "
            f"page={self.page + 1}/{self.pages}, total={self.total})"
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


__all__ = ["HistoryBrowser", "state_badge"]
