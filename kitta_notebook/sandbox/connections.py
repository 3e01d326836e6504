"""Lets the fault layer close a client's TCP connection without any response.

ASGI offers no way to abort a connection, so the sandbox runs uvicorn with a
subclass of its h11 protocol (``Config(http=<class>)`` is uvicorn's documented
hook) that records each connection's transport under its peer address, which
is what ASGI puts in ``scope["client"]``. Only asyncio's public Protocol
callbacks are overridden.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["ConnectionRegistry"]

Peer = tuple[str, int]


def _peer(transport: asyncio.BaseTransport) -> Peer | None:
    info: Any = transport.get_extra_info("peername")
    if isinstance(info, (tuple, list)) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


class ConnectionRegistry:
    """Open transports by peer address; used only on the server's event-loop thread."""

    def __init__(self) -> None:
        self._transports: dict[Peer, asyncio.Transport] = {}

    def protocol_class(self) -> type[asyncio.Protocol]:
        """A uvicorn h11 protocol class bound to this registry."""
        from uvicorn.protocols.http.h11_impl import H11Protocol

        registry = self

        class DroppableH11Protocol(H11Protocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                super().connection_made(transport)
                peer = _peer(transport)
                if peer is not None:
                    registry._transports[peer] = transport

            def connection_lost(self, exc: Exception | None) -> None:
                transport = getattr(self, "transport", None)
                peer = _peer(transport) if transport is not None else None
                if peer is not None and registry._transports.get(peer) is transport:
                    del registry._transports[peer]
                super().connection_lost(exc)

        return DroppableH11Protocol

    def close(self, client: Any) -> bool:
        """Close the connection of ``scope["client"]``; False if it is unknown."""
        if not isinstance(client, (tuple, list)) or len(client) < 2:
            return False
        transport = self._transports.pop((str(client[0]), int(client[1])), None)
        if transport is None:
            return False
        transport.close()
        return True
