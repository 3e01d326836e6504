"""A create's key and its owner: the claim that reserves a key, and who is sending what.

One key, one charge: a keyed create first claims its key in the journal (one
atomic transaction of the store, `JournalStore.claim_key`), before anything
is published, probed or sent. The inputs are kept with the claim in a form
that compares across runs: a local file by its sha256, a media URL without
its credentials (a presigned URL's signature changes each time). What the
key allows is decided here, as pure code, so every store decides alike.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._redact import redact_url
from ..errors import KeyInUseError, KeyReusedError, UnresolvedCreateError
from ..validation import URL_FIELDS
from .entry import INPUTS_KEY, OUTCOME_CREATED, OUTCOME_SENDING, OUTCOME_UNKNOWN, PUBLISHED_KEY
from .entry import now as _now

# Who wrote an entry or holds a claim: this process's session, this machine.
SESSION = uuid.uuid4().hex
HOST = socket.gethostname()
# Who creates on a JupyterHub (set by the hub in every kernel it spawns).
HUB_USER_ENV = "JUPYTERHUB_USER"
# Entries whose create request is on the wire in this process right now.
IN_FLIGHT: set[str] = set()
# Keys this process holds a claim on right now (from the claim until the client gives it
# back, even when giving it back failed): a claim of this process's session on any other key
# was left behind by a release the journal could not take, and may be taken over.
HELD_KEYS: set[str] = set()
# A `sending` entry of a live process older than this is treated as left behind.
STALE_SENDING_SECONDS = 15 * 60.0

# A local file stands in for its URL while the inputs are normalised (never sent).
_SHA_PREFIX = "sha256:"


@dataclass(frozen=True)
class KeyClaim:
    """What claiming a key found: the task it already has, or the claim's token."""

    key: str
    token: str | None = None
    """Held by this call until `release_keys`; the create's journal entry checks it."""
    task_id: str | None = None
    """The task created earlier under the key with the same inputs (nothing to send)."""

    def __post_init__(self) -> None:
        if self.token is not None:
            HELD_KEYS.add(self.key)


@dataclass(frozen=True)
class KeyedEntry:
    """An entry written under a key, as `decide` needs it."""

    entry_id: str
    task_id: str | None
    outcome: str
    request: Mapping[str, Any]
    owner: Owner


@dataclass(frozen=True)
class Owner:
    """Which process wrote an entry or holds a claim, and since when."""

    pid: object
    host: object
    session: object
    since: float | None

    @classmethod
    def here(cls) -> Owner:
        return cls(os.getpid(), HOST, SESSION, _now())

    def values(self) -> tuple[object, object, object, float | None]:
        return (self.pid, self.host, self.session, self.since)

    def held_elsewhere(self, stale_after: float | None) -> bool:
        """True when another process of this machine, still running, wrote it (and, with
        `stale_after`, less than that many seconds ago). Another machine's cannot be told."""
        if self.session == SESSION or self.host != HOST:
            return False
        if not isinstance(self.pid, int) or not pid_alive(self.pid):
            return False
        return stale_after is None or _now() - (self.since or 0.0) < stale_after

    def left_behind(self, entry_id: str, stale_after: float = STALE_SENDING_SECONDS) -> bool:
        """A `sending` entry that no create of this or another live process still owns."""
        if self.session == SESSION:
            return entry_id not in IN_FLIGHT
        return not self.held_elsewhere(stale_after)


def creator() -> str | None:
    """Who is creating, as a team's history shows it: JupyterHub's user, else the OS
    user; None when neither can be told (never a guess)."""
    hub_user = os.environ.get(HUB_USER_ENV, "").strip()
    if hub_user:
        return hub_user
    try:
        return getpass.getuser().strip() or None
    except (KeyError, OSError, ImportError):  # no login name and no passwd entry
        return None


