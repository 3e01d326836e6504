"""What a client can learn about its server from the server's OpenAPI document.

Model ids, prices and sample media are read here and nowhere else: the
client's `server_info()`, `sample_media()` and the panel all use this module.
The reference does not say where the real service publishes its schema or
its prices, so when the document is absent the documented default model is
offered and the price is unknown: nothing is invented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .validation import DEFAULT_MODEL

MAX_SANE_RATE = 1e6
"""Credits per second above this are a server's nonsense, not a price: a published rate
above it (or of zero or less: a zero rate would let `max_credits` pass any batch) is
no price (unknown), and a charge seen at a higher rate teaches none (`price`)."""
MAX_BILLING_STEP_SECONDS = 1.0


@dataclass(frozen=True)
class Sample:
    """A sample media URL, with its length in seconds when the server says."""

    url: str
    duration_seconds: float | None = None


@dataclass(frozen=True)
class ServerInfo:
    """Facts about one server; the defaults are the contract's own."""

    models: tuple[str, ...] = (DEFAULT_MODEL,)
    models_from_server: bool = False
    is_sandbox: bool = False
    credits_per_second: Mapping[str, float] = field(default_factory=dict)
    minimum_billed_seconds: float = 0.0
    # Audio lengths are rounded to this many seconds before pricing (0: not rounded).
    billing_step_seconds: float = 0.0
    samples: Mapping[str, Sample] = field(default_factory=dict)
    problem: str | None = None

    def rate(self, model: str) -> float | None:
        """Credits per second of audio on `model`, or None when the price is not published."""
        return self.credits_per_second.get(model)

    def estimate(self, model: str, seconds: float | None) -> int | None:
        """The charge by the published rule (ceil(seconds x rate), at least the minimum
        billed seconds), or None when it cannot be known."""
        rate = self.rate(model)
        if rate is None or seconds is None or not math.isfinite(seconds) or seconds <= 0:
            return None
        step = self.billing_step_seconds
        billed = round(round(seconds / step) * step, 6) if step > 0 else seconds
        return math.ceil(round(max(billed, self.minimum_billed_seconds) * rate, 6))

    def sample_urls(self) -> dict[str, str]:
        return {key: sample.url for key, sample in self.samples.items()}


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def models_in(document: Mapping[str, Any]) -> list[str]:
    """Model ids a document allows: `x-kitta-models`, else any `model` property's enum."""
    listed = document.get("x-kitta-models")
    if isinstance(listed, list) and listed and all(isinstance(m, str) for m in listed):
        return list(dict.fromkeys(listed))
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Mapping):
            properties = node.get("properties")
            model = properties.get("model") if isinstance(properties, Mapping) else None
            if isinstance(model, Mapping) and isinstance(model.get("enum"), list):
                found.extend(m for m in model["enum"] if isinstance(m, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return list(dict.fromkeys(found))


def _prices(pricing: object) -> tuple[dict[str, float], float, float]:
    """(credits per second by model, minimum billed seconds, billing step in seconds)."""
    if not isinstance(pricing, Mapping):
        return {}, 0.0, 0.0
    table = pricing.get("models")
    rates: dict[str, float] = {}
    if isinstance(table, Mapping):
        for name, entry in table.items():
            rate = _number(entry.get("creditsPerSecond")) if isinstance(entry, Mapping) else None
            if rate is not None and 0 < rate <= MAX_SANE_RATE:
                rates[str(name)] = rate
    minimum = _number(pricing.get("minimumBilledSeconds")) or 0.0
    step = _number(pricing.get("billingStepSeconds")) or 0.0
    # A step rounds to the nearest: a huge one would round every length down to nothing.
    return rates, max(minimum, 0.0), step if 0 < step <= MAX_BILLING_STEP_SECONDS else 0.0


def listed_samples(listed: object) -> dict[str, Sample]:
    """The samples a document lists (`x-kitta-sandbox-samples`): URL, length when said."""
    samples: dict[str, Sample] = {}
    if not isinstance(listed, Mapping):
        return samples
    for key, entry in listed.items():
        if isinstance(entry, str):
            samples[str(key)] = Sample(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("url"), str):
            samples[str(key)] = Sample(entry["url"], _number(entry.get("durationSeconds")))
    return samples


def api_origin(base_url: str) -> str:
    """`http://host:port` of a base URL such as `http://host:port/api`."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_openapi(document: object) -> ServerInfo:
    """A `ServerInfo` from an OpenAPI document (defaults for anything it lacks)."""
    if not isinstance(document, Mapping):
        return ServerInfo(problem="no OpenAPI document")
    models = models_in(document)
    meta = document.get("info")
    meta = meta if isinstance(meta, Mapping) else {}
    rates, minimum, step = _prices(meta.get("x-kitta-sandbox-pricing"))
    is_sandbox = meta.get("x-kitta-sandbox") is True
    samples: dict[str, Sample] = {}
    if is_sandbox:
        samples = listed_samples(meta.get("x-kitta-sandbox-samples"))
    return ServerInfo(
        models=tuple(models) or (DEFAULT_MODEL,),
        models_from_server=bool(models),
        is_sandbox=is_sandbox,
        credits_per_second=rates,
        minimum_billed_seconds=minimum,
        billing_step_seconds=step,
        samples=samples,
    )
