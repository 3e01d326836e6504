"""`LipSyncPanel`: a form to create lip-sync tasks and a live card for each one.

The panel is a thin view over the client's task objects. It validates with
the client's own checks, creates with the async client on the kernel's
running loop (the cell and the kernel stay free), and hands each new task to
a `TaskCard` that follows it to the end. All of its state is plain Python
(`cards`, `message`, `form.shown_errors`, ...), so it can be driven and
checked without a browser.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from traitlets import Unicode

from ..display.video import MAX_EMBED_BYTES
from ..errors import InsufficientCreditsError
from ..i18n import Lang, check_lang, text
from ..server_info import ServerInfo
from ..validation import DEFAULT_MODEL
from . import _async
from ._messages import describe_error, find_balance
from ._server import SAMPLE_FIELDS, initial_server_info, load_server_info
from .card import TaskCard
from .form import LipSyncForm

if TYPE_CHECKING:
    from .._base import ClientBase


class SecretInput(widgets.Password):  # type: ignore[misc]
    """A password field whose value the kernel never echoes back to the browser."""

    value = Unicode("", help="String value").tag(sync=True, echo_update=False)


# Poll pace for the embedded sandbox; other servers use the client's default (3-5 s).
SANDBOX_POLL_INTERVAL = 1.0

_BANNER_COLORS = {
    "info": ("#0b4f8a", "#dcecfb"),
    "success": ("#17622d", "#dcf5e3"),
    "error": ("#7a1111", "#fde2e2"),
    "warning": ("#5c4300", "#fff8e1"),
}


class LipSyncPanel:
    """Create lip-sync tasks from a form and watch them live, newest first.

    >>> panel = LipSyncPanel()            # the sandbox when no token is set
    >>> panel                             # shows the form; "Submit" creates a task

    `client` defaults to `kitta_notebook.connect()`. `lang` is "en" or "zh".
    `poll_interval` and `wait_timeout` tune how each card follows its task;
    `sandbox` names the `Sandbox` serving `client` when it is not the one
    `connect()` started (it only supplies the sample media).
    """

    def __init__(
        self,
        client: ClientBase | None = None,
        lang: str = "en",
        *,
        poll_interval: float | None = None,
        wait_timeout: float | None = None,
        embed: bool | None = None,
        max_embed_bytes: int = MAX_EMBED_BYTES,
        download_dir: str | Path | None = None,
        sandbox: Any = None,
    ) -> None:
        self.lang: Lang = check_lang(lang)
        if client is None:
            from ..connection import connect

            client = connect()
        self.client: ClientBase = client
        self.sandbox = sandbox
        self.embed = embed
        self.max_embed_bytes = max_embed_bytes
        self.download_dir = download_dir
        self.wait_timeout = wait_timeout
        self.server: ServerInfo = initial_server_info(client, sandbox)
        self._poll_interval = poll_interval
        self.cards: list[TaskCard] = []
        self.estimate_text = ""
        self.estimated_credits: int | None = None
        self.message = ""
        self.message_kind = "info"
        self.submitting = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loading: asyncio.Task[None] | None = None

        lang_ = self.lang
        self.header = widgets.HTML()
        self.form = LipSyncForm(
            lang_, require_public_urls=client.is_official, on_change=self._on_form_change
        )
        self.estimate = widgets.HTML()
        self.estimate.add_class("kitta-estimate")
        self.token_note = widgets.HTML()
        self.token_input = SecretInput(
            placeholder=text("panel_token_placeholder", lang_),
            continuous_update=False,  # one sync on Enter/blur, never per keystroke
            layout=widgets.Layout(width="360px"),
        )
        self.token_input.observe(self._on_token, names="value")
        self.token_input.add_class("kitta-token")
        self.token_box = widgets.VBox([self.token_note, self.token_input])
        self.samples_button = widgets.Button(
            description=text("panel_use_samples", lang_),
            icon="magic",
            layout=widgets.Layout(width="auto"),
        )
        self.samples_button.on_click(self._on_samples)
        self.samples_button.add_class("kitta-samples")
        self.submit_button = widgets.Button(
            description=text("panel_submit", lang_),
            button_style="primary",
            icon="play",
            layout=widgets.Layout(width="auto", margin="2px 8px 2px 0"),
        )
        self.submit_button.on_click(self._on_submit)
        self.submit_button.add_class("kitta-submit")
        self.banner = widgets.HTML()
        self.banner.add_class("kitta-banner")
        self.empty_note = widgets.HTML(
            f'<div style="color:#59636e">{html.escape(text("panel_no_tasks", lang_))}</div>'
        )
        self.cards_box = widgets.VBox([self.empty_note])
        self.cards_box.add_class("kitta-cards")
        self.widget = widgets.VBox(
            [
                self.header,
                self.token_box,
                self.form.widget,
                self.estimate,
                widgets.HBox(
                    [self.submit_button, self.samples_button],
                    layout=widgets.Layout(margin="6px 0"),
                ),
                self.banner,
                self.cards_box,
            ],
            layout=widgets.Layout(max_width="800px"),
        )
        self.widget.add_class("kitta-panel")
        self._render_header()
        self._render_token()
        self._render_samples_button()
        self._update_estimate()
        self._show_message("")
        self._start_loading()

    # --- public ------------------------------------------------------------------
    @property
    def poll_interval(self) -> float | None:
        """Seconds between polls: the given value, 1 s on the sandbox, else the client's."""
        if self._poll_interval is not None:
            return self._poll_interval
        return SANDBOX_POLL_INTERVAL if self.server.is_sandbox else None

    @property
    def needs_token(self) -> bool:
        """True when the panel targets the real service and has no token yet."""
        return self.client.is_official and not self.client.has_token

    async def ready(self) -> ServerInfo:
        """Await the server facts (models, prices, samples) being loaded."""
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)
        return self.server

    async def settle(self) -> None:
        """Await every running action of this panel and of its cards."""
        while True:
            pending = [t for t in self._tasks if not t.done()]
            for card in self.cards:
                if card._follow_task is not None and not card._follow_task.done():
                    pending.append(card._follow_task)
                pending.extend(t for t in card._tasks if not t.done())
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    def fill_samples(self) -> bool:
        """Fill the form with the sandbox's sample media; False when there are none."""
        samples = self.server.samples
        if not samples:
            return False
        values: dict[str, str] = {}
        for name, key in SAMPLE_FIELDS.items():
            if name == "audio_url" and self.lang == "zh" and "audio_zh" in samples:
                key = "audio_zh"
            if key in samples:
                values[name] = samples[key].url
        audio_key = "audio_zh" if self.lang == "zh" and "audio_zh" in samples else "audio"
        audio = samples.get(audio_key)
        if audio is not None and audio.duration_seconds is not None:
            values["duration_seconds"] = f"{audio.duration_seconds:g}"
        self.form.fill(values)
        self._show_message(text("panel_samples_filled", self.lang), "info")
        return True

    async def submit(self) -> TaskCard | None:
        """Validate, create the task and start its card; the card, or None when refused.

        Nothing is sent unless the form passes the client's checks. Errors
        become a readable message in the panel, never an exception.
        """
        if self.submitting:
            return None
        request = self.form.validate(show_all=True)
        if request is None:
            self._show_message(text("panel_fix_fields", self.lang), "error")
            return None
        if self.needs_token:
            self._show_message(text("err_missing_token", self.lang), "error")
            return None
        self._set_submitting(True)
        try:
            task = await self.client._async_client().lip_sync.create(**asdict(request))
        except Exception as exc:
            self._show_message(await self._describe(exc), "error")
            return None
        finally:
            self._set_submitting(False)
        card = TaskCard(
            task,
            lang=self.lang,
            poll_interval=self.poll_interval,
            timeout=self.wait_timeout,
            embed=self.embed,
            max_embed_bytes=self.max_embed_bytes,
            download_dir=self.download_dir,
        )
        self.cards.insert(0, card)
        self.cards_box.children = tuple(c.widget for c in self.cards)
        self._show_message(text("panel_submitted", self.lang, task_id=task.task_id), "success")
        card.start()
        return card

    # --- click handlers ------------------------------------------------------------
    def _on_submit(self, _button: object = None) -> asyncio.Task[TaskCard | None] | None:
        """The Submit button: schedule `submit()` on the kernel's loop and return at once."""
        if self.submitting:
            return None
        try:
            task = _async.spawn(self.submit(), name="kitta-panel-submit")
        except _async.NoEventLoopError:
            self._show_message(text("panel_no_loop", self.lang), "error")
            return None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_samples(self, _button: object = None) -> None:
        self.fill_samples()

    def _on_token(self, change: dict[str, Any]) -> None:
        """Take the pasted token and clear the field at once: it must not stay in widget state."""
        value = change.get("new")
        if not value:
            return
        self.token_input.value = ""
        try:
            self.client.set_token(str(value))
        except ValueError:
            self._show_message(text("panel_token_empty", self.lang), "error")
            return
        finally:
            del value
        self._render_token()
        self._show_message(text("panel_token_set", self.lang), "success")
        self._start_loading()

    def _on_form_change(self) -> None:
        self._update_estimate()
        if self.message_kind == "error" and not self.form.problems():
            self._show_message("")

    # --- rendering ---------------------------------------------------------------------
    def _render_header(self) -> None:
        badge = ""
        if self.server.is_sandbox:
            label = html.escape(text("panel_sandbox_badge", self.lang))
            badge = (
                '<span class="kitta-sandbox-badge" style="margin-left:10px;padding:1px 8px;'
                'border-radius:4px;font-size:12px;background:#fff8e1;color:#5c4300">'
                f"{label}</span>"
            )
        self.header.value = (
            f'<div style="font-size:16px;font-weight:600;margin-bottom:4px">'
            f"{html.escape(text('panel_title', self.lang))}{badge}</div>"
        )

    def _render_token(self) -> None:
        needed = self.needs_token
        self.token_note.value = (
            f'<div style="color:#5c4300">{html.escape(text("panel_token_needed", self.lang))}</div>'
            if needed
            else ""
        )
        self.token_box.layout.display = None if needed else "none"

    def _render_samples_button(self) -> None:
        available = bool(self.server.samples)
        self.samples_button.disabled = not available
        self.samples_button.layout.display = None if available else "none"

    def _update_estimate(self) -> None:
        """Say what the task will cost where the server publishes a price; never guess."""
        model = str(self.form.model.value or DEFAULT_MODEL)
        rate = self.server.rate(model)
        seconds = self.form.duration_value()
        self.estimated_credits = self.server.estimate(model, seconds)
        if rate is None:
            message = text("panel_estimate_unknown", self.lang)
        elif self.estimated_credits is None or seconds is None:
            message = text("panel_estimate_need_duration", self.lang, rate=f"{rate:g}")
        else:
            message = text(
                "panel_estimate",
                self.lang,
                credits=f"{self.estimated_credits:,}",
                model=model,
                seconds=f"{seconds:g}",
            )
        self.estimate_text = message
        self.estimate.value = (
            '<div style="color:#59636e;font-size:12px;margin:2px 0 0 150px">'
            f"{html.escape(message)}</div>"
        )

    def _show_message(self, message: str, kind: str = "info") -> None:
        self.message = message
        self.message_kind = kind
        if not message:
            self.banner.value = ""
            self.banner.layout.display = "none"
            return
        color, background = _BANNER_COLORS.get(kind, _BANNER_COLORS["info"])
        self.banner.value = (
            f'<div class="kitta-message" data-kind="{html.escape(kind)}" style="color:{color};'
            f'background:{background};border-radius:6px;padding:6px 10px;margin:4px 0">'
            f"{html.escape(message)}</div>"
        )
        self.banner.layout.display = None

    def _set_submitting(self, busy: bool) -> None:
        self.submitting = busy
        self.submit_button.disabled = busy
        self.submit_button.description = text(
            "panel_submitting" if busy else "panel_submit", self.lang
        )

    # --- server facts --------------------------------------------------------------------
    def _start_loading(self) -> None:
        if self.needs_token:
            return  # nothing to ask until there is a token
        try:
            task = _async.spawn(self._load(), name="kitta-panel-load")
        except _async.NoEventLoopError:
            return  # outside a kernel: keep the documented defaults
        self._loading = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self) -> None:
        info = await load_server_info(self.client, self.sandbox)
        self.server = info
        self.form.set_models(info.models)
        self._render_header()
        self._render_samples_button()
        self._update_estimate()

    async def _describe(self, exc: BaseException) -> str:
        balance = None
        if isinstance(exc, InsufficientCreditsError):
            try:
                balance = find_balance(await self.client._async_client().usage())
            except Exception:
                balance = None  # the usage body is undocumented: no balance, no guess
        return describe_error(exc, self.lang, balance=balance)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"LipSyncPanel(client={self.client!r}, lang={self.lang!r}, cards={len(self.cards)})"
