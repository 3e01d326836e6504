"""The batch report (`result.export(folder)`) opened from disk in a real Chromium.

A sandbox runs two tasks (English and Chinese speech, each with a key and
labels), the batch is exported, and the sandbox is stopped before the page
opens: what the page shows and plays must come from the export folder alone.
Every request the page makes is recorded; anything but file:// fails the test.
"""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kitta_notebook.batch.export import ExportReport
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.server import SAMPLES_DIR
from tests.browser.lab import check_video_plays

pytestmark = pytest.mark.browser

TOKEN = "tok_export_report"
ITEMS = {"en": ("audio", ["en", "English"]), "zh": ("audio_zh", ["zh", "中文"])}
"""key -> (sample audio, labels)."""
SAMPLES = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
DURATION_TOLERANCE = 0.5

LOAD_IMAGE = """src => new Promise((done, fail) => {
    const image = new Image();
    image.onload = () => done(image.naturalWidth);
    image.onerror = () => fail(new Error('poster did not load: ' + src));
    image.src = src;
})"""


def export_a_finished_batch(tmp_path: Path) -> tuple[list[str], ExportReport, str]:
    """(task ids, export report, the stopped sandbox's host:port)."""
    with Sandbox(accounts={TOKEN: 10_000_000}, time_scale=0.05) as sb:
        with sb.client(TOKEN, keep_results=True) as client:
            video = sb.samples["video"]
            requests = [
                {"video_url": video, "audio_url": sb.samples[audio], "key": key, "labels": labels}
                for key, (audio, labels) in ITEMS.items()
            ]
            result = client.lip_sync.create_many(requests, progress=False)
            tasks = client.lip_sync.wait_many(result, timeout=120, progress=False)
            assert [task.status for task in tasks] == ["succeeded", "succeeded"], tasks
            report = result.export(tmp_path / "report", title="Export report test")
        origin = urlsplit(sb.samples["video"]).netloc
    return [task.task_id for task in tasks], report, origin


def assert_server_is_gone(netloc: str) -> None:
    host, port = netloc.rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


def assert_manifests(report: ExportReport, task_ids: list[str]) -> list[dict[str, Any]]:
    rows = json.loads(report.manifest_json.read_text(encoding="utf-8"))["tasks"]
    with report.manifest_csv.open(newline="", encoding="utf-8") as stream:
        csv_rows = list(csv.DictReader(stream))
    assert [row["task_id"] for row in rows] == [row["task_id"] for row in csv_rows] == task_ids
    for row, csv_row, (key, (audio, labels)) in zip(rows, csv_rows, ITEMS.items(), strict=True):
        assert (row["key"], row["labels"], row["status"]) == (key, labels, "succeeded")
        assert (csv_row["key"], csv_row["labels"]) == (key, "; ".join(labels))
        assert row["audio_url"].endswith("/" + SAMPLES[audio]["file"])
        for name in ("local_path", "poster"):
            assert row[name] == (csv_row[name] or None)
        video = report.folder / row["local_path"]
        assert not Path(row["local_path"]).is_absolute() and video.parent.name == "videos"
        assert video.is_file() and video.stat().st_size > 1000
        if row["poster"] is not None:
            assert (report.folder / row["poster"]).stat().st_size > 0
    return list(rows)


def test_the_exported_report_plays_from_disk_with_no_server(
    tmp_path: Path, lab_page: Any, console_errors: list[str]
) -> None:
    task_ids, report, origin = export_a_finished_batch(tmp_path)
    assert_server_is_gone(origin)
    assert (report.videos, len(report.rows)) == (2, 2), report
    rows = assert_manifests(report, task_ids)

    requested: list[str] = []
    lab_page.on("request", lambda request: requested.append(request.url))
    lab_page.goto(report.index_html.as_uri())

    for row, (key, (audio, labels)) in zip(rows, ITEMS.items(), strict=True):
        card = lab_page.locator(f'.card[data-task-id="{row["task_id"]}"]')
        assert card.locator(".key").inner_text() == key
        assert card.locator(".label").all_inner_texts() == labels
        video = card.locator("video")
        assert video.get_attribute("src") == row["local_path"]  # relative: the folder can move
        info = check_video_plays(
            lab_page,
            video,
            duration=SAMPLES[audio]["durationSeconds"],
            tolerance=DURATION_TOLERANCE,
        )
        assert info["width"] > 0 and info["currentTime"] > 0.2, info
        if row["poster"] is None:
            assert video.get_attribute("poster") is None
            continue
        assert video.get_attribute("poster") == row["poster"]
        poster_url = video.evaluate("v => v.poster")
        assert lab_page.evaluate(LOAD_IMAGE, poster_url) > 0

    assert requested, "the page made no request at all"
    assert all(url.startswith("file://") for url in requested), requested
    assert {url.rsplit("/", 1)[-1] for url in requested} >= {
        Path(row["local_path"]).name for row in rows
    }
    assert console_errors == []
