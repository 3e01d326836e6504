"""The I/O-free parts of batches: checking a batch, outcomes, the rate gate, progress, views."""

from __future__ import annotations

import html
import io
from html.parser import HTMLParser

import httpx
import pytest

from kitta_notebook import (
    APIConnectionError,
    APITimeoutError,
    InsufficientCreditsError,
    LipSyncTask,
    RateLimitError,
    ServerError,
    ValidationError,
)
from kitta_notebook._core import ClientConfig
from kitta_notebook.batch import BatchItem, BatchResult, BatchValidationError
from kitta_notebook.batch.gate import RateGate, outcome_of
from kitta_notebook.batch.plan import PlannedItem, check_batch
from kitta_notebook.batch.progress import (
    ProgressSnapshot,
    TextProgress,
    eta_seconds,
    format_clock,
    progress_line,
)
from kitta_notebook.display.gallery import Gallery, batch_html
from kitta_notebook.errors import APIError
from kitta_notebook.validation import validate_create

VIDEO = "https://media.example.com/v.mp4"
AUDIO = "https://media.example.com/a.mp3"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def validate(fields: dict[str, object]) -> dict[str, object]:
    """The per-item check `check_batch` is given (the client passes `media.plan`)."""
    validate_create(**fields, require_public_urls=True)  # type: ignore[arg-type,unused-ignore]
    return fields


def prepare_batch(requests: object, plan: object) -> list[PlannedItem]:
    """`check_batch`, refusing the whole batch as `create_many` does (`skip_invalid=False`)."""
    planned, problems, total = check_batch(requests, plan)  # type: ignore[arg-type]
    if problems:
        raise BatchValidationError(problems, total)
    return planned


# --- checking a whole batch ---------------------------------------------------------------
def test_every_invalid_item_is_reported_with_its_index() -> None:
    requests: list[object] = [
        {"audio_url": AUDIO, "video_url": VIDEO},  # fine
        {"video_url": VIDEO},  # no audio
        {"audioUrl": AUDIO, "video_url": VIDEO},  # wire name by habit
        42,  # not a request at all
        {"audio_url": AUDIO, "video_url": "ftp://x/v.mp4", "duration_seconds": -1},
        {"audio_url": AUDIO, "video_url": VIDEO, "key": "a"},
        {"audio_url": AUDIO, "video_url": VIDEO, "key": "a"},  # duplicate key
        {"audio_url": AUDIO, "video_url": "http://127.0.0.1/v.mp4"},  # not public
    ]
    with pytest.raises(BatchValidationError) as caught:
        prepare_batch(requests, validate)
    error = caught.value
    assert isinstance(error, ValidationError)
    assert sorted(error.by_index) == [1, 2, 3, 4, 6, 7]
    fields = dict(error.problems)
    assert "requests[1].audio_url" in fields
    assert "did you mean 'audio_url'" in fields["requests[2].audioUrl"]
    assert "requests[3]" in fields
    assert {"requests[4].video_url", "requests[4].duration_seconds"} <= set(fields)
    assert "requests[5]" in fields["requests[6].key"]
    assert "requests[7].video_url" in fields
    assert "6 of 8 batch items are invalid; nothing was sent" in str(error)


def test_a_huge_invalid_batch_keeps_a_readable_message() -> None:
    with pytest.raises(BatchValidationError) as caught:
        prepare_batch([{"video_url": VIDEO}] * 500, validate)
    assert len(caught.value.by_index) == 500
    assert len(str(caught.value).splitlines()) < 30
    assert "more (see .problems)" in str(caught.value)


def test_items_may_be_dicts_or_create_requests_and_keep_their_order() -> None:
    ready = validate_create(audio_url=AUDIO, video_url=VIDEO)
    prepared = prepare_batch(
        [ready, {"audio_url": AUDIO, "image_url": VIDEO, "key": "img"}], validate
    )
    assert [p.index for p in prepared] == [0, 1]
    assert validate_create(**prepared[0].fields) == ready and prepared[0].key is None
    assert prepared[1].fields["image_url"] == VIDEO and prepared[1].key == "img"


