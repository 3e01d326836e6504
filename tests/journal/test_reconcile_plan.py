"""Reconcile's decisions, as pure code: which task an unknown create became, if any.

Gaps found by mutation testing (`make mutate`) in `history/reconcile.py`: each test
names the behaviour it protects. A wrong match or a wrong "never created" can bill
twice, so the window edges, the pairing order and the second pass are pinned exactly.
Times: local seconds for requests, server seconds for createdAt.
"""

from __future__ import annotations

from kitta_notebook.history.reconcile import (
    Candidate,
    ClockEstimate,
    DateSample,
    Pending,
    ReconcileReport,
    estimate_clock,
    plan,
    undated_candidates,
)

# Creates answered 5 s after their request: the offset lies in [5 - 30, 5], 5 expected.
TRUSTED = estimate_clock([5.0])
# With the defaults (skew 120, window 600) a create requested at 1000 is looked for first in
# [1000 - 25 - 120, 1000 + 5 + 600] = [855, 1605], then up to 1000 + 5 + 120 + 600 = 1725.
LIKELY_LOW, LIKELY_HIGH, POSSIBLE_HIGH = 855.0, 1605.0, 1725.0


def pending(entry_id: str, requested: float | None, model: str = "m") -> Pending:
    return Pending(entry_id, requested, model, "video")


def task(task_id: str, created: float | None, model: str = "m", mode: str = "video") -> Candidate:
    return Candidate(task_id, created, model, mode)


def decide(
    creates: list[Pending],
    tasks: list[Candidate],
    clock: ClockEstimate = TRUSTED,
    now: float = 5000.0,
    complete: bool = True,
) -> ReconcileReport:
    return plan(creates, tasks, clock=clock, now=now, complete=complete)


# --- the clock -------------------------------------------------------------------------------
def test_without_evidence_the_offset_may_be_anything_up_to_max_skew() -> None:
    assert estimate_clock([]) == ClockEstimate(-3600.0, 3600.0, 0.0, trusted=False, samples=0)


def test_date_headers_bound_the_offset_and_guess_the_value_nearest_to_none() -> None:
    samples = [DateSample(100.0, 99.5, 99.8), DateSample(100.0, 99.25, 99.75)]
    # Each: (date - received, date + 1 - sent); together the tightest of both.
    assert estimate_clock([], samples) == ClockEstimate(0.25, 1.5, 0.25, trusted=False, samples=2)


def test_date_headers_that_touch_still_agree() -> None:
    touching = [DateSample(1000.0, 999.0, 1000.0), DateSample(1002.0, 999.0, 1000.0)]
    # [0, 2] and [2, 4] meet at 2: that is the offset.
    assert estimate_clock([], touching) == ClockEstimate(2.0, 2.0, 2.0, trusted=False, samples=2)


def test_date_headers_that_disagree_keep_every_offset_they_allow() -> None:
    """A clock that stepped between two answers: the range spans both."""
    stepped = [DateSample(1000.0, 999.0, 1000.0), DateSample(1010.0, 999.5, 1000.5)]
    assert estimate_clock([], stepped) == ClockEstimate(0.0, 11.5, 0.0, trusted=False, samples=2)


def test_create_delays_are_trusted_and_widen_with_date_headers() -> None:
    dates = [DateSample(100.0, 99.5, 99.8)]
    assert estimate_clock([5.0, 7.0, 9.0], dates) == ClockEstimate(
        -25.0, 9.0, 7.0, trusted=True, samples=4
    )


# --- which tasks need their detail --------------------------------------------------------
def test_undated_tasks_are_fetched_when_their_mode_could_be_a_pending_create_s() -> None:
    tasks = [
        task("video", None),
        task("image", None, mode="image"),
        task("no-mode", None, mode=None),  # type: ignore[arg-type]
        task("dated", 1000.0),
    ]
    assert undated_candidates([pending("e", 1.0)], tasks) == ["video", "no-mode"]
    unknown_mode = Pending("e", 1.0, "m", None)
    assert undated_candidates([unknown_mode], tasks) == ["video", "image", "no-mode"]


# --- matching ------------------------------------------------------------------------------
def test_a_task_of_another_model_is_never_the_create_s() -> None:
    report = decide([pending("e", 1000.0)], [task("t", 1005.0, model="other")])
    assert report.matched == [] and report.absent == ["e"]


def test_each_create_takes_the_task_nearest_its_expected_delay_once() -> None:
    report = decide(
        [pending("e1", 1000.0), pending("e2", 1001.0)], [task("t1", 1005.0), task("t2", 1030.0)]
    )
    assert sorted(report.matched) == [("e1", "t1"), ("e2", "t2")]


def test_the_expected_delay_decides_which_create_a_task_was() -> None:
    """Requests 20 s apart, tasks 20 s apart, each 5 s after its request."""
    report = decide(
        [pending("early", 1000.0), pending("late", 1020.0)],
        [task("first", 1005.0), task("second", 1025.0)],
    )
    assert sorted(report.matched) == [("early", "first"), ("late", "second")]


