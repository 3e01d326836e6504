"""Fault injection: what can go wrong between a client and the service.

Off by default. Each request to a route listed in ``FaultConfig.routes`` first
waits ``latency`` seconds (plus ``latency_spike`` seconds with probability
``latency_spike_rate``), then draws ONE number to pick at most one of:

* drop (``drop_rate``): the TCP connection is closed without any response;
  httpx raises ``RemoteProtocolError`` ("Server disconnected ...").
* rate limit (``rate_limit_rate``): 429 ``rate_limited`` with ``Retry-After``.
* server error (``error_rate``): 500 ``internal_error``.

A faulted create is decided BEFORE anything happens (no task, no charge) unless
``create_fault_after_commit`` is set: then a drawn drop/500 on create happens
AFTER the task was created and charged, so the client cannot know the outcome
(a 429 is always "before"). ``task_failure_rate`` makes accepted tasks end
``failed`` with ``provider_error``. Latency is real seconds (not scaled).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["FAULT_ROUTES", "FaultConfig", "FaultDecision", "FaultInjector"]

FAULT_ROUTES: tuple[str, ...] = ("create", "get", "list", "usage", "media")
"""Route names a fault can target. ``media`` = /samples and /results (not a default)."""

FaultKind = Literal["none", "drop", "rate_limit", "error"]


@dataclass(frozen=True)
class FaultConfig:
    """What to break, how often. Rates are probabilities per request (0..1)."""

    error_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    """Seconds sent in ``Retry-After`` (integers as integers, else a decimal)."""
    latency: float = 0.0
    """Extra seconds before every faulted-route response."""
    latency_spike_rate: float = 0.0
    latency_spike: float = 5.0
    """Extra seconds of a spike."""
    routes: tuple[str, ...] = ("create", "get", "list", "usage")
    seed: int | None = None
    create_fault_after_commit: bool = False
    task_failure_rate: float = 0.0

    def __post_init__(self) -> None:
        rates = {
            "error_rate": self.error_rate,
            "drop_rate": self.drop_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "latency_spike_rate": self.latency_spike_rate,
            "task_failure_rate": self.task_failure_rate,
        }
        for name, value in rates.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.error_rate + self.drop_rate + self.rate_limit_rate > 1.0 + 1e-9:
            raise ValueError("error_rate + drop_rate + rate_limit_rate must not exceed 1")
        for name in ("retry_after", "latency", "latency_spike"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        routes = tuple(self.routes)
        unknown = [r for r in routes if r not in FAULT_ROUTES]
        if unknown:
            raise ValueError(f"unknown fault routes {unknown}; choose from {FAULT_ROUTES}")
        object.__setattr__(self, "routes", routes)

    @property
    def active(self) -> bool:
        """True when any fault can fire."""
        return any(
            (
                self.error_rate,
                self.drop_rate,
                self.rate_limit_rate,
                self.latency,
                self.latency_spike_rate,
                self.task_failure_rate,
            )
        )


@dataclass(frozen=True)
class FaultDecision:
    """The outcome of one draw."""

    kind: FaultKind = "none"
    delay: float = 0.0
    after_commit: bool = False
    retry_after: float = 0.0


NO_FAULT = FaultDecision()


class FaultInjector:
    """Thread-safe holder of the current config and its random generator."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random()
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig | None) -> None:
        """Replace the config (``None`` = no faults); reseeds when a seed is given."""
        with self._lock:
            self._config = config if config is not None else FaultConfig()
            self._rng = random.Random(self._config.seed)

    def targets(self, route: str) -> bool:
        """Whether faults may hit ``route`` now."""
        cfg = self._config
        return cfg.active and route in cfg.routes

    def decide(self, route: str) -> FaultDecision:
        """Draw the fault for one request to ``route``."""
        with self._lock:
            cfg = self._config
            if route not in cfg.routes or not cfg.active:
                return NO_FAULT
            delay = cfg.latency
            if cfg.latency_spike_rate and self._rng.random() < cfg.latency_spike_rate:
                delay += cfg.latency_spike
            u = self._rng.random()
        kind: FaultKind = "none"
        if u < cfg.drop_rate:
            kind = "drop"
        elif u < cfg.drop_rate + cfg.rate_limit_rate:
            kind = "rate_limit"
        elif u < cfg.drop_rate + cfg.rate_limit_rate + cfg.error_rate:
            kind = "error"
        after = route == "create" and cfg.create_fault_after_commit and kind in ("drop", "error")
        return FaultDecision(kind, delay, after, cfg.retry_after)

    def task_fails(self) -> bool:
        """Draw whether a task being processed fails with ``provider_error``."""
        with self._lock:
            rate = self._config.task_failure_rate
            return bool(rate) and self._rng.random() < rate
