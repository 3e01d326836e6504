"""The credit guard of `create_many`: `max_credits` before and during a batch, and the
balance warning. No I/O: the drivers fetch `usage()` and the journal's charges.

The rule. `max_credits=N` is a promise that the batch will not spend more than N, so
it needs an estimate for every item it would send: its audio length (what is sent as
`durationSeconds`, never below the probed audio) priced by the server's published
price, else by an upper bound learned from this account's finished tasks
(`kitta_notebook.price`):

* before any create, the batch is refused with `CreditLimitError` when the sum of
  the estimates exceeds N, or when any estimate cannot be made (no published price
  and no finished task on that model to learn from: create one task first, or pass
  `max_credits=None`). Items whose key already has a task cost nothing.
* while sending, each item reserves its estimate before it is sent. A create counts
  the larger of its reservation and its `creditsCharged` (a charge at creation may
  still be reconciled upwards); a refused one frees its reservation; one whose outcome
  is unknown keeps it (it may have been charged). An item whose turn would take the
  sum past N is not sent, and neither is any item after it (`not_sent`).
* a learned price is provisional: its model's items go one at a time until one create
  of this batch reports its charge, then at full concurrency. Every charge seen is
  learned, and later reservations are scaled by the highest charged/estimated ratio,
  so a server dearer than its published or learned price is noticed after one create.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import CreditLimitError, ValidationError
from ..price import Price, price_for, sane_charge
from ..server_info import ServerInfo
from .prepare import PreparedItem

Turn = Literal["send", "stop", "wait"]


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


def _listed(indices: Sequence[int]) -> str:
    shown = ", ".join(f"requests[{i}]" for i in indices[:5])
    return shown + (f" and {len(indices) - 5} more" if len(indices) > 5 else "")


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
    items: Sequence[PreparedItem],
    max_credits: float | None,
    info: ServerInfo,
    prices: Mapping[str, Price] | None = None,
) -> None:
    """Raise `CreditLimitError` (nothing sent) when the batch cannot keep the limit."""
    if max_credits is None:
        return
    to_create = _to_create(items)
    known = dict(prices or {})
    for item in to_create:
        known.setdefault(_model(item), price_for(info, _model(item)))
    unknown = [item for item in to_create if item.estimate is None]
    if unknown:
        model = _model(unknown[0])
        reason = (
            f"the price of {model} is unknown: the server publishes no price (the real "
            "service does not), and this account's journal has no succeeded task on it "
            "to learn the price from. Create one task first and let it finish (its charge "
            "teaches the price)"
            if known[model].source == "unknown"
            else "their audio length is unknown (give duration_seconds, or keep preflight on "
            "with audio it can read)"
        )
        listed = _listed([item.index for item in unknown])
        raise CreditLimitError(
            f"max_credits={max_credits:g} cannot be checked for {listed}: "
            f"{reason}. Nothing was sent. Pass max_credits=None to create without a limit."
        )
    total = sum(item.estimate or 0 for item in to_create)
    if total > max_credits:
        raise CreditLimitError(
            f"The batch is estimated at {total} credits ({len(to_create)} tasks; "
            f"{_sources(to_create, known)}), more than max_credits={max_credits:g}. "
            "Nothing was sent: raise max_credits or send fewer items."
        )


def balance_warning(usage: Mapping[str, Any] | None, estimate: int | None) -> str | None:
    """A sentence when the estimate exceeds the balance `usage()` reports (None otherwise,
    also when the server reports no balance: the real service's shape is undocumented)."""
    if usage is None or estimate is None:
        return None
    balance = usage.get("balance")
    if isinstance(balance, bool) or not isinstance(balance, (int, float)):
        return None
    if estimate <= balance:
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
    """The running guard (see the module's rule); safe from threads and one event loop."""

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

    def reserve(self, item: PreparedItem) -> bool:
        """`turn` for a caller that never waits: True when the item may be sent now."""
        return self.turn(item) == "send"

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

    def released(self, item: PreparedItem) -> None:
        """The create was refused: nothing was charged for it."""
        with self._lock:
            self._in_flight.discard(item.index)
            self._reserved.pop(item.index, None)

    def unsure(self, item: PreparedItem) -> None:
        """The create's outcome is unknown: it may have been charged, so its reservation
        stays counted; it is no longer in flight."""
        with self._lock:
            self._in_flight.discard(item.index)

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
