"""A create's key: the claim that reserves it, and the inputs it was used with.

One key, one charge: a keyed create first claims its key in the journal
(one `BEGIN IMMEDIATE` transaction, see `JournalWriter.claim_key`), before
anything is published, probed or sent. The inputs are kept with the claim
in a form that compares across runs: a local file by its sha256, a media
URL without its credentials (a presigned URL's signature changes each time).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._redact import redact_url
from ..validation import URL_FIELDS, validate_create

__all__ = [
    "INPUTS_KEY",
    "KeyClaim",
    "differences",
    "pid_alive",
    "request_inputs",
    "stored_inputs",
]

# Where a stored request keeps the inputs its key was claimed with (not part of what was sent).
INPUTS_KEY = "x-inputs"

# A local file stands in for its URL while the inputs are normalised (never sent).
_LOCAL = "https://local-file.invalid/"
_SHA_PREFIX = "sha256:"


@dataclass(frozen=True)
class KeyClaim:
    """What claiming a key found: the task it already has, or the claim's token."""

    key: str
    token: str | None = None
    """Held by this call until `release_key`; the create's journal entry checks it."""
    task_id: str | None = None
    """The task created earlier under the key with the same inputs (nothing to send)."""


def request_inputs(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The create's inputs as compared across runs, normalised as `validate_create` does.

    `fields` are create arguments whose local files were read (`_inputs.plan`):
    a file counts by its content, a URL without its credentials.
    """
    given = dict(fields)
    for name in URL_FIELDS:
        sha = getattr(given.get(name), "sha256", None)
        if isinstance(sha, str) and not isinstance(given.get(name), str):
            given[name] = _LOCAL + sha
    request = validate_create(**given)
    inputs: dict[str, Any] = {"model": request.model, "input_mode": request.input_mode}
    for name in URL_FIELDS:
        url = getattr(request, name)
        if url is not None:
            inputs[name] = _SHA_PREFIX + url[len(_LOCAL) :] if url.startswith(_LOCAL) else url
    if request.duration_seconds is not None:
        inputs["duration_seconds"] = request.duration_seconds
    return {name: redact_url(v) if isinstance(v, str) else v for name, v in inputs.items()}


def stored_inputs(request: Mapping[str, Any], published_key: str) -> dict[str, Any]:
    """The inputs an entry was created from; derived from the body for older entries.

    Older entries kept only the body that was sent: its media (by sha256 when
    published from a file), model and mode compare; its duration may be the
    measured one, so it is left out.
    """
    kept = request.get(INPUTS_KEY)
    if isinstance(kept, Mapping):
        return dict(kept)
    published = request.get(published_key)
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
