"""`Preflight`: what the probes of one create's inputs mean for it, before credits are spent.

The pure half of preflight: which fields are media and what each must be, and how
probe results become problems, warnings, a duration and an estimate. The drivers
(`MediaProber`, `AsyncMediaProber`) do the I/O and call `build_preflight`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..server_info import ServerInfo
from .probing import ProbeResult, Role, judge
from .store import PublishedMedia

if TYPE_CHECKING:
    from ..price import Price

__all__ = [
    "MEDIA_ROLES",
    "PRICE_UNKNOWN",
    "Preflight",
    "build_preflight",
    "media_fields",
    "with_price",
]

MEDIA_ROLES: dict[str, Role] = {
    "video_url": "video",
    "audio_url": "audio",
    "image_url": "image",
    "reference_image_url": "image",
}
"""Each media argument of a create, and what it must contain."""

PRICE_UNKNOWN = (
    "price unknown: the server publishes no price per second, and this account has "
    "no finished task on this model to learn it from"
)
FROM_THIS_MACHINE = (
    "checked from this machine: the service fetches inputs from its own network, "
    "which may reach hosts this machine cannot (and the other way round)"
)
MISMATCH_RATIO = 1.5
MISMATCH_MIN_SECONDS = 2.0
UNDERSTATED_SLACK_SECONDS = 0.05
"""A `duration_seconds` this much below the measured audio is replaced with a warning
(less is rounding, replaced silently)."""


def media_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The media arguments that were given (not None, not blank)."""
    return {
        name: value
        for name, value in fields.items()
        if name in MEDIA_ROLES
        and value is not None
        and not (isinstance(value, str) and not value.strip())
    }


