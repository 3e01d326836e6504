"""What the routes share, owned by ``Sandbox`` and reached through ``deps``."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from .clock import SandboxClock
from .connections import ConnectionRegistry
from .faults import FaultInjector
from .samples import Samples
from .stats import SandboxStats
from .store import Store, TaskRecord
from .uploads import UploadStore
from .worker import Engine

__all__ = ["AppContext", "FinishedTasks"]


class FinishedTasks:
    """Finished tasks, kept in memory: they never change again, so the detail route
    answers them on the event loop with no database read and no threadpool hop (the
    most frequent request of a client fetching results). Bounded; used on the loop only.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()

    def get(self, task_id: str) -> TaskRecord | None:
        task = self._tasks.get(task_id)
        if task is not None:
            self._tasks.move_to_end(task_id)
        return task

    def add(self, task: TaskRecord) -> None:
        if not task.finished:
            return
        self._tasks[task.task_id] = task
        self._tasks.move_to_end(task.task_id)
        while len(self._tasks) > self.capacity:
            self._tasks.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tasks)


@dataclass
class AppContext:
    store: Store
    engine: Engine
    samples: Samples
    renders_dir: Path
    stats: SandboxStats
    faults: FaultInjector
    connections: ConnectionRegistry
    uploads: UploadStore
    clock: SandboxClock = field(default_factory=SandboxClock)
    pro_tokens: set[str] = field(default_factory=set)
    publish_prices: bool = True
    """False: the OpenAPI document carries no price, as the real service's (reportedly)."""
    # Tokens already seen to have an account. Accounts are never removed, so a known
    # token needs no database lookup (and no threadpool hop) on every request.
    known_tokens: set[str] = field(default_factory=set)
    finished: FinishedTasks = field(default_factory=FinishedTasks)
