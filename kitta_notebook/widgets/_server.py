"""The panel's view of its server: which sample fills which field, which models to offer.

Model ids, prices and samples come from `kitta_notebook.server_info`
(through the client's `server_info()`); which of the models this account may
use, from its usage (`client.usage()`), where the server says so. This
module sends no HTTP of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..connection import in_process_samples
from ..server_info import ServerInfo
from ._messages import find_balance

if TYPE_CHECKING:
    from .._client import KittaClient as ClientBase

# Which sandbox samples "use samples" fills in, per form field.
SAMPLE_FIELDS = {
    "video_url": "video",
    "image_url": "image",
    "reference_image_url": "reference_image",
    "audio_url": "audio",
}


def initial_server_info(client: ClientBase, sandbox: Any = None) -> ServerInfo:
    """What is known before any request: the samples of an in-process sandbox."""
    samples = in_process_samples(client.base_url, sandbox)
    return ServerInfo(is_sandbox=bool(samples), samples=samples)


async def load_server_info(
    client: ClientBase, sandbox: Any = None
) -> tuple[ServerInfo, int | float | None]:
    """The server's facts through the client, and the account's balance where usage has one.

    In-process samples win when there are any. When the account's usage says a
    model is not allowed (the sandbox's usage does), that model is not offered:
    picking it could only end in a 403.
    """
    info = await client.as_async().server_info()
    local = in_process_samples(client.base_url, sandbox)
    if local:
        info = replace(info, is_sandbox=True, samples=local)
    try:
        usage = await client.as_async().usage()
    except Exception:  # the usage body is undocumented; without it, offer every model
        return info, None
    return replace(info, models=allowed_models(info.models, usage)), find_balance(usage)


def allowed_models(models: Sequence[str], usage: Mapping[str, Any]) -> tuple[str, ...]:
    """`models` minus those the usage body marks `allowed: false` (all of them if it says none)."""
    listed = usage.get("models")
    if not isinstance(listed, Mapping):
        return tuple(models)
    refused = {
        name
        for name, facts in listed.items()
        if isinstance(facts, Mapping) and facts.get("allowed") is False
    }
    kept = tuple(m for m in models if m not in refused)
    return kept or tuple(models)
