"""The rules of a batch's two gates (`kitta_notebook.batch.gate`), I/O-free: what
`max_credits` refuses and says before anything is sent, what each create reserves,
frees and counts while sending, and how a 429 paces every worker. The credit budget is
money; the rate gate decides when a create goes out."""

from __future__ import annotations

import math

import httpx
import pytest

from kitta_notebook import RateLimitError, ServerError
from kitta_notebook._core import ClientConfig
from kitta_notebook.batch import CreditLimitError, gate
from kitta_notebook.batch.gate import (
    MAX_RATE_LIMIT_ROUNDS,
    CreditBudget,
    RateGate,
    balance_warning,
    check_max_credits,
    may_resend,
    outcome_of,
    refuse_over_limit,
    total_estimate,
)
from kitta_notebook.batch.plan import PreparedItem
from kitta_notebook.errors import JournalError, ValidationError
from kitta_notebook.price import Charge, Price, price_for
from kitta_notebook.server_info import ServerInfo
from kitta_notebook.validation import validate_create

V1, PRO = "kitta-lip-sync-v1", "kitta-lip-sync-pro"
PUBLISHED = ServerInfo(credits_per_second={V1: 100.0, PRO: 200.0})
MEDIA = {"audio_url": "https://m.example.com/a.wav", "video_url": "https://m.example.com/v.mp4"}


def item(
    index: int,
    estimate: float | None,
    *,
    model: str = V1,
    seconds: float | None = None,
    known: str | None = None,
) -> PreparedItem:
    request = None if known else validate_create(model=model, **MEDIA)
    return PreparedItem(
        index, None, request, known_task_id=known, estimate=estimate, seconds=seconds
    )  # type: ignore[arg-type]


def published(*models: str) -> dict[str, Price]:
    return {model: price_for(PUBLISHED, model) for model in models}


TEN_SECONDS = Charge(10.0, 1000.0)


def learned(model: str = V1, charge: Charge = TEN_SECONDS) -> Price:
    return price_for(ServerInfo(), model, [charge])


# --- before anything is sent ----------------------------------------------------------------
def test_a_limit_below_one_credit_is_still_a_limit() -> None:
    assert check_max_credits(0.5) == 0.5
    with pytest.raises(ValidationError) as caught:
        check_max_credits(-0.5)
    assert caught.value.problems == [("max_credits", "must be None or a number of credits ≥ 0")]


def test_the_estimate_counts_only_items_that_will_be_created() -> None:
    assert total_estimate([]) == 0
    keyed = item(1, None, known="lip_task_1")
    invalid = PreparedItem(2, None, None)  # refused before: nothing to send
    assert total_estimate([item(0, 100), keyed, invalid]) == 100
    assert total_estimate([item(0, 100), item(3, None)]) is None


def test_an_item_estimated_at_nothing_adds_nothing() -> None:
    assert total_estimate([item(0, 0), item(1, 100)]) == 100
    refuse_over_limit([item(0, 0), item(1, 100)], 100, published(V1))
    budget = CreditBudget(100)
    assert [budget.turn(item(0, 0)), budget.turn(item(1, 100))] == ["send", "send"]


def test_an_over_limit_batch_says_its_estimate_its_price_and_that_nothing_was_sent() -> None:
    with pytest.raises(CreditLimitError) as caught:
        refuse_over_limit([item(0, 100), item(1, 100)], 199.5, published(V1))
    assert str(caught.value) == (
        "The batch is estimated at 200 credits (2 tasks; price published by the server), "
        "more than max_credits=199.5. Nothing was sent: raise max_credits or send fewer items."
    )


