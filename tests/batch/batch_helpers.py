"""Helpers shared by the batch tests."""

from __future__ import annotations

from kitta_notebook.sandbox import Sandbox

RICH = "tok-batch-rich"


def requests_for(sb: Sandbox, count: int, *, keys: str | None = None) -> list[dict[str, object]]:
    """`count` create requests on the sandbox's samples, 1 s of audio each (100 credits)."""
    media = sb.samples
    batch: list[dict[str, object]] = []
    for i in range(count):
        item: dict[str, object] = {
            "audio_url": media["audio"],
            "video_url": media["video"],
            "duration_seconds": 1,
        }
        if keys is not None:
            item["key"] = f"{keys}-{i}"
        batch.append(item)
    return batch