def test_a_single_request_is_not_mistaken_for_a_batch() -> None:
    with pytest.raises(ValidationError):
        prepare_batch({"audio_url": AUDIO, "video_url": VIDEO}, validate)


def test_empty_batch_is_fine() -> None:
    assert prepare_batch([], validate) == []


# --- outcomes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (InsufficientCreditsError(402, "insufficient_credits", "no"), "rejected"),
        (RateLimitError(429, None, "slow down"), "rejected"),
        (ServerError(500, None, "boom", may_have_created=True), "unknown"),
        (APITimeoutError("late", may_have_created=True), "unknown"),
        (APIConnectionError("refused", may_have_created=False), "rejected"),
        (APIError(202, "invalid_response", "unreadable body"), "unknown"),
        (APIError(200, "invalid_response", "unreadable body"), "unknown"),
        (APIError(299, "invalid_response", "unreadable body"), "unknown"),
        (APIError(300, None, "a redirect, not followed"), "rejected"),
        (KeyboardInterrupt(), "unknown"),
    ],
)
def test_only_proof_of_no_task_counts_as_rejected(error: BaseException, outcome: str) -> None:
    assert outcome_of(error) == outcome


# --- the rate gate -------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate_with_clock(limit: int = 8) -> tuple[RateGate, FakeClock]:
    clock = FakeClock()
    config = ClientConfig.create("tok", "http://127.0.0.1:1/api", None, 2)
    return RateGate(limit, config, clock=clock), clock


def test_a_429_pauses_everyone_for_its_retry_after_and_halves_the_pace() -> None:
    gate, clock = gate_with_clock(8)
    for _ in range(8):
        assert gate.try_enter() is None
    assert gate.try_enter() == 0.0  # full: wait for a slot
    too_many = httpx.Response(429, headers={"Retry-After": "2"})
    gate.after_response(too_many)
    gate.after_response(too_many)  # a burst of 429s cuts the pace once
    assert gate.allowed == 4 and gate.rate_limited == 2
    assert 2.0 <= gate.wait_time() <= 2.0 + 0.4
    for _ in range(8):
        gate.leave()
    waiting = gate.try_enter()
    assert waiting is not None and waiting >= 2.0  # paused, even with free slots
    clock.now += 2.01
    assert gate.pause_left() == 0.0 and gate.wait_time() == 0.0
    assert [gate.try_enter() for _ in range(5)] == [None, None, None, None, 0.0]
    assert gate.paused_seconds == pytest.approx(2.0)


def test_the_pace_recovers_gradually_after_successes() -> None:
    gate, clock = gate_with_clock(8)
    gate.after_response(httpx.Response(429, headers={"Retry-After": "1"}))
    clock.now += 1.5
    gate.after_response(httpx.Response(429))  # no Retry-After: the client's backoff decides
    assert gate.allowed == 2 and gate.pause_left() > 0
    clock.now += 60
    for _ in range(40):
        gate.after_response(httpx.Response(202))
    assert gate.allowed == 8


# --- results ---------------------------------------------------------------------------------
def task(task_id: str = "lip_task_1", **fields: object) -> LipSyncTask:
    raw: dict[str, object] = {"taskId": task_id, "status": "pending", "creditsCharged": 100}
    raw.update(fields)
    return LipSyncTask(raw)


def sample_result() -> BatchResult:
    return BatchResult(
        [
            BatchItem(0, "a", "created", task=task("t0"), attempts=1),
            BatchItem(1, None, "rejected", error=InsufficientCreditsError(402, None, "no")),
            BatchItem(2, "c", "existing", task=task("t2")),
            BatchItem(3, HOSTILE, "unknown", error=ServerError(500, None, HOSTILE)),
        ],
        elapsed=1.5,
        rate_limited=3,
        paused_seconds=2.0,
    )


