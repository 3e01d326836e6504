"""Kept for importers of the old path: the helpers live in `display.background`."""

from __future__ import annotations

from ..display.follow import RUNNING, running_loop, settle, spawn
from ..errors import NoEventLoopError

__all__ = ["RUNNING", "NoEventLoopError", "running_loop", "settle", "spawn"]
