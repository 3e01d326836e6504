"""The pace of one batch: a 429 anywhere slows every worker down.

`RateGate` holds only numbers (a pause, how many creates may be in flight);
the drivers do the waiting. A batch worker sets the client's `ACTIVE_GATE`
(a context variable, re-exported here): the client's request loop then waits
out the gate's pause before each attempt, its own 429 retries included, and
tells the gate every answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._core import ACTIVE_GATE
from ..errors import APIConnectionError, APIError, RateLimitError
from .results import Outcome

if TYPE_CHECKING:
    from .._core import ClientConfig

__all__ = ["ACTIVE_GATE", "MAX_RATE_LIMIT_ROUNDS", "RateGate", "may_resend", "outcome_of"]

# A 429 means the server refused the create, so resending is safe; each round
# is one `_create_checked` call (which itself retries 429 `max_retries` times).
MAX_RATE_LIMIT_ROUNDS = 10


def outcome_of(error: BaseException) -> Outcome:
    """`rejected` only when the error proves nothing was created; else `unknown`.

    Mirrors how the client tells its recorder: a server's refusal, or a
    connection that was never made, is definite; a 5xx, a read timeout, an
    unreadable 2xx or an interrupt is not.
    """
    if not isinstance(error, (APIError, APIConnectionError)):
        return "unknown"
    status = error.status_code if isinstance(error, APIError) else None
    if status is not None and 200 <= status < 300:
        return "unknown"  # the server accepted something we could not read
    return "unknown" if error.may_have_created else "rejected"


def may_resend(error: BaseException, rounds: int) -> bool:
    """Whether a failed create may be sent again: only a 429, which created nothing."""
    return isinstance(error, RateLimitError) and rounds < MAX_RATE_LIMIT_ROUNDS


class RateGate:
    """The pace of one batch, shared by all its workers (threads or asyncio tasks).

    A 429 anywhere in the batch pauses every worker until its `Retry-After`
    (or a backoff when absent) and halves how many creates may be in flight;
    each success lets one more back in, gradually (additive increase).
    """

    def __init__(
        self, limit: int, config: ClientConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._allowed = float(limit)
        self._in_flight = 0
        self._until = 0.0
        self._last_pause = 0.0
        self._strikes = 0
        self.rate_limited = 0
        self.paused_seconds = 0.0
        self.lowest_allowed = limit

    @property
    def allowed(self) -> int:
        """How many creates may be in flight now."""
        with self._lock:
            return max(1, int(self._allowed))

    def pause_left(self) -> float:
        """Seconds until the current pause ends (0 when not paused)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def _jitter(self) -> float:
        """So the workers do not all resume at the same instant."""
        return self._rng.uniform(0.0, min(1.0, 0.2 * self._last_pause))

    def wait_time(self) -> float:
        """How long a request about to be sent must wait: the pause, plus a little jitter."""
        with self._lock:
            left = self._until - self._clock()
            return left + self._jitter() if left > 0 else 0.0

    def try_enter(self) -> float | None:
        """Take an in-flight slot (None), or say how long to wait before trying again
        (0.0: until another worker leaves)."""
        with self._lock:
            left = self._until - self._clock()
            if left > 0:
                return left + self._jitter()
            if self._in_flight >= max(1, int(self._allowed)):
                return 0.0
            self._in_flight += 1
            return None

    def leave(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def on_response(self, status_code: int, retry_after: float | None) -> None:
        """Learn from every response the batch receives."""
        with self._lock:
            now = self._clock()
            if status_code == 429:
                self.rate_limited += 1
                if now >= self._until:  # one cut per pause, however many 429s arrive
                    self._allowed = max(1.0, self._allowed / 2)
                    self.lowest_allowed = min(self.lowest_allowed, int(self._allowed))
                pause = retry_after
                if pause is None:
                    pause = self._config.backoff(self._strikes)
                self._strikes += 1
                until = now + pause
                if until > self._until:
                    self.paused_seconds += until - max(self._until, now)
                    self._until = until
                    self._last_pause = pause
            elif 200 <= status_code < 300:
                self._strikes = 0
                if self._allowed < self.limit:
                    self._allowed = min(float(self.limit), self._allowed + 1.0 / self._allowed)