def test_the_price_of_each_model_is_named_when_their_sources_differ() -> None:
    prices = {V1: price_for(PUBLISHED, V1), PRO: learned(PRO)}
    with pytest.raises(CreditLimitError) as caught:
        refuse_over_limit([item(0, 100), item(1, 300, model=PRO)], 100, prices)
    assert (
        "(2 tasks; kitta-lip-sync-v1: price published by the server; "
        "kitta-lip-sync-pro: price learned from 1 task)" in str(caught.value)
    )
    with pytest.raises(CreditLimitError) as caught:  # the same source: said once
        refuse_over_limit([item(0, 100), item(1, 300, model=PRO)], 100, published(V1, PRO))
    assert "(2 tasks; price published by the server)" in str(caught.value)
    with pytest.raises(CreditLimitError) as caught:  # no price object at all
        refuse_over_limit([item(0, 100)], 50, {})
    assert "(1 tasks; price unknown)" in str(caught.value)


def test_an_unknown_price_and_an_unknown_length_are_told_apart() -> None:
    items = [item(0, 100), item(1, None)]
    for prices in ({}, {V1: price_for(ServerInfo(), V1)}):
        with pytest.raises(CreditLimitError) as caught:
            refuse_over_limit(items, 1000, prices)
        message = str(caught.value)
        assert message.startswith("max_credits=1000 cannot be checked for requests[1]: ")
        assert "the price of kitta-lip-sync-v1 is unknown: the server publishes no price" in message
        assert message == (
            "max_credits=1000 cannot be checked for requests[1]: the price of "
            "kitta-lip-sync-v1 is unknown: the server publishes no price (the real service "
            "does not), and this account's journal has no succeeded task on it to learn the "
            "price from. Create one task first and let it finish (its charge teaches the "
            "price). Nothing was sent. Pass max_credits=None to create without a limit."
        )
    for price in (price_for(PUBLISHED, V1), learned()):
        with pytest.raises(CreditLimitError) as caught:
            refuse_over_limit(items, 1000, {V1: price})
        assert (
            "requests[1]: their audio length is unknown (give duration_seconds, or keep "
            "preflight on with audio it can read). Nothing was sent." in str(caught.value)
        )


@pytest.mark.parametrize(
    ("count", "listed"),
    [
        (5, "requests[0], requests[1], requests[2], requests[3], requests[4]: "),
        (6, "requests[0], requests[1], requests[2], requests[3], requests[4] and 1 more: "),
        (8, "requests[0], requests[1], requests[2], requests[3], requests[4] and 3 more: "),
    ],
)
def test_a_long_list_of_items_is_cut_to_five_and_a_count(count: int, listed: str) -> None:
    with pytest.raises(CreditLimitError) as caught:
        refuse_over_limit([item(i, None) for i in range(count)], 10, {})
    assert f"cannot be checked for {listed}" in str(caught.value)


def test_the_balance_note_names_the_estimate_and_the_balance() -> None:
    assert balance_warning({"balance": 150.5}, 300) == (
        "This batch is estimated at 300 credits but the account's balance is 150.5: "
        "the server will refuse (402) the creates it cannot pay for."
    )
    assert balance_warning({"balance": 299}, 300) is not None
    assert balance_warning({"balance": 301}, 300) is None


# --- while sending ----------------------------------------------------------------------------
def test_the_limit_itself_may_be_reached_but_not_passed() -> None:
    budget = CreditBudget(1000)
    assert [budget.turn(item(i, 250)) for i in range(5)] == ["send"] * 4 + ["stop"]
    noise = CreditBudget(0.3)  # 0.1 + 0.2 is 0.30000000000000004: still within 0.3
    assert budget.turn(item(0, 0.1)) == "stop"  # stopped stays stopped
    assert [noise.turn(item(0, 0.1)), noise.turn(item(1, 0.2))] == ["send", "send"]
    assert CreditBudget(999.5).turn(item(0, 1000)) == "stop"
    assert CreditBudget(1000).turn(item(0, 1000 + 1e-9)) == "send"  # float noise at most


def test_an_item_whose_cost_cannot_be_compared_is_never_sent() -> None:
    assert CreditBudget(1000).turn(item(0, math.nan)) == "stop"


