"""The Voila app (notebooks/02_panel.ipynb) in a real Chromium, Binder-like.

`voila notebooks/02_panel.ipynb` runs on 127.0.0.1 (a free port, no browser,
a hermetic environment without any KITTA_* variable, so the kernel starts
its own embedded sandbox). The browser may talk to Voila's port only: every
other request is aborted by `page.route`, as on Binder, where the browser
cannot reach a server started inside the kernel. The test clicks "Use
samples" and "Submit" like a user, waits for the task to succeed, and checks
that the result video really decodes and plays (it comes to the browser as
bytes through the kernel, not from the sandbox's URL). "Save video file" then
gives the user a browser download of the video, not a path on the server.

The same Binder-like block is then applied to JupyterLab (what Binder's
`?urlpath=lab/tree/...` opens): the quickstart notebook runs top to bottom and
the task card's result video, embedded by the display code as a data URL,
plays although the sandbox's port is unreachable.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.lab import (
    REPO_ROOT,
    BrowserTestError,
    LabServer,
    cell_states,
    cell_text,
    check_video_plays,
    free_port,
    lab_environment,
    run_all_cells,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = REPO_ROOT / "notebooks" / "02_panel.ipynb"
TIME_SCALE = "0.3"  # "processing" lasts about a second: long enough to be seen, short for a test
START_TIMEOUT = 60.0
PAGE_TIMEOUT_MS = 120_000  # Voila answers the page once the notebook has run in a new kernel
STATUS_TIMEOUT_MS = 60_000


@dataclass
class VoilaServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def _wait_until_serving(server: VoilaServer, timeout: float) -> None:
    """Until Voila answers a cheap static file (the page itself would start a kernel)."""
    deadline = time.monotonic() + timeout
    probe = f"{server.url}voila/static/voila.js"
    last: object = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BrowserTestError(
                f"voila exited with code {server.process.returncode}:\n{server.log_tail(80)}"
            )
        try:
            with urllib.request.urlopen(probe, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return  # it answers: good enough
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise BrowserTestError(
        f"voila did not answer within {timeout:.0f} s ({last!r}):\n{server.log_tail(80)}"
    )


@pytest.fixture(scope="module")
def voila_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoilaServer]:
    try:
        import voila  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"voila must be installed in CI: {exc}", pytrace=False)
        pytest.skip(f"voila is not installed ({exc}); pip install voila")
    base = tmp_path_factory.mktemp("voila")
    home = base / "home"
    env = lab_environment(
        home,
        {
            "KITTA_SANDBOX_TIME_SCALE": TIME_SCALE,
            "KITTA_HOME": str(base / "kitta-home"),
        },
    )
    port = free_port()
    log_path = base / "voila.log"
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(NOTEBOOK),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--show_tracebacks=True",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd,
            cwd=base,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kernel goes with it
        )
    server = VoilaServer(process, port, log_path)
    try:
        _wait_until_serving(server, START_TIMEOUT)
        yield server
    finally:
        server.stop()


def _only_port(port: int, blocked: list[str]) -> Any:
    """A route handler that lets through requests to 127.0.0.1:`port` only (Binder-like)."""

    def handle(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and (
            parts.hostname == "127.0.0.1" and parts.port == port
        ):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("blockedbyclient")

    return handle


def test_voila_panel_submits_and_plays_with_only_voila_reachable(
    voila_server: VoilaServer,
    lab_page: Any,
    console_errors: list[str],
    dialog_guard: Any,
) -> None:
    from playwright.sync_api import expect

    page = lab_page
    blocked: list[str] = []
    page.context.route("**/*", _only_port(voila_server.port, blocked))
    try:
        page.goto(voila_server.url, timeout=PAGE_TIMEOUT_MS, wait_until="domcontentloaded")
        panel = page.locator(".kitta-panel")
        expect(panel).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    except Exception:
        print(f"--- voila log ---\n{voila_server.log_tail(80)}\nblocked: {blocked}")
        raise

    # Voila shows just the panel: no code, and none of the notebook's prose cells.
    expect(page.locator(".jp-InputArea-editor")).to_have_count(0)
    body = page.locator("body")
    expect(body).not_to_contain_text("What you will do")
    expect(body).not_to_contain_text("中文摘要")
    expect(body).not_to_contain_text("Next:")
    expect(panel.locator(".kitta-sandbox-badge")).to_be_visible(timeout=30_000)

    samples = panel.locator("button.kitta-samples")
    expect(samples).to_be_visible(timeout=30_000)
    samples.click()
    expect(panel.locator(".kitta-estimate")).to_contain_text("Estimated charge", timeout=15_000)

    # The sample URLs point at the sandbox inside the kernel, on another port: the
    # browser must not be able to reach it (that is what makes this Binder-like).
    sample_url = page.evaluate(
        """() => [...document.querySelectorAll('.kitta-panel input')]
                 .map(i => i.value).find(v => v.startsWith('http://')) || null"""
    )
    assert sample_url, "Use samples filled no URL"
    sandbox_port = urlsplit(sample_url).port
    assert sandbox_port is not None and sandbox_port != voila_server.port, sample_url
    reached = page.evaluate("u => fetch(u).then(() => 'reached', () => 'blocked')", sample_url)
    assert reached == "blocked", f"the browser could reach the sandbox at {sample_url}"

    panel.locator("button.kitta-submit").click()
    card = panel.locator(".kitta-card").first
    status = card.locator(".kitta-status-text")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=STATUS_TIMEOUT_MS)

    video = card.locator("video")
    expect(video).to_have_count(1, timeout=30_000)
    source = video.evaluate("v => v.currentSrc || v.src")
    assert source.startswith("blob:"), f"the video should play from kernel bytes, not {source!r}"
    info = check_video_plays(page, video, timeout_ms=30_000)
    assert info["readyState"] >= 2 and info["currentTime"] > 0, info
    assert info["width"] > 0 and info["height"] > 0, info

    # "Save video file" hands the video to the browser (a download), never a server path,
    # in one click: the link is ready in the button's place once the task succeeded.
    link = card.locator("a.kitta-browser-download")
    expect(link).to_be_visible(timeout=30_000)
    expect(link).to_have_text("⤓ Save video file")
    expect(card.locator("button.kitta-save")).to_be_hidden()
    with page.expect_download(timeout=30_000) as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".mp4"), download.suggested_filename
    saved = Path(download.path())
    assert saved.read_bytes()[4:8] == b"ftyp", "the browser download is not the MP4 video"
    expect(card).not_to_contain_text("Saved to")

    to_sandbox = [u for u in blocked if urlsplit(u).port == sandbox_port]
    assert to_sandbox == [sample_url], f"the page tried to load media from the sandbox: {blocked}"
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors


# --------------------------------------------------------------------------
# The same block in JupyterLab: the display code's data-URL video
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jupyter_lab(lab_factory: Callable[..., LabServer]) -> Iterator[LabServer]:
    """A lab whose kernels start their own sandbox (no token), sped up."""
    lab = lab_factory(
        env={"KITTA_API_TOKEN": None, "KITTA_BASE_URL": None, "KITTA_SANDBOX_TIME_SCALE": "0.2"}
    )
    yield lab
    lab.stop()


def test_lab_quickstart_video_plays_with_only_the_lab_reachable(
    jupyter_lab: LabServer,
    lab_page: Any,
    open_notebook: Callable[..., Any],
    console_errors: list[str],
) -> None:
    from playwright.sync_api import expect

    blocked: list[str] = []
    lab_page.context.route("**/*", _only_port(jupyter_lab.port, blocked))
    page = open_notebook(REPO_ROOT / "notebooks" / "01_quickstart.ipynb")
    run_all_cells(page, timeout_ms=120_000)

    # The sandbox serves the sample media on another port, which the page cannot reach.
    outputs = " ".join(
        cell_text(page, i) for i, s in enumerate(cell_states(page)) if s["type"] == "code"
    )
    found = re.search(r"http://127\.0\.0\.1:(\d+)/samples/[\w.-]+", outputs)
    assert found and int(found.group(1)) != jupyter_lab.port, outputs[:500]
    reached = page.evaluate("u => fetch(u).then(() => 'reached', () => 'blocked')", found[0])
    assert reached == "blocked", f"the browser could reach the sandbox at {found[0]}"
    blocked.remove(found[0])

    # The finished task's card (the last `task` output) embeds its video as a data URL.
    video = page.locator(".jp-OutputArea-output video[src^='data:video/mp4']").last
    expect(video).to_be_attached(timeout=30_000)
    info = check_video_plays(page, video, timeout_ms=30_000)
    assert info["readyState"] >= 2 and info["currentTime"] > 0, info
    loopback = [u for u in blocked if urlsplit(u).hostname in ("127.0.0.1", "localhost")]
    assert not loopback, f"the page tried to reach another local port: {loopback}"
    assert not [e for e in console_errors if e.startswith("pageerror")], console_errors
