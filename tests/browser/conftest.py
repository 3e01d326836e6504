"""Fixtures for real-browser tests: a real JupyterLab driven by a real Chromium.

Fixtures (see ``lab.py`` for the helpers they use):

* ``jupyter_lab`` (session): a :class:`lab.LabServer` with the default,
  hermetic environment. Override it in a test module to give the kernels
  another environment::

      @pytest.fixture(scope="module")
      def jupyter_lab(lab_factory):
          lab = lab_factory(env={"KITTA_API_TOKEN": None, "KITTA_BASE_URL": url})
          yield lab
          lab.stop()

* ``lab_factory`` (session): ``lab_factory(env=None, settings=None,
  frontend="lab") -> LabServer``; ``frontend="notebook"`` starts Jupyter
  Notebook 7 instead (``open_notebook`` then opens ``/notebooks/<path>``).
  Every server it starts is stopped at the end of the session (or earlier with
  ``lab.stop()``). Kernels inherit the lab's environment; ``None`` unsets.
* ``browser`` (session): Playwright Chromium (``/usr/bin/chromium`` or
  ``chromium`` on PATH).
* ``lab_page`` (function): a fresh browser context + page. Console errors and
  JS dialogs on it are recorded (``console_errors``, ``dialog_guard``).
* ``open_notebook`` (function): ``open_notebook(notebook, *, name=None,
  files=None, lab=None) -> Page`` copies the notebook into the lab root,
  opens it in ``lab_page`` and waits for "Python 3 (ipykernel) | Idle".
* ``console_errors`` (function): list of console errors / page exceptions.
* ``dialog_guard`` (function): fails the test if an alert/confirm/prompt opened.
* ``sample_mp4`` (session): a 2 s 320x240 H.264 + AAC test clip (``Path``).

Skip policy: without playwright or Chromium the tests are skipped, unless
the environment variable ``CI`` is ``true``: then they fail.

On failure, a screenshot, the console errors and the server log tail are
written to the test's output (and ``KITTA_BROWSER_ARTIFACTS`` if set).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser import lab as labmod
from tests.browser.lab import DialogGuard, LabServer

HERE = Path(__file__).resolve().parent


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _skip_or_fail(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"browser tests must run in CI (CI=true) but cannot: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"_kitta_rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(
        getattr(getattr(node, f"_kitta_rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


# --------------------------------------------------------------------------
# JupyterLab
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lab_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LabServer]]:
    """Start JupyterLabs: ``lab_factory(env=None, settings=None) -> LabServer``."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError as exc:
        _skip_or_fail(f"jupyterlab is not importable ({exc})")
    started: list[LabServer] = []

    def factory(
        env: Mapping[str, str | None] | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        timeout: float = labmod.SERVER_START_TIMEOUT,
        frontend: str = "lab",
    ) -> LabServer:
        if frontend == "notebook":
            try:
                import notebook  # noqa: F401
            except ImportError as exc:
                _skip_or_fail(f"notebook (Jupyter Notebook 7) is not importable ({exc})")
        base = tmp_path_factory.mktemp("lab")
        server = labmod.launch_lab(
            base, env=env, settings=settings, timeout=timeout, frontend=frontend
        )
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def jupyter_lab(lab_factory: Callable[..., LabServer]) -> LabServer:
    """The shared JupyterLab (default hermetic environment)."""
    return lab_factory()


# --------------------------------------------------------------------------
# Browser
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Playwright's Chromium (sync API), launched once per session."""
    reason = labmod.missing_browser_deps()
    if reason:
        _skip_or_fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = labmod.launch_browser(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s 320x240 H.264 + AAC MP4 (test pattern + 440 Hz tone), made once."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError as exc:
        _skip_or_fail(f"imageio-ffmpeg is not importable ({exc}); pip install imageio-ffmpeg")
    return labmod.make_test_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=2.0)


@dataclass
class LabSession:
    """One test's page plus what was recorded on it."""

    page: Any
    console_errors: list[str]
    dialogs: DialogGuard
    labs: list[LabServer] = field(default_factory=list)
    notebooks: list[tuple[LabServer, str]] = field(default_factory=list)


def _artifact_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = os.environ.get("KITTA_BROWSER_ARTIFACTS")
    if not root:
        return tmp_path
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
    path = Path(root) / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def lab_session(
    browser: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[LabSession]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    session = LabSession(page, labmod.collect_console_errors(page), labmod.dialog_guard(page))
    try:
        yield session
    finally:
        if _failed(request):
            _report_failure(session, _artifact_dir(request, tmp_path))
        elif session.dialogs.dialogs:
            print(f"JS dialogs seen: {session.dialogs.dialogs}")
        context.close()
        for server, path in session.notebooks:
            if server.is_running():
                server.shutdown_sessions(path)


def _report_failure(session: LabSession, out_dir: Path) -> None:
    lines = ["", "=== browser test failure diagnostics ==="]
    try:
        shot = labmod.screenshot(session.page, out_dir / "failure.png")
        lines.append(f"screenshot: {shot}")
        lines.append(f"kernel status bar: {labmod.kernel_status_text(session.page)!r}")
    except Exception as exc:
        lines.append(f"(no screenshot: {exc!r})")
    lines.append(f"page url: {session.page.url}")
    lines.append(f"console errors: {session.console_errors or 'none'}")
    lines.append(f"JS dialogs: {session.dialogs.dialogs or 'none'}")
    for server in dict.fromkeys(session.labs):
        lines.append(f"--- JupyterLab log ({server.log_path}), last lines ---")
        lines.append(server.log_tail(60))
    text = "\n".join(lines)
    (out_dir / "diagnostics.txt").write_text(text)
    print(text)


@pytest.fixture
def lab_page(lab_session: LabSession) -> Any:
    """A fresh Playwright page (own browser context) for this test."""
    return lab_session.page


@pytest.fixture
def console_errors(lab_session: LabSession) -> list[str]:
    """Console errors and uncaught exceptions of ``lab_page`` (fills up live)."""
    return lab_session.console_errors


@pytest.fixture
def dialog_guard(lab_session: LabSession) -> Iterator[DialogGuard]:
    """Fail the test if ``lab_page`` opened any alert/confirm/prompt."""
    yield lab_session.dialogs
    lab_session.dialogs.check()


@pytest.fixture
def open_notebook(lab_session: LabSession, jupyter_lab: LabServer) -> Callable[..., Any]:
    """``open_notebook(notebook, *, name=None, files=None, lab=None, wait_kernel=True) -> Page``.

    ``notebook``: a path, or a file name in ``tests/browser/notebooks``.
    ``files``: ``{dest name: source path}`` copied next to it first.
    ``lab``: another :class:`lab.LabServer` (default: ``jupyter_lab``).
    """

    def _open(
        notebook: str | os.PathLike[str],
        *,
        name: str | None = None,
        files: Mapping[str, str | os.PathLike[str]] | None = None,
        lab: LabServer | None = None,
        wait_kernel: bool = True,
        timeout_ms: float = labmod.KERNEL_IDLE_TIMEOUT_MS,
    ) -> Any:
        server = lab or jupyter_lab
        session_labs = lab_session.labs
        if server not in session_labs:
            session_labs.append(server)
        rel = name or Path(notebook).name
        lab_session.notebooks.append((server, rel))
        return labmod.open_notebook(
            lab_session.page,
            server,
            notebook,
            name=name,
            files=files,
            wait_kernel=wait_kernel,
            timeout_ms=timeout_ms,
        )

    return _open
