"""Local media in, checked before credits are spent.

The service takes only URLs it can fetch from the public internet and has no upload
endpoint. This subpackage turns local inputs into URLs (publishing them to a store)
and probes every input, without the Kitta token, before a create spends credits. It
imports nothing from ``display`` or ``widgets``.

Entry API (for the client, ``create_many`` and the panel)
---------------------------------------------------------
Sources. A media argument is an http(s) URL string, an ``os.PathLike``, a ``str`` with
no URL scheme naming an existing file, ``bytes``, or a binary file object.
``classify_source(value)`` says ``"url" | "local" | "missing" | "other"``; ``to_blob``
reads a local one once into a ``LocalBlob`` (name, size, sha256, sniffed type).

Stores. ``MediaStore`` is the protocol (``describe``, ``exists``, ``upload``,
``url_for``, ``publish``; inherit ``PublishMixin`` for ``publish``). Two ship:
``SandboxStore(sandbox.origin)`` (the sandbox-only ``/_sandbox/media/{key}`` route) and
``S3Store(bucket, prefix, *, endpoint_url, region, expires=24 h)`` (boto3, extra
``[s3]``; presigned GETs, 1 h <= expires <= 7 days). Keys are ``<sha256>.<ext>``; a
HEAD comes first, so publishing the same bytes again uploads 0 bytes
(``PublishedMedia.uploaded_bytes``). ``PublishedMedia.record()`` is what the journal
keeps (file name, sha256, size, store, expiry; never a credential or a signature).

- ``publish(source, *, store=None, progress=None, quiet=False) -> PublishedMedia``
  (``store=None`` reads ``KITTA_MEDIA_STORE``; ``progress(done, total)`` is called
  from worker threads during the upload; ``quiet=True`` calls no progress).
- Async twin: ``await AsyncMediaStore(store).publish(source, ...)``. The project names
  async twins ``Async*`` classes with the same method names; one wrapper serves every
  store, because boto3 is blocking anyway and hashing a file is CPU work.
- ``resolve_store(store, *, sandbox_url=None, field=...)``: explicit store, else the
  sandbox's (pass ``sandbox_url`` for a sandbox client), else ``KITTA_MEDIA_STORE``,
  else a ``ValidationError`` that says how to configure OSS, COS or R2.
  ``store_from_env()`` builds the ``S3Store`` that the environment names (or None).

Probing and preflight. One ``MediaProber`` per client (it caches per URL; the cache
is revalidated by ETag/Last-Modified after ``fresh_seconds``); ``AsyncMediaProber(
prober, concurrency=8)`` is its twin with the same method names and shared cache.

- ``prober.probe(url_or_blob) -> ProbeResult`` (``.reachable .status .size .sniffed
  .kind .format .duration .audio_duration .dimensions .facts .bytes_read .summary()``);
  ``judge(result, role)`` gives (definite problems, uncertain warnings).
- ``prober.preflight(fields, *, is_official, price_per_second,
  minimum_billed_seconds=1.0) -> Preflight``: ``fields`` uses the create's argument
  names (``video_url``, ``audio_url``, ``image_url``, ``reference_image_url``,
  ``duration_seconds``); ``Preflight`` has ``.inputs .problems .warnings
  .duration_seconds .duration_from_probe .estimated_credits .price_note .ok .rows()``
  and ``.raise_for_problems()`` (the ``ValidationError`` a create raises).
- ``prober.prepare_inputs(fields, *, store=None, sandbox_url=None, is_official,
  price_per_second, preflight=True, progress=None, quiet=False) -> PreparedInputs``
  (``.fields .preflight .published``): reads local sources (a missing file is a
  ``ValidationError`` at once), resolves the store (no store: ``ValidationError``
  before anything is sent), checks local files before uploading them, publishes,
  then preflights the final URLs and fills ``duration_seconds`` from the audio.
  Problems are returned, not raised: ``create`` calls ``raise_for_problems()``;
  ``create_many(skip_invalid=True)`` can skip the item instead.
- Module-level ``probe()`` and ``preflight()`` use a throwaway prober (no cache).

Errors: ``ValidationError`` for bad input, ``PublishError`` (a ``MediaError``) for a
store that fails; neither ever holds a credential.
"""

from __future__ import annotations

from typing import Any

from .config import HOW_TO_CONFIGURE, resolve_store, store_from_env
from .preflight_core import MEDIA_ROLES, PRICE_UNKNOWN, Preflight, build_preflight
from .prober import AsyncMediaProber, MediaProber, PreparedInputs, collect_local_sources
from .probing import DEFAULT_BYTE_BUDGET, DEFAULT_DEADLINE, ProbeResult, Role, judge
from .s3_store import S3Store
from .sandbox_store import SandboxStore
from .sniff import Sniffed, sniff
from .sources import LocalBlob, classify_source, is_local_source, to_blob
from .store import AsyncMediaStore, MediaStore, Progress, PublishedMedia, PublishMixin

__all__ = [
    "DEFAULT_BYTE_BUDGET",
    "DEFAULT_DEADLINE",
    "HOW_TO_CONFIGURE",
    "MEDIA_ROLES",
    "PRICE_UNKNOWN",
    "AsyncMediaProber",
    "AsyncMediaStore",
    "LocalBlob",
    "MediaProber",
    "MediaStore",
    "Preflight",
    "PreparedInputs",
    "ProbeResult",
    "Progress",
    "PublishMixin",
    "PublishedMedia",
    "Role",
    "S3Store",
    "SandboxStore",
    "Sniffed",
    "build_preflight",
    "classify_source",
    "collect_local_sources",
    "is_local_source",
    "judge",
    "preflight",
    "probe",
    "publish",
    "resolve_store",
    "sniff",
    "store_from_env",
    "to_blob",
]


def publish(
    source: object,
    *,
    store: MediaStore | None = None,
    progress: Progress | None = None,
    quiet: bool = False,
) -> PublishedMedia:
    """Publish one local source; `store=None` uses the store ``KITTA_MEDIA_STORE`` names."""
    return resolve_store(store).publish(source, progress=progress, quiet=quiet)


def probe(
    url_or_blob: str | LocalBlob,
    *,
    deadline: float = DEFAULT_DEADLINE,
    byte_budget: int = DEFAULT_BYTE_BUDGET,
) -> ProbeResult:
    """Probe one URL or local blob, without a cache (a client keeps a `MediaProber`)."""
    prober = MediaProber(deadline=deadline, byte_budget=byte_budget)
    try:
        return prober.probe(url_or_blob)
    finally:
        prober.close()


def preflight(
    fields: dict[str, Any],
    *,
    is_official: bool,
    price_per_second: float | None,
    minimum_billed_seconds: float = 1.0,
    billing_step_seconds: float = 0.0,
    deadline: float = DEFAULT_DEADLINE,
    byte_budget: int = DEFAULT_BYTE_BUDGET,
) -> Preflight:
    """Check one create's inputs (see the module docstring)."""
    prober = MediaProber(deadline=deadline, byte_budget=byte_budget)
    try:
        return prober.preflight(
            fields,
            is_official=is_official,
            price_per_second=price_per_second,
            minimum_billed_seconds=minimum_billed_seconds,
            billing_step_seconds=billing_step_seconds,
        )
    finally:
        prober.close()
