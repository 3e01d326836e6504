"""The panel's media check: each medium probed as soon as it is given, then judged together.

Not a view. One field is probed at a time (debounced, on the kernel's loop, through the
client's own prober, so its per-URL cache serves the create that follows); the
results of all fields are then judged together by `build_preflight`, the same rules a
create applies, which gives the problems, the warnings and the duration to fill in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _bridge
from ..errors import ValidationError
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
from . import _async

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase

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
        client: ClientBase,
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
        try:
            task = _async.spawn(self._probe(name, value), name=f"kitta-panel-probe-{name}")
        except _async.NoEventLoopError:
            self.on_update()
            return  # outside a kernel: the create's own preflight still runs
        self.pending[name] = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
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
        result = await _bridge.run_sync(prober_for(self.client).probe, source)
        self.probed[name] = Probed(value, result)
        if self.pending.get(name) is asyncio.current_task():
            del self.pending[name]  # done: no longer "checking" in the update below
        self.on_update()

    def _check_store(self, name: str) -> None:
        """The real service needs a store for a local file: say how to set one, at once."""
        if not self.client.is_official:
            return  # a sandbox publishes to its own store; other servers are told by create
        try:
            resolve_store(self.client._config.media_store, field=name)
        except ValidationError as error:
            self.store_problems[name] = error.fields.get(name) or str(error)

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
