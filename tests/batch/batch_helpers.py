"""Helpers shared by the batch tests."""

from __future__ import annotations

from kitta_notebook.sandbox import Sandbox

RICH = "tok-batch-rich"
ITEM_CREDITS = 429
"""What one `requests_for` item costs: the sample's 4.29 s of audio at 100 credits a second."""


def requests_for(sb: Sandbox, count: int, *, keys: str | None = None) -> list[dict[str, object]]:
    """`count` create requests on the sandbox's samples (`ITEM_CREDITS` each)."""
    media = sb.samples
    batch: list[dict[str, object]] = []
    for i in range(count):
        item: dict[str, object] = {"audio_url": media["audio"], "video_url": media["video"]}
        if keys is not None:
            item["key"] = f"{keys}-{i}"
        batch.append(item)
    return batch
