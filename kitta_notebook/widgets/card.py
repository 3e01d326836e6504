"""One task as a card: live status, details, error, result video and a save button; and
a batch's live progress bar (`WidgetProgress`).

The card renders the snapshots of a `TaskFollower` (display/follow.py), which
follows the task on the kernel's loop, so the notebook stays usable while it
runs. Everything shown is read from the `LipSyncTask` object and the
snapshot; the only I/O is through the client (polling, fetching the result
bytes without the token, saving the file). In Voila the save hands the bytes
to the visitor's browser instead of the kernel's disk (`offer_browser_save`).

`WidgetProgress` is one HTML widget drawn from each batch snapshot by the batch layer's
own view (`display.gallery.progress_html`: green, red and grey segments, so a batch with
failures never looks all green), updated from the thread that runs the batch. When the
batch ends, the output is replaced by that static HTML and the widget is closed, so a
saved notebook shows the final counts instead of "Error displaying widget". Batches show
`HtmlProgress` by default; pass `progress=WidgetProgress` to `create_many`/`watch_many`
to get this one.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import ipywidgets as widgets

from ..batch.progress import ProgressSnapshot
from ..display.follow import (
    WIDGET_FOLLOW_TIMEOUT,
    FollowSnapshot,
    TaskFollower,
    follow,
    settle,
    spawn,
)
from ..display.gallery import HtmlProgress, progress_html
from ..display.html import (
    badge_html,
    error_html,
    facts_html,
    format_seconds,
    in_vscode,
    task_html,
    task_text,
    vscode_note_html,
)
from ..display.video import (
    MAX_EMBED_BYTES,
    VideoPlan,
    async_fetch_for_embed,
    plan_video,
    render_video,
)
from ..errors import NoEventLoopError
from ..i18n import Lang, text
from ._frontend import Snapshot, button, esc, show, start
from ._messages import describe_error

if TYPE_CHECKING:
    from ..models import LipSyncTask

_TICK_SECONDS = 1.0
_VIDEO_FORMATS = {".mp4": "mp4", ".webm": "webm", ".mov": "mp4", ".m4v": "mp4"}
# Base64 grows a file by a third and travels through the widget's state.
MAX_BROWSER_SAVE_BYTES = 24 * 1024 * 1024


# Position of each documented status on the step bar (of 3).
_STEPS = {"pending": 1, "processing": 2, "succeeded": 3, "failed": 3}
_BAR_STYLES = {"pending": "", "processing": "info", "succeeded": "success", "failed": "danger"}

# A CSS-only spinner: it turns in the browser without any message from the kernel.
_SPINNER = (
    "<style>@keyframes kitta-spin{to{transform:rotate(360deg)}}</style>"
    '<span class="kitta-spinner" title="working" style="display:inline-block;width:12px;'
    "height:12px;border:2px solid #9cc3ea;border-top-color:#0b4f8a;border-radius:50%;"
    'animation:kitta-spin .8s linear infinite"></span>'
)


class StatusIndicator:
    """Badge + spinner + progress steps + elapsed time + status text, for one task."""

    def __init__(self, lang: Lang = "en") -> None:
        self.lang = lang
        self.status = "unknown"
        self.status_text = ""
        self.note: str | None = None
        self.spinning = False
        self.badge = widgets.HTML(layout=widgets.Layout(margin="0 6px 0 0"))
        self.spinner = widgets.HTML(layout=widgets.Layout(margin="0 4px 0 0", width="16px"))
        self.progress = widgets.IntProgress(
            value=0, min=0, max=3, layout=widgets.Layout(width="90px", margin="0 4px")
        )
        self.elapsed = widgets.Label(layout=widgets.Layout(margin="0 6px 0 0", min_width="60px"))
        self.label = widgets.HTML(layout=widgets.Layout(margin="0"))
        self.widget = widgets.HBox(
            [self.badge, self.spinner, self.progress, self.elapsed, self.label],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.widget.add_class("kitta-status")

    def show(
        self,
        status: object,
        *,
        elapsed: float | None = None,
        note: str | None = None,
        active: bool | None = None,
    ) -> None:
        """Render a status. `active` (default: not finished) turns the spinner on."""
        key = str(status) if status is not None else "unknown"
        known = key in _STEPS
        finished = key in ("succeeded", "failed")
        self.status = key
        self.note = note
        self.spinning = (not finished) if active is None else active
        summary = text(f"card_status_{key}" if known else "card_status_unknown", self.lang)
        self.status_text = f"{summary} · {note}" if note else summary
        self.badge.value = badge_html(status, self.lang)
        self.spinner.value = _SPINNER if self.spinning else ""
        self.progress.value = _STEPS.get(key, 1)
        self.progress.bar_style = _BAR_STYLES.get(key, "warning")
        self.elapsed.value = format_seconds(elapsed) if elapsed is not None else ""
        self.label.value = (
            f'<span class="kitta-status-text" data-status="{esc(key)}">'
            f"{esc(self.status_text)}</span>"
        )

    def tick(self, elapsed: float) -> None:
        """Update only the elapsed time (called every second while the task runs)."""
        self.elapsed.value = format_seconds(elapsed)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class TaskCard:
    """The view of one submitted task, kept current until it finishes.

    Plain state for code and tests: `task`, `status_text` (the raw status),
    `statuses_seen`, `retrying`, `retries`, `error_text`, `stopped_reason`,
    `video` (an `ipywidgets.Video` once the bytes are in) and `video_bytes`.
    """

    def __init__(
        self,
        task: LipSyncTask,
        *,
        lang: Lang = "en",
        poll_interval: float | None = None,
        timeout: float | None = None,
        embed: bool | None = None,
        max_embed_bytes: int = MAX_EMBED_BYTES,
        download_dir: str | Path | None = None,
    ) -> None:
        self.task = task
        self.lang = lang
        self.download_dir = download_dir
        self.statuses_seen: list[str] = [task.status_text]
        self.retrying = False
        self.retries = 0
        self.polls = 0
        self.stopped_reason: str | None = None
        self.video: Any = None
        self.video_bytes: bytes | None = None
        self.saved_path: Path | None = None
        self.save_offered = False  # a browser download link stands in for the save button
        self.follower = TaskFollower(
            task,
            timeout=WIDGET_FOLLOW_TIMEOUT if timeout is None else timeout,
            poll_interval=poll_interval,
            embed=embed,
            max_embed_bytes=max_embed_bytes,
        )
        self.follower.subscribe(self._on_snapshot)
        self._follow_task: asyncio.Task[None] | None = None
        self._polling = False
        self._tasks: set[asyncio.Task[Any]] = set()

        self.indicator = StatusIndicator(lang)
        self.title = widgets.HTML()
        self.details = widgets.HTML()
        self.error = widgets.HTML(layout=widgets.Layout(display="none"))
        self.video_box = widgets.VBox(layout=widgets.Layout(margin="4px 0 0 0"))
        self.save_button = self._button("card_save", "download", "kitta-save", self._on_save)
        self.check_button = self._button(
            "card_check_again", "refresh", "kitta-check-again", self._on_check_again
        )
        self.action_note = widgets.HTML()
        self._snapshot = Snapshot(lambda: (self.snapshot_html(), task_text(self.task)))
        self.widget = widgets.VBox(
            [
                self.title,
                self.indicator.widget,
                self.details,
                self.error,
                self.video_box,
                widgets.HBox(
                    [self.save_button, self.check_button, self.action_note],
                    layout=widgets.Layout(align_items="center"),
                ),
                self._snapshot.hider(),
            ],
            layout=widgets.Layout(
                border="1px solid #d0d7de", padding="8px 12px", margin="6px 0", max_width="760px"
            ),
        )
        self.widget.add_class("kitta-card")
        self.render()

    def _button(self, key: str, icon: str, css_class: str, handler: Any) -> widgets.Button:
        label = text(key, self.lang)
        return button(label, icon, css_class, handler, display="none", margin="2px 8px 2px 0")

    # --- state -------------------------------------------------------------
    @property
    def status_text(self) -> str:
        """The task's status as received (`pending`, `processing`, `succeeded`, `failed`)."""
        return self.task.status_text

    @property
    def done(self) -> bool:
        """True once the task is finished and the card shows its result (video included)."""
        return self.task.is_terminal and not self.following

    @property
    def following(self) -> bool:
        """True while the card polls the task or loads its result."""
        return self._follow_task is not None and not self._follow_task.done()

    # --- rendering ---------------------------------------------------------
    def render(self, note: str | None = None) -> None:
        """Redraw everything from `self.task` (and the card's own notes)."""
        task = self.task
        if not self.statuses_seen or self.statuses_seen[-1] != task.status_text:
            self.statuses_seen.append(task.status_text)
        if note is None:
            if self.retrying:
                note = text("retrying", self.lang)
            elif self.stopped_reason:
                note = text("card_stopped", self.lang, reason=self.stopped_reason)
        active = self._polling and not task.is_terminal
        self.indicator.show(task.status, elapsed=self.follower.elapsed(), note=note, active=active)
        self.title.value = (
            f'<div style="font-weight:600">{esc(text("task", self.lang))} '
            f'<code class="kitta-task-id">{esc(task.task_id)}</code></div>'
        )
        self.details.value = facts_html(task, self.lang)
        show(self.error, error_html(task, self.lang) if task.failed else "")
        can_check = not task.is_terminal and not self._polling
        self.check_button.layout.display = None if can_check else "none"
        shown = task.succeeded and not self.save_offered
        self.save_button.layout.display = None if shown else "none"
        self._snapshot.refresh()

    @property
    def error_text(self) -> str | None:
        """The failed task's error as one line (None until the task failed)."""
        if not self.task.failed:
            return None
        failed = ": ".join(x for x in (self.task.error_code, self.task.error_message) if x)
        return f"{text('error', self.lang)}: {failed or '—'}"

    # --- following the task -------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        """Follow the task on the running loop (returns at once)."""
        if self.following and self._follow_task is not None:
            return self._follow_task
        self.stopped_reason = None
        self._follow_task = spawn(self._follow(), name=f"kitta-card-{self.task.task_id}")
        self._tasks.add(self._follow_task)  # awaited by `settle()` (the panel's too)
        self._follow_task.add_done_callback(self._tasks.discard)
        self._polling = True
        self.render()
        return self._follow_task

    async def wait(self) -> LipSyncTask:
        """Await the end of the current follow (the task may still run if it stopped)."""
        if self._follow_task is not None:
            await asyncio.gather(self._follow_task, return_exceptions=True)
        await settle(self._tasks)
        return self.task

    def stop(self) -> None:
        """Stop following; the task keeps running on the server."""
        if self._follow_task is not None:
            self._follow_task.cancel()

    async def _follow(self) -> None:
        ticker = spawn(self._tick())
        try:
            await follow(self.follower, self.task.client.as_async())
        finally:
            ticker.cancel()
            self._polling = False
            self.render()

    def _on_snapshot(self, snap: FollowSnapshot) -> None:
        self.polls, self.retries, self.retrying = snap.polls, snap.retries, snap.retrying
        self._polling = snap.polling
        error = snap.error if snap.phase == "failed" else None
        reason = describe_error(error, self.lang) if error else snap.ended_early(self.lang)
        self.stopped_reason = reason or self.stopped_reason
        loading = snap.phase == "loading_video"
        self.action_note.value = (
            f"<i>{esc(text('card_fetching_video', self.lang))}</i>" if loading else ""
        )
        if not snap.active and snap.video is not None and self.video is None:
            self._show_video(snap)
        self.render()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            self.indicator.tick(self.follower.elapsed())

    # --- the result ----------------------------------------------------------
    def _show_video(self, snap: FollowSnapshot) -> None:
        url = snap.video.url if snap.video is not None else None
        if snap.video_bytes is not None and url is not None:
            self.video_bytes = snap.video_bytes
            self.video = widgets.Video(
                value=snap.video_bytes,
                format=_VIDEO_FORMATS.get(Path(urlsplit(url).path).suffix.lower(), "mp4"),
                autoplay=False,
                loop=False,
                controls=True,
                layout=widgets.Layout(width="480px", max_width="100%"),
            )
            self.video.add_class("kitta-video")
            note = (widgets.HTML(vscode_note_html(self.lang)),) if in_vscode() else ()
            self.video_box.children = (self.video, *note)
            return
        block = self.follower.video_html(self.lang)
        self.video_box.children = (widgets.HTML(block),) if block else ()

    def _on_save(self, _button: object = None) -> None:
        if start(self.save(), self._tasks) is None:
            self.action_note.value = esc(text("panel_no_loop", self.lang))

    async def save(self, path: str | Path | None = None) -> Path | None:
        """Save the result video (through the client, without the token); None on failure."""
        target = path if path is not None else self.download_dir
        self.save_button.disabled = True
        try:
            saved = await self.task.async_download(target)
        except Exception as exc:
            reason = describe_error(exc, self.lang)
            self.action_note.value = esc(text("card_save_failed", self.lang, reason=reason))
            return None
        finally:
            self.save_button.disabled = False
        self.saved_path = saved
        self.action_note.value = (
            f"<code>{esc(text('card_saved', self.lang, path=saved.resolve()))}</code>"
        )
        return saved

    def _on_check_again(self, _button: object = None) -> None:
        try:
            self.start()
        except NoEventLoopError:
            self.action_note.value = esc(text("panel_no_loop", self.lang))

    def snapshot_html(self) -> str:
        """The card as static HTML, for where the widget cannot be drawn (a saved notebook
        reopened without its kernel). Fetches nothing: the video is inlined only when the
        card already holds its bytes, else linked."""
        plan = plan_video(self.task, self.follower.embed)
        if plan.action == "embed" and self.video_bytes is None:
            plan = VideoPlan("link", plan.url)
        video = render_video(plan, self.video_bytes, lang=self.lang)
        return task_html(self.task, lang=self.lang, video=video)

    def _ipython_display_(self) -> None:
        """The static card, then the live one, which hides it while it is drawn."""
        self._snapshot.display(self.widget, repr(self))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"TaskCard(task_id={self.task.task_id!r}, status={self.status_text!r})"


