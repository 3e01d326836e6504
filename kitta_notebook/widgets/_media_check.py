"""The panel's media check: each medium probed as soon as it is given, then judged together.

One field is probed at a time (debounced, on the kernel's loop, through the
client's own prober, so its per-URL cache serves the create that follows); the
results of all fields are then judged together by `build_preflight`, the same rules a
create applies, which gives the problems, the warnings and the duration to fill in.
`media_note_html` is what the form shows under each field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..display.preflight import finding_html, probe_summary
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
from ..validation import DEFAULT_MODEL
from ._frontend import esc, start

if TYPE_CHECKING:
    from .. import AsyncKittaClient, KittaClient
    from .form import LipSyncForm

MediaValue = str | LocalBlob


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
            resolve_store(self.client.media_store, field=name)
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
    lines = [
        finding_html(kind, m, lang, f"kitta-media-{kind}")
        for kind, found in (("problem", checked.problems), ("warning", checked.warnings))
        for field, m in found
        if field == name
    ]
    if summary:
        lines.insert(
            0,
            f'<div class="kitta-media-facts" data-field="{esc(name)}" '
            f'style="color:#59636e">{esc(summary)}</div>',
        )
    return f'<div style="font-size:12px">{"".join(lines)}</div>' if lines else ""
