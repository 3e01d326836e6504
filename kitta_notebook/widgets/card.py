"""One task as a card: live status, details, error, result video and a save button.

The card renders the snapshots of a `TaskFollower` (display/follow.py), which
follows the task on the kernel's loop, so the notebook stays usable while it
runs. Everything shown is read from the `LipSyncTask` object and the
snapshot; the only I/O is through the client (polling, fetching the result
bytes without the token, saving the file).
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import ipywidgets as widgets

from ..display import follow as background
from ..display.follow import FollowSnapshot, TaskFollower, follow
from ..display.html import (
    format_credits,
    format_seconds,
    in_vscode,
    task_html,
    task_text,
    vscode_note_html,
)
from ..display.video import MAX_EMBED_BYTES, VideoPlan, plan_video, render_video
from ..errors import NoEventLoopError
from ..i18n import Lang, text
from ._frontend import Snapshot, display_widget
from ._messages import describe_error
from .status import StatusIndicator

if TYPE_CHECKING:
    from .._async_client import AsyncKittaClient
    from ..models import LipSyncTask

# Generous: real renders can take minutes; the task keeps running after it anyway.
DEFAULT_CARD_TIMEOUT = 1800.0
_TICK_SECONDS = 1.0
_VIDEO_FORMATS = {".mp4": "mp4", ".webm": "webm", ".mov": "mp4", ".m4v": "mp4"}


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


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
        self.poll_interval = poll_interval
        self.timeout = DEFAULT_CARD_TIMEOUT if timeout is None else timeout
        self.embed = embed
        self.max_embed_bytes = max_embed_bytes
        self.download_dir = download_dir
        self.statuses_seen: list[str] = [task.status_text]
        self.retrying = False
        self.retries = 0
        self.polls = 0
        self.error_text: str | None = None
        self.stopped_reason: str | None = None
        self.video: Any = None
        self.video_bytes: bytes | None = None
        self.video_problem: str | None = None
        self.saved_path: Path | None = None
        self.save_offered = False  # a browser download link stands in for the save button
        self.follower = TaskFollower(
            task,
            timeout=self.timeout,
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
        self.save_button = widgets.Button(
            description=text("card_save", lang),
            icon="download",
            layout=widgets.Layout(display="none", width="auto", margin="2px 8px 2px 0"),
        )
        self.save_button.on_click(self._on_save)
        self.check_button = widgets.Button(
            description=text("card_check_again", lang),
            icon="refresh",
            layout=widgets.Layout(display="none", width="auto", margin="2px 8px 2px 0"),
        )
        self.check_button.on_click(self._on_check_again)
        self.save_button.add_class("kitta-save")
        self.check_button.add_class("kitta-check-again")
        self.action_note = widgets.HTML()
        self._snapshot = Snapshot()
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

    def _elapsed(self) -> float:
        return self.follower.elapsed()

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
        self.indicator.show(task.status, elapsed=self._elapsed(), note=note, active=active)
        self.title.value = (
            f'<div style="font-weight:600">{_esc(text("task", self.lang))} '
            f'<code class="kitta-task-id">{_esc(task.task_id)}</code></div>'
        )
        rows = [
            (text("model", self.lang), task.model or "—"),
            (text("input_mode", self.lang), task.input_mode or "—"),
            (text("credits", self.lang), format_credits(task.credits_charged)),
        ]
        if task.is_terminal and task.elapsed_seconds is not None:
            rows.append((text("elapsed", self.lang), format_seconds(task.elapsed_seconds)))
        cells = "".join(
            f'<span style="margin-right:14px"><span style="color:#59636e">{_esc(k)}:</span> '
            f'<span class="kitta-field">{_esc(v)}</span></span>'
            for k, v in rows
        )
        self.details.value = f'<div style="font-size:13px">{cells}</div>'
        problem = self._problem_text()
        if problem:
            self.error.value = (
                '<div class="kitta-error" style="background:#fde2e2;color:#7a1111;'
                f'border-radius:6px;padding:6px 10px">{_esc(problem)}</div>'
            )
            self.error.layout.display = None
        else:
            self.error.value = ""
            self.error.layout.display = "none"
        can_check = not task.is_terminal and not self._polling
        self.check_button.layout.display = None if can_check else "none"
        shown = task.succeeded and not self.save_offered
        self.save_button.layout.display = None if shown else "none"
        if self._snapshot.shown:
            self._snapshot.update(self.snapshot_html(), task_text(task))

    def _problem_text(self) -> str | None:
        if self.task.failed:
            code = self.task.error_code or ""
            message = self.task.error_message or ""
            failed = f"{code}: {message}" if code and message else (code or message)
            self.error_text = f"{text('error', self.lang)}: {failed or '—'}"
            return self.error_text
        return self.error_text

    # --- following the task -------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        """Follow the task on the running loop (returns at once)."""
        if self.following and self._follow_task is not None:
            return self._follow_task
        self.stopped_reason = None
        self.error_text = None
        self._follow_task = background.spawn(self._follow(), name=f"kitta-card-{self.task.task_id}")
        self._polling = True
        self.render()
        return self._follow_task

    async def wait(self) -> LipSyncTask:
        """Await the end of the current follow (the task may still run if it stopped)."""
        if self._follow_task is not None:
            await asyncio.gather(self._follow_task, return_exceptions=True)
        await background.settle(self._tasks)
        return self.task

    def stop(self) -> None:
        """Stop following; the task keeps running on the server."""
        if self._follow_task is not None:
            self._follow_task.cancel()

    def _client(self) -> AsyncKittaClient:
        return self.task._owner()._async_client()

    async def _follow(self) -> None:
        ticker = background.spawn(self._tick())
        try:
            await follow(self.follower, self._client())
        finally:
            ticker.cancel()
            self._polling = False
            self.render()

    def _on_snapshot(self, snap: FollowSnapshot) -> None:
        self.polls, self.retries, self.retrying = snap.polls, snap.retries, snap.retrying
        self._polling = snap.polling
        if snap.phase == "timed_out":
            self.stopped_reason = text("watch_timeout", self.lang, seconds=f"{snap.timeout:g}")
        elif snap.phase == "stopped":
            self.stopped_reason = text("watch_stopped", self.lang)
        elif snap.phase == "failed" and snap.error is not None:
            self.stopped_reason = describe_error(snap.error, self.lang)
        loading = snap.phase == "loading_video"
        self.action_note.value = (
            f"<i>{_esc(text('card_fetching_video', self.lang))}</i>" if loading else ""
        )
        if not snap.active and snap.video is not None and self.video is None:
            self._show_video(snap)
        self.render()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            self.indicator.tick(self._elapsed())

    # --- the result ----------------------------------------------------------
    def _show_video(self, snap: FollowSnapshot) -> None:
        plan = snap.video
        if plan is None:
            return
        if snap.video_bytes is not None and plan.url is not None:
            self.video_bytes = snap.video_bytes
            self.video = widgets.Video(
                value=snap.video_bytes,
                format=_video_format(plan.url),
                autoplay=False,
                loop=False,
                controls=True,
                layout=widgets.Layout(width="480px", max_width="100%"),
            )
            self.video.add_class("kitta-video")
            note = (widgets.HTML(vscode_note_html(self.lang)),) if in_vscode() else ()
            self.video_box.children = (self.video, *note)
            return
        self.video_problem = snap.video_problem
        block = render_video(
            plan,
            None,
            snap.video_problem,
            lang=self.lang,
            max_bytes=self.max_embed_bytes,
        )
        self.video_box.children = (widgets.HTML(block),) if block else ()

    def _on_save(self, _button: object = None) -> None:
        try:
            task = background.spawn(self.save())
        except NoEventLoopError:
            self.action_note.value = _esc(text("panel_no_loop", self.lang))
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def save(self, path: str | Path | None = None) -> Path | None:
        """Save the result video (through the client, without the token); None on failure."""
        target = path if path is not None else self.download_dir
        self.save_button.disabled = True
        try:
            saved = await self._client().download(self.task, target)
        except Exception as exc:
            reason = describe_error(exc, self.lang)
            self.action_note.value = _esc(text("card_save_failed", self.lang, reason=reason))
            return None
        finally:
            self.save_button.disabled = False
        self.saved_path = saved
        self.action_note.value = (
            f"<code>{_esc(text('card_saved', self.lang, path=saved.resolve()))}</code>"
        )
        return saved

    def _on_check_again(self, _button: object = None) -> None:
        try:
            self.start()
        except NoEventLoopError:
            self.action_note.value = _esc(text("panel_no_loop", self.lang))

    def snapshot_html(self) -> str:
        """The card as static HTML, for where the widget cannot be drawn (a saved notebook
        reopened without its kernel). Fetches nothing: the video is inlined only when the
        card already holds its bytes, else linked."""
        plan = plan_video(self.task, self.embed)
        if plan.action == "embed" and self.video_bytes is None:
            plan = VideoPlan("link", plan.url)
        video = render_video(
            plan,
            self.video_bytes,
            self.video_problem,
            lang=self.lang,
            max_bytes=self.max_embed_bytes,
        )
        return task_html(self.task, lang=self.lang, video=video)

    def _ipython_display_(self) -> None:
        """The static card, then the live one, which hides it while it is drawn."""
        self._snapshot.show(self.snapshot_html(), task_text(self.task))
        display_widget(self.widget, repr(self))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"TaskCard(task_id={self.task.task_id!r}, status={self.status_text!r})"


def _video_format(url: str) -> str:
    suffix = Path(urlsplit(url).path).suffix.lower()
    return _VIDEO_FORMATS.get(suffix, "mp4")
