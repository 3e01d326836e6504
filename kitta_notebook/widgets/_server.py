"""What the panel learns about the server: model ids, prices, sample media.

Everything comes through the client (its OpenAPI document at
`<base_url>/v1/openapi.json`) or from the embedded sandbox's own Python
objects; this module sends no HTTP of its own. When the document is not
available (the real service does not say where it publishes one) the panel
offers the documented default model and says that the price is unknown:
nothing is invented.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _core
from ..validation import DEFAULT_MODEL

if TYPE_CHECKING:
    from .._base import ClientBase

OPENAPI_PATH = "/v1/openapi.json"
# Which sandbox samples "use samples" fills in, per form field.
SAMPLE_FIELDS = {
    "video_url": "video",
    "image_url": "image",
    "reference_image_url": "reference_image",
    "audio_url": "audio",
}


@dataclass(frozen=True)
class Sample:
    url: str
    duration_seconds: float | None = None


@dataclass
class ServerInfo:
    """Facts about the server a panel talks to; defaults are the documented ones."""

    models: tuple[str, ...] = (DEFAULT_MODEL,)
    models_from_server: bool = False
    is_sandbox: bool = False
    pricing: Mapping[str, Any] | None = None
    samples: dict[str, Sample] = field(default_factory=dict)
    problem: str | None = None

    def rate(self, model: str) -> float | None:
        """Credits per second of `model` from the server's price table, or None (unknown)."""
        if not self.pricing:
            return None
        entry = (self.pricing.get("models") or {}).get(model)
        if not isinstance(entry, Mapping):
            return None
        rate = entry.get("creditsPerSecond")
        if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate >= 0:
            return float(rate)
        return None

    def estimate(self, model: str, seconds: float | None) -> int | None:
        """The charge by the server's published rule, or None when it cannot be known.

        Rule (the sandbox's `x-kitta-sandbox-pricing.rule`):
        ceil(audioSeconds * creditsPerSecond), at least `minimumBilledSeconds`.
        """
        rate = self.rate(model)
        if rate is None or seconds is None or not math.isfinite(seconds) or seconds <= 0:
            return None
        assert self.pricing is not None
        minimum = self.pricing.get("minimumBilledSeconds", 0)
        minimum = float(minimum) if isinstance(minimum, (int, float)) else 0.0
        return math.ceil(round(max(seconds, minimum) * rate, 6))


def models_in(document: Mapping[str, Any]) -> list[str]:
    """Model ids an OpenAPI document allows: `x-kitta-models`, else a `model` enum."""
    listed = document.get("x-kitta-models")
    if isinstance(listed, list) and all(isinstance(m, str) for m in listed) and listed:
        return list(listed)
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Mapping):
            props = node.get("properties")
            if isinstance(props, Mapping):
                model = props.get("model")
                if isinstance(model, Mapping) and isinstance(model.get("enum"), list):
                    found.extend(m for m in model["enum"] if isinstance(m, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return list(dict.fromkeys(found))


def _origin_of(base_url: str) -> str:
    return base_url[: -len("/api")] if base_url.endswith("/api") else base_url


def _manifest() -> dict[str, dict[str, Any]]:
    """The embedded sandbox's sample manifest (a file in this package), or {}."""
    try:
        from ..sandbox.server import SAMPLES_DIR

        manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    except (ImportError, OSError, ValueError):
        return {}
    if not isinstance(manifest, dict):
        return {}
    return {str(k): v for k, v in manifest.items() if isinstance(v, dict)}


def _manifest_durations() -> dict[str, float]:
    return {
        key: float(entry["durationSeconds"])
        for key, entry in _manifest().items()
        if isinstance(entry.get("durationSeconds"), (int, float))
    }


def _manifest_files() -> dict[str, str]:
    return {
        key: entry["file"]
        for key, entry in _manifest().items()
        if isinstance(entry.get("file"), str)
    }


def live_sandbox_samples(client: ClientBase, sandbox: Any = None) -> dict[str, Sample]:
    """Samples of the in-process sandbox serving `client`, if there is one.

    `sandbox` is a `Sandbox` given by the caller; otherwise the one that
    `connect()` started in this process is used when its base URL matches.
    """
    candidates = [sandbox]
    if sandbox is None:
        from .. import connection

        candidates.append(connection._sandbox)
    durations = _manifest_durations()
    for candidate in candidates:
        if candidate is None or not getattr(candidate, "running", False):
            continue
        if candidate.base_url.rstrip("/") != client.base_url.rstrip("/"):
            continue
        urls: Mapping[str, str] = candidate.samples
        return {key: Sample(url, durations.get(key)) for key, url in urls.items()}
    return {}


def samples_from_document(document: Mapping[str, Any], base_url: str) -> dict[str, Sample]:
    """Samples a sandbox's OpenAPI document lists, or this package's sample layout.

    Only for a server that declares itself a sandbox (`info.x-kitta-sandbox`).
    """
    info = document.get("info")
    info = info if isinstance(info, Mapping) else {}
    if info.get("x-kitta-sandbox") is not True:
        return {}
    listed = info.get("x-kitta-sandbox-samples")
    if isinstance(listed, Mapping):
        samples: dict[str, Sample] = {}
        for key, entry in listed.items():
            if isinstance(entry, str):
                samples[str(key)] = Sample(entry)
            elif isinstance(entry, Mapping) and isinstance(entry.get("url"), str):
                seconds = entry.get("durationSeconds")
                duration = float(seconds) if isinstance(seconds, (int, float)) else None
                samples[str(key)] = Sample(entry["url"], duration)
        return samples
    # The sandbox serves its committed samples at <origin>/samples/<file>.
    origin = _origin_of(base_url.rstrip("/"))
    durations = _manifest_durations()
    return {
        key: Sample(f"{origin}/samples/{name}", durations.get(key))
        for key, name in _manifest_files().items()
    }


async def load_server_info(client: ClientBase, sandbox: Any = None) -> ServerInfo:
    """Read the server's OpenAPI document through the client; defaults when it is absent."""
    info = ServerInfo(samples=live_sandbox_samples(client, sandbox))
    info.is_sandbox = bool(info.samples)
    try:
        response = await client._async_client()._request("GET", OPENAPI_PATH)
        document = _core.json_body(response)
    except Exception as exc:  # any failure means "not available": keep the defaults
        info.problem = type(exc).__name__
        return info
    models = models_in(document)
    if models:
        info.models = tuple(models)
        info.models_from_server = True
    raw_info = document.get("info")
    meta = raw_info if isinstance(raw_info, Mapping) else {}
    pricing = meta.get("x-kitta-sandbox-pricing")
    if isinstance(pricing, Mapping):
        info.pricing = pricing
    if meta.get("x-kitta-sandbox") is True:
        info.is_sandbox = True
        if not info.samples:
            info.samples = samples_from_document(document, client.base_url)
    return info
