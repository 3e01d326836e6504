"""The sandbox's reported clock: real time plus an optional offset.

Everything the sandbox schedules runs on the machine's real clock; only what it
*reports* (``createdAt``/``startedAt``/``completedAt`` and the HTTP ``Date``
header) is shifted, so a test can play a server whose clock is minutes behind or
ahead of the client's without slowing anything down.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import formatdate

__all__ = ["SandboxClock", "iso_utc"]


def iso_utc(ts: float | None) -> str | None:
    """Epoch seconds -> ``2026-07-01T08:00:00.000Z`` (the contract's format)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SandboxClock:
    """Real time for work, ``real + offset`` for anything a client sees."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = float(offset)

    @staticmethod
    def now() -> float:
        return time.time()

    def iso(self, ts: float | None) -> str | None:
        """A stored (real) timestamp as the server reports it."""
        return None if ts is None else iso_utc(ts + self.offset)

    def http_date(self) -> str:
        """The ``Date`` header value for a response sent now."""
        return formatdate(time.time() + self.offset, usegmt=True)