def test_the_stop_says_what_was_charged_and_reserved() -> None:
    budget = CreditBudget(500)
    first, second, third = item(0, 200), item(1, 150), item(2, 200)
    assert budget.reason() == "max_credits reached"
    assert budget.turn(first) == "send" and budget.turn(second) == "send"
    budget.charged(first, 200)
    assert budget.turn(third) == "stop"
    expected = (
        "max_credits reached: 200 credits charged and 150 reserved of max_credits=500; "
        "the remaining items were not sent"
    )
    assert budget.stopped == expected and budget.reason() == expected


@pytest.mark.parametrize(("outcome", "freed"), [("rejected", True), ("not_sent", True),
                                                ("unknown", False)])  # fmt: skip
def test_only_a_create_that_surely_made_no_task_frees_its_reservation(
    outcome: str, freed: bool
) -> None:
    budget = CreditBudget(1000)
    first, second, third = item(0, 400), item(1, 400), item(2, 400)
    assert budget.turn(first) == "send" and budget.turn(second) == "send"
    budget.settled(first, outcome)  # type: ignore[arg-type]
    assert budget.turn(third) == ("send" if freed else "stop")
    unlimited = CreditBudget(None)  # nothing reserved, nothing to free
    assert unlimited.turn(first) == "send"
    unlimited.settled(first, outcome)  # type: ignore[arg-type]


def test_a_charge_counts_when_larger_than_its_reservation_and_nonsense_counts_nothing() -> None:
    for reported, counted in [(600, 600), (100, 400), (True, 400), ("900", 400),
                              (math.inf, 400), (0, 400), (-5, 400)]:  # fmt: skip
        budget = CreditBudget(1000)
        first = item(0, 400)
        assert budget.turn(first) == "send"
        budget.charged(first, reported)  # type: ignore[arg-type]
        assert budget.price_note() == f"{counted} of max_credits=1000 committed", reported


def test_a_reported_charge_confirms_a_learned_price_and_none_does_not() -> None:
    budget = CreditBudget(10_000, {V1: learned()})
    first, second, third = (item(i, 1000, seconds=10.0) for i in range(3))
    assert budget.turn(first) == "send" and budget.turn(second) == "wait"
    budget.charged(first, None)  # created, but no charge reported: nothing confirmed
    assert budget.turn(second) == "send" and budget.turn(third) == "wait"
    budget.charged(second, 1000)  # confirmed: every later item may go at once
    assert [budget.turn(item(i, 1000, seconds=10.0)) for i in (3, 4, 5)] == ["send"] * 3


@pytest.mark.parametrize("charge", [0.5, 1])
def test_any_positive_charge_confirms_a_learned_price(charge: float) -> None:
    budget = CreditBudget(10_000, {V1: learned()})
    first, second, third = (item(i, 1000, seconds=10.0) for i in range(3))
    assert budget.turn(first) == "send"
    budget.charged(first, charge)
    assert budget.turn(second) == "send" and budget.turn(third) == "send"


def test_a_dearer_charge_scales_later_reservations_and_a_cheaper_one_never_lowers_them() -> None:
    budget = CreditBudget(10_000)
    first, second = item(0, 1000), item(1, 1000)
    assert budget.turn(first) == "send"
    budget.charged(first, 1500)  # 1.5 x the estimate
    assert budget.turn(second) == "send"
    assert budget.price_note() == "3000 of max_credits=10000 committed"  # 1500 + 1.5 x 1000
    budget.charged(second, 500)  # cheaper: the ratio stays 1.5
    assert budget.turn(item(2, 1000)) == "send"
    assert budget.price_note() == "4500 of max_credits=10000 committed"


def test_the_learned_price_is_the_batchs_own_and_its_estimate_prices_later_items() -> None:
    given = {V1: learned(charge=TEN_SECONDS)}
    budget = CreditBudget(10_000, given)
    first = item(0, 1000, seconds=10.0)
    assert budget.turn(first) == "send"
    budget.charged(first, 500)  # counts its 1000 reserved; teaches a tighter bound
    assert given[V1].describe() == "learned from 1 task"  # the caller's price is untouched
    assert budget.prices[V1].describe() == "learned from 1 task and 1 of this batch"
    # 4 s are priced by the learned charges (at most 500), not by the 900 the item was
    # estimated at before: 500 reserved.
    assert budget.turn(item(1, 900, seconds=4.0)) == "send"
    assert budget.price_note() == (
        "price learned from 1 task and 1 of this batch · 1500 of max_credits=10000 committed"
    )


