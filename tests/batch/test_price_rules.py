"""The rules of `kitta_notebook.price`: which price a create gets (published, learned or
unknown), what a learned estimate may be, which charges are believed and which are
learned from, and how a price says where it came from. The price decides the credit
guard (`max_credits`), so each rule here is about money."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook.history.journal import Journal
from kitta_notebook.price import (
    MAX_SANE_RATE,
    Charge,
    Price,
    charges_in,
    format_credits,
    price_for,
    sane_charge,
)
from kitta_notebook.server_info import ServerInfo
from tests.support import dto

MODEL = "kitta-lip-sync-v1"
OTHER = "kitta-lip-sync-pro"
PUBLISHED = ServerInfo(credits_per_second={MODEL: 100.0}, minimum_billed_seconds=1.0)


def test_the_server_published_price_wins_over_charges_seen() -> None:
    price = price_for(PUBLISHED, MODEL, [Charge(10.0, 1.0)])
    assert (price.source, price.model, price.charges) == ("published", MODEL, ())
    assert price.info is PUBLISHED
    assert price.estimate(12.0) == 1200 and not price.provisional


def test_a_price_names_its_model_and_server_whatever_its_source() -> None:
    """`Preflight.price` is public: a learned or unknown price still says what it prices."""
    unpriced = ServerInfo(models=(MODEL, OTHER), is_sandbox=True)
    seen = [Charge(10.0, 1000.0), Charge(4.0, 400.0)]
    learned = price_for(unpriced, MODEL, seen)
    assert (learned.source, learned.model, learned.charges, learned.tasks) == (
        "learned", MODEL, tuple(seen), 2,
    )  # fmt: skip
    assert learned.info is unpriced
    unknown = price_for(unpriced, MODEL)
    assert (unknown.source, unknown.model, unknown.charges) == ("unknown", MODEL, ())
    assert unknown.info is unpriced
    more = learned.learn([Charge(2.0, 200.0)])
    assert (more.model, more.tasks, len(more.charges)) == (MODEL, 2, 3) and more.info is unpriced


def test_a_published_price_never_learns_and_nothing_learned_changes_nothing() -> None:
    published = price_for(PUBLISHED, MODEL)
    cheap = published.learn([Charge(10.0, 1.0)])  # a charge far below the published rate
    assert cheap.source == "published" and cheap.estimate(12.0) == 1200
    unknown = price_for(ServerInfo(), MODEL)
    nothing = unknown.learn([])
    assert nothing.source == "unknown" and not nothing.provisional
    assert nothing.describe() == "unknown"
    first = unknown.learn([Charge(10.0, 1000.0)])  # a batch's own first charge
    assert first.source == "learned" and first.provisional and first.tasks == 0
    assert first.estimate(10.0) == 1000


@pytest.mark.parametrize(
    ("price", "english", "chinese"),
    [
        (price_for(PUBLISHED, MODEL), "published by the server", "由服务器公布"),
        (Price(MODEL, "learned", charges=(Charge(1.0, 100.0),) * 37, tasks=37),
         "learned from 37 tasks", "从 37 个已完成任务学得"),
        (Price(MODEL, "learned", charges=(Charge(1.0, 100.0),), tasks=1),
         "learned from 1 task", "从 1 个已完成任务学得"),
        (Price(MODEL, "learned", charges=(Charge(1.0, 100.0),) * 3, tasks=1),
         "learned from 1 task and 2 of this batch", "从 1 个已完成任务学得及本批次 2 个任务"),
        (Price(MODEL, "learned", charges=(Charge(1.0, 100.0),) * 3, tasks=0),
         "learned from this batch's creates (3)", "从本批次已创建的任务学得（3 个）"),
        (price_for(ServerInfo(), MODEL), "unknown", "未知"),
    ],
)  # fmt: skip
def test_a_price_says_where_it_came_from_in_english_and_chinese(
    price: Price, english: str, chinese: str
) -> None:
    assert price.describe() == english
    assert price.describe("en") == english
    assert price.describe("zh") == chinese


@pytest.mark.parametrize(
    ("credits", "shown"),
    [(None, "—"), (0, "0"), (1234, "1,234"), (1234567, "1,234,567"), (12.5, "12.50"),
     (1234.567, "1,234.57"), (3.0, "3.00")],
)  # fmt: skip
def test_credits_read_the_same_in_every_view(credits: float | None, shown: str) -> None:
    """A whole number of credits has no decimals, a fraction two, an unknown a dash."""
    assert format_credits(credits) == shown


@pytest.mark.parametrize("seconds", [None, 0.0, -1.0, math.nan, math.inf, -math.inf])
def test_only_a_finite_positive_length_has_an_estimate(seconds: float | None) -> None:
    learned = price_for(ServerInfo(), MODEL, [Charge(2.0, 200.0)])
    assert learned.estimate(seconds) is None
    assert price_for(PUBLISHED, MODEL).estimate(seconds) is None


def test_a_learned_estimate_is_the_tightest_bound_the_charges_give() -> None:
    """An upper bound, but no higher than needed: a looser one refuses batches that fit."""
    one = Price(MODEL, "learned", charges=(Charge(3.0, 300.0),))
    assert one.estimate(2.0) == 300  # no longer than a charge seen: that charge
    assert one.estimate(7.0) == 700  # longer: in proportion to whole seconds
    assert one.estimate(6.5) == 700
    thirds = Price(MODEL, "learned", charges=(Charge(3.0, 100.0),))
    assert thirds.estimate(7.0) == 234  # 233.33 rounds up, never down
    both = Price(MODEL, "learned", charges=(Charge(3.0, 300.0), Charge(8.0, 500.0)))
    assert both.estimate(7.0) == 500 and both.estimate(16.0) == 1000


def test_a_length_a_hair_over_a_whole_second_is_billed_the_next_second() -> None:
    """A server billing ceil(100 x t) charges 701 for 7.0000004 s: the bound must not be
    700 (the length was once rounded to 7 s before billing)."""
    price = Price(MODEL, "learned", charges=(Charge(2.0, 200.0),))
    seconds = 7.0000004
    estimate = price.estimate(seconds)
    assert estimate is not None and estimate >= math.ceil(100 * seconds)
    assert estimate == 800


def test_float_noise_in_a_bound_adds_no_credit() -> None:
    price = Price(MODEL, "learned", charges=(Charge(0.29, 145_000.0),))
    assert 145_000.0 * 865 / 0.29 > 432_500_000  # the division's noise
    assert price.estimate(865.0) == 432_500_000


def test_short_audio_small_and_large_charges_are_real_charges() -> None:
    assert sane_charge(0.5, 50) == Charge(0.5, 50.0)
    assert sane_charge(1, 1) == Charge(1.0, 1.0)
    assert sane_charge(3600, 360_000_000) == Charge(3600.0, 360_000_000.0)  # an hour, 1e5/s
    assert sane_charge(2.0, 2 * MAX_SANE_RATE) == Charge(2.0, 2 * MAX_SANE_RATE)  # the limit


def test_a_rate_above_the_sane_limit_is_no_charge() -> None:
    assert sane_charge(0.5, 600_000) is None  # 1.2e6 credits a second
    assert sane_charge(2.0, 2 * MAX_SANE_RATE + 1) is None


# --- learning from the journal ----------------------------------------------------------


def _create(journal: Journal, n: int, **task: Any) -> None:
    """A create this process sent (`durationSeconds` given), answered with `task`."""
    body: dict[str, Any] = {"model": task.get("model", MODEL), "inputMode": "video"}
    body |= {"audioUrl": "https://m.example.com/a.wav", "videoUrl": "https://m.example.com/v.mp4"}
    if task.get("seconds") is not None:
        body["durationSeconds"] = task["seconds"]
    entry_id = journal.record_request(body)
    fields = {k: v for k, v in task.items() if k != "seconds"}
    journal.record_created(entry_id, dto(taskId=f"lip_{n}", createdAt=_at(n), **fields))


def _at(n: int) -> str:
    return f"2026-07-01T08:{n:02d}:00.000Z"


def test_a_price_is_learned_only_from_this_clients_succeeded_creates_on_the_model(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    _create(journal, 1, status="succeeded", seconds=10.0, creditsCharged=1000)
    _create(journal, 2, status="succeeded", seconds=10.0, creditsCharged=2000, model=OTHER)
    # A pending task's charge is the server's guess from the length it was told; a
    # failed task's is no price of a result.
    _create(journal, 3, status="pending", seconds=10.0, creditsCharged=100)
    _create(journal, 4, status="failed", seconds=10.0, creditsCharged=50)
    _create(journal, 5, status="succeeded", creditsCharged=10)  # no length sent
    journal.record_seen(dto(taskId="lip_6", status="succeeded", creditsCharged=1, createdAt=_at(6)))
    assert charges_in(journal, MODEL) == [Charge(10.0, 1000.0)]
    assert charges_in(journal, OTHER) == [Charge(10.0, 2000.0)]
    assert charges_in(None, MODEL) == []


def test_newer_unfinished_or_server_only_tasks_never_crowd_out_the_charges_learned_from(
    tmp_path: Path,
) -> None:
    """The window is the newest `limit` succeeded creates of this client, not the newest
    entries: tasks seen only in the server's list carry no length to learn from."""
    journal = Journal(tmp_path / "journal.sqlite3")
    _create(journal, 1, status="succeeded", seconds=10.0, creditsCharged=1000)
    _create(journal, 2, status="succeeded", seconds=5.0, creditsCharged=600)
    journal.record_seen(dto(taskId="lip_3", status="succeeded", creditsCharged=1, createdAt=_at(3)))
    _create(journal, 4, status="failed", seconds=10.0, creditsCharged=50)
    assert charges_in(journal, MODEL, limit=1) == [Charge(5.0, 600.0)]
    assert charges_in(journal, MODEL, limit=2) == [Charge(5.0, 600.0), Charge(10.0, 1000.0)]
