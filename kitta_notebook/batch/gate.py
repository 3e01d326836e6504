"""The two gates every create of a batch passes: the credit budget and the rate pace.

`CreditBudget` keeps `max_credits`. The rule: `max_credits=N` is a promise that the
batch will not spend more than N, so every item it would send needs an estimate (its
audio length, never below the probed audio, priced by the server's published price,
else by an upper bound learned from this account's finished tasks; see `price`):

* before any create, the batch is refused with `CreditLimitError` when the sum of the
  estimates exceeds N, or when any estimate cannot be made (create one task first, or
  pass `max_credits=None`). Items whose key already has a task cost nothing.
* while sending, each item reserves its estimate before it is sent. A create counts the
  larger of its reservation and its `creditsCharged`; a refused one frees its
  reservation; one whose outcome is unknown keeps it (it may have been charged). An item
  whose turn would take the sum past N is not sent, nor any item after it (`not_sent`).
* a learned price is provisional: its model's items go one at a time until one create of
  this batch reports its charge. Later reservations are scaled by the highest
  charged/estimated ratio, so a server dearer than its price is noticed after one create.

`RateGate` is the batch's pace: a 429 anywhere pauses every worker and halves how many
creates may be in flight. The client's request loop calls `before_send(request)` and
`after_response(response)` on the gate its thread works for (`_core.REQUEST_GATE`),
so the gate sees every attempt, the core's own 429 retries included.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import httpx

from .. import _bridge
from .._core import retry_after_seconds
from .._responses import nothing_created
from ..errors import CreditLimitError, JournalError, RateLimitError, ValidationError
from ..price import Price, sane_charge

if TYPE_CHECKING:
    from .._core import ClientConfig
    from .plan import PreparedItem
    from .results import Outcome

Turn = Literal["send", "stop", "wait"]
MAX_RATE_LIMIT_ROUNDS = 10
"""A 429 created nothing, so resending is safe; each round is one `_create_checked` call
(which itself retries a 429 `max_retries` times)."""


# --- the credit budget ------------------------------------------------------------------
def check_max_credits(value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValidationError([("max_credits", "must be None or a number of credits ≥ 0")])
    return value


def listed(names: Sequence[object], shown: int = 5) -> str:
    """The first few of `names`, and how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(str(name) for name in names[:shown]) + more


def _to_create(items: Sequence[PreparedItem]) -> list[PreparedItem]:
    return [item for item in items if item.known_task_id is None and item.request]


def _model(item: PreparedItem) -> str:
    return item.request.model if item.request else ""


def total_estimate(items: Sequence[PreparedItem]) -> int | None:
    """What the items to be created are estimated to cost; None when any is unknown."""
    to_create = _to_create(items)
    if any(item.estimate is None for item in to_create):
        return None
    return sum(item.estimate or 0 for item in to_create)


def _sources(items: Sequence[PreparedItem], prices: Mapping[str, Price]) -> str:
    """ "price published by the server" (one per model when they differ)."""
    models = list(dict.fromkeys(_model(item) for item in items))
    found = [(m, prices[m].describe()) for m in models if m in prices]
    if len({source for _, source in found}) <= 1:
        return f"price {found[0][1]}" if found else "price unknown"
    return "; ".join(f"{m}: price {source}" for m, source in found)