def test_batch_result_views() -> None:
    result = sample_result()
    assert len(result) == 4 and result[2].key == "c" and [i.index for i in result] == [0, 1, 2, 3]
    assert [t.task_id for t in result.tasks] == ["t0", "t2"]
    assert result.counts == {
        "created": 1,
        "existing": 1,
        "rejected": 1,
        "unknown": 1,
        "skipped": 0,
        "not_sent": 0,
    }
    assert [i.index for i in result.errors] == [1, 3] and not result.ok
    assert result.credits == 100  # only what this run created
    with pytest.raises(Exception, match="2 of 4 batch items did not get a task"):
        result.raise_for_errors()
    assert "created=1" in repr(result)


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def assert_safe(markup: str) -> None:
    parser = TagCollector()
    parser.feed(markup)
    assert not parser.tags & {"script", "img", "iframe", "svg", "style"}
    assert "<script>" not in markup and html.escape(HOSTILE) in markup


def test_batch_summary_escapes_everything() -> None:
    markup = batch_html(sample_result())
    assert_safe(markup)
    assert "outcome unknown" in markup and "rate limited 3×" in markup
    assert "结果未知" in batch_html(sample_result(), lang="zh")


def test_gallery_shows_cards_escaped_and_caps_their_number() -> None:
    tasks = [
        task(HOSTILE, status="failed", errorMessage=HOSTILE),
        task("t1", status="succeeded", resultVideoUrl="https://cdn.example.com/r.mp4"),
        task("t2", status="succeeded", resultVideoUrl="javascript:alert(1)"),
    ]
    markup = Gallery(tasks, max_cards=2).to_html()
    assert_safe(markup)
    assert markup.count('class="kitta-task"') == 2 and "… and 1 more" in markup
    assert 'src="https://cdn.example.com/r.mp4"' in markup
    bundle = Gallery(tasks)._repr_mimebundle_()
    assert "javascript:" not in bundle["text/html"].split("kitta-gallery")[1].split("href")[0]
    assert bundle["text/plain"].startswith("3 tasks")


# --- progress --------------------------------------------------------------------------------
def snapshot(done: int, finished: bool = False) -> ProgressSnapshot:
    return ProgressSnapshot(
        title="Creating tasks",
        done=done,
        total=10,
        counts={"created": done, "queued": 10 - done},
        credits=done * 100,
        elapsed=4.0,
        eta=eta_seconds(done, 10, 4.0),
        finished=finished,
    )


def test_progress_line_has_counts_credits_elapsed_and_eta() -> None:
    line = progress_line(snapshot(5))
    assert "[############............] 5/10" in line
    assert "created 5 queued 5" in line and "500 credits" in line
    assert "0:04 elapsed" in line and "ETA 0:04" in line
    assert "ETA" not in progress_line(snapshot(10, finished=True))
    assert format_clock(None) == "--:--" and format_clock(3725) == "1:02:05"


def test_text_progress_without_a_terminal_writes_few_lines() -> None:
    stream = io.StringIO()
    view = TextProgress(stream)
    for done in range(10):
        view.update(snapshot(done))
    view.close(snapshot(10, finished=True))
    view.close(snapshot(10, finished=True))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].endswith("0:04 elapsed")


def test_the_widget_bar_follows_snapshots_and_closes_into_static_html() -> None:
    from kitta_notebook.display.gallery import progress_html
    from kitta_notebook.widgets import WidgetProgress

    view = WidgetProgress(title="Creating <tasks>", total=10)
    assert "&lt;tasks&gt;" in view.widget.value and "0/10" in view.widget.value
    view.update(snapshot(4))
    assert "4/10" in view.widget.value and "ETA" in view.widget.value
    view.close(snapshot(10, finished=True))
    assert "10/10" in view.widget.value and view.widget.comm is None  # comm freed
    static = progress_html(snapshot(10, finished=True))
    assert "width:100.0%" in static and "ETA" not in static and "<script" not in static
