"""The create form: inputs, and each validation problem shown next to its field.

Checks are the client's own (`validate_create`), run on every change and on
submit, so the form refuses exactly what the client would refuse and
nothing is sent until it passes. A field's problem is shown once the user
has touched that field, or for every field after a submit attempt.

Each media field takes a URL or a local file (a file picker beside it); a
chosen file is read once into a `LocalBlob` and its bytes leave the widget's
state at once, so they are never saved in a notebook. What the media check
found is shown under the field (`show_check`); the form never probes itself
(the panel's `_media_check` does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import ipywidgets as widgets

from ..errors import ValidationError
from ..i18n import Lang, say, text
from ..media import LocalBlob, classify_source, to_blob
from ..validation import (
    DEFAULT_MODEL,
    LOCAL_STAND_IN,
    NOT_A_NUMBER,
    CreateRequest,
    validate_create,
)
from ._frontend import esc, show
from ._media_check import MediaValue

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
            problems.append(("duration_seconds", NOT_A_NUMBER))
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
        self.shown_errors = {name: say(message, self.lang) for name, message in errors.items()}
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
