"""The task DTO: its fields are declared once, here; the list item is a subset of them.

The pydantic model is both the OpenAPI schema and the builder: ``task_dto`` fills
it by field name (``extra="forbid"`` rejects a misspelt one), and ``TaskListItem``
is derived from the same field definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from .clock import SandboxClock
from .pricing import DEFAULT_MODEL
from .records import TaskRecord

__all__ = ["LIST_ITEM_FIELDS", "TaskDTO", "TaskListItem", "list_item", "task_dto"]

TaskStatus = Literal["pending", "processing", "succeeded", "failed"]


class TaskDTO(BaseModel):
    """A lip-sync task."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(examples=["row_123"])
    taskId: str = Field(examples=["lip_task_123"], description="Use this id for later queries.")
    type: str = Field(examples=["lip_sync"])
    status: TaskStatus
    model: str = Field(examples=[DEFAULT_MODEL])
    inputMode: Literal["video", "image"]
    resultVideoUrl: str | None = Field(description="Set once the task succeeded.")
    errorCode: str | None
    errorMessage: str | None
    creditsCharged: int
    createdAt: str = Field(examples=["2026-07-01T08:00:00.000Z"])
    startedAt: str | None
    completedAt: str | None


LIST_ITEM_FIELDS: tuple[str, ...] = (
    "taskId",
    "type",
    "status",
    "inputMode",
    "resultVideoUrl",
    "creditsCharged",
)
"""The DTO fields a list item carries."""

TaskListItem: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "TaskListItem",
    __doc__="A list item: a subset of the task DTO.",
    **{
        name: (TaskDTO.model_fields[name].annotation, TaskDTO.model_fields[name])
        for name in LIST_ITEM_FIELDS
    },
)


_VALUES: dict[str, Callable[[TaskRecord, str, SandboxClock], Any]] = {
    "id": lambda task, origin, clock: f"row_{task.row}",
    "taskId": lambda task, origin, clock: task.task_id,
    "type": lambda task, origin, clock: "lip_sync",
    "status": lambda task, origin, clock: task.status,
    "model": lambda task, origin, clock: task.model,
    "inputMode": lambda task, origin, clock: task.input_mode,
    "resultVideoUrl": lambda task, origin, clock: task.result_url(origin),
    "errorCode": lambda task, origin, clock: task.error_code,
    "errorMessage": lambda task, origin, clock: task.error_message,
    "creditsCharged": lambda task, origin, clock: task.credits_charged,
    "createdAt": lambda task, origin, clock: clock.iso(task.created_ts),
    "startedAt": lambda task, origin, clock: clock.iso(task.started_ts),
    "completedAt": lambda task, origin, clock: clock.iso(task.completed_ts),
}
"""How each DTO field is read off a stored task (one place for both shapes)."""


def task_dto(task: TaskRecord, origin: str, clock: SandboxClock) -> dict[str, Any]:
    """The contract's task DTO; ``origin`` (``http://host:port``) makes URLs absolute."""
    values = {name: value(task, origin, clock) for name, value in _VALUES.items()}
    return TaskDTO.model_validate(values).model_dump()


def list_item(task: TaskRecord, origin: str, clock: SandboxClock) -> dict[str, Any]:
    """A list item: only its fields are computed (a page holds a hundred of them), and
    unvalidated: the values are those ``task_dto`` validates, and the tests check both."""
    return {name: _VALUES[name](task, origin, clock) for name in LIST_ITEM_FIELDS}
