"""Rows of the sandbox database, as plain frozen dataclasses."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = [
    "STATUSES",
    "TASK_COLUMNS",
    "CreateRequest",
    "RenderRecord",
    "TaskRecord",
    "UploadRecord",
    "task_from_row",
]

STATUSES = ("pending", "processing", "succeeded", "failed")


@dataclass(frozen=True)
class CreateRequest:
    """A create body that passed `parsing.parse_create`: what a task is made from."""

    model: str
    input_mode: str
    video_url: str | None
    image_url: str | None
    audio_url: str
    reference_image_url: str | None
    duration_seconds: float | None


@dataclass(frozen=True)
class TaskRecord(CreateRequest):
    """One task row, as stored: its request and what became of it (timestamps are real
    epoch seconds)."""

    row: int
    task_id: str
    token: str
    status: str
    credits_charged: int
    created_ts: float
    started_ts: float | None
    completed_ts: float | None
    render_key: str | None
    error_code: str | None
    error_message: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")

    def result_url(self, origin: str) -> str | None:
        """Built from the origin the client used *now*, never stored: a sandbox that
        restarts on another port still hands out URLs that work."""
        if self.status != "succeeded":
            return None
        return f"{origin}/results/{self.task_id}.mp4"


@dataclass(frozen=True)
class RenderRecord:
    """A rendered result file, shared by every task with the same inputs."""

    key: str
    filename: str
    audio_seconds: float
    size: int


@dataclass(frozen=True)
class UploadRecord:
    """A file put into the sandbox's media store (``/_sandbox/media/<key>``)."""

    key: str
    content_type: str
    size: int
    created_ts: float


TASK_COLUMNS = (
    "row, task_id, token, status, model, input_mode, video_url, image_url, audio_url, "
    "reference_image_url, duration_seconds, credits_charged, created_ts, started_ts, "
    "completed_ts, render_key, error_code, error_message"
)


def task_from_row(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        row=int(row["row"]),
        task_id=str(row["task_id"]),
        token=str(row["token"]),
        status=str(row["status"]),
        model=str(row["model"]),
        input_mode=str(row["input_mode"]),
        video_url=row["video_url"],
        image_url=row["image_url"],
        audio_url=str(row["audio_url"]),
        reference_image_url=row["reference_image_url"],
        duration_seconds=row["duration_seconds"],
        credits_charged=int(row["credits_charged"]),
        created_ts=float(row["created_ts"]),
        started_ts=row["started_ts"],
        completed_ts=row["completed_ts"],
        render_key=row["render_key"],
        error_code=row["error_code"],
        error_message=row["error_message"],
    )
