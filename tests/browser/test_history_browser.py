"""The HistoryBrowser in a real JupyterLab: filter to failed, open a card, screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lab import docs_shot, poll, run_all_cells

pytestmark = pytest.mark.browser

TABLE = ".kitta-history-table"


def row_statuses(page: Any) -> list[str]:
    """The status of every row shown, read from the badges' data-status."""
    return list(
        page.eval_on_selector_all(
            f"{TABLE} .kitta-history-badge .kitta-badge",
            "nodes => nodes.map(n => n.getAttribute('data-status'))",
        )
    )


def test_history_browser_filters_and_opens_cards(
    open_notebook: Any, console_errors: list[str], dialog_guard: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = open_notebook("history_browser.ipynb")
    run_all_cells(page, timeout_ms=180_000)
    history = page.locator(".kitta-history").first
    expect(history).to_be_visible(timeout=30_000)

    # Six finished, three failed, one create of unknown outcome.
    poll(lambda: len(row_statuses(page)) == 10, timeout=30, message="ten rows")
    assert sorted(set(row_statuses(page))) == ["failed", "outcome_unknown", "succeeded"]
    expect(history.locator(".kitta-history-page")).to_contain_text("Page 1 of 1")
    expect(history.locator(".kitta-history-summary-box")).to_contain_text("10 tasks")

    # Filter to failed: only the failed rows remain.
    history.locator(".kitta-history-status select").select_option(label="failed")
    poll(
        lambda: row_statuses(page) == ["failed"] * 3,
        timeout=30,
        message=f"only failed rows (got {row_statuses(page)})",
    )
    expect(history.locator(".kitta-history-summary-box")).to_contain_text("3 tasks")

    # Clicking a row opens its card: the task id and the error.
    first = history.locator(f"{TABLE} .kitta-history-open").first
    task_id = first.inner_text().strip()
    assert task_id.startswith("lip_task_")
    first.click()
    card = history.locator(".kitta-history-card")
    expect(card).to_contain_text(task_id, timeout=30_000)
    expect(card.locator(".kitta-error")).to_contain_text("media_invalid")
    expect(card).to_contain_text("not-media.mp4")  # the inputs sent from here

    # Back to every status; a finished task's card plays its video inline.
    history.locator(".kitta-history-status select").select_option(label="All statuses")
    poll(lambda: len(row_statuses(page)) == 10, timeout=30, message="all rows back")
    succeeded = history.locator(f"{TABLE} .kitta-history-badge").filter(
        has=page.locator(".kitta-badge[data-status='succeeded']")
    )
    index = history.locator(f"{TABLE} .kitta-history-badge").evaluate_all(
        "(nodes) => nodes.findIndex(n => n.querySelector(\"[data-status='succeeded']\"))"
    )
    assert succeeded.count() == 6 and index >= 0
    history.locator(f"{TABLE} .kitta-history-open").nth(index).click()
    video = card.locator("video")
    expect(video).to_have_count(1, timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('.kitta-history-card video');"
        " return !!v && v.readyState >= 1 && v.duration > 0; }",
        timeout=30_000,
    )
    # Show a decoded frame (not the black poster) in the screenshot.
    page.evaluate(
        "() => { const v = document.querySelector('.kitta-history-card video');"
        " v.currentTime = Math.min(1.0, v.duration / 2); }"
    )
    page.wait_for_function(
        "() => { const v = document.querySelector('.kitta-history-card video');"
        " return !v.seeking && v.readyState >= 2; }",
        timeout=30_000,
    )

    shot = docs_shot("history.png", tmp_path)
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1500, "height": 2200})  # the whole browser fits
    history.scroll_into_view_if_needed()
    history.screenshot(path=str(shot), animations="disabled")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
