"""The create form: inputs, and each validation problem shown next to its field.

Checks are the client's own (`validate_create`), run on every change and on
submit, so the form refuses exactly what the client would refuse and
nothing is sent until it passes. A field's problem is shown once the user
has touched that field, or for every field after a submit attempt.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from ..errors import ValidationError
from ..i18n import Lang, text
from ..validation import DEFAULT_MODEL, CreateRequest, validate_create
from ._messages import field_message

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
    ) -> None:
        self.lang = lang
        self.require_public_urls = require_public_urls
        self.on_change = on_change
        self.touched: set[str] = set()
        self.show_all = False
        self.shown_errors: dict[str, str] = {}
        self._filling = False

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
        self.rows: dict[str, Any] = {}
        for name, widget in self.inputs.items():
            error = widgets.HTML(layout=widgets.Layout(display="none", margin="0 0 2px 0"))
            error.add_class("kitta-field-error")
            self.error_labels[name] = error
            label = widgets.HTML(
                f"<b>{html.escape(text(FIELD_LABELS[name], lang))}</b>",
                layout=widgets.Layout(width=_LABEL_WIDTH, min_width=_LABEL_WIDTH),
            )
            self.rows[name] = widgets.HBox(
                [label, widgets.VBox([widget, error], layout=widgets.Layout(flex="1 1 auto"))],
                layout=widgets.Layout(align_items="flex-start", margin="1px 0"),
            )
            widget.observe(self._changed(name), names="value")
        self.widget = widgets.VBox([self.rows[name] for name in self.inputs])
        self._apply_mode()

    def _text(self, placeholder: str) -> Any:
        return widgets.Text(
            placeholder=placeholder, layout=widgets.Layout(width="560px", max_width="100%")
        )

    # --- values ------------------------------------------------------------------
    def duration_value(self) -> float | None:
        """The duration as a number, or None when empty or unreadable."""
        raw = self.duration.value.strip().replace(",", ".")
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if math.isfinite(value) and value > 0 else None

    def values(self) -> dict[str, object]:
        """The create arguments as entered; fields of the other input mode are left out."""
        mode = str(self.mode.value)
        values: dict[str, object] = {
            "input_mode": mode,
            "audio_url": self.audio_url.value.strip() or None,
            "model": self.model.value,
        }
        if mode == "image":
            values["image_url"] = self.image_url.value.strip() or None
            values["reference_image_url"] = self.reference_image_url.value.strip() or None
        else:
            values["video_url"] = self.video_url.value.strip() or None
        return values

    def check(self) -> tuple[CreateRequest | None, dict[str, str]]:
        """(request, {}) when every check passes, else (None, field -> message)."""
        problems: list[tuple[str, str]] = []
        raw_duration = self.duration.value.strip().replace(",", ".")
        duration: float | None = None
        if raw_duration:
            try:
                duration = float(raw_duration)
            except ValueError:
                problems.append(("duration_seconds", "must be a number of seconds, e.g. 12"))
        try:
            request = validate_create(
                **self.values(),  # type: ignore[arg-type]
                duration_seconds=duration,
                require_public_urls=self.require_public_urls,
            )
        except ValidationError as exc:
            problems.extend(exc.problems)
            request = None
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
            message = self.shown_errors.get(name)
            if message:
                label.value = (
                    f'<span style="color:#b42318;font-size:12px" data-field="{name}">'
                    f"{html.escape(message)}</span>"
                )
                label.layout.display = None
            else:
                label.value = ""
                label.layout.display = "none"
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
            if self._filling:
                return
            self.touched.add(name)
            self.validate()
            if self.on_change is not None:
                self.on_change()

        return handler

    def _apply_mode(self) -> None:
        image = self.mode.value == "image"
        self.rows["video_url"].layout.display = "none" if image else None
        self.rows["image_url"].layout.display = None if image else "none"
        self.rows["reference_image_url"].layout.display = None if image else "none"

    def fill(self, values: dict[str, str], touched: Sequence[str] = ()) -> None:
        """Set several inputs at once (e.g. the samples), validating once at the end."""
        self._filling = True
        try:
            for name, value in values.items():
                self.inputs[name].value = value
        finally:
            self._filling = False
        self.touched.update(touched or values)
        self.validate()
        if self.on_change is not None:
            self.on_change()

    def set_models(self, models: Sequence[str], default: str = DEFAULT_MODEL) -> None:
        """Offer `models` in the dropdown, keeping the current choice when it is listed."""
        choices = list(dict.fromkeys(m for m in models if m)) or [default]
        current = self.model.value
        keep = current if current in choices else (default if default in choices else choices[0])
        self._filling = True
        try:
            self.model.options = choices
            self.model.value = keep
        finally:
            self._filling = False
