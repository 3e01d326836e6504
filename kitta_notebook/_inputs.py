"""A create's inputs made ready to send: local files published, every input checked.

Sync and async share every step but the I/O: `plan` (no network) reads local
files and validates everything that can be validated on this machine; the
drivers publish and probe; `finish` validates the final URLs and refuses a
create whose media have a definite problem, before any credit is spent.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import MediaWarning
from .media import (
    AsyncMediaProber,
    MediaProber,
    Preflight,
    classify_source,
    collect_local_sources,
)
from .media.preflight_core import with_price
from .price import Price, charges_in, price_for
from .server_info import ServerInfo, api_origin
from .validation import CreateRequest, validate_create

if TYPE_CHECKING:
    from ._core import ClientConfig
    from .history.store import JournalStore as Journal
    from .media import PublishedMedia


# A host that can never resolve (RFC 2606), standing in for a local file while validating.
LOCAL_STAND_IN = "local-file.invalid"


@dataclass(frozen=True)
class ReadyCreate:
    """What a create sends, and what was checked and published to get there."""

    request: CreateRequest
    preflight: Preflight | None
    published: Mapping[str, PublishedMedia]


def plan(config: ClientConfig, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Everything checkable without a network: local files are read, the rest validates.

    Returns the fields with each local source read into a `LocalBlob` (read
    once: publishing and probing reuse it). For validation, a local file
    stands in as the URL of its content under the reserved `.invalid` domain,
    so mode, model and duration rules apply to it exactly as to a URL.
    """
    blobs = collect_local_sources(fields)
    stand_ins = {name: f"https://{LOCAL_STAND_IN}/{blob.sha256}" for name, blob in blobs.items()}
    validate_create(**{**fields, **stand_ins}, require_public_urls=config.is_official)
    return {**fields, **blobs}


def needs_server_info(config: ClientConfig, fields: Mapping[str, Any]) -> bool:
    """True when local files must be published and no store was chosen: only the
    server's schema says whether it is a sandbox with its own store. Otherwise a
    create costs no extra request (the price in its preflight is informational)."""
    return (
        config.media_store is None
        and not config.is_official
        and any(classify_source(value) == "local" for value in fields.values())
    )


def price_options(config: ClientConfig, info: ServerInfo, model: str) -> dict[str, Any]:
    """Who checks and at what price (the sandbox publishes its table; the service does not)."""
    return {
        "is_official": config.is_official,
        "price_per_second": info.rate(model),
        "minimum_billed_seconds": info.minimum_billed_seconds,
        "billing_step_seconds": info.billing_step_seconds,
    }


def store_options(config: ClientConfig, info: ServerInfo) -> dict[str, Any]:
    """Where local files are published: the client's store, else the sandbox's own."""
    return {
        "store": config.media_store,
        "sandbox_url": api_origin(config.base_url) if info.is_sandbox else None,
    }


def finish(
    config: ClientConfig,
    final: Mapping[str, Any],
    checked: Preflight | None,
    published: Mapping[str, PublishedMedia],
) -> ReadyCreate:
    """Validate the final URLs; refuse definite media problems, warn about uncertain ones."""
    if checked is not None:
        checked.raise_for_problems()
        for name, message in checked.warnings:
            warnings.warn(f"{name}: {message}", MediaWarning, stacklevel=4)
    request = validate_create(**final, require_public_urls=config.is_official)
    return ReadyCreate(request, checked, published)


def prober_of(config: ClientConfig) -> MediaProber:
    """One prober per client configuration (shared by the twins), so probes are cached."""
    if not isinstance(config.prober, MediaProber):
        config.prober = MediaProber()
    return config.prober


def prepare(
    config: ClientConfig, info: ServerInfo, planned: Mapping[str, Any], *, preflight: bool
) -> ReadyCreate:
    """Publish and probe the inputs that `plan` read (blocking I/O)."""
    prepared = prober_of(config).prepare_inputs(
        planned,
        preflight=preflight,
        **store_options(config, info),
        **price_options(config, info, str(planned.get("model"))),
    )
    return finish(config, prepared.fields, prepared.preflight, prepared.published)


async def prepare_async(
    config: ClientConfig, info: ServerInfo, planned: Mapping[str, Any], *, preflight: bool
) -> ReadyCreate:
    prepared = await AsyncMediaProber(prober_of(config)).prepare_inputs(
        planned,
        preflight=preflight,
        **store_options(config, info),
        **price_options(config, info, str(planned.get("model"))),
    )
    return finish(config, prepared.fields, prepared.preflight, prepared.published)


def price_of(info: ServerInfo, model: str, journal: Journal | None) -> Price:
    """The server's published price, else one learned from the journal's finished tasks
    (read only when nothing is published: a blocking SQLite read)."""
    charges = [] if info.rate(model) is not None else charges_in(journal, model)
    return price_for(info, model, charges)


def check(
    config: ClientConfig, info: ServerInfo, planned: Mapping[str, Any], journal: Journal | None
) -> Preflight:
    """`lip_sync.check()`: the preflight alone; nothing is published or created."""
    model = str(planned.get("model"))
    checked = prober_of(config).preflight(dict(planned), **price_options(config, info, model))
    return with_price(checked, price_of(info, model, journal))


async def check_async(
    config: ClientConfig, info: ServerInfo, planned: Mapping[str, Any], journal: Journal | None
) -> Preflight:
    model = str(planned.get("model"))
    checked = await AsyncMediaProber(prober_of(config)).preflight(
        dict(planned), **price_options(config, info, model)
    )
    price = await asyncio.to_thread(price_of, info, model, journal)
    return with_price(checked, price)