def test_without_a_trusted_clock_a_task_made_after_the_request_is_preferred() -> None:
    """Unmeasured clocks: a task stamped at or after the request beats a nearer one before."""
    clock = estimate_clock([], [DateSample(1000.0, 999.5, 999.75)])  # [0.25, 1.5], 0.25 expected
    before = decide([pending("e", 1000.0)], [task("before", 1000.125), task("at", 1000.25)], clock)
    assert before.matched == [("e", "at")]
    at = decide([pending("e", 1000.0)], [task("at", 1000.25), task("later", 1000.75)], clock)
    assert at.matched == [("e", "at")]  # exactly the expected delay counts as after
    half = decide([pending("e", 1000.0)], [task("after", 1000.7), task("sooner", 999.9)], clock)
    assert half.matched == [("e", "after")]


def test_the_likely_window_includes_its_edges() -> None:
    for edge in (LIKELY_LOW, LIKELY_HIGH):
        # A second task beyond the likely window but possible would make a second pass
        # ambiguous: only the first pass can match the edge task.
        report = decide([pending("e", 1000.0)], [task("edge", edge), task("far", 1700.0)])
        assert report.matched == [("e", "edge")], edge


def test_just_past_the_likely_window_only_an_unambiguous_task_is_taken() -> None:
    both = decide([pending("e", 1000.0)], [task("past", LIKELY_HIGH + 0.5), task("far", 1700.0)])
    assert both.matched == [] and both.unresolved == ["e"] and both.absent == []
    alone = decide([pending("e", 1000.0)], [task("past", 1650.0)])
    assert alone.matched == [("e", "past")] and alone.unresolved == [] and alone.absent == []


def test_before_the_possible_window_a_task_never_blocks_not_created() -> None:
    report = decide([pending("e", 1000.0)], [task("early", LIKELY_LOW - 0.5)])
    assert report.matched == [] and report.absent == ["e"]


def test_at_the_edge_of_the_possible_window_a_task_still_blocks_not_created() -> None:
    edge = decide([pending("e", 1000.0), pending("f", 1000.0)], [task("edge", POSSIBLE_HIGH)])
    assert edge.matched == [] and sorted(edge.unresolved) == ["e", "f"] and edge.absent == []


def test_one_task_two_creates_could_be_is_given_to_neither() -> None:
    report = decide([pending("e1", 1000.0), pending("e2", 1001.0)], [task("t", 1650.0)])
    assert report.matched == [] and sorted(report.unresolved) == ["e1", "e2"]


def test_a_create_without_a_request_time_is_left_alone_and_the_others_still_matched() -> None:
    report = decide(
        [pending("undated", None), pending("e", 1000.0)], [task("t1", 1005.0), task("t2", 1020.0)]
    )
    assert report.matched == [("e", "t1")]
    assert report.unresolved == ["undated"] and report.absent == []


def test_a_matched_create_does_not_stop_the_others_being_decided() -> None:
    report = decide([pending("e", 1000.0), pending("gone", 3000.0)], [task("t", 1005.0)])
    assert report.matched == [("e", "t")] and report.absent == ["gone"]


def test_a_create_exactly_settle_old_may_be_declared_never_created() -> None:
    assert decide([pending("e", 1000.0)], [], now=1060.0).absent == ["e"]
    assert decide([pending("e", 1000.0)], [], now=1059.5).unresolved == ["e"]


def test_the_report_says_when_the_list_was_not_fully_read() -> None:
    assert str(ReconcileReport(complete=False)) == (
        "reconcile: 0 matched to server tasks, 0 never created, 0 still unknown "
        "(0 list pages read, list not fully read)"
    )
    assert str(ReconcileReport(matched=[("e", "t")], pages=2, complete=True)) == (
        "reconcile: 1 matched to server tasks, 0 never created, 0 still unknown (2 list pages read)"
    )


def test_an_unmeasured_clock_keeps_a_task_up_to_max_skew_away_possible() -> None:
    """Date headers may come from a proxy: until createdAt values are measured, a task
    stamped up to `max_skew` (3600 s) before the request may still be the create's."""
    clock = estimate_clock([], [DateSample(1000.0, 999.5, 999.75)])
    report = decide([pending("e", 5000.0)], [task("skewed", 5000.0 - 3600.0)], clock, now=9000.0)
    assert report.matched == [("e", "skewed")] and report.absent == []


# --- a teammate's creates (another machine's clock) ------------------------------------------
def test_a_teammates_create_is_looked_for_max_skew_and_skew_both_ways() -> None:
    """Another machine's clock may be off by up to max_skew (3600 s), and the server's
    stamp by the skew (120 s) more: a task stamped 3700 s before the teammate's request is
    still theirs, and the create is not declared absent (it would be sent again)."""
    teammate = Pending("e1", 10_000.0, "m", "video", local=False)
    early = task("t-early", 10_000.0 - 3600 - 100)
    assert decide([teammate], [early], now=20_000.0).matched == [("e1", "t-early")]
    late = task("t-late", 10_000.0 + 3600 + 120 + 600 - 1)
    assert decide([teammate], [late], now=20_000.0).matched == [("e1", "t-late")]
    too_early = task("t-before", 10_000.0 - 3600 - 120 - 1)
    report = decide([teammate], [too_early], now=20_000.0)
    assert report.matched == [] and report.absent == ["e1"]
