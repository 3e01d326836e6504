"""Local media in, checked before credits are spent.

The service takes only URLs it can fetch from the public internet and has no upload
endpoint. This subpackage turns local inputs (a path, path text, bytes or a binary
file) into URLs by publishing them to a store, and probes every input, without the
Kitta token, before a create spends credits. It imports nothing from ``display`` or
``widgets``. Everything here is synchronous; the async client runs it on a worker
thread (``kitta_notebook._bridge``).

``publish`` puts a local source in a store (``KITTA_MEDIA_STORE`` names the default:
``SandboxStore`` or ``S3Store``; keys are ``<sha256>.<ext>``, so the same bytes are
uploaded once); ``probe`` and ``preflight`` check inputs without a cache, while
``prober_for(client)`` shares the client's own per-URL cache.

Errors: ``ValidationError`` for bad input, ``PublishError`` for a store that fails;
neither ever holds a credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .formats import SNIFF_BYTES, Sniffed, sniff
from .probe import DEFAULT_BYTE_BUDGET, DEFAULT_DEADLINE, ProbeResult
from .prober import (
    PRICE_UNKNOWN,
    MediaProber,
    Preflight,
    PreparedInputs,
    build_preflight,
    judge,
    prober_of,
)
from .s3_store import HOW_TO_CONFIGURE, S3Store, resolve_store, store_from_env
from .sources import MEDIA_ROLES, LocalBlob, Role, classify_source, to_blob
from .stores import MediaStore, Progress, PublishedMedia, SandboxStore

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase
    from ..price import Price

__all__ = [
    "DEFAULT_BYTE_BUDGET",
    "DEFAULT_DEADLINE",
    "HOW_TO_CONFIGURE",
    "MEDIA_ROLES",
    "PRICE_UNKNOWN",
    "SNIFF_BYTES",
    "LocalBlob",
    "MediaProber",
    "MediaStore",
    "Preflight",
    "PreparedInputs",
    "ProbeResult",
    "Progress",
    "PublishedMedia",
    "Role",
    "S3Store",
    "SandboxStore",
    "Sniffed",
    "build_preflight",
    "classify_source",
    "judge",
    "preflight",
    "probe",
    "prober_for",
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
    """Probe one URL or local blob, without a cache (a client keeps its own prober)."""
    return MediaProber(deadline=deadline, byte_budget=byte_budget).probe(url_or_blob)


def preflight(
    fields: dict[str, Any],
    *,
    is_official: bool,
    price: Price | None = None,
    deadline: float = DEFAULT_DEADLINE,
    byte_budget: int = DEFAULT_BYTE_BUDGET,
) -> Preflight:
    """Check one create's inputs without a cache; `price` None: no estimate."""
    prober = MediaProber(deadline=deadline, byte_budget=byte_budget)
    return prober.preflight(fields, is_official=is_official, price=price)


def prober_for(client: ClientBase) -> MediaProber:
    """The client's own prober: probes through it share the cache its creates use."""
    return prober_of(client._config)
