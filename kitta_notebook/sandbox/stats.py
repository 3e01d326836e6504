"""Request counters, so tests can assert how many calls a client really made."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["API_ROUTES", "SandboxStats"]

API_ROUTES = frozenset({"create", "get", "list", "usage", "openapi", "api_other"})
"""Route names that count towards ``total`` (everything under ``/api/``)."""


class SandboxStats:
    """Thread-safe counters of the requests the sandbox received.

    Route names: ``create``, ``get``, ``list``, ``usage``, ``openapi``,
    ``api_other`` (unknown path or wrong method under /api), ``samples``,
    ``results``, ``upload`` (PUT to the sandbox-only media store), ``uploaded``
    (HEAD/GET of stored media) and ``other``. ``total`` counts API requests only (not media
    fetches, which the sandbox's own worker also makes). Every request is
    counted, including the ones a fault answered or dropped. ``renders`` counts
    ffmpeg renders (identical inputs are rendered once);
    ``uploaded_bytes`` the bytes accepted by the media store.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._methods: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()
        self._creates_accepted = 0
        self._renders = 0
        self._uploads = 0
        self._uploaded_bytes = 0

    def record_request(self, route: str, method: str) -> None:
        with self._lock:
            self._routes[route] += 1
            if route in API_ROUTES:
                self._methods[method] += 1

    def record_status(self, route: str, status: int) -> None:
        with self._lock:
            if route in API_ROUTES:
                self._statuses[status] += 1

    def record_create_accepted(self) -> None:
        with self._lock:
            self._creates_accepted += 1

    def record_render(self) -> None:
        with self._lock:
            self._renders += 1

    def record_upload(self, size: int) -> None:
        with self._lock:
            self._uploads += 1
            self._uploaded_bytes += size

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._routes.clear()
            self._methods.clear()
            self._statuses.clear()
            self._faults.clear()
            self._creates_accepted = 0
            self._renders = 0
            self._uploads = 0
            self._uploaded_bytes = 0

    @property
    def total(self) -> int:
        """API requests received (under /api/)."""
        with self._lock:
            return sum(n for r, n in self._routes.items() if r in API_ROUTES)

    @property
    def by_route(self) -> dict[str, int]:
        with self._lock:
            return dict(self._routes)

    @property
    def by_method(self) -> dict[str, int]:
        """API requests by HTTP method."""
        with self._lock:
            return dict(self._methods)

    @property
    def by_status(self) -> dict[int, int]:
        """API responses by status code (dropped connections have none)."""
        with self._lock:
            return dict(self._statuses)

    @property
    def faults(self) -> dict[str, int]:
        """Injected faults by kind: ``drop``, ``rate_limit``, ``error``."""
        with self._lock:
            return dict(self._faults)

    @property
    def creates_accepted(self) -> int:
        """Creates that made a task (202), including ones answered by an after-commit fault."""
        with self._lock:
            return self._creates_accepted

    @property
    def renders(self) -> int:
        """ffmpeg renders actually run (tasks served from the render cache do not count)."""
        with self._lock:
            return self._renders

    @property
    def uploads(self) -> int:
        """Uploads the media store accepted (201)."""
        with self._lock:
            return self._uploads

    @property
    def uploaded_bytes(self) -> int:
        """Bytes the media store accepted (a re-published file that was skipped adds 0)."""
        with self._lock:
            return self._uploaded_bytes

    def route(self, name: str) -> int:
        """Requests to one route name (0 if none)."""
        with self._lock:
            return self._routes.get(name, 0)

    def snapshot(self) -> dict[str, Any]:
        """Everything at once, as plain data."""
        with self._lock:
            return {
                "total": sum(n for r, n in self._routes.items() if r in API_ROUTES),
                "by_route": dict(self._routes),
                "by_method": dict(self._methods),
                "by_status": dict(self._statuses),
                "faults": dict(self._faults),
                "creates_accepted": self._creates_accepted,
                "renders": self._renders,
                "uploads": self._uploads,
                "uploaded_bytes": self._uploaded_bytes,
            }

    def __repr__(self) -> str:
        return f"SandboxStats({self.snapshot()!r})"