def decide(
    key: str,
    entries: Sequence[KeyedEntry],
    claim: Owner | None,
    inputs: Mapping[str, Any] | None,
) -> str | None:
    """The task `key` already has (made from the same `inputs`, when given), or None when
    a create may go ahead; raises when it may not.

    `entries` are the key's entries, newest first; `claim` is who holds the key now.
    """
    for entry in entries:
        if entry.outcome == OUTCOME_CREATED and entry.task_id:
            if inputs is not None:
                before = stored_inputs(entry.request)
                legacy = INPUTS_KEY not in entry.request
                changed = differences(before, inputs, legacy=legacy)
                if changed:
                    raise KeyReusedError(key, entry.task_id, changed)
            return entry.task_id
    for entry in entries:
        if entry.outcome == OUTCOME_SENDING and (
            entry.entry_id in IN_FLIGHT or entry.owner.held_elsewhere(STALE_SENDING_SECONDS)
        ):
            raise KeyInUseError(key)
        if entry.outcome in (OUTCOME_UNKNOWN, OUTCOME_SENDING):
            raise UnresolvedCreateError(key, entry.entry_id)
    if claim is not None:
        # another thread's, still held (not one whose release the journal could not take)
        ours = claim.session == SESSION and claim.pid == os.getpid() and key in HELD_KEYS
        if ours or claim.held_elsewhere(None):
            raise KeyInUseError(key)
    return None


def request_inputs(planned: Mapping[str, Any]) -> dict[str, Any]:
    """The create's inputs as compared across runs: a file by its content, a URL without
    its credentials. `planned` is `media.plan`'s result, already validated and normalised
    (it is not validated again here)."""
    inputs: dict[str, Any] = {"model": planned["model"], "input_mode": planned["input_mode"]}
    for name in URL_FIELDS:
        value = planned.get(name)
        sha = getattr(value, "sha256", None)
        if isinstance(sha, str) and not isinstance(value, str):
            inputs[name] = _SHA_PREFIX + sha
        elif value is not None:
            inputs[name] = value
    if planned.get("duration_seconds") is not None:
        inputs["duration_seconds"] = planned["duration_seconds"]
    return {name: redact_url(v) if isinstance(v, str) else v for name, v in inputs.items()}


def stored_inputs(request: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs an entry was created from; derived from the body for older entries.

    Older entries kept only the body that was sent: its media (by sha256 when
    published from a file), model and mode compare; its duration may be the
    measured one, so it is left out.
    """
    kept = request.get(INPUTS_KEY)
    if isinstance(kept, Mapping):
        return dict(kept)
    published = request.get(PUBLISHED_KEY)
    published = published if isinstance(published, Mapping) else {}
    inputs: dict[str, Any] = {"model": request.get("model"), "input_mode": request.get("inputMode")}
    for name, wire in URL_FIELDS.items():
        record = published.get(name)
        sha = record.get("sha256") if isinstance(record, Mapping) else None
        if isinstance(sha, str):
            inputs[name] = _SHA_PREFIX + sha
        elif isinstance(request.get(wire), str):
            inputs[name] = redact_url(request[wire])
    return inputs


def differences(
    before: Mapping[str, Any], now: Mapping[str, Any], *, legacy: bool = False
) -> list[tuple[str, str, str]]:
    """`(field, earlier, now)` for every input that differs (`legacy`: no duration kept)."""
    names = [
        n for n in ("model", "input_mode", *URL_FIELDS, "duration_seconds") if n in {*before, *now}
    ]
    if legacy:
        names = [n for n in names if n != "duration_seconds"]
    return [
        (name, _shown(before.get(name)), _shown(now.get(name)))
        for name in names
        if before.get(name) != now.get(name)
    ]


def _shown(value: object) -> str:
    if value is None:
        return "not given"
    if isinstance(value, str) and value.startswith(_SHA_PREFIX):
        return f"a local file ({value[: len(_SHA_PREFIX) + 12]}…)"
    return repr(value)


def pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine (or it cannot be told)."""
    if sys.platform == "win32":  # os.kill would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
