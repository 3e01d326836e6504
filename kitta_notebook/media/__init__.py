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

A client's create goes through ``plan`` (no network: local files read once, the whole
create validated once, each local file standing in as a URL) and ``prepare`` (the media
checked, local files published and their URLs filled in, a create whose media have a
definite problem refused before any credit is spent); ``check`` is ``lip_sync.check()``.

Errors: ``ValidationError`` for bad input, ``PublishError`` for a store that fails;
neither ever holds a credential.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_names
from ..errors import MediaWarning, ValidationError
from ..price import Price, charges_in, price_for
from ..server_info import ServerInfo, api_origin
from ..validation import LOCAL_STAND_IN, CreateRequest, check_url, validate_create
from .formats import SNIFF_BYTES, Sniffed, sniff
from .local import (
    HOW_TO_CONFIGURE,
    MEDIA_ROLES,
    LocalBlob,
    MediaStore,
    Progress,
    PublishedMedia,
    Role,
    SandboxStore,
    classify_source,
    collect_local_sources,
    media_fields,
    resolve_store,
    store_from_env,
    to_blob,
)
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

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase
    from .._core import ClientConfig
    from ..history.store import JournalStore as Journal
    from .s3_store import S3Store

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

# `S3Store`, imported on first use: a client without an S3 store never loads it.
__getattr__ = lazy_names(__name__, {"S3Store": ".s3_store"})


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


# --- a client's create: its inputs checked, published and made ready to send -------------


@dataclass(frozen=True)
class ReadyCreate:
    """What a create sends, and what was checked and published to get there."""

    request: CreateRequest
    preflight: Preflight | None
    published: Mapping[str, PublishedMedia]


def plan(config: ClientConfig, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Everything checkable without a network, validated once: the create's fields as
    `validate_create` normalised them, with each local source read into a `LocalBlob`
    (read once: publishing and probing reuse it).

    For validation, a local file stands in as the URL of its content under the
    reserved `.invalid` domain, so mode, model and duration rules apply to it
    exactly as to a URL.
    """
    blobs = collect_local_sources(fields)
    stand_ins = {name: f"https://{LOCAL_STAND_IN}/{blob.sha256}" for name, blob in blobs.items()}
    request = validate_create(**{**fields, **stand_ins}, require_public_urls=config.is_official)
    return {**asdict(request), **blobs}


def needs_server_info(config: ClientConfig, fields: Mapping[str, Any]) -> bool:
    """True when local files must be published and no store was chosen: only the
    server's schema says whether it is a sandbox with its own store. Otherwise a
    create costs no extra request (the price in its preflight is informational)."""
    return (
        config.media_store is None
        and not config.is_official
        and any(classify_source(value) == "local" for value in media_fields(fields).values())
    )


def sandbox_url(config: ClientConfig, info: ServerInfo) -> str | None:
    """The sandbox's origin when the server is one: its own store publishes local files."""
    return api_origin(config.base_url) if info.is_sandbox else None


def request_of(
    config: ClientConfig, final: Mapping[str, Any], published: Mapping[str, PublishedMedia]
) -> CreateRequest:
    """The request from `plan`'s fields with published URLs filled in. Only those URLs
    are new since `plan` validated the rest: they must pass the address policy too."""
    problems = []
    for name in published:
        _, problem = check_url(final[name], require_public=config.is_official)
        if problem:
            problems.append((name, problem))
    if problems:
        raise ValidationError(problems)
    return CreateRequest(**final)


def prepare(
    config: ClientConfig,
    info: ServerInfo,
    planned: Mapping[str, Any],
    *,
    preflight: bool,
    store: MediaStore | None = None,
    quiet: bool = False,
) -> ReadyCreate:
    """Check the inputs `plan` read, publish the local ones (blocking I/O; to `store`, else
    the client's); definite media problems raise `ValidationError`, uncertain ones warn
    unless `quiet` (a batch warns once for all its items)."""
    prepared = prober_of(config).prepare_inputs(
        planned,
        store=config.media_store if store is None else store,
        sandbox_url=sandbox_url(config, info),
        is_official=config.is_official,
        price=price_for(info, str(planned.get("model"))),
        preflight=preflight,
        quiet=quiet,
    )
    checked = prepared.preflight
    if checked is not None:
        checked.raise_for_problems()
        for name, message in checked.warnings:
            if not quiet:
                warnings.warn(f"{name}: {message}", MediaWarning, stacklevel=3)
    request = request_of(config, prepared.fields, prepared.published)
    return ReadyCreate(request, checked, prepared.published)


def price_of(info: ServerInfo, model: str, journal: Journal | None) -> Price:
    """The server's published price, else one learned from the journal's finished tasks
    (read only when nothing is published: a blocking SQLite read)."""
    charges = [] if info.rate(model) is not None else charges_in(journal, model)
    return price_for(info, model, charges)


def check(
    config: ClientConfig, info: ServerInfo, planned: Mapping[str, Any], journal: Journal | None
) -> Preflight:
    """`lip_sync.check()`: the preflight alone; nothing is published or created."""
    price = price_of(info, str(planned.get("model")), journal)
    return prober_of(config).preflight(planned, is_official=config.is_official, price=price)
