"""The sandbox's model list and price table, kept in one place.

The real service does not publish prices; the sandbox uses the contract's own
example (12 s of audio -> 1200 credits) as its rate for ``kitta-lip-sync-v1``.
The same table feeds the create route, the reconciliation after rendering,
``GET /api/v1/usage`` and the OpenAPI document (``info.x-kitta-sandbox-pricing``),
so a UI can estimate a charge without guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BILLING_STEP_SECONDS",
    "DEFAULT_MODEL",
    "FALLBACK_AUDIO_SECONDS",
    "MAX_DURATION_SECONDS",
    "MINIMUM_BILLED_SECONDS",
    "MODELS",
    "PRICES",
    "ModelPrice",
    "estimate_credits",
    "pricing_document",
]


@dataclass(frozen=True)
class ModelPrice:
    """Price and access rule of one model."""

    model: str
    credits_per_second: int
    requires_grant: bool
    """True when only accounts granted this model (``pro_tokens``) may use it."""


PRICES: dict[str, ModelPrice] = {
    "kitta-lip-sync-v1": ModelPrice("kitta-lip-sync-v1", 100, requires_grant=False),
    "kitta-lip-sync-pro": ModelPrice("kitta-lip-sync-pro", 200, requires_grant=True),
}
"""Every model the sandbox accepts; any other id is a 400 ``invalid_request``."""

MODELS: tuple[str, ...] = tuple(PRICES)
DEFAULT_MODEL = "kitta-lip-sync-v1"

MINIMUM_BILLED_SECONDS = 1.0
"""Shorter audio is billed as one second."""

FALLBACK_AUDIO_SECONDS = 10.0
"""Assumed audio length when a create gives no ``durationSeconds`` and the sandbox
cannot measure the audio at create time (it can only for its own samples/results)."""

BILLING_STEP_SECONDS = 0.01
"""Audio is billed by its length rounded to the nearest hundredth of a second, the
precision ffmpeg reports: the same audio is priced the same whether its length
came from ``durationSeconds`` (e.g. 4.29375 from a WAV header) or was measured
after rendering (4.29), so the charge at creation and the final one agree."""

MAX_DURATION_SECONDS = 3600.0
"""Largest ``durationSeconds`` a create may declare (400 above it)."""


def estimate_credits(model: str, seconds: float | None) -> int:
    """Credits for ``seconds`` of audio on ``model`` (``None`` = fallback length).

    ``ceil(round(seconds, 2) * rate)`` with a one-second minimum: 12 s on v1 -> 1200,
    4.29375 s -> 429. Raises ``KeyError`` for an unknown model.
    """
    price = PRICES[model]
    if seconds is None:
        billed = FALLBACK_AUDIO_SECONDS
    else:
        billed = max(round(seconds / BILLING_STEP_SECONDS) * BILLING_STEP_SECONDS, 0.0)
        billed = max(billed, MINIMUM_BILLED_SECONDS)
    # round() first so that 12.000000001 (float noise) is not billed as 1201.
    return math.ceil(round(billed * price.credits_per_second, 6))


def pricing_document() -> dict[str, Any]:
    """The price table as JSON, for OpenAPI and the usage route."""
    return {
        "unit": "credits",
        "models": {
            p.model: {"creditsPerSecond": p.credits_per_second, "requiresGrant": p.requires_grant}
            for p in PRICES.values()
        },
        "minimumBilledSeconds": MINIMUM_BILLED_SECONDS,
        "billingStepSeconds": BILLING_STEP_SECONDS,
        "fallbackAudioSeconds": FALLBACK_AUDIO_SECONDS,
        "rule": "ceil(round(audioSeconds, 2) * creditsPerSecond), audioSeconds at least "
        "minimumBilledSeconds",
    }
