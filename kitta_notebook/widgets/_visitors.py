"""The panel served to others (Voila): whose token pays, and what a visitor may spend.

A notebook served as an app runs one kernel per page load, and every kernel
inherits the server's environment, so a `connect()` in it holds the
operator's token. Such a panel must not spend that token for whoever opens
the page. Three modes, decided once per panel (`plan_visitors`):

* ``private``: not served (a notebook the user runs), or a client without an
  account to protect (the embedded sandbox started in this kernel). As before.
* ``own_token``: served, and the operator did not opt in. The panel gets a
  client of its own with no token (the operator's is never used) and asks the
  visitor for theirs in the password field.
* ``capped``: served, and the operator opted in (``KITTA_SHARE_SERVER_TOKEN=1``
  or ``share_server_token=True``). The operator's token is used, under a
  per-session credit cap and a submission rate limit (`VisitorBudget`).

Served means: a Voila kernel (Voila puts ``SERVER_SOFTWARE=voila/<version>``
and ``VOILA_PREHEAT`` in the kernel's environment and sets ``VOILA_KERNEL_ID``
before the notebook runs), or ``KITTA_SHARED_APP=1``, which the operator of
any other app server sets. The cap is per kernel, and so per page load:
one budget per process, shared by every panel in it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as widgets
from traitlets import Unicode

from ..errors import APIStatusError, AuthenticationError, ValidationError
from ..i18n import Lang, text
from ..server_info import ServerInfo
from ._frontend import esc

if TYPE_CHECKING:
    from .. import AsyncKittaClient, KittaClient
    from ..models import LipSyncTask

    Client = KittaClient | AsyncKittaClient

SHARE_TOKEN_ENV = "KITTA_SHARE_SERVER_TOKEN"
SHARED_APP_ENV = "KITTA_SHARED_APP"
MAX_CREDITS_ENV = "KITTA_VISITOR_MAX_CREDITS"
SUBMITS_ENV = "KITTA_VISITOR_SUBMITS_PER_MINUTE"
DEFAULT_MAX_CREDITS = 1000.0
"""About 10 s of audio at the contract's example price (12 s -> 1200 credits)."""
DEFAULT_SUBMITS_PER_MINUTE = 3
RATE_WINDOW_SECONDS = 60.0

Mode = Literal["private", "own_token", "capped"]
_YES = {"1", "true", "yes", "on"}


class SecretInput(widgets.Password):  # type: ignore[misc]
    """A password field whose value the kernel never echoes back to the browser."""

    value = Unicode("", help="String value").tag(sync=True, echo_update=False)


def app_server(environ: Mapping[str, str] | None = None) -> str | None:
    """Which app server serves this kernel to others: "voila", "declared" or None."""
    env = os.environ if environ is None else environ
    if env.get("SERVER_SOFTWARE", "").startswith("voila/") or any(
        name in env for name in ("VOILA_KERNEL_ID", "VOILA_PREHEAT")
    ):
        return "voila"
    if env.get(SHARED_APP_ENV, "").strip().lower() in _YES:
        return "declared"
    return None


def in_voila() -> bool:
    """True inside a Voila kernel: its visitors cannot reach the kernel's disk."""
    return app_server() == "voila"


def _number_setting(name: str, value: object, default: float, environ: Mapping[str, str]) -> float:
    raw: object = value if value is not None else environ.get(name, "").strip() or default
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(raw, bool) or not math.isfinite(number) or number < 0:
        raise ValidationError([(name, f"must be a number ≥ 0, not {raw!r}")])
    return number