# --- saving in the visitor's browser (Voila, Binder: the kernel's disk is not theirs) ------
# The link stands where the "Save video file" button was, and looks like it.
_LINK_STYLE = (
    "display:inline-block;padding:4px 12px;margin:2px 8px 2px 0;border-radius:2px;"
    "background:#eeeeee;color:#1f2328;text-decoration:none;font-size:13px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.25);white-space:nowrap"
)


def download_link_html(data: bytes, filename: str, label: str, title: str = "") -> str:
    """An `<a download>` link that hands `data` to the browser as a file."""
    payload = base64.b64encode(data).decode("ascii")
    hover = f' title="{esc(title)}"' if title else ""
    return (
        f'<a class="kitta-browser-download" download="{esc(filename)}" '
        f'href="data:video/mp4;base64,{payload}"{hover} style="{_LINK_STYLE}">'
        f"⤓ {esc(label)}</a>"
    )


async def save_in_browser(card: TaskCard, max_bytes: int = MAX_BROWSER_SAVE_BYTES) -> bool:
    """Put a browser download link for the card's result in its action note; True when
    done. The kernel fetches the video (without the token, within its deadline) unless
    the card already holds its bytes."""
    lang = card.lang
    plan = plan_video(card.task, embed=True)
    if plan.url is None:
        card.action_note.value = esc(text("video_refused", lang))
        return False
    data = card.video_bytes
    problem = None
    if data is None:
        card.action_note.value = f"<i>{esc(text('card_fetching_video', lang))}</i>"
        data, problem = await async_fetch_for_embed(card.task, plan.url, max_bytes)
    if data is None:
        reason = text("video_unavailable", lang, reason=problem or "unknown")
        card.action_note.value = esc(text("card_save_failed", lang, reason=reason))
        return False
    name = card.task.client.result_file_name(card.task)
    title = text("card_browser_download", lang, name=name)
    card.action_note.value = download_link_html(data, name, text("card_save", lang), title)
    card.save_offered = True  # the link is the one click: the button steps aside
    card.render()
    return True


