"""Drive a real JupyterLab in a real Chromium (Playwright sync API).

The pytest fixtures in ``conftest.py`` wrap this module; tests can also use it
directly, e.g. to start a second lab with its own environment::

    with start_lab(tmp_path, env={"KITTA_API_TOKEN": None}) as lab:
        page = open_notebook(page, lab, NOTEBOOKS / "x.ipynb")

Design notes (JupyterLab 4.x):

* The lab runs with ``LabApp.expose_app_in_browser`` so ``window.jupyterapp``
  exists; commands (``notebook:run-all-cells``) and the notebook model are used
  through it instead of clicking menus (menus race with the kernel start).
* Every notebook is opened in its own workspace (``/lab/workspaces/<id>/...``),
  so a previous test's tabs are never restored.
* Notebooks are copied into the lab's temporary root: the repository's files
  are never written (autosave is off as well).
* The kernel inherits the lab server's environment; pass ``env`` to
  :func:`start_lab` (``None`` as a value unsets a variable).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # playwright is optional: the conftest skips without it
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Locator, Page, Playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"

#: What the status bar shows for an idle Python kernel in JupyterLab 4.x.
KERNEL_IDLE_TEXT = "Python 3 (ipykernel) | Idle"

#: Chromium flags known to work on this kind of machine (headless, no GPU,
#: no network chatter) plus an autoplay policy that allows ``video.play()``
#: without a user gesture.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)

SERVER_START_TIMEOUT = 60.0
KERNEL_IDLE_TIMEOUT_MS = 60_000
RUN_ALL_TIMEOUT_MS = 60_000

# Settings written into the lab's (temporary) user settings dir.
LAB_USER_SETTINGS: dict[str, dict[str, Any]] = {
    # The news popup covers screenshots and would fetch from the internet.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Never write anything back into a notebook behind the test's back.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # Never store widget state (it could hold secrets) in saved notebooks.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": False},
}

# Server-side config (JSON so that ``null`` is expressible).
LAB_SERVER_CONFIG: dict[str, Any] = {
    "LabApp": {
        "expose_app_in_browser": True,
        "news_url": None,
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
    },
    # Jupyter Notebook 7 (the same shell objects, its own app class).
    "JupyterNotebookApp": {"expose_app_in_browser": True},
    "LanguageServerManager": {"autodetect": False},
}

#: How each frontend is started (``python -m <module>``) and configured (``--<App>.x=``).
FRONTENDS = {"lab": ("jupyterlab", "LabApp"), "notebook": ("notebook", "JupyterNotebookApp")}


class BrowserTestError(AssertionError):
    """Raised when the lab or the page does not reach an expected state."""


# --------------------------------------------------------------------------
# Dependencies / skip policy
# --------------------------------------------------------------------------


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None.

    ``KITTA_CHROMIUM`` overrides; then Debian's ``/usr/bin/chromium``; then
    ``chromium`` / ``chromium-browser`` on PATH.
    """
    override = os.environ.get("KITTA_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    candidates = ["/usr/bin/chromium"]
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def missing_browser_deps() -> str | None:
    """Why browser tests cannot run here, or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not importable ({exc}); pip install playwright"
    if find_chromium() is None:
        return (
            "no Chromium found (/usr/bin/chromium or `chromium` on PATH); "
            "install Debian's chromium: apt-get install chromium"
        )
    return None


# --------------------------------------------------------------------------
# JupyterLab server
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lab_environment(home: Path, extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """A hermetic environment for the lab server and its kernels.

    * Jupyter/IPython config, data and runtime dirs and HOME/XDG dirs point
      into ``home`` (a temp dir), so the user's settings, kernels, stored
      tokens and extensions do not leak in. The venv's kernelspec and lab
      extensions are still found: Jupyter always searches
      ``sys.prefix/share/jupyter``, and kernelspecs whose argv starts with
      ``python`` are launched with the server's ``sys.executable``.
    * Inherited ``KITTA_*`` variables are dropped (never call the real API
      from a browser test by accident); pass them explicitly in ``extra``.
    * The repository root is put first on PYTHONPATH so the kernel imports
      this checkout's ``kitta_notebook`` even when it is not installed.
    * ``extra`` values of ``None`` remove a variable.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITTA_")}
    dirs = {
        "HOME": home,
        "JUPYTER_CONFIG_DIR": home / ".jupyter",
        "JUPYTER_DATA_DIR": home / ".local/share/jupyter",
        "JUPYTER_RUNTIME_DIR": home / ".local/share/jupyter/runtime",
        "IPYTHONDIR": home / ".ipython",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local/share",
        "XDG_CACHE_HOME": home / ".cache",
    }
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[key] = str(path)
    for key in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_PREFER_ENV_PATH"):
        env.pop(key, None)
    pythonpath = [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        pythonpath.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silence a debugpy warning per kernel
    env.pop("BROWSER", None)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


@dataclass(eq=False)
class LabServer:
    """A running JupyterLab. Create with :func:`start_lab`."""

    process: subprocess.Popen[bytes]
    port: int
    token: str = field(repr=False)
    root_dir: Path
    base_dir: Path
    log_path: Path
    env: dict[str, str] = field(repr=False)
    #: ``"lab"`` (JupyterLab) or ``"notebook"`` (Jupyter Notebook 7).
    frontend: str = "lab"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/lab", **params: str) -> str:
        query = "&".join([f"token={self.token}", *(f"{k}={v}" for k, v in params.items())])
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}{query}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def api(self, path: str, method: str = "GET", timeout: float = 10.0) -> Any:
        """Call the REST API (``path`` like ``/api/sessions``); JSON or None."""
        req = urllib.request.Request(
            self.base_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def is_running(self) -> bool:
        return self.process.poll() is None

    def add_file(self, src: str | os.PathLike[str], name: str | None = None) -> str:
        """Copy ``src`` into the lab root; returns its path relative to the root."""
        src = Path(src)
        if not src.is_absolute() and not src.exists():
            src = NOTEBOOKS / src
        if not src.is_file():
            raise FileNotFoundError(src)
        rel = name or src.name
        dest = self.root_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return rel

    def shutdown_sessions(self, path: str | None = None) -> None:
        """Shut down the kernels of notebooks at ``path`` (all if None)."""
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            for session in self.api("/api/sessions"):
                if path is None or session.get("path") == path:
                    with contextlib.suppress(OSError, urllib.error.URLError):
                        self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down kernels, then terminate the server (kill if it hangs)."""
        if self.is_running():
            self.shutdown_sessions()
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                for kernel in self.api("/api/kernels"):
                    self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        if self.is_running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def launch_lab(
    base_dir: Path,
    env: Mapping[str, str | None] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = SERVER_START_TIMEOUT,
    frontend: str = "lab",
) -> LabServer:
    """Start a JupyterLab (or, with ``frontend="notebook"``, a Jupyter Notebook 7)
    under ``base_dir`` and wait until its API answers.

    ``base_dir`` gets ``root/`` (the lab root and kernels' working dir),
    ``user-settings/``, ``workspaces/``, ``home/`` (HOME, Jupyter and IPython
    dirs) and ``jupyterlab.log``. The caller must ``stop()`` the server; see
    :func:`start_lab` for a context manager and :func:`lab_environment` for
    ``env``.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    root_dir = base_dir / "root"
    settings_dir = base_dir / "user-settings"
    workspaces_dir = base_dir / "workspaces"
    home = base_dir / "home"
    for d in (root_dir, settings_dir, workspaces_dir, home):
        d.mkdir(parents=True, exist_ok=True)
    for rel, data in {**LAB_USER_SETTINGS, **(settings or {})}.items():
        _write_json(settings_dir / rel, data)
    full_env = lab_environment(home, env)
    _write_json(
        Path(full_env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json", LAB_SERVER_CONFIG
    )

    port = free_port()
    token = secrets.token_hex(24)
    log_path = base_dir / "jupyterlab.log"
    module, app = FRONTENDS[frontend]
    cmd = [
        sys.executable,
        "-m",
        module,
        "--allow-root",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--{app}.user_settings_dir={settings_dir}",
        f"--{app}.workspaces_dir={workspaces_dir}",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd,
            cwd=root_dir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killable as a whole
        )
    lab = LabServer(process, port, token, root_dir, base_dir, log_path, full_env, frontend)
    try:
        _wait_for_api(lab, timeout)
    except BaseException:
        lab.stop()
        raise
    return lab


def _wait_for_api(lab: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    delay = 0.05
    while time.monotonic() < deadline:
        if not lab.is_running():
            raise BrowserTestError(
                f"JupyterLab exited with code {lab.process.returncode} before answering.\n"
                f"--- server log ---\n{lab.log_tail(200)}"
            )
        try:
            status = lab.api("/api/status", timeout=2.0)
            lab.api("/lab/api/settings", timeout=5.0)  # the lab extension is loaded too
            if isinstance(status, dict):
                return
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last_error = exc
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise BrowserTestError(
        f"JupyterLab did not answer within {timeout:.0f} s (last error: {last_error!r}).\n"
        f"--- server log ---\n{lab.log_tail(200)}"
    )


@contextlib.contextmanager
def start_lab(
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str | None] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = SERVER_START_TIMEOUT,
    frontend: str = "lab",
) -> Iterator[LabServer]:
    """Start a JupyterLab (or Notebook 7) for the duration of the ``with`` block.

    ``env`` is applied on top of the hermetic environment (``None`` unsets);
    the kernels inherit it. ``settings`` maps ``<ext>/<plugin>.jupyterlab-settings``
    paths to extra user settings.
    """
    owned = base_dir is None
    base = Path(tempfile.mkdtemp(prefix="kitta-lab-")) if owned else Path(base_dir)
    lab = launch_lab(base, env=env, settings=settings, timeout=timeout, frontend=frontend)
    try:
        yield lab
    finally:
        lab.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------
# Browser
# --------------------------------------------------------------------------


def launch_browser(playwright: Playwright, executable: str | None = None) -> Browser:
    executable = executable or find_chromium()
    if executable is None:
        raise BrowserTestError(missing_browser_deps() or "no Chromium found")
    return playwright.chromium.launch(
        executable_path=executable,
        headless=True,
        args=list(CHROMIUM_ARGS),
        timeout=60_000,
    )


def collect_console_errors(page: Page) -> list[str]:
    """Start recording console errors and uncaught page exceptions.

    Returns a list that fills up as errors happen.
    """
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            errors.append(
                f"console.error: {msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})"
            )

    def on_page_error(exc: Exception) -> None:
        errors.append(f"pageerror: {exc}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return errors


@dataclass
class DialogGuard:
    """Records (and dismisses) every JS alert/confirm/prompt on a page."""

    dialogs: list[str] = field(default_factory=list)

    def handle(self, dialog: Dialog) -> None:
        if dialog.type == "beforeunload":  # JupyterLab's "leave page?" on navigation
            with contextlib.suppress(Exception):
                dialog.accept()
            return
        self.dialogs.append(f"{dialog.type}: {dialog.message!r}")
        with contextlib.suppress(Exception):
            dialog.dismiss()

    def check(self) -> None:
        if self.dialogs:
            raise BrowserTestError(f"unexpected JavaScript dialog(s) opened: {self.dialogs}")


def dialog_guard(page: Page) -> DialogGuard:
    """Watch ``page`` for alert/confirm/prompt; call ``.check()`` to fail on any."""
    guard = DialogGuard()
    page.on("dialog", guard.handle)
    return guard


def docs_shot(name: str, fallback_dir: Path) -> Path:
    """Where a screenshot for the README goes: `docs/<name>` when KITTA_UPDATE_DOCS=1,
    else `fallback_dir` (so a test run never rewrites tracked files)."""
    if os.environ.get("KITTA_UPDATE_DOCS") == "1":
        return REPO_ROOT / "docs" / name
    return fallback_dir / name


def screenshot(page: Page, path: str | os.PathLike[str], *, full_page: bool = False) -> Path:
    """Save a PNG screenshot and check it is a real, non-empty PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", timeout=30_000)
    data = path.read_bytes()
    if len(data) < 100 or not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BrowserTestError(f"screenshot {path} is not a valid PNG ({len(data)} bytes)")
    return path


def element_screenshot(page: Page, locator: Locator, path: str | os.PathLike[str]) -> Path:
    """A PNG of one element; the viewport grows first so the page does not clip it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height = int(locator.evaluate("e => e.getBoundingClientRect().height"))
    page.set_viewport_size({"width": 1280, "height": max(900, height + 400)})
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path), animations="disabled", timeout=30_000)
    data = path.read_bytes()
    if len(data) < 1000 or not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BrowserTestError(f"screenshot {path} is not a valid PNG ({len(data)} bytes)")
    return path


# --------------------------------------------------------------------------
# Notebook
# --------------------------------------------------------------------------

# JS snippets evaluated in the page. ``window.jupyterapp`` exists because the
# lab runs with LabApp.expose_app_in_browser. Each snippet is an expression.

#: The current notebook panel, or null.
_JS_PANEL = """(() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  return w && w.content && w.content.model && w.sessionContext ? w : null;
})()"""

#: The current notebook's kernel, or null.
_JS_KERNEL = f"""(() => {{
  const panel = {_JS_PANEL};
  const s = panel && panel.sessionContext.session;
  return (s && s.kernel) || null;
}})()"""

#: Per-cell state of the current notebook, or null.
_JS_CELL_STATES = f"""(() => {{
  const panel = {_JS_PANEL};
  if (!panel) return null;
  return panel.content.widgets.map((cell, i) => {{
    const m = cell.model;
    const outputs = m.type === 'code' ? m.outputs.toJSON() : [];
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    return {{
      index: i,
      type: m.type,
      empty: m.sharedModel.getSource().trim() === '',
      executionCount: m.type === 'code' ? m.executionCount : null,
      executing: !!(prompt && prompt.textContent.includes('*')),
      errors: outputs.filter(o => o.output_type === 'error').map(
        o => `${{o.ename}}: ${{o.evalue}}\\n` + (o.traceback || []).join('\\n')),
    }};
  }});
}})()"""

#: True when the kernel is idle and no cell shows ``[*]``.
_JS_IDLE = f"""(() => {{
  const kernel = {_JS_KERNEL};
  const states = {_JS_CELL_STATES};
  return !!(kernel && kernel.connectionStatus === 'connected' &&
            kernel.status === 'idle' && states && !states.some(s => s.executing));
}})()"""

#: Selector of the kernel status item of the status bar.
KERNEL_STATUS_SELECTOR = ".jp-StatusBar-TextItem[title^='Change kernel']"


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


#: The kernel's name and state as the current notebook's session sees them.
_JS_KERNEL_SUMMARY = f"""(() => {{
  const panel = {_JS_PANEL};
  const k = {_JS_KERNEL};
  if (!panel) return '';
  const state = k ? (k.connectionStatus === 'connected' ? k.status : k.connectionStatus) : 'none';
  return panel.sessionContext.kernelDisplayName + ' | ' + state[0].toUpperCase() + state.slice(1);
}})()"""


def is_notebook7(page: Page) -> bool:
    """True when ``page`` shows Jupyter Notebook 7's single-document shell (not JupyterLab)."""
    return urllib.parse.urlsplit(page.url).path.startswith("/notebooks/")


def kernel_status_text(page: Page) -> str:
    """The kernel's status as shown to the user, e.g. ``Python 3 (ipykernel) | Busy``.

    JupyterLab: its status bar item. Notebook 7 has no status bar; the same
    text is built from the notebook's session (what its toolbar shows).
    """
    if is_notebook7(page):
        return str(page.evaluate(f"() => {_JS_KERNEL_SUMMARY}"))
    loc = page.locator(KERNEL_STATUS_SELECTOR)
    return loc.first.inner_text(timeout=5_000) if loc.count() else ""


def wait_for_kernel_idle(
    page: Page, timeout_ms: float = KERNEL_IDLE_TIMEOUT_MS, text: str = KERNEL_IDLE_TEXT
) -> None:
    """Wait until the status bar reads ``Python 3 (ipykernel) | Idle``.

    The notebook toolbar's indicator says idle while the kernel is still
    starting ("Run All Cells" then silently does nothing); the status bar
    item and the kernel model are trustworthy, so both are checked. In
    Notebook 7 (no status bar) the session's kernel name and model are.
    """
    from playwright.sync_api import expect

    if is_notebook7(page):
        page.wait_for_function(
            f"(text) => {_JS_KERNEL_SUMMARY} === text", arg=text, timeout=timeout_ms
        )
    else:
        expect(page.locator(KERNEL_STATUS_SELECTOR).first).to_have_text(text, timeout=timeout_ms)
    page.wait_for_function(
        f"""() => {{
          const k = {_JS_KERNEL};
          return !!(k && k.connectionStatus === 'connected' && k.status === 'idle');
        }}""",
        timeout=timeout_ms,
    )


def cell_states(page: Page) -> list[dict[str, Any]]:
    """Per-cell state of the current notebook, read from its model.

    Each item: ``index``, ``type``, ``empty``, ``executionCount``,
    ``executing`` and ``errors`` (error outputs as text).
    """
    states = page.evaluate(f"() => {_JS_CELL_STATES}")
    if states is None:
        raise BrowserTestError("the current widget is not a notebook")
    return list(states)


def wait_for_idle(page: Page, timeout_ms: float = RUN_ALL_TIMEOUT_MS) -> None:
    """Wait until the kernel is idle and no cell is executing (``[*]``)."""
    page.wait_for_function(f"() => {_JS_IDLE}", timeout=timeout_ms, polling=100)


def run_all_cells(
    page: Page, timeout_ms: float = RUN_ALL_TIMEOUT_MS, *, raise_on_error: bool = True
) -> list[dict[str, Any]]:
    """Run every cell of the current notebook and wait until all have run.

    Waits for an idle kernel first (see :func:`wait_for_kernel_idle`), runs the
    ``notebook:run-all-cells`` command (what Run → Run All Cells does), then
    waits until every non-empty code cell has a fresh execution count and the
    kernel is idle again. If a cell raised, fails with its traceback (unless
    ``raise_on_error=False``). Returns :func:`cell_states`.
    """
    wait_for_kernel_idle(page, timeout_ms)
    page.evaluate(
        f"""async () => {{
          const app = window.jupyterapp;
          const panel = {_JS_PANEL};
          app.shell.activateById(panel.id);
          // Clear stale counts so "every cell counted" means "every cell ran now".
          await app.commands.execute('notebook:clear-all-cell-outputs');
          await app.commands.execute('notebook:run-all-cells');
        }}"""
    )
    try:
        page.wait_for_function(
            f"""() => {{
              const states = {_JS_CELL_STATES};
              if (!states) return false;
              if (states.some(s => s.errors.length)) return true;  // stop early
              return states.every(s => s.type !== 'code' || s.empty ||
                                       (s.executionCount !== null && !s.executing));
            }}""",
            timeout=timeout_ms,
            polling=100,
        )
    except Exception as exc:
        raise BrowserTestError(
            f"Run All Cells did not finish within {timeout_ms / 1000:.0f} s; "
            f"kernel status {kernel_status_text(page)!r}; cells: {cell_states(page)}"
        ) from exc
    states = cell_states(page)
    errors = [(s["index"], e) for s in states for e in s["errors"]]
    if errors and raise_on_error:
        text = "\n\n".join(f"cell {i}:\n{_strip_ansi(e)}" for i, e in errors)
        raise BrowserTestError(f"notebook cells raised:\n{text}")
    wait_for_idle(page, timeout_ms)
    return cell_states(page)


def open_notebook(
    page: Page,
    lab: LabServer,
    notebook: str | os.PathLike[str],
    *,
    name: str | None = None,
    files: Mapping[str, str | os.PathLike[str]] | None = None,
    wait_kernel: bool = True,
    timeout_ms: float = KERNEL_IDLE_TIMEOUT_MS,
) -> Page:
    """Copy ``notebook`` into the lab root, open it, wait for an idle kernel.

    ``notebook`` is a path, or a file name under ``tests/browser/notebooks``.
    ``name`` renames the copy (may contain sub-directories). ``files`` maps
    destination names (relative to the lab root, i.e. the kernel's working
    directory for a top-level notebook) to extra files to copy first.
    In JupyterLab each call uses a fresh workspace, so no earlier tabs are
    restored; in Notebook 7 (``lab.frontend == "notebook"``) the notebook opens
    at ``/notebooks/<path>``, whose shell has ``#main-panel`` and no Launcher.
    """
    for dest, src in (files or {}).items():
        lab.add_file(src, dest)
    rel = lab.add_file(notebook, name)
    if lab.frontend == "notebook":
        page.goto(lab.url(f"/notebooks/{urllib.parse.quote(rel)}"), timeout=timeout_ms)
        page.wait_for_selector("#main-panel", timeout=timeout_ms)
    else:
        workspace = f"t{uuid.uuid4().hex[:12]}"
        url = lab.url(f"/lab/workspaces/{workspace}/tree/{urllib.parse.quote(rel)}", reset="")
        page.goto(url, timeout=timeout_ms)
    page.wait_for_function(
        f"""(path) => {{
          const panel = {_JS_PANEL};
          return !!(panel && panel.context.path === path && panel.context.isReady);
        }}""",
        arg=rel,
        timeout=timeout_ms,
    )
    if wait_kernel:
        wait_for_kernel_idle(page, timeout_ms)
    return page


def cell(page: Page, index: int) -> Locator:
    """Locator of cell ``index`` (0-based, counting all cell types) of the current notebook."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)


def output_area(page: Page, index: int) -> Locator:
    """Locator of the output area of cell ``index`` of the current notebook."""
    return cell(page, index).locator(".jp-OutputArea")


def cell_outputs(page: Page, index: int) -> list[dict[str, Any]]:
    """Outputs (nbformat JSON) of cell ``index`` of the current notebook, from its model."""
    outputs = page.evaluate(
        f"""(i) => {{
          const panel = {_JS_PANEL};
          const c = panel && panel.content.widgets[i];
          return c && c.model.type === 'code' ? c.model.outputs.toJSON() : null;
        }}""",
        index,
    )
    if outputs is None:
        raise BrowserTestError(f"cell {index} of the current notebook is not a code cell")
    return list(outputs)


def cell_text(page: Page, index: int) -> str:
    """Stream text and ``text/plain`` results of cell ``index``, concatenated."""
    parts: list[str] = []
    for out in cell_outputs(page, index):
        if out.get("output_type") == "stream":
            text = out.get("text", "")
        else:
            text = out.get("data", {}).get("text/plain", "")
        parts.append("".join(text) if isinstance(text, list) else str(text))
    return "".join(parts)


# --------------------------------------------------------------------------
# Media
# --------------------------------------------------------------------------


def sample_speech_seconds() -> float:
    """The length of the sandbox's sample speech (its manifest); a sandbox result is as long."""
    from kitta_notebook.sandbox.server import SAMPLES_DIR

    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    return float(manifest["audio"]["durationSeconds"])


def make_test_clip(
    path: str | os.PathLike[str],
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    audio: bool = True,
) -> Path:
    """Write an H.264 (+ AAC 440 Hz tone) MP4 test pattern with imageio-ffmpeg's ffmpeg."""
    import imageio_ffmpeg

    path = Path(path)
    width, height = size
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error"]
    cmd += ["-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=25:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline"]
    cmd += ["-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k", "-shortest"]
    cmd += ["-movflags", "+faststart", "-y", str(path)]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    if path.stat().st_size < 1000:
        raise BrowserTestError(f"ffmpeg wrote a suspiciously small clip: {path}")
    return path


def check_video_plays(
    page: Page,
    video: str | Locator,
    *,
    duration: float | None = None,
    tolerance: float = 0.2,
    timeout_ms: float = 15_000,
) -> dict[str, Any]:
    """Check that a ``<video>`` really decodes and plays; return its properties.

    Waits for ``readyState >= 2`` (current frame decoded), checks ``duration``
    (if given) and that no media error occurred, then calls ``play()`` and
    waits for ``currentTime > 0.2`` while not paused, then pauses it. The
    returned dict has readyState, duration, width, height, error, paused,
    currentTime and audioBytes (``webkitAudioDecodedByteCount``: > 0 when an
    audio track was decoded).
    """
    loc = page.locator(video) if isinstance(video, str) else video
    loc.wait_for(state="attached", timeout=timeout_ms)
    handle = loc.element_handle(timeout=timeout_ms)
    props = """v => ({readyState: v.readyState, duration: v.duration, width: v.videoWidth,
        height: v.videoHeight, error: v.error && v.error.code, paused: v.paused,
        currentTime: v.currentTime, audioBytes: v.webkitAudioDecodedByteCount})"""
    try:
        page.wait_for_function("v => v.readyState >= 2 || v.error", arg=handle, timeout=timeout_ms)
    except Exception as exc:
        raise BrowserTestError(f"video never became ready: {handle.evaluate(props)}") from exc
    info = handle.evaluate(props)
    if info["error"] is not None:
        raise BrowserTestError(f"video failed to load (MediaError code {info['error']}): {info}")
    if duration is not None and abs(info["duration"] - duration) > tolerance:
        raise BrowserTestError(f"video duration {info['duration']} is not ≈ {duration}: {info}")
    # play() returns a promise; a rejection (e.g. autoplay policy) must surface.
    handle.evaluate("v => v.play()")
    try:
        page.wait_for_function(
            "v => v.currentTime > 0.2 && !v.paused", arg=handle, timeout=timeout_ms
        )
    except Exception as exc:
        raise BrowserTestError(f"video did not play: {handle.evaluate(props)}") from exc
    info = handle.evaluate(props)
    handle.evaluate("v => v.pause()")
    return info


def glyphs_are_distinct(page: Page, text: str, font: str = "16px sans-serif") -> bool:
    """True when every character of ``text`` draws differently in ``font`` on this page.

    A browser without a font for a script draws each character as the same
    "tofu" box; two Chinese characters drawn identically mean boxes, not glyphs.
    """
    return bool(
        page.evaluate(
            """([text, font]) => {
              const draw = ch => {
                const c = document.createElement('canvas');
                c.width = c.height = 48;
                const g = c.getContext('2d');
                g.font = font;
                g.fillText(ch, 8, 32);
                return c.toDataURL();
              };
              const seen = new Set([...text].map(draw));
              return seen.size === [...text].length;
            }""",
            [text, font],
        )
    )


def poll(
    check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1, message: str = ""
) -> Any:
    """Call ``check`` until it returns something truthy (bounded); return that."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise BrowserTestError(f"timed out after {timeout} s: {message} (last: {last!r})")
        time.sleep(interval)
