"""LipSyncPanel and task.watch() in a real JupyterLab, in a real Chromium.

The kernel starts its own sandbox through `connect()` (no token in the lab's
environment), sped up with KITTA_SANDBOX_TIME_SCALE. The tests click like a
user, watch the status move live, and check that the result video decodes
and plays. With KITTA_UPDATE_DOCS=1 they refresh the screenshots used by the
docs (docs/panel.png, docs/watch.png).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import (
    LabServer,
    check_video_plays,
    docs_shot,
    output_area,
    run_all_cells,
    wait_for_idle,
)

pytestmark = pytest.mark.browser

# Slow enough that "processing" lasts a few polls, fast enough for a test.
TIME_SCALE = "0.5"
STATUS_TIMEOUT_MS = 60_000


def sample_audio_seconds() -> float:
    """The length of the sandbox's sample speech (its manifest), which the result follows."""
    from kitta_notebook.sandbox.server import SAMPLES_DIR

    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    return float(manifest["audio"]["durationSeconds"])


def zh_audio_seconds() -> float:
    """The length of the sandbox's Chinese sample speech (its manifest)."""
    from kitta_notebook.sandbox.server import SAMPLES_DIR

    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    return float(manifest["audio_zh"]["durationSeconds"])


@pytest.fixture(scope="module")
def jupyter_lab(lab_factory: Callable[..., LabServer]) -> Iterator[LabServer]:
    lab = lab_factory(
        env={
            "KITTA_API_TOKEN": None,
            "KITTA_BASE_URL": None,
            "KITTA_SANDBOX_TIME_SCALE": TIME_SCALE,
        }
    )
    yield lab
    lab.stop()


