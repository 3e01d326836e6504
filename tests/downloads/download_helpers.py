"""Helpers shared by the download tests."""

from __future__ import annotations

from kitta_notebook import AsyncKittaClient, KittaClient, LipSyncTask

TOKEN = "tok-download-tests"


def finished_task(
    client: AsyncKittaClient | KittaClient, url: str, task_id: str = "lip_task_dl"
) -> LipSyncTask:
    """A succeeded task whose result lives at `url` (no server call)."""
    return LipSyncTask(
        {"taskId": task_id, "status": "succeeded", "resultVideoUrl": url}, client=client
    )
