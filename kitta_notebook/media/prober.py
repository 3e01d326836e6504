"""`MediaProber` and `AsyncMediaProber`: probe, preflight and prepare a create's inputs.

One prober per client: it keeps a per-URL cache (so one clip used by 20 tasks is probed
once, revalidated by ETag/Last-Modified when it gets old). Its requests never carry the
Kitta token and each one has a wall-clock deadline (`_fetch.get_capped`). The async twin
runs the same blocking probes in worker threads, a bounded number at a time, and shares
the sync prober's cache.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .._fetch import DeadlineExceeded, RedirectRefused, UnreadableBody, get_capped
from ..errors import ValidationError
from .preflight_core import Preflight, build_preflight, media_fields
from .probing import DEFAULT_BYTE_BUDGET, DEFAULT_DEADLINE, ProbeResult, probe_blob, probe_url
from .sources import LocalBlob, classify_source, to_blob
from .store import AsyncMediaStore, MediaStore, Progress, PublishedMedia

__all__ = ["AsyncMediaProber", "MediaProber", "PreparedInputs", "collect_local_sources"]

FRESH_SECONDS = 300.0
"""A cached probe younger than this is used as is; an older one is revalidated."""


@dataclass(frozen=True)
class PreparedInputs:
    """The create's arguments with local sources replaced by published URLs (and
    `duration_seconds` filled from the probed audio), plus the check that ran."""

    fields: dict[str, Any]
    preflight: Preflight | None
    published: dict[str, PublishedMedia]


def collect_local_sources(fields: Mapping[str, Any]) -> dict[str, LocalBlob]:
    """Read every local media argument; one `ValidationError` lists every bad one."""
    blobs: dict[str, LocalBlob] = {}
    problems: list[tuple[str, str]] = []
    for name, value in media_fields(fields).items():
        if classify_source(value) not in ("local", "missing"):
            continue
        try:
            blobs[name] = to_blob(value, field=name)
        except ValidationError as error:
            problems += error.problems
    if problems:
        raise ValidationError(problems)
    return blobs


def _is_loopback(url: str) -> bool:
    host = (httpx.URL(url).host or "").lower()
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")


def _split_progress(progress: Progress | None, sizes: Mapping[str, int]) -> dict[str, Progress]:
    """One callback per file that reports the sum over all files."""
    total = sum(sizes.values())
    done = dict.fromkeys(sizes, 0)
    lock = threading.Lock()

    def for_field(name: str) -> Progress:
        def report(current: int, _total: int) -> None:
            with lock:
                done[name] = current
                overall = sum(done.values())
            if progress is not None:
                progress(overall, total)

        return report

    return {name: for_field(name) for name in sizes}


# The steps both drivers share; the drivers only differ in how they wait.


def _plan(
    fields: Mapping[str, Any], store: MediaStore | None, sandbox_url: str | None
) -> tuple[dict[str, LocalBlob], MediaStore | None]:
    """Local inputs read, and the store that will publish them (raises before any send)."""
    from .config import resolve_store

    blobs = collect_local_sources(fields)
    if not blobs:
        return blobs, None
    return blobs, resolve_store(store, sandbox_url=sandbox_url, field=next(iter(blobs)))


def _options(
    is_official: bool,
    price_per_second: float | None,
    minimum_billed_seconds: float,
    billing_step_seconds: float,
) -> dict[str, Any]:
    return {
        "is_official": is_official,
        "price_per_second": price_per_second,
        "minimum_billed_seconds": minimum_billed_seconds,
        "billing_step_seconds": billing_step_seconds,
    }


def _refused_locally(
    fields: Mapping[str, Any], results: dict[str, ProbeResult], options: dict[str, Any]
) -> PreparedInputs | None:
    """Local files with a definite problem stop here, before any upload."""
    gate = build_preflight(results, duration_seconds=None, **options)
    return None if gate.ok else PreparedInputs(dict(fields), gate, {})


def _with_urls(
    fields: Mapping[str, Any], published: Mapping[str, PublishedMedia]
) -> dict[str, Any]:
    return {**fields, **{name: item.url for name, item in published.items()}}


def _prepared(
    final: dict[str, Any], published: dict[str, PublishedMedia], checked: Preflight | None
) -> PreparedInputs:
    if checked is not None and checked.duration_from_probe:
        final["duration_seconds"] = checked.duration_seconds
    return PreparedInputs(final, checked, published)


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

    def close(self) -> None:
        """Nothing to release: every probe request opens and closes its own connection."""

    def _lock_for(self, url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(url, threading.Lock())

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

    def probe(
        self,
        source: str | LocalBlob,
        *,
        deadline: float | None = None,
        byte_budget: int | None = None,
    ) -> ProbeResult:
        """Probe a URL (cached per URL) or a local blob (never cached)."""
        if isinstance(source, LocalBlob):
            return probe_blob(source)
        with self._lock_for(source):
            cached = self._cache.get(source)
            if cached is not None and self._still_valid(source, cached):
                return cached
            result = probe_url(
                source,
                deadline=self.deadline if deadline is None else deadline,
                byte_budget=self.byte_budget if byte_budget is None else byte_budget,
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
        price_per_second: float | None,
        minimum_billed_seconds: float = 1.0,
        billing_step_seconds: float = 0.0,
        published: Mapping[str, PublishedMedia] | None = None,
    ) -> Preflight:
        """Probe every media argument in `fields` (URLs or local blobs) and judge them."""
        inputs = media_fields(fields)
        results = {name: self.probe(value) for name, value in inputs.items()}
        return build_preflight(
            results,
            duration_seconds=fields.get("duration_seconds"),
            is_official=is_official,
            price_per_second=price_per_second,
            minimum_billed_seconds=minimum_billed_seconds,
            billing_step_seconds=billing_step_seconds,
            published=published,
        )

    def prepare_inputs(
        self,
        fields: Mapping[str, Any],
        *,
        store: MediaStore | None = None,
        sandbox_url: str | None = None,
        is_official: bool,
        price_per_second: float | None,
        minimum_billed_seconds: float = 1.0,
        billing_step_seconds: float = 0.0,
        preflight: bool = True,
        progress: Progress | None = None,
        quiet: bool = False,
    ) -> PreparedInputs:
        """Publish local sources, then preflight; see `kitta_notebook.media` for the rules.

        Local files are checked on this machine before any upload, so a bad one costs
        no upload. A problem is returned in `preflight`, not raised: the caller decides.
        """
        blobs, chosen = _plan(fields, store, sandbox_url)
        options = _options(
            is_official, price_per_second, minimum_billed_seconds, billing_step_seconds
        )
        if preflight and blobs:
            refused = _refused_locally(
                fields, {n: probe_blob(b) for n, b in blobs.items()}, options
            )
            if refused is not None:
                return refused
        reporters = _split_progress(progress, {n: b.size for n, b in blobs.items()})
        published = {
            name: chosen.publish(blob, progress=reporters[name], quiet=quiet)
            for name, blob in blobs.items()
            if chosen is not None
        }
        final = _with_urls(fields, published)
        checked = self.preflight(final, published=published, **options) if preflight else None
        return _prepared(final, published, checked)


class AsyncMediaProber:
    """The async twin of `MediaProber`, with the same method names; probes run
    concurrently, at most `concurrency` at a time, and share `prober`'s cache."""

    def __init__(self, prober: MediaProber | None = None, *, concurrency: int = 8) -> None:
        self.prober = prober or MediaProber()
        self._limiter = asyncio.Semaphore(concurrency)

    def close(self) -> None:
        self.prober.close()

    async def probe(self, source: str | LocalBlob) -> ProbeResult:
        async with self._limiter:
            return await asyncio.to_thread(self.prober.probe, source)

    async def _probe_all(self, inputs: Mapping[str, Any]) -> dict[str, ProbeResult]:
        results: dict[str, ProbeResult] = {}

        async def one(name: str, value: Any) -> None:
            results[name] = await self.probe(value)

        await asyncio.gather(*(one(name, value) for name, value in inputs.items()))
        return {name: results[name] for name in inputs}

    async def preflight(
        self,
        fields: Mapping[str, Any],
        *,
        is_official: bool,
        price_per_second: float | None,
        minimum_billed_seconds: float = 1.0,
        billing_step_seconds: float = 0.0,
        published: Mapping[str, PublishedMedia] | None = None,
    ) -> Preflight:
        results = await self._probe_all(media_fields(fields))
        return build_preflight(
            results,
            duration_seconds=fields.get("duration_seconds"),
            is_official=is_official,
            price_per_second=price_per_second,
            minimum_billed_seconds=minimum_billed_seconds,
            billing_step_seconds=billing_step_seconds,
            published=published,
        )

    async def prepare_inputs(
        self,
        fields: Mapping[str, Any],
        *,
        store: MediaStore | None = None,
        sandbox_url: str | None = None,
        is_official: bool,
        price_per_second: float | None,
        minimum_billed_seconds: float = 1.0,
        billing_step_seconds: float = 0.0,
        preflight: bool = True,
        progress: Progress | None = None,
        quiet: bool = False,
    ) -> PreparedInputs:
        blobs, chosen = await asyncio.to_thread(_plan, fields, store, sandbox_url)
        options = _options(
            is_official, price_per_second, minimum_billed_seconds, billing_step_seconds
        )
        if preflight and blobs:
            refused = _refused_locally(fields, await self._probe_all(blobs), options)
            if refused is not None:
                return refused
        reporters = _split_progress(progress, {n: b.size for n, b in blobs.items()})
        published: dict[str, PublishedMedia] = {}
        if chosen is not None:
            target = AsyncMediaStore(chosen)

            async def upload(name: str, blob: LocalBlob) -> None:
                published[name] = await target.publish(blob, progress=reporters[name], quiet=quiet)

            await asyncio.gather(*(upload(name, blob) for name, blob in blobs.items()))
        final = _with_urls(fields, published)
        checked = await self.preflight(final, published=published, **options) if preflight else None
        return _prepared(final, published, checked)
