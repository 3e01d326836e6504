"""The follow-a-task decisions, driven directly (no I/O), and the row follower's state."""

from __future__ import annotations

import pytest

from kitta_notebook import LipSyncTask
from kitta_notebook.display.follow import FollowSnapshot, TaskFollower
from kitta_notebook.errors import NotFoundError
from kitta_notebook.widgets.history_detail import ActiveTasksFollower


def task(status: str = "pending", url: str | None = None) -> LipSyncTask:
    return LipSyncTask({"taskId": "lip_task_f", "status": status, "resultVideoUrl": url})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def recorded(follower: TaskFollower) -> list[FollowSnapshot]:
    seen: list[FollowSnapshot] = []
    follower.subscribe(seen.append)
    return seen


def test_polls_and_transient_errors_are_counted_and_shown_as_retrying() -> None:
    clock = Clock()
    followed = task()
    follower = TaskFollower(followed, timeout=30, clock=clock)
    seen = recorded(follower)
    follower.begin()
    clock.now += 4
    follower.polled(followed, RuntimeError("connection reset"))
    assert seen[-1].retrying and seen[-1].retries == 1 and seen[-1].polls == 1
    assert seen[-1].elapsed == pytest.approx(4.0)
    followed._update_from(LipSyncTask({"taskId": "lip_task_f", "status": "processing"}))
    follower.polled(followed, None)
    assert not seen[-1].retrying and seen[-1].retries == 1 and seen[-1].polls == 2
    assert [s.status for s in seen] == ["pending", "pending", "processing"]
    assert all(s.polling and s.active for s in seen)


def test_a_public_result_is_linked_without_fetching_anything() -> None:
    followed = task("succeeded", "https://cdn.example.com/r.mp4")
    follower = TaskFollower(followed)
    seen = recorded(follower)
    assert follower.ended("finished") is None
    assert seen[-1].phase == "finished" and not seen[-1].active
    assert seen[-1].video is not None and seen[-1].video.action == "link"


def test_a_result_the_browser_cannot_reach_is_fetched_then_shown() -> None:
    followed = task("succeeded", "http://127.0.0.1:9/r.mp4")
    follower = TaskFollower(followed)
    seen = recorded(follower)
    plan = follower.ended("finished")
    assert plan is not None and plan.action == "embed" and plan.url == "http://127.0.0.1:9/r.mp4"
    assert seen[-1].phase == "loading_video" and seen[-1].active and not seen[-1].polling
    follower.video_loaded(b"\x00\x00\x00\x18ftypmp42", None)
    assert seen[-1].phase == "finished" and seen[-1].video_bytes == b"\x00\x00\x00\x18ftypmp42"


def test_embed_false_never_fetches_and_failed_tasks_have_no_video() -> None:
    loopback = task("succeeded", "http://127.0.0.1:9/r.mp4")
    assert TaskFollower(loopback, embed=False).ended("finished") is None
    failed = TaskFollower(task("failed"))
    assert failed.ended("finished") is None
    assert failed.snapshot.video is None and failed.snapshot.phase == "finished"


def test_timeout_stop_and_errors_end_the_follow_with_a_reason() -> None:
    timed_out = TaskFollower(task(), timeout=12)
    assert timed_out.ended("timed_out") is None
    assert timed_out.snapshot.phase == "timed_out" and timed_out.snapshot.timeout == 12
    stopped = TaskFollower(task("succeeded", "http://127.0.0.1:9/r.mp4"))
    assert stopped.ended("stopped") is None  # a stopped view fetches nothing
    assert stopped.snapshot.phase == "stopped"
    error = NotFoundError(404, "not_found", "no such task", None)
    failed = TaskFollower(task())
    assert failed.ended(error) is None
    assert failed.snapshot.phase == "failed" and failed.snapshot.error is error


def test_a_finished_task_shows_nothing_until_its_result_is_known() -> None:
    follower = TaskFollower(task("succeeded", "https://cdn.example.com/r.mp4"))
    seen = recorded(follower)
    follower.begin()
    assert seen == []  # no "following" flash for a task that has already ended
    follower.ended("finished")
    assert [s.phase for s in seen] == ["finished"]


def test_the_elapsed_time_of_a_finished_task_is_its_own_run_time() -> None:
    done = LipSyncTask(
        {
            "taskId": "lip_task_f",
            "status": "succeeded",
            "createdAt": "2026-07-01T08:00:00.000Z",
            "completedAt": "2026-07-01T08:01:20.000Z",
        }
    )
    assert TaskFollower(done).elapsed() == pytest.approx(80.0)


def test_the_row_follower_forgets_gone_tasks_and_counts_rounds() -> None:
    follower = ActiveTasksFollower(poll_interval=1, timeout=10)
    rounds: list[int] = []
    follower.subscribe(lambda snap: rounds.append(snap.polls))
    follower.gone("a")
    assert follower.watched({"a": "pending", "b": "processing"}) == {"b": "processing"}
    follower.polled((), 1)
    follower.polled((task("succeeded"),), 0)
    assert rounds == [1, 2]
    assert follower.snapshot.active == 0 and len(follower.snapshot.updated) == 1
    follower.ended("idle")
    assert follower.snapshot.phase == "idle" and follower.snapshot.updated == ()