def refuse_over_limit(
    items: Sequence[PreparedItem], max_credits: float | None, prices: Mapping[str, Price]
) -> None:
    """Raise `CreditLimitError` (nothing sent) when the batch cannot keep the limit.

    `prices` holds each model's `Price` (`price.price_for`): one pricing object per
    model, the same the items' estimates were made with.
    """
    if max_credits is None:
        return
    to_create = _to_create(items)
    unknown = [f"requests[{item.index}]" for item in to_create if item.estimate is None]
    if unknown:
        model = next(_model(item) for item in to_create if item.estimate is None)
        price = prices.get(model)
        reason = (
            f"the price of {model} is unknown: the server publishes no price "
            "(the real service does not), and this account's journal has no succeeded task "
            "on it to learn the price from. Create one task first and let it finish (its "
            "charge teaches the price)"
            if price is None or price.source == "unknown"
            else "their audio length is unknown (give duration_seconds, or keep preflight on "
            "with audio it can read)"
        )
        raise CreditLimitError(
            f"max_credits={max_credits:g} cannot be checked for "
            f"{listed(unknown)}: {reason}. Nothing was sent. "
            "Pass max_credits=None to create without a limit."
        )
    total = sum(item.estimate or 0 for item in to_create)
    if total > max_credits:
        raise CreditLimitError(
            f"The batch is estimated at {total} credits ({len(to_create)} tasks; "
            f"{_sources(to_create, prices)}), more than max_credits={max_credits:g}. "
            "Nothing was sent: raise max_credits or send fewer items."
        )


def balance_warning(usage: Mapping[str, Any] | None, estimate: int | None) -> str | None:
    """A sentence when the estimate exceeds the balance `usage()` reports (None otherwise,
    also when the server reports no balance: the real service's shape is undocumented)."""
    balance = usage.get("balance") if usage is not None else None
    if isinstance(balance, bool) or not isinstance(balance, (int, float)):
        return None
    if estimate is None or estimate <= balance:
        return None
    return (
        f"This batch is estimated at {estimate} credits but the account's balance is "
        f"{balance:g}: the server will refuse (402) the creates it cannot pay for."
    )


def _reported(credits: object) -> float:
    """A charge as counted: a negative, non-finite or missing one counts as nothing (then
    the reservation counts), so a hostile server cannot lower what was spent."""
    if isinstance(credits, bool) or not isinstance(credits, (int, float)):
        return 0.0
    return float(credits) if math.isfinite(credits) and credits > 0 else 0.0


class CreditBudget:
    """The running guard (see the module's rule); safe from threads."""

    def __init__(self, limit: float | None, prices: Mapping[str, Price] | None = None) -> None:
        self.limit = limit
        self.prices: dict[str, Price] = dict(prices or {})
        self._lock = threading.Lock()
        self._reserved: dict[int, float] = {}
        self._in_flight: set[int] = set()
        self._confirmed: set[str] = set()
        self._charged = 0.0
        self._ratio = 1.0
        self.stopped: str | None = None

    def _cost(self, item: PreparedItem) -> float:
        price = self.prices.get(_model(item))
        estimate = price.estimate(item.seconds) if price is not None else None
        base = item.estimate if estimate is None else estimate
        return (base or 0) * self._ratio  # under a limit, an unknown one was refused before

    def turn(self, item: PreparedItem) -> Turn:
        """May this item be sent now ("send", its estimate reserved), never ("stop", and
        no later item either), or after the create in flight reports ("wait")?"""
        if self.limit is None:
            return "send"
        with self._lock:
            if self.stopped is not None:
                return "stop"
            model = _model(item)
            price = self.prices.get(model)
            confirming = price is not None and price.provisional and model not in self._confirmed
            if confirming and self._in_flight:
                return "wait"
            cost = self._cost(item)
            committed = self._charged + sum(self._reserved.values())
            if not committed + cost <= self.limit + 1e-9:  # NaN never passes
                self.stopped = (
                    f"max_credits reached: {self._charged:g} credits charged and "
                    f"{committed - self._charged:g} reserved of max_credits={self.limit:g}; "
                    "the remaining items were not sent"
                )
                return "stop"
            self._reserved[item.index] = cost
            self._in_flight.add(item.index)
            return "send"

    def charged(self, item: PreparedItem, credits: float | None) -> None:
        """A create succeeded: the larger of its reservation and its reported charge
        counts, and a sane charge is learned (it confirms a learned price)."""
        if self.limit is None:
            return
        with self._lock:
            self._in_flight.discard(item.index)
            reserved = self._reserved.pop(item.index, 0.0)
            reported = _reported(credits)
            self._charged += max(reserved, reported)
            if reported <= 0:  # no charge reported: nothing learned, nothing confirmed
                return
            model = _model(item)
            self._confirmed.add(model)
            if item.estimate:
                self._ratio = max(self._ratio, reported / item.estimate)
            charge = sane_charge(item.seconds, reported)
            if charge is not None and model in self.prices:
                self.prices[model] = self.prices[model].learn([charge])

    def settled(self, item: PreparedItem, outcome: Outcome) -> None:
        """A create did not return a task: a refused one frees its reservation; one whose
        outcome is unknown keeps it (it may have been charged)."""
        with self._lock:
            self._in_flight.discard(item.index)
            if outcome in ("rejected", "not_sent"):
                self._reserved.pop(item.index, None)

    def price_note(self) -> str:
        """For the progress view: where the prices come from and what is committed."""
        if self.limit is None:
            return ""
        with self._lock:
            committed = self._charged + sum(self._reserved.values())
            sources = sorted({price.describe() for price in self.prices.values()})
        shown = f"price {', '.join(sources)} · " if sources else ""
        return f"{shown}{committed:g} of max_credits={self.limit:g} committed"

    def reason(self) -> str:
        return self.stopped or "max_credits reached"


