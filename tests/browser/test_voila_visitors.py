"""The Voila app served to others, in real Chromium browsers, against a token account.

A sandbox with two accounts (the operator's and a visitor's) runs in this
process on 127.0.0.1 and plays "the real service": Voila is started as the
README says, with ``KITTA_API_TOKEN`` (the operator's) and ``KITTA_BASE_URL``
in its environment. The browsers may reach Voila's port only.

* Without opt-in, every visitor is asked for their own token: a submission
  without one, or with a token the service refuses, creates nothing; with
  their own, the visitor's account pays and the operator's never does. The
  operator's token never reaches a browser; the visitor's is written to no
  log, no file of the server and not to the notebook.
* With ``KITTA_SHARE_SERVER_TOKEN=1``, two browsers at once each stop at
  their session's cap, and the operator's account pays exactly their tasks.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kitta_notebook.sandbox import Sandbox, estimate_credits
from tests.browser.lab import free_port, lab_environment
from tests.browser.test_voila import (
    NOTEBOOK,
    PAGE_TIMEOUT_MS,
    START_TIMEOUT,
    STATUS_TIMEOUT_MS,
    VoilaServer,
    _only_port,
    _wait_until_serving,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATOR = "operator-token-do-not-share-31337"
VISITOR = "visitor-own-token-27182"
BAD = "pasted-wrong-token-16180"
OPERATOR_CREDITS = 1_000_000
SAMPLE_COST = estimate_credits("kitta-lip-sync-v1", 4.29)  # the sample speech
CAP = 600  # one sample task fits (429), a second does not


@pytest.fixture(scope="module")
def account_sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts={OPERATOR: OPERATOR_CREDITS, VISITOR: 50_000}, time_scale=0.3) as sb:
        yield sb


@pytest.fixture(scope="module")
def start_voila(
    tmp_path_factory: pytest.TempPathFactory, account_sandbox: Sandbox
) -> Iterator[Callable[..., VoilaServer]]:
    """`start_voila(**env) -> VoilaServer`: the app as the README starts it, stopped at the end."""
    pytest.importorskip("voila")
    started: list[VoilaServer] = []

    def start(**extra: str) -> VoilaServer:
        base = tmp_path_factory.mktemp("voila-visitors")
        env = lab_environment(
            base / "home",
            {
                "KITTA_API_TOKEN": OPERATOR,
                "KITTA_BASE_URL": account_sandbox.base_url,
                "KITTA_HOME": str(base / "kitta-home"),
                **extra,
            },
        )
        port = free_port()
        log_path = base / "voila.log"
        cmd = [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}"]
        cmd += ["--Voila.ip=127.0.0.1", "--Voila.port_retries=0"]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                cmd,
                cwd=base,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = VoilaServer(process, port, log_path)
        started.append(server)
        _wait_until_serving(server, START_TIMEOUT)
        return server

    yield start
    for server in started:
        server.stop()


class Visitor:
    """One browser on the app: its page, and every websocket frame the page received."""

    def __init__(self, context: Any, server: VoilaServer) -> None:
        self.blocked: list[str] = []
        self.received: list[str] = []
        context.route("**/*", _only_port(server.port, self.blocked))
        self.page = context.new_page()
        self.page.on("websocket", self._watch)
        self.server = server

    def _watch(self, socket: Any) -> None:
        socket.on("framereceived", lambda payload: self.received.append(str(payload)))

    def open(self) -> Any:
        from playwright.sync_api import expect

        self.page.goto(self.server.url, timeout=PAGE_TIMEOUT_MS, wait_until="domcontentloaded")
        panel = self.page.locator(".kitta-panel")
        try:
            expect(panel).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        except AssertionError:
            print(f"--- voila log ---\n{self.server.log_tail(80)}\nblocked: {self.blocked}")
            raise
        return panel

    def saw(self, secret: str) -> bool:
        return any(secret in frame for frame in self.received) or secret in self.page.content()


def paste_token(panel: Any, token: str) -> None:
    field = panel.locator(".kitta-token input")
    field.fill(token)
    field.press("Enter")


def test_without_opt_in_each_visitor_pays_with_their_own_token(
    start_voila: Callable[..., VoilaServer],
    account_sandbox: Sandbox,
    browser: Any,
    lab_page: Any,
) -> None:
    from playwright.sync_api import expect

    sb = account_sandbox
    notebook_before = NOTEBOOK.read_bytes()
    server = start_voila()
    creates = sb.stats.creates_accepted
    visitor_credits = sb.balance(VISITOR)
    first = Visitor(lab_page.context, server)
    panel = first.open()

    # Submitting with no token of their own: refused, nothing created on any account.
    panel.locator("input[placeholder='https://example.com/person.mp4']").fill(sb.samples["video"])
    panel.locator("input[placeholder='https://example.com/speech.mp3']").fill(sb.samples["audio"])
    panel.locator(".kitta-duration input").fill("4.29")
    panel.locator("button.kitta-submit").click()
    banner = panel.locator(".kitta-banner")
    expect(banner).to_contain_text("API token", timeout=30_000)
    assert sb.stats.creates_accepted == creates
    assert sb.balance(OPERATOR) == OPERATOR_CREDITS
    line = panel.locator(".kitta-visitor-line")
    expect(line).to_contain_text("your own Kitta API token")
    expect(panel.locator(".kitta-token input")).to_be_visible()

    # A token the service refuses: a clear message, not echoed, nothing created.
    paste_token(panel, BAD)
    expect(banner).to_contain_text("refused this API token", timeout=30_000)
    expect(panel.locator(".kitta-token input")).to_have_value("")
    assert not first.saw(BAD)
    assert sb.stats.creates_accepted == creates
    assert sb.balance(OPERATOR) == OPERATOR_CREDITS

    # A second browser at the same time: asked for its own token too, and sees no task.
    other_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        second = Visitor(other_context, server)
        other = second.open()
        expect(other.locator(".kitta-visitor-line")).to_contain_text("your own Kitta API token")
        expect(other.locator(".kitta-token input")).to_be_visible()

        # The first visitor's own token: their account pays, not the operator's.
        paste_token(panel, VISITOR)
        samples = panel.locator("button.kitta-samples")
        expect(samples).to_be_visible(timeout=30_000)
        samples.click()
        expect(panel.locator(".kitta-estimate")).to_contain_text("Estimated", timeout=30_000)
        panel.locator("button.kitta-submit").click()
        status = panel.locator(".kitta-card .kitta-status-text").first
        expect(status).to_have_attribute("data-status", "succeeded", timeout=STATUS_TIMEOUT_MS)
        assert sb.stats.creates_accepted == creates + 1
        assert sb.balance(VISITOR) == visitor_credits - SAMPLE_COST
        assert sb.balance(OPERATOR) == OPERATOR_CREDITS

        # The second visitor still has no token and sees none of the first one's tasks.
        expect(other.locator(".kitta-card")).to_have_count(0)
        expect(other.locator(".kitta-token input")).to_be_visible()
        for visitor in (first, second):
            assert visitor.received, "no widget message was recorded: nothing was checked"
            assert not visitor.saw(OPERATOR)
        assert not second.saw(VISITOR)
        assert not any(VISITOR in frame for frame in first.received)
    finally:
        other_context.close()

    server.stop()  # its log is complete once the kernels are gone
    assert VISITOR not in server.log_path.read_text(errors="replace")
    assert OPERATOR not in server.log_path.read_text(errors="replace")
    home = server.log_path.parent
    written = [p for p in home.rglob("*") if p.is_file() and VISITOR.encode() in p.read_bytes()]
    assert not written, f"the visitor's token was written to {written}"
    assert NOTEBOOK.read_bytes() == notebook_before


def test_with_opt_in_two_browsers_each_stop_at_their_cap(
    start_voila: Callable[..., VoilaServer],
    account_sandbox: Sandbox,
    browser: Any,
    lab_page: Any,
) -> None:
    from playwright.sync_api import expect

    sb = account_sandbox
    server = start_voila(KITTA_SHARE_SERVER_TOKEN="1", KITTA_VISITOR_MAX_CREDITS=str(CAP))
    creates = sb.stats.creates_accepted
    operator_before = sb.balance(OPERATOR)
    other_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        visitors = [Visitor(lab_page.context, server), Visitor(other_context, server)]
        panels = [visitor.open() for visitor in visitors]
        for panel in panels:
            expect(panel.locator(".kitta-token input")).to_be_hidden()
            samples = panel.locator("button.kitta-samples")
            expect(samples).to_be_visible(timeout=30_000)
            samples.click()
        for panel in panels:  # both at once
            expect(panel.locator(".kitta-estimate")).to_contain_text("Estimated", timeout=30_000)
            panel.locator("button.kitta-submit").click()
        for panel in panels:
            status = panel.locator(".kitta-card .kitta-status-text").first
            expect(status).to_have_attribute("data-status", "succeeded", timeout=STATUS_TIMEOUT_MS)
        for panel in panels:  # a second task would pass each cap: refused, nothing sent
            panel.locator("button.kitta-submit").click()
        for panel in panels:
            banner = panel.locator(".kitta-banner")
            expect(banner).to_contain_text(f"more than the {CAP - SAMPLE_COST} left")
            expect(panel.locator(".kitta-card")).to_have_count(1)  # its own task only
            line = panel.locator(".kitta-visitor-line")
            expect(line).to_contain_text("operator pays")
            expect(line).to_contain_text(f"{CAP} credits: {CAP - SAMPLE_COST} left")
        assert sb.stats.creates_accepted == creates + 2
        spent = operator_before - sb.balance(OPERATOR)
        assert spent == 2 * SAMPLE_COST <= 2 * CAP
        for visitor in visitors:
            assert visitor.received and not visitor.saw(OPERATOR)
    finally:
        other_context.close()
