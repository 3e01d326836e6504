"""The history table's cells: durations to 0.01 s, and every clipped cell readable on hover."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from kitta_notebook.display.history_html import history_html, history_text
from kitta_notebook.history.entry import JournalEntry, JournalSummary
from kitta_notebook.widgets.history import Row, Shared

LONG_LABEL = "campaign-spring everywhere-in-the-north"


def entry(**changes: object) -> JournalEntry:
    base = JournalEntry(
        entry_id="e1",
        task_id="lip_task_0001",
        source="local",
        outcome="created",
        state="succeeded",
        status="succeeded",
        model="kitta-lip-sync-v1",
        input_mode="video",
        video_url="https://media.example/v.mp4",
        image_url=None,
        audio_url="https://media.example/a.wav",
        reference_image_url=None,
        duration_seconds=4.29375,
        credits=429,
        key=None,
        note=None,
        download_path=None,
        labels=(LONG_LABEL, "en"),
        requested_at=datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc),
        created_at=datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc),
        completed_at=None,
        updated_at=None,
        reconciled_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def titles(markup: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'title="([^"]*)"', markup)]


def test_durations_are_rounded_and_clipped_labels_have_a_tooltip() -> None:
    row = Row(Shared(), lambda _row: None)
    row.show(entry(), "en", selected=False)
    assert "4.29 s" in row.rest.value and "4.29375" not in row.rest.value
    assert f"{LONG_LABEL}, en" in titles(row.rest.value)  # the whole labels cell, on hover
    assert "kitta-lip-sync-v1" in titles(row.rest.value)

    summary = JournalSummary(total=1, counts={"succeeded": 1}, credits=429)
    static = history_html([entry()], summary)
    assert "4.29 s" in static and "4.29375" not in static
    assert f"{LONG_LABEL}, en" in titles(static)


def test_a_server_time_outside_utc_range_is_shown_not_raised() -> None:
    """A hostile createdAt (year 1 at +14:00) cannot be converted to UTC: shown as sent."""
    odd = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    summary = JournalSummary(total=1, counts={"succeeded": 1}, credits=429)
    static = history_html([entry(created_at=odd)], summary)
    assert "0001-01-01T00:00" in static
    assert "0001-01-01T00:00" in history_text([entry(created_at=odd)], summary)
