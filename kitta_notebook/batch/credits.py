"""The credit guard of `create_many`: `max_credits` before and during a batch, and the
balance warning. No I/O: the drivers fetch `usage()` and hand its answer in.

The rule. `max_credits=N` is a promise that the batch will not spend more than N, so
it needs an estimate for every item it would send (the server's published price
times the item's audio length, from `duration_seconds` or the probed audio):

* before any create, the batch is refused with `CreditLimitError` when the sum of
  the estimates exceeds N, or when any estimate cannot be made. The real service
  publishes no price, so there every estimate is unknown: pass `max_credits=None`
  (the default) to send without a limit. Items whose key already has a task cost
  nothing and are not counted.
* while sending, each item reserves its estimate before it is sent; a create's
  `creditsCharged` replaces its reservation. An item whose turn would take the sum
  past N is not sent, and neither is any item after it (`not_sent`). A server that
  charges more than its published price is noticed after one create: later
  reservations are scaled by the highest charged/estimated ratio seen.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import CreditLimitError, ValidationError
from ..server_info import ServerInfo
from .prepare import PreparedItem

_NO_PRICE = "the server publishes no price (the real service does not), so no estimate can be made"


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


def total_estimate(items: Sequence[PreparedItem]) -> int | None:
    """What the items to be created are estimated to cost; None when any is unknown."""
    to_create = [item for item in items if item.known_task_id is None and item.request]
    if any(item.estimate is None for item in to_create):
        return None
    return sum(item.estimate or 0 for item in to_create)


def refuse_over_limit(
    items: Sequence[PreparedItem], max_credits: float | None, info: ServerInfo
) -> None:
    """Raise `CreditLimitError` (nothing sent) when the batch cannot keep the limit."""
    if max_credits is None:
        return
    to_create = [item for item in items if item.known_task_id is None and item.request]
    unknown = [item for item in to_create if item.estimate is None]
    if unknown:
        model = unknown[0].request.model if unknown[0].request else ""
        reason = (
            _NO_PRICE
            if info.rate(model) is None
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
            f"The batch is estimated at {total} credits ({len(to_create)} tasks), more than "
            f"max_credits={max_credits:g}. Nothing was sent: raise max_credits or send fewer items."
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


class CreditBudget:
    """The running guard (see the module's rule); safe from threads and one event loop."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._reserved: dict[int, float] = {}
        self._charged = 0.0
        self._ratio = 1.0
        self.stopped: str | None = None

    def reserve(self, item: PreparedItem) -> bool:
        """May this item be sent now? False (and for every later item) once it may not."""
        if self.limit is None:
            return True
        with self._lock:
            if self.stopped is not None:
                return False
            cost = (item.estimate or 0) * self._ratio
            committed = self._charged + sum(self._reserved.values())
            if committed + cost > self.limit + 1e-9:
                self.stopped = (
                    f"max_credits reached: {self._charged:g} credits charged and "
                    f"{committed - self._charged:g} reserved of max_credits={self.limit:g}; "
                    "the remaining items were not sent"
                )
                return False
            self._reserved[item.index] = cost
            return True

    def charged(self, item: PreparedItem, credits: float | None) -> None:
        """A create succeeded: its charge (or, if it reported none, its reservation) counts."""
        if self.limit is None:
            return
        with self._lock:
            reserved = self._reserved.pop(item.index, 0.0)
            spent = reserved if credits is None else float(credits)
            self._charged += spent
            if item.estimate and credits is not None:
                self._ratio = max(self._ratio, float(credits) / item.estimate)

    def released(self, item: PreparedItem) -> None:
        """The create was refused: nothing was charged for it."""
        with self._lock:
            self._reserved.pop(item.index, None)

    def reason(self) -> str:
        return self.stopped or "max_credits reached"
