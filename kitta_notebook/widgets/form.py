"""The create form: inputs, and each validation problem shown next to its field.

Checks are the client's own (`validate_create`), run on every change and on
submit, so the form refuses exactly what the client would refuse and
nothing is sent until it passes. A field's problem is shown once the user
has touched that field, or for every field after a submit attempt.

Each media field takes a URL or a local file (a file picker beside it); a
chosen file is read once into a `LocalBlob` and its bytes leave the widget's
state at once, so they are never saved in a notebook. What the media check
found is shown under the field (`show_check`); the form never probes itself.

The media check (`MediaChecks`, the panel's) probes one field at a time
(debounced, on the kernel's loop, through the client's own prober, so its
per-URL cache serves the create that follows); the results of all fields are
then judged together by `build_preflight`, the same rules a create applies,
which gives the problems, the warnings and the duration to fill in.
`media_note_html` is what the form shows under each field.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .. import _inputs  # private: until the media layer offers a public prober and pricing
from ..display.preflight import media_message, probe_summary
from ..errors import ValidationError
from ..i18n import Lang, text
from ..media import (
    LocalBlob,
    Preflight,
    ProbeResult,
    build_preflight,
    classify_source,
    prober_for,
    resolve_store,
    to_blob,
)
from ..price import price_for
from ..server_info import ServerInfo
from ..validation import DEFAULT_MODEL, CreateRequest, validate_create
from ._frontend import esc, show, start
from ._messages import WARNING_STYLE, field_message

if TYPE_CHECKING:
    from .. import AsyncKittaClient, KittaClient

MediaValue = str | LocalBlob
# The host a local medium stands in as while the form checks it like the client does.
LOCAL_STAND_IN = _inputs.LOCAL_STAND_IN

# Form field -> i18n key of its label. The names are `validate_create`'s.
FIELD_LABELS: dict[str, str] = {
    "input_mode": "input_mode",
    "video_url": "panel_video_url",
    "image_url": "panel_image_url",
    "reference_image_url": "panel_reference_image_url",
    "audio_url": "panel_audio_url",
    "model": "model",
    "duration_seconds": "panel_duration",
}
_LABEL_WIDTH = "150px"

# Media field -> what its file picker offers.
MEDIA_ACCEPT: dict[str, str] = {
    "video_url": "video/*,.mp4,.mov,.webm,.mkv",
    "image_url": "image/*",
    "reference_image_url": "image/*",
    "audio_url": "audio/*,.wav,.mp3,.m4a,.aac,.flac,.ogg",
}


class LipSyncForm:
    """The inputs of one create request, with per-field error messages.

    `values()` is what the user entered; `problems()` what the client's
    checks say about it (field -> message); `shown_errors` what is on
    screen now. `on_change` is called after every edit.
    """

    def __init__(
        self,
        lang: Lang = "en",
        *,
        require_public_urls: bool = False,
        on_change: Callable[[], None] | None = None,
        on_media: Callable[[str], None] | None = None,
    ) -> None:
        self.lang = lang
        self.require_public_urls = require_public_urls
        self.on_change = on_change
        self.on_media = on_media
        self.touched: set[str] = set()
        self.show_all = False
        self.shown_errors: dict[str, str] = {}
        self.extra_errors: dict[str, str] = {}
        self.files: dict[str, LocalBlob] = {}
        self._filling = False
        self._showing_pick = False
        self._auto_duration: str | None = None

        self.mode = widgets.ToggleButtons(
            options=[
                (text("panel_mode_video", lang), "video"),
                (text("panel_mode_image", lang), "image"),
            ],
            value="video",
            style={"button_width": "90px"},
        )
        self.video_url = self._text("https://example.com/person.mp4")
        self.image_url = self._text("https://example.com/person.png")
        self.reference_image_url = self._text(
            f"https://example.com/reference.png ({text('panel_optional', lang)})"
        )
        self.audio_url = self._text("https://example.com/speech.mp3")
        self.model = widgets.Dropdown(
            options=[DEFAULT_MODEL], value=DEFAULT_MODEL, layout=widgets.Layout(width="280px")
        )
        self.duration = widgets.Text(
            placeholder=text("panel_duration_placeholder", lang),
            layout=widgets.Layout(width="280px"),
        )
        self.duration.add_class("kitta-duration")
        self.inputs: dict[str, Any] = {
            "input_mode": self.mode,
            "video_url": self.video_url,
            "image_url": self.image_url,
            "reference_image_url": self.reference_image_url,
            "audio_url": self.audio_url,
            "model": self.model,
            "duration_seconds": self.duration,
        }
        self.error_labels: dict[str, Any] = {}
        self.uploads: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        self.rows: dict[str, Any] = {}
        for name, widget in self.inputs.items():
            error = widgets.HTML(layout=widgets.Layout(display="none", margin="0 0 2px 0"))
            error.add_class("kitta-field-error")
            self.error_labels[name] = error
            label = widgets.HTML(
                f"<b>{esc(text(FIELD_LABELS[name], lang))}</b>",
                layout=widgets.Layout(width=_LABEL_WIDTH, min_width=_LABEL_WIDTH),
            )
            parts = [widget, error]
            if name in MEDIA_ACCEPT:
                parts = [widgets.HBox([widget, self._upload(name)]), error, self._note(name)]
            self.rows[name] = widgets.HBox(
                [label, widgets.VBox(parts, layout=widgets.Layout(flex="1 1 auto"))],
                layout=widgets.Layout(align_items="flex-start", margin="1px 0"),
            )
            widget.observe(self._changed(name), names="value")
        self.widget = widgets.VBox([self.rows[name] for name in self.inputs])
        self._apply_mode()

    def _text(self, placeholder: str) -> Any:
        return widgets.Text(
            placeholder=placeholder, layout=widgets.Layout(width="440px", max_width="100%")
        )

    def _upload(self, name: str) -> Any:
        upload = widgets.FileUpload(
            accept=MEDIA_ACCEPT[name],
            multiple=False,
            description=text("panel_choose_file", self.lang),
            tooltip=text("panel_or_file", self.lang),
            layout=widgets.Layout(width="auto", margin="2px 0 2px 6px"),
        )
        upload.add_class(f"kitta-upload-{name.removesuffix('_url')}")
        upload.observe(self._picked(name), names="value")
        self.uploads[name] = upload
        return upload

    def _note(self, name: str) -> Any:
        note = widgets.HTML(layout=widgets.Layout(display="none", margin="0 0 2px 0"))
        note.add_class("kitta-media-note")
        self.notes[name] = note
        return note

    # --- values ------------------------------------------------------------------
    def _typed_duration(self) -> float | None:
        """The duration typed (a decimal comma too), None when empty; ValueError when no number."""
        raw = self.duration.value.strip().replace(",", ".")
        return float(raw) if raw else None

    def duration_value(self) -> float | None:
        """The duration as a number, or None when empty or unreadable."""
        try:
            value = self._typed_duration()
        except ValueError:
            return None
        return value if value is not None and math.isfinite(value) and value > 0 else None

    def media_value(self, name: str) -> MediaValue | None:
        """A field's medium: the chosen file, else the URL (or local path) typed, else None."""
        if name in self.files:
            return self.files[name]
        return str(self.inputs[name].value).strip() or None

    def media_values(self) -> dict[str, MediaValue | None]:
        """The media fields of the current input mode."""
        names = ["audio_url"]
        if self.mode.value == "image":
            names += ["image_url", "reference_image_url"]
        else:
            names.append("video_url")
        return {name: self.media_value(name) for name in names}

    def local_media(self) -> dict[str, MediaValue]:
        """The media of the current mode that are local (files, or paths of existing files)."""
        return {
            name: value
            for name, value in self.media_values().items()
            if value is not None and classify_source(value) == "local"
        }

    def values(self) -> dict[str, object]:
        """The create arguments as entered; fields of the other input mode are left out."""
        values: dict[str, object] = {"input_mode": str(self.mode.value), "model": self.model.value}
        values.update(self.media_values())
        return values

    def check(self) -> tuple[CreateRequest | None, dict[str, str]]:
        """(request, {}) when every check passes, else (None, field -> message).

        A local medium is checked as a stand-in URL (as the client does before it
        publishes it), so the request's media URLs are not what is sent: see `local_media`.
        """
        problems: list[tuple[str, str]] = []
        duration: float | None = None
        try:
            duration = self._typed_duration()
        except ValueError:
            example = "The duration must be a number of seconds, for example 12."
            problems.append(("duration_seconds", example))
        stand_ins = {name: f"https://{LOCAL_STAND_IN}/{name}" for name in self.local_media()}
        try:
            request = validate_create(
                **{**self.values(), **stand_ins},  # type: ignore[arg-type]
                duration_seconds=duration,
                require_public_urls=self.require_public_urls,
            )
        except ValidationError as exc:
            problems.extend(exc.problems)
            request = None
        problems += [(name, message) for name, message in self.extra_errors.items()]
        if problems:
            return None, ValidationError(problems).fields
        return request, {}

    def problems(self) -> dict[str, str]:
        return self.check()[1]

    # --- showing problems -------------------------------------------------------------
    def validate(self, *, show_all: bool | None = None) -> CreateRequest | None:
        """Check the form and show each problem next to its field; the request if valid."""
        if show_all:
            self.show_all = True
        request, problems = self.check()
        visible = {
            name: message
            for name, message in problems.items()
            if self.show_all or name in self.touched
        }
        self._show(visible)
        return request

    def _show(self, errors: dict[str, str]) -> None:
        self.shown_errors = {
            name: field_message(message, self.lang) for name, message in errors.items()
        }
        for name, label in self.error_labels.items():
            message = esc(self.shown_errors.get(name))
            style = "color:#b42318;font-size:12px"
            show(
                label,
                f'<span style="{style}" data-field="{name}">{message}</span>' if message else "",
            )
        for name, widget in self.inputs.items():
            if name in self.shown_errors:
                widget.add_class("kitta-invalid")
            else:
                widget.remove_class("kitta-invalid")

    # --- events ----------------------------------------------------------------------
    def _changed(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if name == "input_mode":
                self._apply_mode()
            typed = name in MEDIA_ACCEPT and str(change.get("new") or "").strip()
            if typed and self.files.pop(name, None) is not None:  # a URL replaces a file
                self._show_picked(name, None)
            if self._filling:
                return
            self.extra_errors.pop(name, None)
            self._edited([name])

        return handler

    def _edited(self, names: Sequence[str], touched: Sequence[str] | None = None) -> None:
        """After an edit: mark the fields touched, check again, tell the panel."""
        self.touched.update(names if touched is None else touched)
        self.validate()
        for name in names:
            if self.on_media is not None and (name in MEDIA_ACCEPT or name == "input_mode"):
                self.on_media(name)
        if self.on_change is not None:
            self.on_change()

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Set inputs without taking it for the user's edit."""
        self._filling = True
        try:
            yield
        finally:
            self._filling = False

    def _picked(self, name: str) -> Callable[[dict[str, Any]], None]:
        """A file chosen in a picker: read it, then drop its bytes from the widget's state."""

        def handler(change: dict[str, Any]) -> None:
            chosen = change.get("new") or ()
            if not chosen or self._showing_pick:
                return
            item = chosen[0]
            self._show_picked(name, None)  # the bytes are never kept in widget state, never saved
            try:
                blob = to_blob(bytes(item["content"]), field=name, name=str(item["name"]))
            except ValidationError as error:
                self.extra_errors[name] = error.fields.get(name) or str(error)
            else:
                self.extra_errors.pop(name, None)
                self.choose_file(name, blob)
                return
            self.touched.add(name)
            self.validate()

        return handler

    def choose_file(self, name: str, blob: LocalBlob) -> None:
        """Use a local file for a media field (the picker calls this); the URL is cleared."""
        with self._quietly():
            self.inputs[name].value = ""
        self.files[name] = blob
        self._show_picked(name, blob)
        self._edited([name])

    def _show_picked(self, name: str, blob: LocalBlob | None) -> None:
        """Let the picker count the chosen file ("Choose file (1)") from its name and size
        alone: the bytes never go back into widget state."""
        upload = self.uploads.get(name)
        if upload is None:
            return
        shown: tuple[dict[str, Any], ...] = ()
        if blob is not None:
            shown = (
                {
                    "name": blob.name,
                    "type": "",
                    "size": blob.size,
                    "content": memoryview(b""),
                    "last_modified": datetime.fromtimestamp(0, timezone.utc),
                },
            )
        self._showing_pick = True  # not a pick by the user: the handler lets it pass
        try:
            upload.value = shown
        finally:
            self._showing_pick = False

    def show_check(self, name: str, body: str) -> None:
        """Show what the media check says about a field (`body` is HTML the caller escaped)."""
        show(self.notes[name], body)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Problems found elsewhere (e.g. a refused create), each shown next to its field
        until that field is edited."""
        self.extra_errors.update({k: v for k, v in errors.items() if k in self.inputs})
        self.validate(show_all=True)

    def offer_duration(self, seconds: float | None) -> bool:
        """Fill the duration from a probe, unless the user typed one; True when changed."""
        current = self.duration.value.strip()
        if current and current != self._auto_duration:
            return False
        shown = "" if seconds is None else f"{round(seconds, 2):g}"
        if shown == current:
            return False
        with self._quietly():
            self.duration.value = shown
        self._auto_duration = shown or None
        self._edited([], touched=[])
        return True

    def _apply_mode(self) -> None:
        image = self.mode.value == "image"
        self.rows["video_url"].layout.display = "none" if image else None
        self.rows["image_url"].layout.display = None if image else "none"
        self.rows["reference_image_url"].layout.display = None if image else "none"

    def fill(self, values: dict[str, str], touched: Sequence[str] = ()) -> None:
        """Set several inputs at once (e.g. the samples), validating once at the end."""
        with self._quietly():
            for name, value in values.items():
                self.inputs[name].value = value
                self.extra_errors.pop(name, None)
        self._edited([n for n in values if n in MEDIA_ACCEPT], touched=list(touched or values))

    def set_models(self, models: Sequence[str], default: str = DEFAULT_MODEL) -> None:
        """Offer `models` in the dropdown, keeping the current choice when it is listed."""
        choices = list(dict.fromkeys(m for m in models if m)) or [default]
        current = self.model.value
        keep = current if current in choices else (default if default in choices else choices[0])
        with self._quietly():
            self.model.options = choices
            self.model.value = keep


# --- the media check: each medium probed as soon as it is given, then judged together ---


@dataclass(frozen=True)
class Probed:
    """The probe of one field's value (kept only while the field still holds that value)."""

    value: MediaValue
    result: ProbeResult


def _same(probed: MediaValue, value: MediaValue | None) -> bool:
    if isinstance(probed, LocalBlob) and isinstance(value, LocalBlob):
        return probed.sha256 == value.sha256 and probed.name == value.name
    return probed == value


class MediaChecks:
    """Probes media fields for a panel and keeps the latest result of each.

    `on_update` is called (on the loop) after every change of the results.
    Running probes are added to `tasks`, which the panel keeps alive and awaits.
    """

    def __init__(
        self,
        client: KittaClient | AsyncKittaClient,
        *,
        delay: float,
        tasks: set[asyncio.Task[Any]],
        on_update: Callable[[], None],
    ) -> None:
        self.client = client
        self.delay = delay
        self.tasks = tasks
        self.on_update = on_update
        self.probed: dict[str, Probed] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.store_problems: dict[str, str] = {}

    @property
    def _config(self) -> Any:
        # private: the one reach into the client's settings (its prober, store, price
        # rules), until the media layer makes them public.
        return self.client._config

    @property
    def checking(self) -> set[str]:
        return {name for name, task in self.pending.items() if not task.done()}

    def request(self, name: str, value: MediaValue | None) -> None:
        """Probe `value` for field `name` after the debounce delay; None forgets the field."""
        previous = self.pending.pop(name, None)
        if previous is not None and not previous.done():
            previous.cancel()
        known = self.probed.get(name)
        if known is not None and not _same(known.value, value):
            del self.probed[name]
            known = None
        self.store_problems.pop(name, None)
        if value is not None and classify_source(value) == "local":
            self._check_store(name)
        if value is None or known is not None:
            self.on_update()
            return
        task = start(self._probe(name, value), self.tasks, f"kitta-panel-probe-{name}")
        if task is not None:  # outside a kernel: the create's own preflight still runs
            self.pending[name] = task
        self.on_update()

    async def _probe(self, name: str, value: MediaValue) -> None:
        if self.delay > 0:
            await asyncio.sleep(self.delay)  # debounce: typing a URL probes it once
        source = value
        if isinstance(value, str) and classify_source(value) == "local":
            try:  # the path of a file on the kernel's machine, typed into the URL field
                source = await asyncio.to_thread(to_blob, value, field=name)
            except ValidationError:
                source = value  # unreadable now: the create will say why
        result = await asyncio.to_thread(prober_for(self.client.as_sync()).probe, source)
        self.probed[name] = Probed(value, result)
        if self.pending.get(name) is asyncio.current_task():
            del self.pending[name]  # done: no longer "checking" in the update below
        self.on_update()

    def _check_store(self, name: str) -> None:
        """The real service needs a store for a local file: say how to set one, at once."""
        if not self.client.is_official:
            return  # a sandbox publishes to its own store; other servers are told by create
        try:
            resolve_store(self._config.media_store, field=name)
        except ValidationError as error:
            self.store_problems[name] = error.fields.get(name) or str(error)

    def field_changed(self, form: LipSyncForm, name: str) -> None:
        """Check a media field's new value; a URL the form refuses is not probed."""
        value = form.media_value(name)
        checkable = isinstance(value, LocalBlob) or (
            isinstance(value, str) and name not in form.problems()
        )
        self.request(name, value if checkable else None)

    def show(self, form: LipSyncForm, server: ServerInfo, lang: Lang) -> Preflight:
        """Judge the form's media, show the result under each field and fill the duration."""
        fields = form.media_values()
        model = str(form.model.value or DEFAULT_MODEL)
        checked = self.preflight(dict(fields), server, model)
        checking = self.checking
        for name in form.notes:
            form.show_check(name, media_note_html(name, fields, checked, checking, lang))
        # The duration follows the current audio (unless typed): its probe, else what the
        # server says of its sample; none for a bad audio, kept only while a check runs.
        if checked.duration_from_probe:
            form.offer_duration(checked.duration_seconds)
        else:
            audio = fields.get("audio_url")
            samples = server.samples.values()
            known = next((s.duration_seconds for s in samples if s.url == audio), None)
            if known is not None or "audio_url" not in checking:
                form.offer_duration(known)
        return checked

    def preflight(self, fields: dict[str, object], server: ServerInfo, model: str) -> Preflight:
        """Judge the probed fields among `fields` (the form's current media) together."""
        results = {
            name: probed.result
            for name, probed in self.probed.items()
            if name in fields and fields[name] is not None
        }
        return build_preflight(
            results,
            is_official=self.client.is_official,
            price=price_for(server, model),
            early_problems=[
                (name, message) for name, message in self.store_problems.items() if name in fields
            ],
        )


def media_note_html(
    name: str,
    fields: Mapping[str, Any],
    checked: Preflight,
    checking: set[str],
    lang: Lang,
) -> str:
    """What the media check says about one field: the file, its facts, problems, warnings."""
    value = fields.get(name)
    if value is None:
        return ""
    head = text("panel_file_chosen", lang, name=value.name) if isinstance(value, LocalBlob) else ""
    probed = checked.inputs.get(name)
    if name in checking:
        facts = text("panel_checking", lang)
    else:
        facts = probe_summary(probed, lang) if probed is not None else ""
    summary = " · ".join(part for part in (head, facts) if part)
    lines: list[str] = []
    if summary:
        lines.append(
            f'<span class="kitta-media-facts" data-field="{esc(name)}" '
            f'style="color:#59636e">{esc(summary)}</span>'
        )
    lines += [
        f'<span class="kitta-media-problem" style="color:#b42318">'
        f"✕ {esc(media_message(m, lang))}</span>"
        for field, m in checked.problems
        if field == name
    ]
    lines += [
        f'<span class="kitta-media-warning" style="{WARNING_STYLE}">'
        f"⚠ {esc(media_message(m, lang))}</span>"
        for field, m in checked.warnings
        if field == name
    ]
    return f'<div style="font-size:12px">{"<br>".join(lines)}</div>' if lines else ""
