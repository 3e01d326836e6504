"""The panel served to others: the operator's token is never spent unasked, and when the
operator opts in, each session stops at its credit cap and rate.

Against a real sandbox over HTTP with two accounts (the operator's and a visitor's).
"Served" is what a Voila kernel's environment says (`SERVER_SOFTWARE=voila/...`).
Waiting is always a bounded poll or an awaited task (never a sleep).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import ipywidgets.widgets.widget as widget_module
import pytest

from kitta_notebook.i18n import text
from kitta_notebook.sandbox import Sandbox, estimate_credits
from kitta_notebook.widgets import LipSyncPanel, _visitors
from kitta_notebook.widgets._visitors import VisitorBudget, app_server

T = TypeVar("T")
OPERATOR = "operator-secret-token-4711"
VISITOR = "visitor-own-token-0815"
BAD = "not-a-real-token-9999"
SAMPLE_COST = estimate_credits("kitta-lip-sync-v1", 4.29)  # the sample speech


def run(body: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(body, 60))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts={OPERATOR: 1_000_000, VISITOR: 50_000}, time_scale=0.05) as sb:
        yield sb


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> Sandbox:
    """A Voila kernel's environment, and a fresh session budget for this test."""
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.13")
    monkeypatch.delenv("KITTA_SHARE_SERVER_TOKEN", raising=False)
    monkeypatch.setattr(_visitors, "_session_budgets", {})
    sandbox.stats.reset()
    return sandbox


def fill(panel: LipSyncPanel, sb: Sandbox, duration: str = "4.29") -> None:
    samples = sb.samples
    panel.form.fill(
        {"video_url": samples["video"], "audio_url": samples["audio"], "duration_seconds": duration}
    )


def widget_state() -> str:
    """What the browser would receive: the state of every live widget."""
    live = list(widget_module._instances.values())
    assert live, "no widget alive: nothing was checked"
    return json.dumps([w.get_state() for w in live], default=str)


def test_app_servers_are_detected_from_the_kernel_environment() -> None:
    assert app_server({"SERVER_SOFTWARE": "voila/0.5.13"}) == "voila"
    assert app_server({"VOILA_KERNEL_ID": "k1"}) == "voila"  # set before the notebook runs
    assert app_server({"VOILA_PREHEAT": "True"}) == "voila"  # a preheated kernel
    assert app_server({"KITTA_SHARED_APP": "1"}) == "declared"
    assert app_server({"SERVER_SOFTWARE": "TornadoServer/6"}) is None
    assert app_server({}) is None


def test_served_panel_asks_the_visitor_and_never_spends_the_operator_token(
    served: Sandbox,
) -> None:
    async def body() -> None:
        before = served.balance(OPERATOR), served.balance(VISITOR)
        panel = LipSyncPanel(served.client(OPERATOR), poll_interval=0.05)
        assert panel.visitors.mode == "own_token"
        assert panel.needs_token and not panel.client.has_token
        assert panel.token_box.layout.display is None  # the password field is shown
        assert "your own Kitta API token" in panel.visitor_line.value
        fill(panel, served)
        assert await panel.submit() is None
        assert panel.message == text("err_missing_token")
        await panel.settle()
        assert served.stats.creates_accepted == 0
        assert served.balance(OPERATOR) == before[0]
        assert OPERATOR not in widget_state()

    run(body())


def test_a_visitor_token_the_service_refuses_is_dropped_with_a_clear_message(
    served: Sandbox,
) -> None:
    async def body() -> None:
        before = served.balance(OPERATOR), served.balance(VISITOR)
        panel = LipSyncPanel(served.client(OPERATOR), poll_interval=0.05)
        panel.token_input.value = BAD
        await panel.settle()
        assert panel.message == text("visitor_token_refused")
        assert BAD not in panel.message and BAD not in widget_state()
        assert panel.needs_token and not panel.client.has_token  # asked again
        fill(panel, served)
        assert await panel.submit() is None
        assert served.stats.creates_accepted == 0
        assert served.balance(OPERATOR) == before[0]

    run(body())


