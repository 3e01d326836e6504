"""The Binder configuration works: a venv built ONLY from binder/ runs every notebook.

repo2docker builds Binder's image from `binder/`: Python from `runtime.txt`,
then `pip install -r binder/requirements.txt` from the repository root, then
`binder/start` at each launch. This test does the same on this machine (no
Docker): it copies the repository (as repo2docker does), creates a fresh venv
with that Python, installs `binder/requirements.txt` and nothing else, checks
the pins are exactly what got installed, and then, through `binder/start`,
executes every notebook in a kernel of that venv and starts `jupyter server`
from it to fetch the lab and the Voila app (Binder's `?urlpath=` links).

Slow (a few minutes: the install needs PyPI, or pip's cache); bounded by
timeouts on every step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
RUNNER = Path(__file__).resolve().parent / "run_notebooks.py"
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 900
# What repo2docker would copy: the repository without local state.
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "build",
    "dist",
    "results",
    ".ipynb_checkpoints",
)


def runtime_python() -> str:
    """An interpreter of the version `binder/runtime.txt` asks for."""
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert match, f"runtime.txt must read like python-3.11, not {runtime!r}"
    wanted = f"{match[1]}.{match[2]}"
    candidates = [shutil.which(f"python{wanted}")]
    if sys.version_info[:2] == (int(match[1]), int(match[2])):
        candidates.append(sys.executable)
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    reason = f"no Python {wanted} here (binder/runtime.txt asks for {runtime})"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def clean_env(home: Path, venv: Path) -> dict[str, str]:
    """Nothing of the project's venv, Jupyter config or KITTA_* settings leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KITTA_", "JUPYTER", "PYTHON", "VIRTUAL_ENV", "IPYTHON"))
    }
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    for key, sub in {
        "HOME": "",
        "JUPYTER_CONFIG_DIR": ".jupyter",
        "JUPYTER_DATA_DIR": ".local/share/jupyter",
        "JUPYTER_RUNTIME_DIR": ".local/share/jupyter/runtime",
        "IPYTHONDIR": ".ipython",
        "XDG_CONFIG_HOME": ".config",
        "XDG_DATA_HOME": ".local/share",
        "XDG_CACHE_HOME": ".cache",
    }.items():
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        env[key] = str(path)
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pinned(requirements: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return found


def test_binder_files_are_well_formed() -> None:
    requirements = (BINDER / "requirements.txt").read_text().splitlines()
    lines = [ln.split("#", 1)[0].strip() for ln in requirements]
    lines = [ln for ln in lines if ln]
    local = [ln for ln in lines if ln.startswith(".")]
    assert local and re.fullmatch(r"\.\[[a-z,]*sandbox[a-z,]*\]", local[0]), local
    unpinned = [ln for ln in lines if not ln.startswith(".") and "==" not in ln]
    assert not unpinned, f"every dependency must be pinned exactly: {unpinned}"
    names = pinned(BINDER / "requirements.txt")
    for needed in ("jupyterlab", "voila", "ipykernel", "ipywidgets", "fastapi", "uvicorn"):
        assert needed in names, f"{needed} is not pinned in binder/requirements.txt"
    assert not names["ipykernel"].startswith("7.0."), "ipykernel 7.0.x breaks widget comms"
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    start = BINDER / "start"
    text = start.read_text()
    assert text.startswith("#!/bin/bash") and os.access(start, os.X_OK)
    assert text.rstrip().splitlines()[-1] == 'exec "$@"'
    assert "KITTA_API_TOKEN=" not in text and "KITTA_BASE_URL=" not in text
    post_build = BINDER / "postBuild"
    if post_build.exists():
        assert "set -e" in post_build.read_text()


def test_a_venv_from_binder_requirements_runs_every_notebook(tmp_path: Path) -> None:
    python = runtime_python()
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORED, symlinks=True)
    venv = tmp_path / "venv"
    env = clean_env(tmp_path / "home", venv)

    def run(cmd: list[str], timeout: float) -> str:
        done = subprocess.run(
            cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return str(done.stdout)

    run([python, "-m", "venv", str(venv)], 120)
    vpython = str(venv / "bin" / "python")
    # repo2docker runs this from the repository root; `.` in the file is the repository.
    run(
        [vpython, "-m", "pip", "install", "--no-input", "-q", "-r", "binder/requirements.txt"],
        INSTALL_TIMEOUT,
    )
    run([vpython, "-m", "pip", "check"], 120)

    installed = {}
    freeze = run([vpython, "-m", "pip", "freeze", "--exclude-editable"], 120)
    for line in freeze.splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            installed[re.sub(r"[-_.]+", "-", name).lower()] = version
    wanted = pinned(repo / "binder" / "requirements.txt")
    assert {k: installed.get(k) for k in wanted} == wanted, "pins and install differ"
    extra = sorted(set(installed) - set(wanted))
    assert not extra, f"installed but not pinned in binder/requirements.txt: {extra}"

    env["KITTA_SANDBOX_TIME_SCALE"] = "0.1"  # binder/start keeps a value already set
    env["KITTA_HOME"] = str(tmp_path / "kitta-home")
    report_path = tmp_path / "report.json"
    run(["binder/start", vpython, str(RUNNER), str(repo), str(report_path)], RUN_TIMEOUT)
    report = json.loads(report_path.read_text())
    print(json.dumps({k: v for k, v in report.items() if k != "env"}, indent=1)[:6000])

    assert venv.as_posix() in report["executable"], report["executable"]
    assert report["python"].startswith("3.11"), report["python"]
    notebooks = report["notebooks"]
    expected = sorted(p.name for p in (repo / "notebooks").glob("*.ipynb"))
    assert "02_panel.ipynb" in expected, expected
    assert sorted(notebooks) == expected
    for name, result in notebooks.items():
        assert result["failure"] is None and result["errors"] == [], (name, result)
        assert result["outputs"] > 0, name

    server = report["server"]
    assert "server_error" not in server, server.get("server_error")
    assert server["lab_status"] == 200 and server["lab_is_jupyterlab"], server
    assert server["voila_status"] == 200, server
    assert server["voila_has_widget"], server  # the panel was rendered by Voila
    assert not server["voila_has_error"], server
    assert not server["voila_shows_prose"], "Voila should show just the panel"