def test_a_charge_on_a_model_without_a_price_is_counted_not_learned() -> None:
    budget = CreditBudget(1000, {V1: learned()})
    other = item(0, 300, model=PRO, seconds=3.0)
    assert budget.turn(other) == "send"
    budget.charged(other, 300)
    assert set(budget.prices) == {V1}
    assert budget.price_note() == "price learned from 1 task · 300 of max_credits=1000 committed"


def test_without_a_limit_nothing_is_counted_or_noted() -> None:
    budget = CreditBudget(None, {V1: learned()})
    first = item(0, 1000, seconds=10.0)
    budget.charged(first, 1000)
    assert budget.prices[V1].describe() == "learned from 1 task"
    assert budget.price_note() == ""


def test_the_note_lists_every_source_once() -> None:
    prices = {V1: price_for(PUBLISHED, V1), PRO: learned(PRO)}
    assert CreditBudget(1000, prices).price_note() == (
        "price learned from 1 task, published by the server · 0 of max_credits=1000 committed"
    )


# --- outcomes and resends -----------------------------------------------------------------------
def test_a_create_the_journal_could_not_write_down_was_not_sent() -> None:
    assert outcome_of(JournalError("the journal is read-only")) == "not_sent"


def test_only_a_429_is_sent_again_and_only_so_many_rounds() -> None:
    limited = RateLimitError(429, None, "slow down")
    assert may_resend(limited, MAX_RATE_LIMIT_ROUNDS - 1)
    assert not may_resend(limited, MAX_RATE_LIMIT_ROUNDS)
    assert not may_resend(ServerError(500, None, "boom"), 0)


# --- the rate gate ------------------------------------------------------------------------------
class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rate_gate(limit: int, now: float = 100.0) -> tuple[RateGate, Clock]:
    clock = Clock(now)
    config = ClientConfig.create("tok", "http://127.0.0.1:1/api", None, 2)
    return RateGate(limit, config, clock=clock), clock


