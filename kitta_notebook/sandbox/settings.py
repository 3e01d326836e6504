"""Sandbox settings read from the environment, with errors that say what to fix.

The sandbox imports nothing from the client package, so a bad value raises
``SandboxConfigError`` (a ``ValueError``); ``connect()`` turns it into the
client's ``ValidationError``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

__all__ = [
    "CLOCK_OFFSET_ENV",
    "TIME_SCALE_ENV",
    "SandboxConfigError",
    "check_clock_offset",
    "check_time_scale",
    "clock_offset_from_env",
    "time_scale_from_env",
]

TIME_SCALE_ENV = "KITTA_SANDBOX_TIME_SCALE"
CLOCK_OFFSET_ENV = "KITTA_SANDBOX_CLOCK_OFFSET"
MAX_CLOCK_OFFSET = 10 * 365 * 24 * 3600.0
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""Largest body the sandbox-only media store accepts (413 above it)."""


class SandboxConfigError(ValueError):
    """A sandbox setting (argument or environment variable) has an unusable value;
    ``setting`` names it (e.g. ``KITTA_SANDBOX_TIME_SCALE`` or ``time_scale``)."""

    def __init__(self, message: str, setting: str = "sandbox") -> None:
        super().__init__(message)
        self.setting = setting


def check_time_scale(value: float, what: str = "time_scale", setting: str = "time_scale") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SandboxConfigError(f"{what} must be a number, got {value!r}.", setting)
    if not math.isfinite(value) or value < 0:
        raise SandboxConfigError(
            f"{what} must be a finite number of at least 0, got {value!r}.", setting
        )
    return float(value)


def check_clock_offset(
    value: float, what: str = "clock_offset", setting: str = "clock_offset"
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SandboxConfigError(f"{what} must be a number of seconds, got {value!r}.", setting)
    if not math.isfinite(value) or abs(value) > MAX_CLOCK_OFFSET:
        raise SandboxConfigError(
            f"{what} must be a finite number of seconds within ten years, got {value!r}.",
            setting,
        )
    return float(value)


def _from_env(
    setting: str, what: str, check: Callable[[float, str, str], float], default: float
) -> float:
    """The number the environment variable `setting` holds, checked; `default` when unset."""
    text = os.environ.get(setting, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SandboxConfigError(f"{what} must be a number, got {text!r}.", setting) from None
    if not math.isfinite(value):
        raise SandboxConfigError(f"{what} must be a finite number, got {text!r}.", setting)
    return check(value, what, setting)


def time_scale_from_env(default: float = 1.0) -> float:
    """``KITTA_SANDBOX_TIME_SCALE`` (a multiplier of every simulated delay), else ``default``."""
    what = f"{TIME_SCALE_ENV} (a multiplier of the sandbox's delays, e.g. 0.1)"
    return _from_env(TIME_SCALE_ENV, what, check_time_scale, default)


def clock_offset_from_env(default: float = 0.0) -> float:
    """``KITTA_SANDBOX_CLOCK_OFFSET`` (seconds added to reported times), else ``default``."""
    what = f"{CLOCK_OFFSET_ENV} (seconds added to the sandbox's reported times, e.g. -180)"
    return _from_env(CLOCK_OFFSET_ENV, what, check_clock_offset, default)