def offer_browser_save(card: TaskCard, tasks: set[asyncio.Task[Any]]) -> None:
    """Make "Save video file" hand the video to the browser instead of the disk, in one click.

    Once the task has succeeded, the link is prepared at once and takes the button's
    place; should that fail, the button stays and tries again. The running save is
    held in `tasks` (the panel's), which the panel's `settle()` awaits.
    """
    card.save_button.on_click(card._on_save, remove=True)

    def prepare(_button: object = None) -> None:
        start(save_in_browser(card), tasks, "kitta-browser-save")

    def finished(snap: FollowSnapshot) -> None:
        if not snap.active and card.task.succeeded and not card.save_offered:
            prepare()

    card.save_button.on_click(prepare)
    card.follower.subscribe(finished)


class WidgetProgress(HtmlProgress):
    """A live progress widget; `close()` swaps it for its static HTML."""

    redraw_seconds = 0.1  # a widget's value is cheap to redraw

    def __init__(self, *, title: str, total: int, lang: Lang = "en") -> None:
        super().__init__(title=title, total=total, lang=lang)
        self._last = float("-inf")  # the first news shows at once

    def _show(self, first: ProgressSnapshot) -> Any:
        from IPython.display import display

        self.widget = widgets.HTML(progress_html(first, self.lang))
        self.widget.add_class("kitta-progress-widget")
        return display(self.widget, display_id=True)

    def _draw(self, snapshot: ProgressSnapshot) -> None:
        self.widget.value = progress_html(snapshot, self.lang)

    def close(self, snapshot: ProgressSnapshot) -> None:
        self._draw(snapshot)
        super().close(snapshot)
        self.widget.close()  # free the comm: the static HTML replaced it