def answer(gate_: RateGate, status: int, retry_after: float | None) -> None:
    """What the request loop does with each answer: hand it to the gate."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    gate_.after_response(httpx.Response(status, headers=headers))


def test_a_new_gate_is_open_whatever_its_clock_reads() -> None:
    gate_, _ = rate_gate(2, now=0.0)
    assert gate_.pause_left() == 0.0 and gate_.wait_time() == 0.0
    assert (gate_.rate_limited, gate_.paused_seconds, gate_.allowed) == (0, 0.0, 2)
    assert [gate_.try_enter(), gate_.try_enter(), gate_.try_enter()] == [None, None, 0.0]


def test_one_slot_is_one_create_in_flight_and_leaving_frees_it() -> None:
    gate_, _ = rate_gate(1)
    gate_.leave()  # a stray leave never makes room for two
    assert [gate_.try_enter(), gate_.try_enter()] == [None, 0.0]
    gate_.leave()
    assert gate_.try_enter() is None
    two, _ = rate_gate(2)
    assert [two.try_enter(), two.try_enter()] == [None, None]
    two.leave()  # one left: one slot free, not two
    assert [two.try_enter(), two.try_enter()] == [None, 0.0]


def test_a_pause_holds_to_its_end_then_lets_everyone_in() -> None:
    gate_, clock = rate_gate(4)
    answer(gate_, 429, 0.5)
    assert gate_.pause_left() == 0.5
    waiting = gate_.try_enter()
    assert waiting is not None and 0.5 <= waiting <= 0.6  # jitter: at most a fifth of it
    wait = gate_.wait_time()
    assert 0.5 <= wait <= 0.6
    clock.now += 0.5  # the pause's very end
    assert gate_.pause_left() == 0.0 and gate_.wait_time() == 0.0
    assert gate_.try_enter() is None


def test_a_long_pause_adds_at_most_a_second_of_jitter() -> None:
    gate_, _ = rate_gate(4)
    answer(gate_, 429, 30.0)
    assert all(30.0 <= gate_.wait_time() <= 31.0 for _ in range(50))
    assert any(gate_.wait_time() > 30.0 for _ in range(50))  # spread, so workers don't clash


def test_a_request_waits_out_the_pause_before_it_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    gate_, clock = rate_gate(4)
    waited: list[float] = []

    def pause(seconds: float) -> None:  # the clock moves as a real sleep would
        waited.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(gate._bridge, "pause", pause)
    gate_.after_response(httpx.Response(429, headers={"Retry-After": "0.5"}))
    gate_.before_send(httpx.Request("POST", "http://127.0.0.1:1/api/v1/lip-sync/tasks"))
    assert len(waited) == 1 and 0.5 <= waited[0] <= 0.6
    gate_.before_send(httpx.Request("POST", "http://127.0.0.1:1/api/v1/lip-sync/tasks"))
    assert len(waited) == 1  # no pause: sent at once


def test_without_retry_after_the_first_pause_is_the_first_backoff() -> None:
    for _ in range(20):
        gate_, _clock = rate_gate(4)
        answer(gate_, 429, None)
        assert 0.25 <= gate_.pause_left() <= 0.5  # backoff(0): half to all of the base delay


def test_429s_without_retry_after_back_off_exponentially() -> None:
    gate_, clock = rate_gate(4)
    for low, high in [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]:
        answer(gate_, 429, None)
        assert low <= gate_.pause_left() <= high
        clock.now += 10


def test_a_success_restarts_the_backoff() -> None:
    gate_, clock = rate_gate(4)
    answer(gate_, 429, None)
    clock.now += 10
    answer(gate_, 429, None)  # the second strike: 0.5 to 1 s
    clock.now += 10
    answer(gate_, 202, None)
    answer(gate_, 429, None)
    assert 0.25 <= gate_.pause_left() <= 0.5


def test_paused_time_counts_each_second_once() -> None:
    gate_, clock = rate_gate(8)
    answer(gate_, 429, 2.0)
    clock.now += 1.0
    answer(gate_, 429, 3.0)  # extends the pause from t+2 to t+4
    assert gate_.paused_seconds == pytest.approx(4.0)
    answer(gate_, 429, 0.5)  # within the pause: nothing added
    assert gate_.paused_seconds == pytest.approx(4.0) and gate_.pause_left() == 3.0
    assert gate_.allowed == 4 and gate_.rate_limited == 3  # one cut for the whole pause
    clock.now += 1.0
    answer(gate_, 429, 2.0)  # ends with the pause in force (3 s long): its jitter stays
    assert all(gate_.wait_time() <= 2.0 + 0.2 * 3.0 for _ in range(50))
    assert any(gate_.wait_time() > 2.0 + 0.2 * 2.0 for _ in range(50))


def test_a_429_after_the_pause_cuts_again_down_to_one() -> None:
    gate_, clock = rate_gate(4)
    for expected in (2, 1, 1):
        answer(gate_, 429, 1.0)
        assert gate_.allowed == expected
        clock.now += 1.0  # exactly the pause's end: a new 429 is a new pause


def test_only_a_success_lets_the_pace_back_up() -> None:
    gate_, clock = rate_gate(4)
    answer(gate_, 429, 1.0)
    clock.now += 5
    for status in (500, 404, 300, 199):
        answer(gate_, status, None)
    assert gate_.allowed == 2
    answer(gate_, 299, None)  # 2 + 1/2
    answer(gate_, 200, None)  # 2.5 + 1/2.5
    assert gate_.allowed == 2 and gate_._allowed == pytest.approx(2.9)
    for _ in range(10):
        answer(gate_, 202, None)
    assert gate_.allowed == 4 and gate_._allowed == 4.0  # never above the batch's own limit
