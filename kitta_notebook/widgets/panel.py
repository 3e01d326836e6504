"""`LipSyncPanel`: a form to create lip-sync tasks and a live card for each one.

The panel is a thin view over the client's task objects. It validates with
the client's own checks, creates with the async client on the kernel's
running loop (the cell and the kernel stay free), and hands each new task to
a `TaskCard` that follows it to the end. A medium (URL or local file) is
probed as soon as it is given (`_media_check.MediaChecks`): its format,
duration and size show next to it, the duration and the estimate fill in, and
a definite problem keeps Submit disabled. All of its state is plain Python
(`cards`, `message`, `form.shown_errors`, `preflight`, ...), so it can be
driven and checked without a browser.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as widgets

from ..connection import in_process_samples
from ..display.html import muted_html
from ..display.video import MAX_EMBED_BYTES
from ..errors import InsufficientCreditsError, MediaWarning, ValidationError
from ..i18n import Lang, check_lang, text
from ..media import Preflight
from ..server_info import ServerInfo
from ..validation import DEFAULT_MODEL
from ._frontend import button, require_widget_frontend, show, start
from ._media_check import MediaChecks
from ._messages import (
    allowed_models,
    banner_html,
    describe_error,
    describe_refusal,
    estimate_html,
    estimate_sentence,
    find_balance,
    header_html,
    over_balance,
    token_note_html,
)
from ._visitors import SecretInput, in_voila, plan_visitors
from .card import TaskCard, offer_browser_save
from .form import MEDIA_ACCEPT, LipSyncForm

if TYPE_CHECKING:
    from .. import AsyncKittaClient, KittaClient

    Client = KittaClient | AsyncKittaClient


# Poll pace for the embedded sandbox; other servers use the client's default (3-5 s).
SANDBOX_POLL_INTERVAL = 1.0
# Which sandbox samples "use samples" fills in, per form field.
SAMPLE_FIELDS = {
    "video_url": "video",
    "image_url": "image",
    "reference_image_url": "reference_image",
    "audio_url": "audio",
}


class LipSyncPanel:
    """Create lip-sync tasks from a form and watch them live, newest first.

    >>> panel = LipSyncPanel()            # the sandbox when no token is set
    >>> panel                             # shows the form; "Submit" creates a task

    Each media field takes a URL or a local file ("Choose file"); local files
    are published by the client (the sandbox's own store, or the client's
    `media_store` / KITTA_MEDIA_STORE). A chosen file travels from the browser
    to the kernel inside one widget message, so for very large files pass a
    `Path` to `client.lip_sync.create` instead. `probe_delay` is how long the
    panel waits after the last edit of a field before it checks that medium.

    `client` defaults to `kitta_notebook.connect()`. `lang` is "en" or "zh".
    `poll_interval` and `wait_timeout` tune how each card follows its task;
    `sandbox` names the `Sandbox` serving `client` when it is not the one
    `connect()` started (it only supplies the sample media). `save_to` says
    where "Save video file" puts the result: "server" writes a file next to
    the kernel, "browser" offers a download link in the page (the default in
    Voila, whose users cannot reach the kernel's disk).

    Served to others (Voila, or `KITTA_SHARED_APP=1`), the panel never spends
    a token it did not get from the visitor, unless `share_server_token=True`
    (or `KITTA_SHARE_SERVER_TOKEN=1`): then each session may spend at most
    `visitor_max_credits` (or `KITTA_VISITOR_MAX_CREDITS`). See `_visitors`.
    """

    def __init__(
        self,
        client: Client | None = None,
        lang: str = "en",
        *,
        poll_interval: float | None = None,
        wait_timeout: float | None = None,
        embed: bool | None = None,
        max_embed_bytes: int = MAX_EMBED_BYTES,
        download_dir: str | Path | None = None,
        sandbox: Any = None,
        save_to: Literal["auto", "server", "browser"] = "auto",
        probe_delay: float = 0.5,
        share_server_token: bool | None = None,
        visitor_max_credits: float | None = None,
    ) -> None:
        require_widget_frontend(
            "LipSyncPanel",
            "create a task with client.lip_sync.create(...) and follow it with task.watch() "
            "(task.wait() in a script).",
        )
        self.lang: Lang = check_lang(lang)
        if save_to not in ("auto", "server", "browser"):
            raise ValidationError(
                [("save_to", f"save_to must be 'auto', 'server' or 'browser', not {save_to!r}.")]
            )
        self.save_to: Literal["server", "browser"] = (
            ("browser" if in_voila() else "server") if save_to == "auto" else save_to
        )
        if client is None:
            from ..connection import connect

            client = connect()
        samples = in_process_samples(client.base_url, sandbox)
        self.visitors = plan_visitors(
            client,
            in_process_sandbox=bool(samples),
            share_server_token=share_server_token,
            max_credits=visitor_max_credits,
        )
        client = self.visitors.client  # served to others: never the operator's token unasked
        self.sandbox = sandbox
        # How each card follows its task (`TaskCard`'s options).
        self.card_options: dict[str, Any] = {
            "timeout": wait_timeout,
            "embed": embed,
            "max_embed_bytes": max_embed_bytes,
            "download_dir": download_dir,
        }
        self.server = ServerInfo(is_sandbox=bool(samples), samples=samples)
        self._poll_interval = poll_interval
        self.cards: list[TaskCard] = []
        self.estimate_text = ""
        self.estimated_credits: int | None = None
        self.message = ""
        self.message_kind = "info"
        self.submitting = False
        self.balance: int | float | None = None
        self.balance_warning = ""
        self.preflight: Preflight | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loading: asyncio.Task[None] | None = None
        self.checks = MediaChecks(
            client, delay=probe_delay, tasks=self._tasks, on_update=self._render_checks
        )

        lang_ = self.lang
        self.header = widgets.HTML()
        self.visitor_line = widgets.HTML()
        self.form = LipSyncForm(
            lang_,
            require_public_urls=client.is_official,
            on_change=self._on_form_change,
            on_media=self._on_media,
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
        self.samples_button = button(
            text("panel_use_samples", lang_),
            "magic",
            "kitta-samples",
            lambda _b: self.fill_samples(),
        )
        self.submit_button = button(
            text("panel_submit", lang_),
            "play",
            "kitta-submit",
            self._on_submit,
            margin="2px 8px 2px 0",
        )
        self.submit_button.button_style = "primary"
        self.banner = widgets.HTML()
        self.banner.add_class("kitta-banner")
        self.empty_note = widgets.HTML(muted_html(text("panel_no_tasks", lang_)))
        self.cards_box = widgets.VBox([self.empty_note])
        self.cards_box.add_class("kitta-cards")
        self.widget = widgets.VBox(
            [
                self.header,
                self.visitor_line,
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
    def client(self) -> Client:
        """The client this panel creates with (served to others: the visitors' own)."""
        return self.visitors.client

    @property
    def poll_interval(self) -> float | None:
        """Seconds between polls: the given value, 1 s on the sandbox, else the client's."""
        if self._poll_interval is not None:
            return self._poll_interval
        return SANDBOX_POLL_INTERVAL if self.server.is_sandbox else None

    @property
    def needs_token(self) -> bool:
        """True when the panel targets the real service and has no token yet."""
        if self.visitors.needs_visitor_token:
            return True
        return self.client.is_official and not self.client.has_token

    async def ready(self) -> ServerInfo:
        """Await the server facts (models, prices, samples) being loaded."""
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)
        return self.server

    async def settle(self) -> None:
        """Await every running action of this panel and of its cards."""
        while pending := [
            t
            for tasks in (self._tasks, *(c._tasks for c in self.cards))
            for t in tasks
            if not t.done()
        ]:
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
        # The duration follows (`_render_checks`): the sample's known one, then its probe.
        self.form.fill(values)
        self._show_message(text("panel_samples_filled", self.lang), "info")
        return True

    async def submit(self) -> TaskCard | None:
        """Validate, create the task and start its card; the card, or None when refused.

        Nothing is sent unless the form passes the client's checks. Errors
        become a readable message in the panel, never an exception. While one
        submission is in flight, another returns None at once (no double create).
        """
        if self.submitting:
            return None
        self._set_submitting(True)
        return await self._submit()

    async def _submit(self) -> TaskCard | None:
        """One submission; the caller set `submitting`, which is cleared here."""
        try:
            return await self._create()
        finally:
            self._set_submitting(False)

    async def _create(self) -> TaskCard | None:
        request = self.form.validate(show_all=True)
        if request is None:
            self._show_message(text("panel_fix_fields", self.lang), "error")
            return None
        if self.needs_token:
            self._show_message(text("err_missing_token", self.lang), "error")
            return None
        if self.media_blocked:
            self._show_message(text("panel_media_problems", self.lang), "error")
            return None
        arguments: dict[str, Any] = {**asdict(request), **self.form.local_media()}
        spend, refusal = await self.visitors.admit(arguments, self.server, self.lang)
        self._render_visitors()
        if refusal:
            self._show_message(refusal, "error")
            return None
        try:
            with warnings.catch_warnings():
                # The panel shows each media warning next to its field instead.
                warnings.simplefilter("ignore", MediaWarning)
                task = await self.client.as_async().lip_sync.create(**arguments)
        except ValidationError as exc:  # e.g. a medium refused by the create's preflight
            self.visitors.failed(spend, exc)
            self.form.show_errors(exc.fields)
            self._show_message(describe_refusal(exc, set(self.form.inputs), self.lang), "error")
            return None
        except Exception as exc:
            self.visitors.failed(spend, exc)
            balance = None
            if isinstance(exc, InsufficientCreditsError):  # the balance helps the message
                usage = await self._usage()
                balance = find_balance(usage) if usage is not None else None
            message = describe_error(exc, self.lang, balance=balance, model=request.model)
            self._show_message(message, "error")
            return None
        self.visitors.created(spend, task)
        self._render_visitors()
        card = TaskCard(task, lang=self.lang, poll_interval=self.poll_interval, **self.card_options)
        if self.save_to == "browser":
            offer_browser_save(card, self._tasks)
        self.cards.insert(0, card)
        self.cards_box.children = tuple(c.widget for c in self.cards)
        self._show_message(text("panel_submitted", self.lang, task_id=task.task_id), "success")
        card.start()
        start(self._refresh_balance(), self._tasks, "kitta-panel-balance")
        return card

    # --- click handlers ------------------------------------------------------------
    def _on_submit(self, _button: object = None) -> asyncio.Task[TaskCard | None] | None:
        """The Submit button: disable it at once, run the submission on the kernel's loop.

        The button is disabled before this handler returns, so a second click
        (or a click queued behind the first) never sends a second create.
        """
        if self.submitting:
            return None
        self._set_submitting(True)
        task = start(self._submit(), self._tasks, "kitta-panel-submit")
        if task is None:
            self._set_submitting(False)
            self._show_message(text("panel_no_loop", self.lang), "error")
        return task

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
        if self.visitors.mode == "own_token":
            start(self._check_visitor_token(), self._tasks, "kitta-panel-token")
        else:
            self._start_loading()

    async def _check_visitor_token(self) -> None:
        """A visitor's token the service refuses is dropped at once, with a clear message."""
        if await self.visitors.token_refused():
            self._render_token()
            self._show_message(text("visitor_token_refused", self.lang), "error")
            return
        self._start_loading()

    def _on_form_change(self) -> None:
        self._update_estimate()
        if self.message_kind == "error" and not self.form.problems():
            self._show_message("")

    def _on_media(self, name: str) -> None:
        """A media field changed: check its new value (or just re-judge, on a mode switch)."""
        if name in MEDIA_ACCEPT:
            self.checks.field_changed(self.form, name)
        else:
            self._render_checks()

    @property
    def media_blocked(self) -> bool:
        """True while a medium has a definite problem (Submit stays disabled)."""
        return self.preflight is not None and not self.preflight.ok

    # --- rendering ---------------------------------------------------------------------
    def _render_header(self) -> None:
        self.header.value = header_html(self.server.is_sandbox, self.lang)

    def _render_visitors(self) -> None:
        show(self.visitor_line, self.visitors.line_html(self.lang))

    def _render_token(self) -> None:
        needed = self.needs_token
        self._render_visitors()
        asked = needed and self.visitors.mode == "private"
        self.token_note.value = token_note_html(self.lang) if asked else ""
        self.token_box.layout.display = None if needed else "none"

    def _render_samples_button(self) -> None:
        available = bool(self.server.samples)
        self.samples_button.disabled = not available
        self.samples_button.layout.display = None if available else "none"

    def _update_estimate(self) -> None:
        """Say what the task will cost where the server publishes a price; never guess."""
        model = str(self.form.model.value or DEFAULT_MODEL)
        seconds = self.form.duration_value()
        self.estimated_credits = self.server.estimate(model, seconds)
        message = estimate_sentence(
            self.server.rate(model), self.estimated_credits, model, seconds, self.lang
        )
        self.estimate_text = message
        self.balance_warning = over_balance(self.estimated_credits, self.balance, self.lang)
        # Then the media warnings that belong to no field (e.g. that the check ran from here).
        checked = self.preflight.warnings if self.preflight is not None else []
        general = [m for field, m in checked if field not in self.form.inputs]
        self.estimate.value = estimate_html(message, self.balance_warning, general, self.lang)

    def _render_checks(self) -> None:
        """Show what the media check found next to each field; fill the duration."""
        self.preflight = self.checks.show(self.form, self.server, self.lang)
        self._update_estimate()
        self._update_submit()

    def _update_submit(self) -> None:
        self.submit_button.disabled = self.submitting or self.media_blocked

    def _show_message(self, message: str, kind: str = "info") -> None:
        self.message = message
        self.message_kind = kind
        show(self.banner, banner_html(message, kind) if message else "")

    def _set_submitting(self, busy: bool) -> None:
        self.submitting = busy
        self._update_submit()
        self.submit_button.description = text(
            "panel_submitting" if busy else "panel_submit", self.lang
        )

    # --- server facts --------------------------------------------------------------------
    def _start_loading(self) -> None:
        if self.needs_token:
            return  # nothing to ask until there is a token
        self._loading = start(self._load(), self._tasks, "kitta-panel-load")

    async def _load(self) -> None:
        """The server's facts through the client; in-process samples win when there are any."""
        info = await self.client.as_async().server_info()
        local = in_process_samples(self.client.base_url, self.sandbox)
        if local:
            info = replace(info, is_sandbox=True, samples=local)
        usage = await self._usage()
        if usage is not None:
            info = replace(info, models=allowed_models(info.models, usage))
            self.balance = find_balance(usage)
        self.server = info
        self.form.set_models(info.models)
        self._render_header()
        self._render_samples_button()
        self._render_checks()

    async def _usage(self) -> Mapping[str, Any] | None:
        """The account's usage, or None: its body is undocumented, so nothing depends on it."""
        try:
            return await self.client.as_async().usage()
        except Exception:
            return None

    async def _refresh_balance(self) -> None:
        """The balance after a create (the server charged it), for the next estimate."""
        usage = await self._usage()
        if usage is not None:
            self.balance = find_balance(usage)
            self._update_estimate()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"LipSyncPanel(client={self.client!r}, lang={self.lang!r}, cards={len(self.cards)})"