class VisitorBudget:
    """One session's cap and rate, from measured charges (never from what a visitor says).

    Each admitted create reserves an upper bound (the estimate from the probed
    audio); once the task exists its `creditsCharged` counts instead (the
    larger of the two while it runs). Admission and reservation happen in one
    step under a lock, so two quick submissions cannot both pass the cap.
    """

    def __init__(
        self,
        max_credits: float,
        submits_per_minute: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_credits = max_credits
        self.submits_per_minute = submits_per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._spends: list[_Spend] = []

    @property
    def spent(self) -> float:
        """Credits charged, or reserved for creates not yet measured, in this session."""
        with self._lock:
            return self._spent()

    @property
    def left(self) -> float:
        return max(0.0, self.max_credits - self.spent)

    def _spent(self) -> float:
        return sum(spend.counted() for spend in self._spends)

    def admit(self, estimate: float | None, lang: Lang = "en") -> tuple[_Spend | None, str]:
        """Reserve `estimate` for one create: (reservation, "") or (None, why not)."""
        with self._lock:
            now = self._clock()
            while self._sent and now - self._sent[0] >= RATE_WINDOW_SECONDS:
                self._sent.popleft()
            if len(self._sent) >= self.submits_per_minute:
                wait = math.ceil(RATE_WINDOW_SECONDS - (now - self._sent[0]))
                return None, text("visitor_rate", lang, n=f"{self.submits_per_minute:g}", s=wait)
            if estimate is None:
                return None, text("visitor_no_estimate", lang)
            spent = self._spent()
            if spent + estimate > self.max_credits + 1e-9:
                left = max(0.0, self.max_credits - spent)
                return None, text("visitor_over_cap", lang, cost=f"{estimate:g}", left=f"{left:g}")
            spend = _Spend(float(estimate))
            self._spends.append(spend)
            self._sent.append(now)
            return spend, ""

    def released(self, spend: _Spend) -> None:
        """The create was refused or failed before the server made a task: nothing charged."""
        with self._lock:
            if spend in self._spends and spend.task is None:
                self._spends.remove(spend)


@dataclass(eq=False)
class _Spend:
    reserved: float
    task: LipSyncTask | None = None

    def counted(self) -> float:
        charged = self.task.credits_charged if self.task is not None else None
        if self.task is not None and self.task.is_terminal and charged is not None:
            return float(charged)
        return max(self.reserved, float(charged or 0))


@dataclass
class VisitorPlan:
    """What a panel does about visitors: its `mode`, the client it uses, the budget."""

    mode: Mode
    client: Client
    server: str | None = None
    budget: VisitorBudget | None = None

    @property
    def needs_visitor_token(self) -> bool:
        return self.mode == "own_token" and not self.client.has_token

    def line_html(self, lang: Lang) -> str:
        """The visible line that says whose account pays (empty when private)."""
        if self.mode == "own_token":
            body = text("visitor_own_token", lang)
        elif self.budget is not None:
            budget = self.budget
            body = text(
                "visitor_operator_pays",
                lang,
                left=f"{budget.left:g}",
                cap=f"{budget.max_credits:g}",
                n=f"{budget.submits_per_minute:g}",
            )
        else:
            return ""
        return f'<div class="kitta-visitor-line" style="color:#5c4300">{esc(body)}</div>'

    async def admit(
        self, arguments: Mapping[str, Any], server: ServerInfo, lang: Lang
    ) -> tuple[_Spend | None, str]:
        """In capped mode, reserve this create's cost from the probed audio, or say why not."""
        if self.budget is None:
            return None, ""
        checked: dict[str, Any] = {k: v for k, v in arguments.items() if k != "duration_seconds"}
        try:
            preflight = await self.client.as_async().lip_sync.check(**checked)
        except Exception:  # an unreadable medium: the cap cannot be checked
            return None, text("visitor_no_estimate", lang)
        estimates = [preflight.estimated_credits]
        typed = arguments.get("duration_seconds")
        if isinstance(typed, (int, float)) and preflight.estimated_credits is not None:
            estimates.append(server.estimate(str(arguments.get("model")), float(typed)))
        known = [e for e in estimates if e is not None]
        estimate = max(known) if len(known) == len(estimates) else None
        return self.budget.admit(estimate, lang)

    def created(self, spend: _Spend | None, task: LipSyncTask) -> None:
        if spend is not None:
            spend.task = task

    def failed(self, spend: _Spend | None, error: BaseException) -> None:
        """A create raised: free its reservation only when the server surely made no task
        (a refusal); after a lost connection it may have, so the reservation stays."""
        refused = isinstance(error, (ValidationError, APIStatusError))
        if spend is not None and self.budget is not None and refused:
            self.budget.released(spend)

    async def token_refused(self) -> bool:
        """Ask the service whether the visitor's token works; drop it when refused (401)."""
        try:
            await self.client.as_async().usage()
        except AuthenticationError:
            self.client = self.client.without_token()  # the panel asks again
            return True
        except Exception:  # the usage route may be missing or down: the create will tell
            return False
        return False


_session_budgets: dict[tuple[float, float], VisitorBudget] = {}
_budgets_lock = threading.Lock()


def session_budget(max_credits: float, submits_per_minute: float) -> VisitorBudget:
    """This kernel's budget (one visitor's session in Voila), shared by its panels."""
    with _budgets_lock:
        key = (max_credits, submits_per_minute)
        budget = _session_budgets.get(key)
        if budget is None:
            budget = _session_budgets[key] = VisitorBudget(max_credits, submits_per_minute)
        return budget


def plan_visitors(
    client: Client,
    *,
    in_process_sandbox: bool,
    share_server_token: bool | None = None,
    max_credits: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> VisitorPlan:
    """Decide the mode for a panel built on `client` (see the module's rule)."""
    env = os.environ if environ is None else environ
    server = app_server(env)
    if server is None or in_process_sandbox:
        return VisitorPlan("private", client, server)
    opted_in = (
        share_server_token
        if share_server_token is not None
        else env.get(SHARE_TOKEN_ENV, "").strip().lower() in _YES
    )
    if not opted_in or not client.has_token:
        return VisitorPlan("own_token", client.without_token(), server)
    cap = _number_setting(MAX_CREDITS_ENV, max_credits, DEFAULT_MAX_CREDITS, env)
    rate = _number_setting(SUBMITS_ENV, None, DEFAULT_SUBMITS_PER_MINUTE, env)
    return VisitorPlan("capped", client, server, session_budget(cap, rate))
