"""End-to-end check of the browser harness: widgets, live async updates, video."""

from __future__ import annotations

import pytest

from tests.browser import lab
from tests.browser.lab import (
    KERNEL_IDLE_TEXT,
    check_video_plays,
    kernel_status_text,
    run_all_cells,
    screenshot,
    wait_for_idle,
)

pytestmark = pytest.mark.browser


def test_widgets_async_and_video(open_notebook, sample_mp4, tmp_path, console_errors, dialog_guard):
    from playwright.sync_api import expect

    page = open_notebook("harness_check.ipynb", files={"harness_clip.mp4": sample_mp4})
    assert kernel_status_text(page) == KERNEL_IDLE_TEXT
    states = run_all_cells(page)
    assert [s["executionCount"] for s in states if s["type"] == "code"] == [1, 2, 3]

    # A Python on_click handler updates a Label.
    label = page.locator(".harness-label")
    expect(label).to_have_text("not clicked", timeout=15_000)
    page.locator("button.harness-button").click()
    expect(label).to_have_text("clicked 1 time(s)", timeout=15_000)
    page.locator("button.harness-button").click()
    expect(label).to_have_text("clicked 2 time(s)", timeout=15_000)

    # A task from asyncio.ensure_future in a click handler updates the page
    # live, while the kernel is idle (the handler returned long ago).
    status = page.locator(".harness-status")
    expect(status).to_have_text("async: waiting", timeout=15_000)
    page.locator("button.harness-start").click()
    expect(status).to_have_text("async: running", timeout=15_000)
    wait_for_idle(page)
    expect(status).to_have_text("async: running")
    page.locator("button.harness-finish").click()
    expect(status).to_have_text("async: done", timeout=15_000)

    # Both video paths play: the widget (Blob URL) and raw HTML (data URL),
    # with picture and AAC sound decoded.
    for selector in ("video.harness-video-widget", "video.harness-video-html"):
        info = check_video_plays(page, selector, duration=2.0)
        assert (info["width"], info["height"]) == (320, 240), info
        assert info["audioBytes"] > 0, f"{selector}: AAC audio not decoded: {info}"

    shot = screenshot(page, tmp_path / "harness.png")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000

    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors


def test_harness_reports_errors_and_dialogs(open_notebook, jupyter_lab):
    """Cell exceptions surface with their traceback; JS dialogs are caught."""
    page = open_notebook("harness_errors.ipynb")
    guard = lab.dialog_guard(page)
    with pytest.raises(lab.BrowserTestError, match="ValueError: harness boom"):
        run_all_cells(page)
    states = run_all_cells(page, raise_on_error=False)
    assert states[1]["errors"]  # the error surfaces again, without raising
    lab.poll(lambda: guard.dialogs, timeout=10, message="alert() was not seen")
    assert guard.dialogs[0] == "alert: 'harness-alert'"
    with pytest.raises(lab.BrowserTestError, match="unexpected JavaScript dialog"):
        guard.check()
    # The kernel runs now; the open_notebook fixture shuts it down afterwards.
    assert any(s["path"] == "harness_errors.ipynb" for s in jupyter_lab.api("/api/sessions"))
