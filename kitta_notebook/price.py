"""What a create will cost, and where that estimate came from.

A price is published by the server (the sandbox's OpenAPI document), learned from
charges already seen (this account's finished tasks in the journal, a batch's own
first creates), or unknown. The real service publishes none, so learning is what
lets `max_credits` work there.

A learned estimate is an upper bound, never an average. Each finished task that
charged C credits for s seconds of audio bounds any length t by C when t <= s, and
by C x ceil(t) / s above: true whenever the charge grows with the audio, but never
per second faster than in proportion (a fixed fee, a minimum, rounding up to a whole
second all qualify). The tightest of those bounds is the estimate. No I/O but
`charges_in` (one read of the journal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .i18n import Lang, text
from .server_info import MAX_SANE_RATE, ServerInfo

if TYPE_CHECKING:
    from .history.store import JournalStore as Journal

__all__ = ["Charge", "Price", "charges_in", "format_credits", "price_for"]

PriceSource = Literal["published", "learned", "unknown"]
LEARN_FROM_TASKS = 200
"""The newest finished tasks a price is learned from."""


def format_credits(value: float | None) -> str:
    """Credits as every view shows them: "1,234", "12.50", "—" when not known."""
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


@dataclass(frozen=True)
class Charge:
    """One charge seen: `credits` for `seconds` of audio."""

    seconds: float
    credits: float


def sane_charge(seconds: object, credits: object) -> Charge | None:
    """A `Charge` from numbers a server or the journal supplied, or None when either is
    missing, not finite, not positive, or absurd (a hostile or broken server)."""
    values = []
    for value in (seconds, credits):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if not math.isfinite(value) or value <= 0:
            return None
        values.append(float(value))
    if values[1] / values[0] > MAX_SANE_RATE:
        return None
    return Charge(values[0], values[1])


@dataclass(frozen=True)
class Price:
    """How one model's charges are estimated, and from what."""

    model: str
    source: PriceSource
    info: ServerInfo = field(default_factory=ServerInfo)
    charges: tuple[Charge, ...] = ()
    tasks: int = 0
    """How many of this account's finished tasks the charges come from."""

    def estimate(self, seconds: float | None) -> int | None:
        """Credits for `seconds` of audio (an upper bound when learned), or None."""
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            return None
        if self.source == "published":
            return self.info.estimate(self.model, seconds)
        if not self.charges:
            return None
        billed = math.ceil(seconds)  # never rounded down: the bound must stay a bound
        bound = min(
            c.credits if seconds <= c.seconds else c.credits * billed / c.seconds
            for c in self.charges
        )
        return math.ceil(round(bound, 6))

    @property
    def provisional(self) -> bool:
        """Learned: a batch confirms it with one create before sending at full speed."""
        return self.source == "learned"

    def learn(self, charges: Iterable[Charge]) -> Price:
        """This price with more charges seen (a published price stays as it is)."""
        more = tuple(charges)
        if self.source == "published" or not more:
            return self
        return Price(self.model, "learned", self.info, self.charges + more, self.tasks)

    def describe(self, lang: Lang = "en") -> str:
        """Where the estimate comes from: "published by the server", "learned from 37 tasks"."""
        if self.source == "published":
            return text("price_published", lang)
        if self.source == "learned":
            batch = len(self.charges) - self.tasks
            if not self.tasks:
                return text("price_learned_batch", lang, batch=batch)
            shown = text(
                "price_learned_one" if self.tasks == 1 else "price_learned", lang, tasks=self.tasks
            )
            return shown + (text("price_and_batch", lang, batch=batch) if batch else "")
        return text("price_unknown", lang)


def price_for(info: ServerInfo, model: str, charges: Sequence[Charge] = ()) -> Price:
    """The published price when the server has one, else one learned from `charges`."""
    if info.rate(model) is not None:
        return Price(model, "published", info)
    if charges:
        return Price(model, "learned", info, tuple(charges), len(charges))
    return Price(model, "unknown", info)


def charges_in(journal: Journal | None, model: str, limit: int = LEARN_FROM_TASKS) -> list[Charge]:
    """This account's newest succeeded tasks on `model` that carry both a charge and the
    audio length sent with them (the journal belongs to one account on one server)."""
    if journal is None:
        return []
    from .history.entry import Query

    found: list[Charge] = []
    for entry in journal.entries(Query.build(status="succeeded", source="local"), limit=limit):
        charge = sane_charge(entry.duration_seconds, entry.credits)
        if entry.model == model and charge is not None:
            found.append(charge)
    return found