def test_a_visitor_pays_with_their_own_token(served: Sandbox) -> None:
    async def body() -> None:
        before = served.balance(OPERATOR), served.balance(VISITOR)
        panel = LipSyncPanel(served.client(OPERATOR), poll_interval=0.05)
        panel.token_input.value = VISITOR
        await panel.settle()
        await panel.ready()
        assert not panel.needs_token and panel.message_kind == "success"
        fill(panel, served)
        card = await panel.submit()
        assert card is not None, panel.message
        await card.wait()
        assert served.balance(OPERATOR) == before[0]
        assert served.balance(VISITOR) == before[1] - (card.task.credits_charged or 0) < before[1]
        assert VISITOR not in widget_state() and VISITOR not in repr(panel)

    run(body())


def test_the_embedded_sandbox_of_this_kernel_stays_free_for_everyone(served: Sandbox) -> None:
    panel = LipSyncPanel(served.client(OPERATOR), sandbox=served)
    assert panel.visitors.mode == "private" and panel.client.has_token


def capped_panel(sb: Sandbox, monkeypatch: pytest.MonkeyPatch, cap: float) -> LipSyncPanel:
    monkeypatch.setenv("KITTA_SHARE_SERVER_TOKEN", "1")
    monkeypatch.setenv("KITTA_VISITOR_MAX_CREDITS", str(cap))
    return LipSyncPanel(sb.client(OPERATOR), poll_interval=0.05)


def test_opted_in_a_session_stops_at_its_cap_and_says_who_pays(
    served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = SAMPLE_COST * 1.5

    async def body() -> None:
        panel = capped_panel(served, monkeypatch, cap)
        assert panel.visitors.mode == "capped" and panel.client.has_token
        await panel.ready()
        assert "operator pays" in panel.visitor_line.value
        assert f"{cap:g} credits: {cap:g} left" in panel.visitor_line.value
        fill(panel, served)
        before = served.balance(OPERATOR)
        first = await panel.submit()
        assert first is not None, panel.message
        await first.wait()
        charged = first.task.credits_charged
        assert charged == SAMPLE_COST
        assert f"{cap - charged:g} left" in panel.visitor_line.value
        assert await panel.submit() is None
        assert panel.message == text(
            "visitor_over_cap", cost=f"{SAMPLE_COST:g}", left=f"{cap - charged:g}"
        )
        assert served.stats.creates_accepted == 1
        assert served.balance(OPERATOR) == before - charged

    run(body())


def test_two_quick_submissions_in_one_session_cannot_both_pass_the_cap(
    served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two panels in one kernel share its budget; both submit at once."""

    async def body() -> None:
        before = served.balance(OPERATOR)
        one = capped_panel(served, monkeypatch, SAMPLE_COST * 1.5)
        two = LipSyncPanel(served.client(OPERATOR), poll_interval=0.05)
        await asyncio.gather(one.ready(), two.ready())
        fill(one, served)
        fill(two, served)
        cards = await asyncio.gather(one.submit(), two.submit(), one.submit())
        assert len([c for c in cards if c is not None]) == 1, [one.message, two.message]
        await asyncio.gather(one.settle(), two.settle())
        assert served.stats.creates_accepted == 1
        assert 0 < before - served.balance(OPERATOR) <= SAMPLE_COST * 1.5

    run(body())


def test_the_cap_counts_the_measured_audio_not_the_typed_duration(
    served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> None:
        panel = capped_panel(served, monkeypatch, SAMPLE_COST - 100)
        await panel.ready()
        fill(panel, served, duration="0.5")  # the visitor's word: 50 credits
        assert await panel.submit() is None
        assert panel.message == text(
            "visitor_over_cap", cost=f"{SAMPLE_COST:g}", left=f"{SAMPLE_COST - 100:g}"
        )
        assert served.stats.creates_accepted == 0

    run(body())


def test_the_rate_limit_counts_submissions_per_minute() -> None:
    now = [100.0]
    budget = VisitorBudget(1_000, 2, clock=lambda: now[0])
    assert budget.admit(10)[0] is not None
    assert budget.admit(10)[0] is not None
    refused, why = budget.admit(10)
    assert refused is None and why == text("visitor_rate", n="2", s=60)
    now[0] += 59.5
    assert budget.admit(10)[0] is None
    now[0] += 0.5
    assert budget.admit(10)[0] is not None
    assert budget.spent == 30


def test_bad_settings_are_refused_before_anything_is_sent(
    served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitta_notebook.errors import ValidationError

    with pytest.raises(ValidationError, match="KITTA_VISITOR_MAX_CREDITS"):
        capped_panel(served, monkeypatch, -1)
    assert served.stats.creates_accepted == 0