def _save_shot(page: Any, locator: Any, path: Path) -> None:
    """A PNG of one element; the viewport grows first so the lab does not clip it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = int(locator.evaluate("e => e.getBoundingClientRect().height"))
    page.set_viewport_size({"width": 1280, "height": max(900, height + 400)})
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path), animations="disabled", timeout=30_000)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, path


def test_panel_submit_samples_plays_the_result(
    open_notebook: Callable[..., Any],
    console_errors: list[str],
    dialog_guard: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    page = open_notebook("panel_lipsync.ipynb")
    run_all_cells(page)
    panel = page.locator(".kitta-panel")
    expect(panel).to_be_visible(timeout=30_000)

    # "Use samples" shows once the panel has read the sandbox's OpenAPI document.
    samples = panel.locator("button.kitta-samples")
    expect(samples).to_be_visible(timeout=30_000)
    expect(panel.locator(".kitta-sandbox-badge")).to_be_visible()
    samples.click()
    expect(panel.locator(".kitta-estimate")).to_contain_text("Estimated charge", timeout=15_000)
    wait_for_idle(page)

    # Only the models this account may use are offered (the sandbox's usage says so).
    options = panel.locator("select option").all_inner_texts()
    assert "kitta-lip-sync-v1" in options and "kitta-lip-sync-pro" not in options, options

    # An impatient double click creates one task: Submit is disabled while in flight.
    panel.locator("button.kitta-submit").dblclick()
    card = panel.locator(".kitta-card").first
    status = card.locator(".kitta-status-text")
    expect(status).to_have_attribute("data-status", "processing", timeout=STATUS_TIMEOUT_MS)
    expect(card.locator(".kitta-spinner")).to_be_attached()
    wait_for_idle(page)  # the kernel is free while the task runs
    expect(status).to_have_attribute("data-status", "succeeded", timeout=STATUS_TIMEOUT_MS)
    expect(status).to_have_text("Done")
    expect(card.locator(".kitta-spinner")).to_have_count(0)

    video = card.locator("video")
    expect(video).to_have_count(1, timeout=30_000)
    info = check_video_plays(page, video, duration=sample_audio_seconds(), tolerance=0.5)
    assert info["readyState"] >= 2 and info["currentTime"] > 0, info
    assert info["width"] > 0 and info["height"] > 0, info
    expect(card.locator("button.kitta-save")).to_be_visible()
    expect(card).to_contain_text("Credits charged")
    expect(panel.locator(".kitta-card")).to_have_count(1)

    page.evaluate("() => document.querySelectorAll('.kitta-card video').forEach(v => v.pause())")
    _save_shot(page, panel, docs_shot("panel.png", tmp_path))
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors


def test_watch_shows_progress_and_ends_with_a_playable_video(
    open_notebook: Callable[..., Any],
    console_errors: list[str],
    dialog_guard: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    page = open_notebook("panel_watch.ipynb")
    run_all_cells(page)
    view = output_area(page, 2).locator(".kitta-task")
    badge = view.locator(".kitta-badge")
    seen: list[str] = []

    def status_is(name: str) -> None:
        expect(badge).to_have_attribute("data-status", name, timeout=STATUS_TIMEOUT_MS)
        seen.append(name)

    status_is("processing")
    expect(view.locator(".kitta-note")).to_contain_text("live")
    wait_for_idle(page)  # the cell has returned; the view goes on updating
    status_is("succeeded")
    assert seen == ["processing", "succeeded"]

    video = view.locator("video")
    expect(video).to_have_count(1, timeout=30_000)
    info = check_video_plays(page, video, duration=sample_audio_seconds(), tolerance=0.5)
    assert info["readyState"] >= 2 and info["currentTime"] > 0, info

    _save_shot(page, view, docs_shot("watch.png", tmp_path))
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors


def test_panel_local_files_chosen_in_the_browser_are_checked_and_the_result_plays(
    open_notebook: Callable[..., Any],
    console_errors: list[str],
    dialog_guard: Any,
) -> None:
    """A user fills the samples, then picks a clip and a WAV of their own from disk: each
    is probed (format and size shown, the picker counts it), the duration and estimate
    follow the chosen audio (not the sample's), Submit creates from their bytes, and the
    result plays at the chosen audio's length."""
    from playwright.sync_api import expect

    from kitta_notebook.sandbox.samples import SAMPLES_DIR

    page = open_notebook("panel_lipsync.ipynb")
    run_all_cells(page)
    panel = page.locator(".kitta-panel")
    expect(panel.locator(".kitta-sandbox-badge")).to_be_visible(timeout=30_000)
    wait_for_idle(page)
    panel.locator("button.kitta-samples").click()
    duration = panel.locator(".kitta-duration input")
    expect(duration).to_have_value(f"{round(sample_audio_seconds(), 2):g}", timeout=15_000)

    chosen = {
        "video": (SAMPLES_DIR / "video.mp4", "MP4 video · 3.5 s · 320×240 · 32.1 kB"),
        "audio": (SAMPLES_DIR / "speech-zh.wav", "WAV audio · 4.4 s · 139.7 kB"),
    }
    for kind, (path, label) in chosen.items():
        # The picker's <input type=file> is not in the DOM: the button opens the chooser.
        button = panel.locator(f"button.kitta-upload-{kind}")
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(path))
        facts = panel.locator(f'.kitta-media-facts[data-field="{kind}_url"]')
        expect(facts).to_contain_text(f"Local file: {path.name} · {label}", timeout=30_000)
        expect(button).to_have_text("Choose file (1)")
    chosen_seconds = zh_audio_seconds()
    expect(duration).to_have_value(f"{round(chosen_seconds, 2):g}", timeout=15_000)
    expect(panel.locator(".kitta-estimate")).to_contain_text("Estimated charge")
    expect(panel.locator(".kitta-media-problem")).to_have_count(0)

    submit = panel.locator("button.kitta-submit")
    expect(submit).to_be_enabled()
    submit.click()
    card = panel.locator(".kitta-card").first
    status = card.locator(".kitta-status-text")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=STATUS_TIMEOUT_MS)
    video = card.locator("video")
    expect(video).to_have_count(1, timeout=30_000)
    info = check_video_plays(page, video, duration=chosen_seconds, tolerance=0.5)
    assert info["readyState"] >= 2 and info["currentTime"] > 0, info
    expect(panel.locator(".kitta-card")).to_have_count(1)
    from kitta_notebook.sandbox import estimate_credits

    charged = estimate_credits("kitta-lip-sync-v1", chosen_seconds)  # not the sample's 429
    expect(card).to_contain_text(f"{charged:,}")
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