@dataclass(frozen=True)
class Preflight:
    """The check of one create's inputs. `ok` is False when the create must be refused.

    `problems` and `warnings` are (field, message) pairs; `raise_for_problems()` raises
    the `ValidationError` a create gives, naming every input and what is wrong with it.
    """

    inputs: dict[str, ProbeResult]
    problems: list[tuple[str, str]]
    warnings: list[tuple[str, str]]
    duration_seconds: float | None
    """What is sent as `durationSeconds` and priced: the caller's duration, or the probed
    audio's when none was given or the given one is below it."""
    duration_from_probe: bool
    estimated_credits: int | None
    price_note: str | None
    """Why `estimated_credits` is None (e.g. `PRICE_UNKNOWN`)."""
    published: dict[str, PublishedMedia] = field(default_factory=dict)
    """Local inputs that were published for this create, by field."""
    price: Price | None = field(default=None, repr=False)
    """The price the estimate used, and where it came from (`price_source`)."""

    @property
    def price_source(self) -> str | None:
        """Where the price came from: "published by the server", "learned from 37 tasks",
        "unknown"."""
        return self.price.describe() if self.price else None

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ValidationError(self.problems)

    def _repr_mimebundle_(self, **_kwargs: Any) -> dict[str, str]:
        """A table in a notebook (the view is imported when shown: see `.importlinter`)."""
        from ..display.preflight import preflight_mimebundle

        return preflight_mimebundle(self)

    def __str__(self) -> str:
        """The readable text of the check (what `print(preflight)` shows)."""
        return self._repr_mimebundle_()["text/plain"]

    def __repr__(self) -> str:
        return (
            f"Preflight(ok={self.ok}, inputs={list(self.inputs)}, problems={len(self.problems)}, "
            f"warnings={len(self.warnings)}, duration_seconds={self.duration_seconds}, "
            f"estimated_credits={self.estimated_credits})"
        )

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per input, for a table view."""
        return [
            {
                "field": name,
                "input": result.source,
                "summary": result.summary(),
                "problems": [m for f, m in self.problems if f == name],
                "warnings": [m for f, m in self.warnings if f == name],
            }
            for name, result in self.inputs.items()
        ]


def _estimate(
    seconds: float | None,
    price_per_second: float | None,
    minimum_billed_seconds: float,
    billing_step_seconds: float,
) -> tuple[int | None, str | None]:
    if price_per_second is None:
        return None, PRICE_UNKNOWN
    if seconds is None:
        return None, NO_DURATION
    rule = ServerInfo(
        credits_per_second={"": price_per_second},
        minimum_billed_seconds=minimum_billed_seconds,
        billing_step_seconds=billing_step_seconds,
    )
    return rule.estimate("", seconds), None


def sent_duration(
    raw: object, given: float | None, probed: float | None
) -> tuple[float | None, bool, str | None]:
    """(durationSeconds to send, whether it is the probed audio's, a warning).

    The contract calls `durationSeconds` the audio's estimated length, which lets the
    server estimate the charge at creation; the charge itself is the task's
    `creditsCharged`. A value below the measured audio only makes that estimate (and
    `max_credits`) wrong, so the measured length is sent instead, with a warning.
    """
    measured = probed if probed is not None and probed > 0 else None
    if measured is None:
        return given, False, None
    if raw is None:
        return measured, True, None
    if given is None or given >= measured:
        return given, False, None
    note = None
    if measured - given >= UNDERSTATED_SLACK_SECONDS:
        note = (
            f"duration_seconds={given:g} is below the audio's measured {measured:.2f} s: "
            f"{measured:.2f} s is sent and priced instead (the charge follows the audio; "
            "pass preflight=False to send your value unchecked)."
        )
    return measured, True, note


def _mismatch(video: float, audio: float) -> str | None:
    if abs(audio - video) < MISMATCH_MIN_SECONDS:
        return None
    if audio > video * MISMATCH_RATIO:
        return (
            f"The audio ({audio:.1f} s) is much longer than the video ({video:.1f} s): the "
            "sandbox loops the video to the audio's length; the real service's behaviour "
            "is undocumented."
        )
    if audio * MISMATCH_RATIO < video:
        return (
            f"The audio ({audio:.1f} s) is much shorter than the video ({video:.1f} s): the "
            "sandbox cuts the video at the audio's end; the real service's behaviour "
            "is undocumented."
        )
    return None


def build_preflight(
    results: Mapping[str, ProbeResult],
    *,
    duration_seconds: object,
    is_official: bool,
    price_per_second: float | None,
    minimum_billed_seconds: float = 1.0,
    billing_step_seconds: float = 0.0,
    published: Mapping[str, PublishedMedia] | None = None,
    early_problems: list[tuple[str, str]] | None = None,
) -> Preflight:
    """Combine probe results (by field) into a `Preflight`; no I/O.

    `duration_seconds` is the caller's value as given (None: fill it from the audio).
    """
    problems = list(early_problems or [])
    warnings: list[tuple[str, str]] = []
    for name, result in results.items():
        found, cautions = judge(result, MEDIA_ROLES[name])
        problems += [(name, message) for message in found]
        warnings += [(name, message) for message in cautions]
    if is_official and results:
        warnings.append(("preflight", FROM_THIS_MACHINE))

    audio = results.get("audio_url")
    probed_audio = audio.audio_duration if audio is not None else None
    # A malformed duration is the create validator's to report; it is never overwritten.
    given = (
        float(duration_seconds)
        if isinstance(duration_seconds, (int, float)) and not isinstance(duration_seconds, bool)
        else None
    )
    seconds, from_probe, understated = sent_duration(duration_seconds, given, probed_audio)
    if understated:
        warnings.append(("duration_seconds", understated))

    video = results.get("video_url")
    if video is not None and video.kind == "video" and video.duration and probed_audio:
        note = _mismatch(video.duration, probed_audio)
        if note:
            warnings.append(("audio_url", note))

    credits, price_note = _estimate(
        seconds, price_per_second, minimum_billed_seconds, billing_step_seconds
    )
    return Preflight(
        inputs=dict(results),
        problems=problems,
        warnings=warnings,
        duration_seconds=seconds,
        duration_from_probe=from_probe,
        estimated_credits=credits,
        price_note=price_note,
        published=dict(published or {}),
    )


NO_DURATION = "duration unknown: give duration_seconds or a probeable audio_url"


def with_price(checked: Preflight, price: Price) -> Preflight:
    """The preflight estimated by `price` (published or learned), saying where it came from."""
    credits = price.estimate(checked.duration_seconds)
    note = None
    if credits is None:
        note = PRICE_UNKNOWN if price.source == "unknown" else NO_DURATION
    return replace(checked, estimated_credits=credits, price_note=note, price=price)
