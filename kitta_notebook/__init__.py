"""kitta-notebook: the Kitta lip-sync video API, made for Jupyter.

    >>> from kitta_notebook import connect, sample_media
    >>> client = connect()                  # KITTA_API_TOKEN, else the local sandbox
    >>> media = sample_media(client)
    >>> task = client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
    >>> task.wait()                         # shows a live card in a notebook
    >>> task.download("result.mp4")

`LipSyncPanel()` is the same as a form; `client.lip_sync.create_many(...)` runs a
batch; `client.history` lists every task, kept across restarts. Each class has
its own help, e.g. `help(kitta_notebook.KittaClient)`.

The client core (this package's top level) knows nothing about widgets:
views, widgets and batches are imported only when first used, so
`import kitta_notebook` stays fast and works without a notebook. Every
exception is defined in `kitta_notebook.errors` and exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._client import AsyncKittaClient, KittaClient
from ._lazy import lazy_names
from ._lip_sync import AsyncLipSync, LipSync
from ._version import __version__
from .connection import connect, resume, sample_media
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchError,
    BatchValidationError,
    ColabSecretAccessError,
    ColabSecretError,
    ColabSecretNotFoundError,
    ColabSecretTimeoutError,
    CreditLimitError,
    CreditWarning,
    DownloadError,
    FileConflictError,
    InsufficientCreditsError,
    JournalCorruptError,
    JournalError,
    JournalWarning,
    KeyInUseError,
    KeyReusedError,
    KittaError,
    MediaError,
    MediaWarning,
    MissingTokenError,
    NoEventLoopError,
    NotFoundError,
    PermissionDeniedError,
    PublishError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    UnresolvedCreateError,
    ValidationError,
    WaitManyTimeoutError,
    WaitTimeoutError,
    WidgetsUnavailableError,
)
from .models import LipSyncTask, Page, TaskStatus

if TYPE_CHECKING:
    from .batch import BatchItem, BatchResult, TaskList
    from .display.gallery import Gallery
    from .widgets import LipSyncPanel
    from .widgets.compare import Compare
    from .widgets.history import HistoryBrowser

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncKittaClient",
    "AsyncLipSync",
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "BatchItem",
    "BatchResult",
    "BatchValidationError",
    "ColabSecretAccessError",
    "ColabSecretError",
    "ColabSecretNotFoundError",
    "ColabSecretTimeoutError",
    "Compare",
    "CreditLimitError",
    "CreditWarning",
    "DownloadError",
    "FileConflictError",
    "Gallery",
    "HistoryBrowser",
    "InsufficientCreditsError",
    "JournalCorruptError",
    "JournalError",
    "JournalWarning",
    "KeyInUseError",
    "KeyReusedError",
    "KittaClient",
    "KittaError",
    "LipSync",
    "LipSyncPanel",
    "LipSyncTask",
    "MediaError",
    "MediaWarning",
    "MissingTokenError",
    "NoEventLoopError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "PublishError",
    "RateLimitError",
    "ServerError",
    "TaskFailedError",
    "TaskList",
    "TaskStatus",
    "UnresolvedCreateError",
    "ValidationError",
    "WaitManyTimeoutError",
    "WaitTimeoutError",
    "WidgetsUnavailableError",
    "__version__",
    "connect",
    "resume",
    "sample_media",
]

_LAZY = {
    "BatchItem": "kitta_notebook.batch",
    "BatchResult": "kitta_notebook.batch",
    "Compare": "kitta_notebook.widgets.compare",
    "Gallery": "kitta_notebook.display.gallery",
    "HistoryBrowser": "kitta_notebook.widgets.history",
    "LipSyncPanel": "kitta_notebook.widgets",
    "TaskList": "kitta_notebook.batch",
}

__getattr__ = lazy_names(__name__, _LAZY)
