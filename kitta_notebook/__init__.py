"""kitta-notebook: the Kitta lip-sync video API, made for Jupyter.

The client core (this package's top level) knows nothing about widgets;
`LipSyncPanel` and `HistoryBrowser` are imported only when first used, so
`import kitta_notebook` stays fast and works without a notebook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._async_client import AsyncKittaClient, AsyncLipSync
from ._client import KittaClient, LipSync
from ._version import __version__
from .connection import connect, sample_media
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    KittaError,
    MissingTokenError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    ValidationError,
    WaitTimeoutError,
)
from .models import LipSyncTask, Page, TaskStatus

if TYPE_CHECKING:
    from .batch import (
        BatchItem,
        BatchResult,
        BatchValidationError,
        TaskList,
        WaitManyTimeoutError,
    )
    from .display.gallery import Gallery
    from .history import resume
    from .widgets import LipSyncPanel
    from .widgets.history import HistoryBrowser

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncKittaClient",
    "AsyncLipSync",
    "AuthenticationError",
    "BadRequestError",
    "BatchItem",
    "BatchResult",
    "BatchValidationError",
    "Gallery",
    "HistoryBrowser",
    "InsufficientCreditsError",
    "KittaClient",
    "KittaError",
    "LipSync",
    "LipSyncPanel",
    "LipSyncTask",
    "MissingTokenError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "TaskFailedError",
    "TaskList",
    "TaskStatus",
    "ValidationError",
    "WaitManyTimeoutError",
    "WaitTimeoutError",
    "__version__",
    "connect",
    "resume",
    "sample_media",
]

_LAZY = {
    "BatchItem": "kitta_notebook.batch",
    "BatchResult": "kitta_notebook.batch",
    "BatchValidationError": "kitta_notebook.batch",
    "Gallery": "kitta_notebook.display.gallery",
    "TaskList": "kitta_notebook.batch",
    "WaitManyTimeoutError": "kitta_notebook.batch",
    "LipSyncPanel": "kitta_notebook.widgets",
    "HistoryBrowser": "kitta_notebook.widgets.history",
    "resume": "kitta_notebook.history",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'kitta_notebook' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
