"""What the routes share, owned by ``Sandbox`` and reached through ``deps``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .clock import SandboxClock
from .connections import ConnectionRegistry
from .faults import FaultInjector
from .samples import Samples
from .stats import SandboxStats
from .store import Store
from .uploads import UploadStore
from .worker import Engine

__all__ = ["AppContext"]


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
    # Tokens already seen to have an account. Accounts are never removed, so a known
    # token needs no database lookup (and no threadpool hop) on every request.
    known_tokens: set[str] = field(default_factory=set)