# --- the rate gate ----------------------------------------------------------------------
def outcome_of(error: BaseException) -> Outcome:
    """`not_sent` when the journal could not write the create down (so it was not sent),
    `rejected` only when the error proves nothing was created; else `unknown`."""
    if isinstance(error, JournalError):
        return "not_sent"
    return "rejected" if nothing_created(error) else "unknown"


def may_resend(error: BaseException, rounds: int) -> bool:
    """Whether a failed create may be sent again: only a 429, which created nothing."""
    return isinstance(error, RateLimitError) and rounds < MAX_RATE_LIMIT_ROUNDS


class RateGate:
    """The pace of one batch, shared by all its worker threads.

    A 429 anywhere in the batch pauses every worker until its `Retry-After` (or a
    backoff when absent) and halves how many creates may be in flight; each success
    lets one more back in, gradually (additive increase).
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

    @property
    def allowed(self) -> int:
        """How many creates may be in flight now."""
        with self._lock:
            return max(1, int(self._allowed))

    def pause_left(self) -> float:
        """Seconds until the current pause ends (0 when not paused)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def _wait_locked(self) -> float:
        """The pause left, plus a little jitter so the workers do not all resume at once."""
        left = self._until - self._clock()
        return left + self._rng.uniform(0.0, min(1.0, 0.2 * self._last_pause)) if left > 0 else 0.0

    def wait_time(self) -> float:
        """How long a request about to be sent must wait (0 when not paused)."""
        with self._lock:
            return self._wait_locked()

    def try_enter(self) -> float | None:
        """Take an in-flight slot (None), or say how long to wait before trying again
        (0.0: until another worker leaves)."""
        with self._lock:
            if (wait := self._wait_locked()) > 0:
                return wait
            if self._in_flight >= max(1, int(self._allowed)):
                return 0.0
            self._in_flight += 1
            return None

    def leave(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def before_send(self, request: httpx.Request) -> None:
        """Called by the client's request loop before each attempt: wait out the pause."""
        while (delay := self.wait_time()) > 0:
            _bridge.pause(delay)

    def after_response(self, response: httpx.Response) -> None:
        """Called by the client's request loop with each answer: learn the pace from it."""
        with self._lock:
            now = self._clock()
            if response.status_code == 429:
                self.rate_limited += 1
                if now >= self._until:  # one cut per pause, however many 429s arrive
                    self._allowed = max(1.0, self._allowed / 2)
                pause = retry_after_seconds(response)
                if pause is None:
                    pause = self._config.backoff(self._strikes)
                self._strikes += 1
                until = now + pause
                if until > self._until:
                    self.paused_seconds += until - max(self._until, now)
                    self._until = until
                    self._last_pause = pause
            elif response.is_success:
                self._strikes = 0
                if self._allowed < self.limit:
                    self._allowed = min(float(self.limit), self._allowed + 1.0 / self._allowed)
