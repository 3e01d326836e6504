"""What a batch looks like: a bar coloured by outcome, cards named by key and labels."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kitta_notebook import LipSyncTask, ServerError, ValidationError
from kitta_notebook.batch import BatchItem, BatchResult, ItemTags, TaskList
from kitta_notebook.batch.progress import (
    ProgressSnapshot,
    TextProgress,
    check_progress,
    open_progress,
    progress_line,
)
from kitta_notebook.display.gallery import (
    FAILED_COLOR,
    GOOD_COLOR,
    Gallery,
    batch_html,
    progress_html,
)
from kitta_notebook.sandbox import FaultConfig, Sandbox
from tests.batch.batch_helpers import RICH, requests_for

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def snap(done: int, failed: int = 0, unsure: int = 0, total: int = 2) -> ProgressSnapshot:
    return ProgressSnapshot(
        "Waiting", done, total, {"failed": failed}, 0, 1.0, None, "", True, failed, unsure
    )


def test_one_failed_of_two_is_half_green_half_red_not_all_green() -> None:
    page = progress_html(snap(2, failed=1))
    assert 'class="kitta-bar-good" data-count="1"' in page and "width:50.0%" in page
    assert f'class="kitta-bar-failed" data-count="1" style="background:{FAILED_COLOR}' in page
    clean = progress_html(snap(2))
    assert (
        "kitta-bar-failed" not in clean
        and f"background:{GOOD_COLOR};height:8px;width:100.0%" in clean
    )
    assert "[############xxxxxxxxxxxx]" in progress_line(snap(2, failed=1))
    assert "?" in progress_line(snap(2, unsure=1)).split("]")[0]


def test_a_view_factory_is_accepted_and_used_and_anything_else_refused() -> None:
    made: list[tuple[str, int]] = []

    def factory(*, title: str, total: int) -> TextProgress:
        made.append((title, total))
        return TextProgress(io.StringIO())

    assert check_progress(factory) is factory
    assert isinstance(open_progress(factory, "t", 3), TextProgress)
    assert made == [("t", 3)]
    with pytest.raises(ValidationError):
        check_progress("always")


def batch_with_tags() -> BatchResult:
    ok = LipSyncTask({"taskId": "lip_task_a", "status": "succeeded", "creditsCharged": 5})
    bad = LipSyncTask({"taskId": "lip_task_b", "status": "failed"})
    return BatchResult(
        [
            BatchItem(0, "clip/en", "created", task=ok, labels=("en",)),
            BatchItem(1, HOSTILE, "created", task=bad, labels=(HOSTILE, "zh")),
            BatchItem(2, "clip/fr", "rejected", error=ServerError(400, None, "no"), labels=("fr",)),
        ]
    )


def test_gallery_cards_show_each_key_and_labels_escaped() -> None:
    result = batch_with_tags()
    page = Gallery(result, embed=False).to_html()
    assert page.count('class="kitta-gallery-card"') == 2  # the rejected item has no card
    assert '<b class="kitta-key" style="word-break:break-all">clip/en</b>' in page
    assert ">en</span>" in page and ">zh</span>" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "clip/en [en]" in repr(Gallery(result))
    tasks = TaskList(result.tasks, result.tags)
    assert "clip/en" in tasks._repr_mimebundle_()["text/html"]
    summary = batch_html(result)
    assert "clip/fr" in summary and ">fr</span>" in summary and "<script" not in summary


def test_labels_are_checked_with_the_batch(sandbox: Sandbox) -> None:
    with sandbox.client(RICH) as client, pytest.raises(ValidationError) as caught:
        batch = requests_for(sandbox, 2)
        batch[1]["labels"] = {"lang": "en"}
        client.lip_sync.create_many(batch)
    assert "requests[1].labels" in dict(caught.value.problems)
    assert sandbox.stats.total == 0


def test_a_waited_batch_keeps_its_keys_and_labels_for_views_and_export(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.faults = FaultConfig(task_failure_rate=1.0, seed=1, routes=())
    batch = requests_for(sandbox, 2, keys="clip")
    batch[0]["labels"] = "en"
    batch[1]["labels"] = ["zh", " zh ", "dub"]
    with sandbox.client(RICH, journal=False) as client:
        created = client.lip_sync.create_many(batch, progress=False)
        assert [item.labels for item in created] == [("en",), ("zh", "dub")]
        done = client.lip_sync.wait_many(created, timeout=60, poll_interval=0.05, progress=False)
    assert done.tags == {
        created[0].task_id: ItemTags("clip-0", ("en",)),
        created[1].task_id: ItemTags("clip-1", ("zh", "dub")),
    }
    assert all(task.failed for task in done)
    assert "clip-1" in done._repr_mimebundle_()["text/html"]
    report = done.export(tmp_path / "tasks")
    assert [row.labels for row in report.rows] == [("en",), ("zh", "dub")]
    assert [row.status for row in report.rows] == ["failed", "failed"]
    # Without a journal only the batch itself still knows each item's inputs.
    report = created.export(tmp_path / "batch")
    assert [row.audio_url for row in report.rows] == [sandbox.samples["audio"]] * 2
    assert [row.status for row in report.rows] == ["failed", "failed"]  # refreshed in place


def test_labels_are_written_to_the_journal_for_the_history(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from kitta_notebook.history.journal import Journal

    batch = requests_for(sandbox, 2)
    batch[0]["labels"] = ["en", "ad"]
    with sandbox.client(RICH, journal=Journal(tmp_path / "journal.db")) as client:
        created = client.lip_sync.create_many(batch, progress=False)
        first = client.history.get(created[0].task_id)
        second = client.history.get(created[1].task_id)
    assert first is not None and sorted(first.labels) == ["ad", "en"]
    assert second is not None and second.labels == ()


class Handle:
    def __init__(self) -> None:
        self.bundles: list[dict[str, str]] = []

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        assert raw
        self.bundles.append(bundle)


def test_the_notebook_view_redraws_one_output_and_ends_as_static_html(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import IPython.display

    from kitta_notebook.display.gallery import HtmlProgress

    handle = Handle()
    shown: list[dict[str, str]] = []

    def display(bundle: dict[str, str], raw: bool, display_id: bool) -> Handle:
        assert raw and display_id
        shown.append(bundle)
        return handle

    monkeypatch.setattr(IPython.display, "display", display)
    view = HtmlProgress(title="Creating <tasks>", total=2)
    assert "&lt;tasks&gt;" in shown[0]["text/html"] and "0/2" in shown[0]["text/plain"]
    view.update(snap(1))  # within the redraw interval: skipped
    view.close(snap(2, failed=1))
    view.close(snap(2))  # a second close changes nothing
    assert len(handle.bundles) == 1
    final = handle.bundles[0]["text/html"]
    assert "kitta-bar-failed" in final and "<script" not in final and "widget" not in final
