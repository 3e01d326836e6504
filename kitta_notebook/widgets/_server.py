"""The panel's view of its server: which sample fills which field.

Model ids, prices and samples come from `kitta_notebook.server_info`
(through the client's `server_info()`); this module sends no HTTP of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..server_info import ServerInfo, in_process_samples

if TYPE_CHECKING:
    from .._base import ClientBase

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


async def load_server_info(client: ClientBase, sandbox: Any = None) -> ServerInfo:
    """The server's facts through the client; in-process samples win when there are any."""
    info = await client._async_client().server_info()
    local = in_process_samples(client.base_url, sandbox)
    if local:
        from dataclasses import replace

        info = replace(info, is_sandbox=True, samples=local)
    return info
