"""The live half of the history browser: the selected task (its card, its follower and
its actions), and the follower of the unfinished rows.

A part of `HistoryBrowser` (a mixin, so the browser keeps one flat set of
attributes for code and tests). The card renders `TaskFollower` snapshots;
every server call goes through the client (which records what it fetches)
and every journal change through `client.history`. `ActiveTasksFollower` is the
rows' state without I/O; `follow_active` drives it with the client's `watch_many`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as widgets

from ..display.compare import resolve_tiles
from ..display.follow import (
    WIDGET_FOLLOW_TIMEOUT,
    FollowSnapshot,
    Snapshots,
    TaskFollower,
    follow,
    running_loop,
    settle,
)
from ..display.history_html import entry_card_html, extra_facts_html
from ..display.html import task_html
from ..errors import KittaError, NotFoundError, WaitManyTimeoutError
from ..i18n import Lang, text
from ._frontend import button, esc, start
from .compare import Compare

if TYPE_CHECKING:
    from .. import AsyncKittaClient, KittaClient
    from ..display.history_html import JournalEntry
    from ..models import LipSyncTask
    from .history import Row, Shared

Work = Callable[["AsyncKittaClient"], Coroutine[Any, Any, None]]


class SelectedTaskView:
    """The detail half of `HistoryBrowser` (see there)."""

    client: KittaClient | AsyncKittaClient
    history: Any  # the client's `History`: reads and label writes go through it
    lang: Lang
    poll_interval: float | None
    watch_timeout: float
    embed: bool | None
    max_embed_bytes: int
    download_dir: str | Path | None
    selected: JournalEntry | None
    selected_task: LipSyncTask | None
    message: str
    widget: widgets.VBox
    note: widgets.HTML
    _watching: asyncio.Task[Any] | None
    _video_html: str
    _tasks: set[asyncio.Task[Any]]
    _shared: Shared

    # Provided by the browser.
    def render(self, *, totals: bool = True) -> None:
        raise NotImplementedError

    def _fill(self) -> None:
        raise NotImplementedError

    def _action(self, key: str, icon: str, handler: Callable[[], object]) -> widgets.Button:
        """A button of its own layout (each is shown and hidden on its own)."""
        css_class = "kitta-history-" + key.removeprefix("history_").replace("_", "-")
        view = button(
            text(key, self.lang), icon, css_class, lambda _b: handler(), margin="2px 6px 2px 0"
        )
        view.style = self._shared.button_style
        return view

    # --- running the server calls ----------------------------------------------------
    def _spawn(self, work: Work, *, working: bool = False) -> asyncio.Task[Any] | None:
        """Run `work(client)` on the kernel's loop; without one (a plain script),
        run it to completion here."""
        if working:
            self._set_note(text("history_working", self.lang))

        async def guarded() -> None:
            try:
                await work(self.client.as_async())
                if working and self.message == text("history_working", self.lang):
                    self._set_note("")
            except asyncio.CancelledError:
                raise
            except (KittaError, OSError, ValueError) as exc:
                self._failed(exc)

        if running_loop() is None:
            asyncio.run(guarded())
            return None
        return start(guarded(), self._tasks)

    async def settle(self) -> None:
        """Await every action of this browser (for tests and scripts); the background
        refresh of unfinished rows goes on (see `stop()`)."""
        await settle(self._tasks)

    def _build_detail(self) -> None:
        """The card and its actions, built at the first selection (not for the first page)."""
        if hasattr(self, "detail"):
            return
        self.card = widgets.HTML()
        self.card.add_class("kitta-history-card")
        self.watch_button = self._action("history_watch", "eye", self._on_watch)
        self.refresh_button = self._action("history_refresh", "refresh", self._on_refresh)
        self.download_button = self._action("history_download", "download", self._on_download)
        self.reconcile_button = self._action("history_reconcile", "search", self._on_reconcile)
        self.labels_input = widgets.Text(
            placeholder=text("history_labels_placeholder", self.lang),
            layout=widgets.Layout(width="220px"),
        )
        self.labels_input.add_class("kitta-history-labels")
        self.labels_button = self._action("history_save_labels", "tag", self._on_labels)
        self.compare_button = self._action("history_compare", "columns", self._on_compare)
        self.compare_box = widgets.VBox()
        self.compare_box.add_class("kitta-history-compare")
        self.compare: Compare | None = None
        self.detail = widgets.VBox(
            [
                self.card,
                widgets.HBox(
                    [
                        self.watch_button,
                        self.refresh_button,
                        self.download_button,
                        self.compare_button,
                        self.reconcile_button,
                        self.labels_input,
                        self.labels_button,
                    ],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.compare_box,
            ],
            layout=widgets.Layout(margin="8px 0 0 0"),
        )
        self.detail.add_class("kitta-history-detail")
        self.widget.children = (*self.widget.children, self.detail)

    # --- the selected task ------------------------------------------------------------
    def _on_open(self, row: Row) -> None:
        if row.entry is not None:
            self.select(row.entry)

    def select(self, entry: JournalEntry | str) -> None:
        """Open the card of an entry (or a task id), in its current state."""
        found = self.history.get(entry)
        if found is None:
            raise KeyError(f"no journal entry for {entry!r}")
        self._build_detail()
        self._stop_watching()
        self._close_compare()
        self.selected = found
        self.selected_task = found.task(self.client.as_sync())
        self._video_html = ""
        self.labels_input.value = ", ".join(found.labels)
        self._show_card()
        self._fill()
        task = self.selected_task
        if task is None:
            return
        if task.is_terminal:
            self._follow_selected(task, poll=False)
        else:
            self._refresh_selected(task.task_id)

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
        succeeded = task is not None and task.succeeded
        shown = {
            self.watch_button: task is not None and not task.is_terminal,
            self.refresh_button: bool(entry.task_id),
            self.download_button: succeeded,
            self.compare_button: succeeded,
            self.reconcile_button: entry.needs_reconcile,
        }
        for view, visible in shown.items():
            view.layout.display = None if visible else "none"
        self.watch_button.disabled = self.watching

    def _reload_selected(self) -> None:
        """Read the selected entry again from the history (after a poll or an action)."""
        if self.selected is None:
            return
        fresh = self.history.get(self.selected.entry_id)
        if fresh is not None:
            self.selected = fresh

    def _adopt(self, fresh: LipSyncTask) -> bool:
        """Show `fresh` (a newer copy of a task) when its task is the selected one."""
        if self.selected is None or self.selected.task_id != fresh.task_id:
            return False
        self.selected_task = fresh
        self._reload_selected()
        return True

    def _set_note(self, message: str, kind: str = "info") -> None:
        self.message = message
        color = {"info": "#59636e", "ok": "#17622d", "error": "#9b1c1c"}.get(kind, "#59636e")
        self.note.value = (
            f'<div style="color:{color};font-size:12px;margin:2px 0">{esc(message)}</div>'
            if message
            else ""
        )

    def _failed(self, exc: Exception) -> None:
        """Say that an action failed, and why."""
        reason = f"{type(exc).__name__}: {exc}"
        self._set_note(text("history_failed_action", self.lang, reason=reason), "error")

    # --- following the selected task ----------------------------------------------------
    @property
    def watching(self) -> bool:
        return self._watching is not None and not self._watching.done()

    def _follower(self, task: LipSyncTask) -> TaskFollower:
        """A `TaskFollower` of `task` whose snapshots redraw the card while it is selected."""
        follower = TaskFollower(
            task,
            timeout=self.watch_timeout,
            poll_interval=self.poll_interval,
            embed=self.embed,
            max_embed_bytes=self.max_embed_bytes,
        )

        def on_snapshot(snap: FollowSnapshot) -> None:
            if not self._adopt(task):
                return  # another row was opened meanwhile
            if snap.phase == "timed_out":
                self._set_note(snap.ended_early(self.lang) or "")
            self._video_html = follower.video_html(self.lang) or self._video_html
            note = None
            if snap.polling:
                note = text("retrying" if snap.retrying else "watching", self.lang)
            self._show_card(note)
            if snap.polls or not snap.active:
                self.render()

        follower.subscribe(on_snapshot)
        return follower

    def _follow_selected(self, task: LipSyncTask, *, poll: bool) -> None:
        """Follow the selected task: poll it until it ends (`poll`), or only load the
        result of a finished one."""
        follower = self._follower(task)

        async def run(client: AsyncKittaClient) -> None:
            if poll or task.is_terminal:
                await follow(follower, client)

        spawned = self._spawn(run)
        if poll:
            self._watching = spawned
            self._show_card(text("watching", self.lang))

    def _refresh_selected(self, task_id: str, *, clicked: bool = False) -> None:
        """Fetch the selected task once, so its card shows the current state (and, once
        finished, its result). `clicked`: the Refresh button, which also loads the
        result again (for a fresh URL) and says it is working."""

        async def run(client: AsyncKittaClient) -> None:
            fresh = await client.lip_sync.get(task_id)
            if self._adopt(fresh):
                if clicked:
                    self._video_html = ""
                self._show_card()
                if fresh.is_terminal and (clicked or not self.watching):
                    await follow(self._follower(fresh), client)
            self.render()

        self._spawn(run, working=clicked)

    def _on_watch(self) -> None:
        task = self.selected_task
        if task is None or task.is_terminal or self.watching:
            return
        self._follow_selected(task, poll=True)

    def _stop_watching(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
        self._watching = None

    # --- actions ----------------------------------------------------------------------
    def _on_refresh(self) -> None:
        if self.selected is not None and self.selected.task_id:
            self._refresh_selected(self.selected.task_id, clicked=True)

    def _on_download(self) -> None:
        task = self.selected_task
        entry = self.selected
        if task is None or entry is None or not task.succeeded:
            return
        target = self.download_dir if self.download_dir is not None else Path.cwd()

        async def download(client: AsyncKittaClient) -> None:
            path = await client.download(task, target)  # the client records where it went
            self._reload_selected()
            self._show_card()
            self._set_note(text("history_downloaded", self.lang, path=str(path)), "ok")

        self._spawn(download, working=True)

    def _on_compare(self) -> None:
        """Show the selected result next to its input, below the card. The media are
        fetched on a worker thread: the table stays usable meanwhile."""
        task = self.selected_task
        if task is None or not task.succeeded or self.compare_button.disabled:
            return
        self._close_compare()
        self.compare_button.disabled = True

        async def compare(_client: AsyncKittaClient) -> None:
            try:
                tiles = await asyncio.to_thread(
                    resolve_tiles,
                    [task],
                    embed=self.embed,
                    max_bytes=self.max_embed_bytes,
                    lang=self.lang,
                )
            finally:
                self.compare_button.disabled = False
            if self.selected_task is None or self.selected_task.task_id != task.task_id:
                return  # another row was opened meanwhile
            view = Compare(tiles=tiles, lang=self.lang)
            self.compare = view
            self.compare_box.children = (view.player,)
            if self.message == text("history_comparing", self.lang):
                self._set_note("")

        self._set_note(text("history_comparing", self.lang))
        self._spawn(compare)

    def _close_compare(self) -> None:
        if self.compare is not None:
            self.compare.player.close()
        self.compare = None
        self.compare_box.children = ()

    def _on_labels(self) -> None:
        entry = self.selected
        if entry is None:
            return
        labels = [x.strip() for x in self.labels_input.value.split(",")]
        try:
            self.history.set_labels(entry, labels)
        except KittaError as exc:  # a label refused, or the journal unreachable: said here
            self._failed(exc)
            return
        self._reload_selected()
        self._show_card()
        self.render()
        self._set_note(text("history_labels_saved", self.lang), "ok")

    def _on_reconcile(self) -> None:
        async def reconcile(client: AsyncKittaClient) -> None:
            report = await client.history.reconcile()
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
                self.selected_task = self.selected.task(self.client.as_sync())
                self._show_card()
            self.render()

        self._spawn(reconcile, working=True)


# --- many unfinished rows (the history browser) ----------------------------------------------
ACTIVE_STATUSES = ("pending", "processing")  # the statuses of an unfinished row
RowsPhase = Literal["following", "idle", "timed_out", "stopped", "failed"]


@dataclass(frozen=True)
class RowsSnapshot:
    """One change of the unfinished rows: the tasks that just finished, or how it ended."""

    updated: tuple[LipSyncTask, ...] = ()
    active: int = 0
    polls: int = 0
    error: BaseException | None = None
    phase: RowsPhase = "following"


class ActiveTasksFollower(Snapshots[RowsSnapshot]):
    """The state of keeping many unfinished rows current, without I/O."""

    def __init__(
        self, *, poll_interval: float | None = None, timeout: float = WIDGET_FOLLOW_TIMEOUT
    ) -> None:
        super().__init__()
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.missing: set[str] = set()
        self._snapshot = RowsSnapshot()

    def watched(self, known: Mapping[str, str]) -> dict[str, str]:
        """The tasks worth following: the unfinished ones the server has not said are gone."""
        return {k: v for k, v in known.items() if k not in self.missing}

    def polled(self, updated: tuple[LipSyncTask, ...], active: int) -> RowsSnapshot:
        """News from the client's watch: `updated` tasks ended, `active` are left."""
        return self._emit(updated=updated, active=active, polls=self._snapshot.polls + 1)

    def gone(self, task_id: str) -> None:
        """The server no longer knows this task (404): stop asking for it."""
        self.missing.add(task_id)

    def ended(self, phase: RowsPhase, error: BaseException | None = None) -> RowsSnapshot:
        return self._emit(updated=(), phase=phase, error=error)


