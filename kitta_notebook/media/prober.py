"""Preflight: every input of one create probed and judged before credits are spent.

`MediaProber` (one per client) probes and caches per URL, so one clip used by 20
tasks is probed once (revalidated by ETag/Last-Modified when it gets old); its
requests never carry the Kitta token. `judge` turns one probe into definite problems
(refuse the create) and uncertain warnings (this machine could not tell; the service
may still fetch it); `build_preflight` combines them with the duration and a `Price`
into a `Preflight`. `MediaProber.prepare_inputs` checks, then publishes local files:
a file's local probe is trusted for the URL it is published at (the upload sends
exactly the bytes that were hashed and probed), so nothing is probed twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx

from .._fetch import DeadlineExceeded, RedirectRefused, UnreadableBody, get_capped
from ..errors import ValidationError
from ..i18n import Finding
from .local import (
    MEDIA_ROLES,
    LocalBlob,
    MediaStore,
    Progress,
    PublishedMedia,
    Role,
    collect_local_sources,
    media_fields,
    resolve_store,
)
from .probe import DEFAULT_BYTE_BUDGET, DEFAULT_DEADLINE, ProbeResult, probe_blob, probe_url

if TYPE_CHECKING:
    from .._core import ClientConfig
    from ..price import Price

__all__ = [
    "PRICE_UNKNOWN",
    "MediaProber",
    "Preflight",
    "PreparedInputs",
    "build_preflight",
    "judge",
    "prober_of",
]

PRICE_UNKNOWN = Finding("media_price_unknown")
FROM_THIS_MACHINE = Finding("media_from_here")
NO_DURATION = Finding("media_duration_unknown")
MISMATCH_RATIO = 1.5
MISMATCH_MIN_SECONDS = 2.0
UNDERSTATED_SLACK_SECONDS = 0.05
"""A `duration_seconds` this much below the measured audio is replaced with a warning
(less is rounding, replaced silently)."""
FRESH_SECONDS = 300.0
"""A cached probe younger than this is used as is; an older one is revalidated."""

Findings = tuple[list[Finding], list[Finding]]


def judge(result: ProbeResult, role: Role) -> Findings:
    """(definite problems, warnings) of one input expected to be `role`; each a `Finding`
    (its English text, and the key and facts any view says it from)."""
    if result.refused_redirect:
        return [Finding("media_redirect_private", host=result.refused_redirect)], []
    if result.uncertain:
        return [], [Finding("media_uncertain", reason=result.uncertain)]
    if result.size == 0:  # before the status: an empty file answers a Range GET with 416
        return [Finding("media_empty")], []
    status = result.status
    if status is not None and status >= 500:
        return [], [Finding("media_http_5xx", status=status)]
    if status is not None and status >= 400:
        return [Finding("media_http_4xx", status=status)], []
    sniffed = result.sniffed
    if sniffed is None:
        return [], [Finding("media_stopped", reason=result.stopped)]
    want = Finding(f"want_{role}")
    if sniffed.kind in ("html", "json", "text"):
        a = "an " if sniffed.kind == "html" else "a "
        return [Finding("media_wrong_kind", a=a, label=sniffed.label, want=want)], []
    if sniffed.kind == "unknown":
        return [Finding("media_unknown_format", want=want)], []
    if result.undecodable:
        if result.stopped:
            return [], [Finding("media_partial", reason=result.stopped)]
        return [Finding("media_undecodable", ext=sniffed.extension.upper())], []
    return _judge_media(result, role)


def _judge_media(result: ProbeResult, role: Role) -> Findings:
    warnings: list[Finding] = []
    kind = result.kind
    label = result.sniffed.label if result.sniffed else Finding("format_file")
    facts = result.facts
    if role == "video" and kind == "image":
        return [Finding("media_image_not_video", label=label)], []
    if role == "video" and kind == "audio":
        return [Finding("media_audio_not_video", label=label)], []
    if role == "image" and kind != "image":
        return [Finding("media_wrong_kind", a="", label=label, want=Finding("want_image"))], []
    if role == "audio" and kind == "image":
        return [Finding("media_image_not_audio", label=label)], []
    if role == "audio" and facts is not None and facts.has_audio is False:
        return [Finding("media_no_audio", label=label)], []
    duration = result.audio_duration if role == "audio" else result.duration
    if role != "image":
        if facts is None:
            warnings.append(Finding("media_no_duration", label=label))
        elif duration is not None and duration <= 0:
            return [Finding("media_zero_duration")], []
        if facts is not None and facts.duration_doubt and facts.has_audio:
            doubt, held = facts.duration_doubt, facts.audio_duration
            if held is None:
                warnings.append(Finding("media_doubt_unused", doubt=doubt))
            else:
                warnings.append(Finding("media_doubt_held", doubt=doubt, held=held))
    return [], warnings


@dataclass(frozen=True)
class Preflight:
    """The check of one create's inputs. `ok` is False when the create must be refused.

    `problems` and `warnings` are (field, message) pairs, each message an `i18n.Finding`
    (its English text; `message.say("zh")` in Chinese); `raise_for_problems()` raises
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


