"""The notebook views as the client core sees them: installed, never imported.

A task shown in a cell renders as a card and `task.watch()` starts a live
view, yet the core must not depend on the display layer (the import contract
in `.importlinter` forbids it). The package's `__init__` installs the display
layer here once; the core only calls through this seam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .batch.progress import ProgressView
    from .batch.results import BatchResult
    from .display.live import LiveTaskView
    from .history.entry import JournalEntry, JournalSummary
    from .i18n import Lang
    from .media import Preflight
    from .models import LipSyncTask, Page


class NotebookViews(Protocol):
    def task_mimebundle(self, task: LipSyncTask) -> dict[str, str]: ...

    def page_mimebundle(self, page: Page) -> dict[str, str]: ...

    def preflight_mimebundle(self, preflight: Preflight) -> dict[str, str]: ...

    def gallery(self, tasks: Iterable[object], **options: Any) -> Any: ...

    def batch_html(self, result: BatchResult, *, lang: Lang) -> str: ...

    def batch_progress(self, *, title: str, total: int) -> ProgressView: ...

    def history_mimebundle(
        self, entries: Sequence[JournalEntry], summary: JournalSummary
    ) -> dict[str, str]: ...

    def watch(
        self,
        task: LipSyncTask,
        *,
        poll_interval: float | None,
        timeout: float | None,
        embed: bool | None,
        lang: str,
    ) -> LiveTaskView: ...


_installed: list[NotebookViews] = []


def install(views: NotebookViews) -> None:
    """Make `views` the renderer of tasks, pages and histories (the package does this on import)."""
    _installed[:] = [views]


def views() -> NotebookViews:
    # Importing any module of the package runs its __init__ first, which installs them.
    return _installed[0]