async def follow_active(
    follower: ActiveTasksFollower,
    client: KittaClient | AsyncKittaClient,
    unfinished: Callable[[], Mapping[str, str]],
) -> None:
    """Keep the tasks `unfinished()` names current until none is left or time is up.

    The client's `watch_many` follows them (list pages, then the detail of each
    task that ended; the client records what it fetches); each task it hands
    back is a row to redraw. Rows found unfinished afterwards (learnt meanwhile)
    start another round.
    """
    lip_sync = client.as_async().lip_sync
    deadline = time.monotonic() + follower.timeout
    try:
        while known := follower.watched(unfinished()):
            left = deadline - time.monotonic()
            if left <= 0:
                follower.ended("timed_out")
                return
            watch = lip_sync.watch_many(
                list(known), timeout=left, poll_interval=follower.poll_interval, progress=False
            )
            active = len(known)
            try:
                async for task in watch:
                    active -= 1
                    follower.polled((task,), active)
            except WaitManyTimeoutError:
                follower.ended("timed_out")
                return
            except NotFoundError:  # the server lost a task; which one, it does not say: ask
                for task_id in known:
                    try:
                        await lip_sync.get(task_id)
                    except NotFoundError:
                        follower.gone(task_id)
            follower.polled((), 0)
    except asyncio.CancelledError:
        follower.ended("stopped")
        raise
    except Exception as exc:  # a view never raises: it shows what happened
        follower.ended("failed", exc)
        return
    follower.ended("idle")