def sent_duration(raw: object, probed: float | None) -> tuple[float | None, bool, Finding | None]:
    """(durationSeconds to send, whether it is the probed audio's, a warning) for the
    caller's `raw` value (None: fill it from the audio).

    The contract calls `durationSeconds` the audio's estimated length, which lets the
    server estimate the charge at creation; the charge itself is the task's
    `creditsCharged`. A value below the measured audio only makes that estimate (and
    `max_credits`) wrong, so the measured length is sent instead, with a warning. A
    malformed value is the create validator's to report; it is never overwritten.
    """
    given = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    if probed is None or probed <= 0:
        return given, False, None
    if raw is None:
        return probed, True, None
    if given is None or given >= probed:
        return given, False, None
    note = None
    if probed - given >= UNDERSTATED_SLACK_SECONDS:
        note = Finding("media_understated", given=given, probed=probed)
    return probed, True, note


def _mismatch(video: float, audio: float) -> Finding | None:
    longest, shortest = max(video, audio), min(video, audio)
    if longest - shortest < MISMATCH_MIN_SECONDS or longest <= shortest * MISMATCH_RATIO:
        return None
    key = "media_audio_longer" if audio > video else "media_audio_shorter"
    return Finding(key, audio=audio, video=video)


def build_preflight(
    results: Mapping[str, ProbeResult],
    *,
    is_official: bool,
    price: Price | None = None,
    duration_seconds: object = None,
    published: Mapping[str, PublishedMedia] | None = None,
    early_problems: list[tuple[str, str]] | None = None,
) -> Preflight:
    """Combine probe results (by field) into a `Preflight` estimated by `price`; no I/O.

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
    seconds, from_probe, understated = sent_duration(duration_seconds, probed_audio)
    if understated:
        warnings.append(("duration_seconds", understated))

    video = results.get("video_url")
    if video is not None and video.kind == "video" and video.duration and probed_audio:
        note = _mismatch(video.duration, probed_audio)
        if note:
            warnings.append(("audio_url", note))

    credits = price.estimate(seconds) if price is not None else None
    price_note = None
    if credits is None:
        unknown = price is None or price.source == "unknown"
        price_note = PRICE_UNKNOWN if unknown else NO_DURATION
    return Preflight(
        inputs=dict(results),
        problems=problems,
        warnings=warnings,
        duration_seconds=seconds,
        duration_from_probe=from_probe,
        estimated_credits=credits,
        price_note=price_note,
        published=dict(published or {}),
        price=price,
    )


@dataclass(frozen=True)
class PreparedInputs:
    """The create's arguments with local sources replaced by published URLs (and
    `duration_seconds` filled from the probed audio), plus the check that ran."""

    fields: dict[str, Any]
    preflight: Preflight | None
    published: dict[str, PublishedMedia]


def _is_loopback(url: str) -> bool:
    host = (httpx.URL(url).host or "").lower()
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")


class MediaProber:
    """Probes media inputs for one client. Safe to share between threads."""

    def __init__(
        self,
        *,
        deadline: float = DEFAULT_DEADLINE,
        byte_budget: int = DEFAULT_BYTE_BUDGET,
        fresh_seconds: float = FRESH_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` is for tests (an `httpx.MockTransport`); real probes use the network."""
        self.deadline = deadline
        self.byte_budget = byte_budget
        self.fresh_seconds = fresh_seconds
        self._transport = transport
        self._cache: dict[str, ProbeResult] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _still_valid(self, url: str, cached: ProbeResult) -> bool:
        if time.monotonic() - cached.checked_at < self.fresh_seconds:
            return True
        if not (cached.etag or cached.last_modified):
            return False
        headers = {"Range": "bytes=0-0"}
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        try:
            answer = get_capped(
                url,
                deadline=min(10.0, self.deadline),
                cap=lambda _status: 0,
                headers=headers,
                trust_env=not _is_loopback(url),
                transport=self._transport,
            )
        except (httpx.HTTPError, DeadlineExceeded, RedirectRefused, UnreadableBody):
            return False
        if answer.status == 304:
            return True
        same_tag = cached.etag is not None and answer.headers.get("etag") == cached.etag
        return answer.status in (200, 206) and same_tag

    def probe(self, source: str | LocalBlob) -> ProbeResult:
        """Probe a URL (cached per URL) or a local blob (never cached)."""
        if isinstance(source, LocalBlob):
            return probe_blob(source)
        with self._guard:
            lock = self._locks.setdefault(source, threading.Lock())
        with lock:
            cached = self._cache.get(source)
            if cached is not None and self._still_valid(source, cached):
                return cached
            result = probe_url(
                source,
                deadline=self.deadline,
                byte_budget=self.byte_budget,
                # A proxy from the environment is right for public hosts, wrong for loopback.
                trust_env=not _is_loopback(source),
                transport=self._transport,
            )
            if result.uncertain is None and result.stopped != "deadline":
                self._cache[source] = result
            else:
                self._cache.pop(source, None)
            return result

    def preflight(
        self,
        fields: Mapping[str, Any],
        *,
        is_official: bool,
        price: Price | None = None,
    ) -> Preflight:
        """Probe every media argument in `fields` (URLs or local blobs) and judge them."""
        results = {name: self.probe(value) for name, value in media_fields(fields).items()}
        duration = fields.get("duration_seconds")
        return build_preflight(
            results, is_official=is_official, price=price, duration_seconds=duration
        )

    def prepare_inputs(
        self,
        fields: Mapping[str, Any],
        *,
        store: MediaStore | None = None,
        sandbox_url: str | None = None,
        is_official: bool,
        price: Price | None = None,
        preflight: bool = True,
        progress: Progress | None = None,
        quiet: bool = False,
    ) -> PreparedInputs:
        """Check every input, then publish the local ones; see `kitta_notebook.media`.

        Everything is checked before any upload, so a bad input costs no upload. A
        published file keeps its local probe. A problem is returned in `preflight`, not
        raised: the caller decides. A missing file or no store raises `ValidationError`.
        """
        blobs = collect_local_sources(fields)
        if blobs:  # where to publish is known (or refused) before anything is probed or sent
            target = resolve_store(store, sandbox_url=sandbox_url, field=next(iter(blobs)))
        checked = None
        if preflight:
            checked = self.preflight({**fields, **blobs}, is_official=is_official, price=price)
            if not checked.ok:
                return PreparedInputs(dict(fields), checked, {})
        published: dict[str, PublishedMedia] = {}
        total, before = sum(blob.size for blob in blobs.values()), 0
        for name, blob in blobs.items():  # one after another: progress counts across files

            def report(done: int, _size: int, base: int = before) -> None:
                if progress is not None:
                    progress(base + done, total)

            published[name] = target.publish(blob, progress=report, quiet=quiet)
            before += blob.size
        final = {**fields, **{name: item.url for name, item in published.items()}}
        if checked is not None:
            checked = replace(checked, published=published)
            if checked.duration_from_probe:
                final["duration_seconds"] = checked.duration_seconds
        return PreparedInputs(final, checked, published)


def prober_of(config: ClientConfig) -> MediaProber:
    """The client's one prober (made on first use), so its probes are cached per client."""
    if not isinstance(config.prober, MediaProber):
        config.prober = MediaProber()
    return config.prober
