"""`make demo` opens the quickstart notebook, and leaves the tracked notebooks alone.

The real Makefile target runs (its venv step skipped: this interpreter's environment is
the venv), with a hermetic Jupyter config that gives the server, as its "web browser", a
script that records the URL the server asks to open. That URL, and the one the server
prints for a machine where no browser opens (a container, a remote host), are opened in
headless Chromium: what a user sees after `make demo`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browser import lab

ROOT = lab.REPO_ROOT
QUICKSTART_TITLE = "Quickstart: your first lip-sync task"


def tracked_notebooks_state() -> str:
    """`git status` of the tracked notebooks (empty: unchanged)."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "notebooks"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout if found.returncode == 0 else ""


def start_demo(tmp: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """`make demo` in its own process group; returns it, the recorded-URL file and the log."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    home, opened = tmp / "home", tmp / "opened.txt"
    env = lab.lab_environment(home)
    recorder = tmp / "record-url.sh"
    recorder.write_text(
        f'#!/bin/sh\nprintf "%s" "$1" > "{opened}.part" && mv "{opened}.part" "{opened}"\n'
    )
    recorder.chmod(0o755)
    settings = tmp / "user-settings"
    for rel, data in lab.LAB_USER_SETTINGS.items():  # autosave off, no news popup
        lab._write_json(settings / rel, data)
    config = {
        **lab.LAB_SERVER_CONFIG,
        "ServerApp": {"ip": "127.0.0.1", "port_retries": 0, "browser": f"{recorder} %s"},
        "LabApp": {
            **lab.LAB_SERVER_CONFIG["LabApp"],
            "user_settings_dir": str(settings),
            "workspaces_dir": str(tmp / "workspaces"),
        },
    }
    lab._write_json(Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json", config)
    stamp = Path(sys.prefix) / ".installed-stamp"
    command = [
        "make", "--no-print-directory", "-o", str(stamp), "demo",
        f"VENV={sys.prefix}", f"PORT={lab.free_port()}", f"DEMO_DIR={tmp / 'demo'}",
    ]  # fmt: skip
    log = tmp / "demo.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, opened, log


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def printed_url(log: Path) -> str | None:
    """The URL with its token the server prints for the user to open."""
    found = re.search(r"http://127\.0\.0\.1:\d+/\S*\?token=\w+", log.read_text(errors="replace"))
    return found.group(0) if found else None


def check_quickstart_shown(page: Any) -> None:
    from playwright.sync_api import expect

    page.wait_for_function(
        """() => {
          const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
          return !!(w && w.context && w.context.isReady);
        }""",
        timeout=lab.KERNEL_IDLE_TIMEOUT_MS,
    )
    path = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
    assert path == "01_quickstart.ipynb", page.url
    title = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown h1")
    expect(title.first).to_contain_text(QUICKSTART_TITLE)  # rendered, as a user sees it
    assert page.locator(".jp-Launcher:visible").count() == 0
    lab.wait_for_kernel_idle(page)


def test_make_demo_opens_the_quickstart_and_works_on_copies(browser: Any, tmp_path: Path) -> None:
    before = tracked_notebooks_state()
    process, opened, log = start_demo(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        opened_url = lab.poll(
            lambda: opened.read_text() if opened.exists() else process.poll() is not None,
            timeout=lab.SERVER_START_TIMEOUT,
            message="the demo's server to open a browser",
        )
        assert isinstance(opened_url, str), f"make demo ended:\n{log.read_text()[-3000:]}"
        shown_url = lab.poll(lambda: printed_url(log), message="the demo's URL in its log")
        # The printed link first: a page opened before would leave its tabs in the lab's
        # workspace, and a later page restores them.
        for url in (shown_url, opened_url):
            page = context.new_page()
            page.goto(url, timeout=lab.KERNEL_IDLE_TIMEOUT_MS)
            check_quickstart_shown(page)
            page.close()
    finally:
        context.close()
        stop(process)
    copies = sorted(p.name for p in (tmp_path / "demo").glob("*.ipynb"))
    assert copies == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert tracked_notebooks_state() == before
