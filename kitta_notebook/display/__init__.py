"""HTML views of tasks and pages, and the live task view (`watch`).

Views read the client's task objects and never make API calls of their own,
except `watch`, which polls through the task's own client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..batch.results import BatchResult
    from ..history.entry import JournalEntry, JournalSummary
    from ..i18n import Lang
    from ..media import Preflight
    from ..models import LipSyncTask, Page
    from .gallery import Gallery
    from .live import LiveTaskView
    from .progress import HtmlProgress


__all__ = ["DisplayViews"]


class DisplayViews:
    """What the client core renders through (see `kitta_notebook._hooks`).

    Each method imports its module on first use, so `import kitta_notebook`
    loads no view code until a task is shown.
    """

    def task_mimebundle(self, task: LipSyncTask) -> dict[str, str]:
        from .html import task_mimebundle

        return task_mimebundle(task)

    def page_mimebundle(self, page: Page) -> dict[str, str]:
        from .html import page_mimebundle

        return page_mimebundle(page)

    def preflight_mimebundle(self, preflight: Preflight) -> dict[str, str]:
        from .preflight import preflight_mimebundle

        return preflight_mimebundle(preflight)

    def gallery(self, tasks: Iterable[object], **options: Any) -> Gallery:
        from .gallery import Gallery

        return Gallery(tasks, **options)

    def batch_html(self, result: BatchResult, *, lang: Lang) -> str:
        from .gallery import batch_html

        return batch_html(result, lang=lang)

    def batch_progress(self, *, title: str, total: int) -> HtmlProgress:
        from .progress import HtmlProgress  # needs IPython, which a kernel has

        return HtmlProgress(title=title, total=total)

    def history_mimebundle(
        self, entries: Sequence[JournalEntry], summary: JournalSummary
    ) -> dict[str, str]:
        from .history_html import history_html, history_text

        return {
            "text/plain": history_text(entries, summary),
            "text/html": history_html(entries, summary),
        }

    def watch(
        self,
        task: LipSyncTask,
        *,
        poll_interval: float | None,
        timeout: float | None,
        embed: bool | None,
        lang: str,
    ) -> LiveTaskView:
        from .live import watch_task

        return watch_task(
            task, poll_interval=poll_interval, timeout=timeout, embed=embed, lang=lang
        )
