"""The package as users get it: built, checked, installed alone, and used.

Builds the sdist and the wheel (`python -m build`, the wheel from the sdist), runs
`twine check`, reads the wheel's file list, then creates a fresh venv and installs
the wheel with only its `[sandbox]` extra, from the package index pip is set up
with here (its cache makes a repeat fast). In that venv, outside the repository:

* a sandbox task runs end to end from the wheel's own sample media
  (`connect()`, `sample_media()`, create, wait, download);
* every notebook in notebooks/ runs top to bottom. Executing a notebook needs a
  kernel and a runner, which are not extras of ours, so `ipykernel` and
  `nbclient` are installed next to the wheel (nothing else): an optional extra
  that is missing (pandas) must be skipped with a note, never a traceback.

Slow (about two minutes); every step is bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_RUNNER = ROOT / "tests" / "binder" / "run_notebooks.py"
STEP_TIMEOUT = 600

END_TO_END = """
import json, pathlib, sys
import kitta_notebook
from kitta_notebook import connect, sample_media

client = connect(quiet=True)
media = sample_media(client)
task = client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
task.wait(timeout=120)
path = task.download(sys.argv[1])
print(json.dumps({
    "package": kitta_notebook.__file__,
    "version": kitta_notebook.__version__,
    "media": media,
    "status": task.status_text,
    "succeeded": task.succeeded,
    "download": str(path),
    "size": pathlib.Path(path).stat().st_size,
}))
"""


def version_in_source() -> str:
    text = (ROOT / "kitta_notebook" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, "kitta_notebook/_version.py must set __version__"
    return match[1]


def isolated_env(home: Path, venv: Path | None = None) -> dict[str, str]:
    """No KITTA_* setting, Jupyter config or the project's venv leaks in; pip keeps its cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KITTA_", "JUPYTER", "PYTHON", "VIRTUAL_ENV", "IPYTHON"))
    }
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
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
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[key] = str(home / sub)
    env["KITTA_HOME"] = str(home / "kitta")
    env["KITTA_SANDBOX_TIME_SCALE"] = "0.1"
    env["PYTHONUNBUFFERED"] = "1"
    if venv is not None:
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(venv)
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT
    )
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@dataclass
class Release:
    wheel: Path
    sdist: Path
    venv: Path
    python: Path
    env: dict[str, str]
    workdir: Path


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """The built sdist and wheel, and a fresh venv with `wheel[sandbox]` installed."""
    base = tmp_path_factory.mktemp("release")
    dist = base / "dist"
    env = isolated_env(base / "home")
    run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=base, env=env)
    version = version_in_source()
    wheel = dist / f"kitta_notebook-{version}-py3-none-any.whl"
    sdist = dist / f"kitta_notebook-{version}.tar.gz"
    assert sorted(p.name for p in dist.iterdir()) == sorted([wheel.name, sdist.name])

    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=env)
    venv_env = isolated_env(base / "home", venv)
    python = venv / "bin" / "python"
    run(
        [str(python), "-m", "pip", "install", "--no-input", "-q", f"{wheel}[sandbox]"],
        cwd=base,
        env=venv_env,
    )
    workdir = base / "work"  # not the repository: `import kitta_notebook` finds the wheel's copy
    workdir.mkdir()
    yield Release(wheel, sdist, venv, python, venv_env, workdir)


def test_twine_accepts_both_files(release: Release) -> None:
    out = run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            str(release.wheel),
            str(release.sdist),
        ],
        cwd=release.workdir,
        env=release.env,
    )
    assert out.count("PASSED") == 2, out


def test_wheel_carries_types_samples_and_one_version(release: Release) -> None:
    names = set(zipfile.ZipFile(release.wheel).namelist())
    assert "kitta_notebook/py.typed" in names
    manifest = json.loads((ROOT / "kitta_notebook/sandbox/samples/manifest.json").read_text())
    samples = {p.name for p in (ROOT / "kitta_notebook/sandbox/samples").iterdir()}
    assert "manifest.json" in samples and len(samples) > 3, samples
    for name in samples:
        assert f"kitta_notebook/sandbox/samples/{name}" in names, name
    assert manifest, "the sample manifest is empty"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    metadata = zipfile.ZipFile(release.wheel).read(
        f"kitta_notebook-{version_in_source()}.dist-info/METADATA"
    )
    assert f"Version: {version_in_source()}".encode() in metadata
    # The licence the metadata names travels with the wheel.
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names


def test_installed_wheel_runs_a_sandbox_task_from_its_own_samples(release: Release) -> None:
    out = run(
        [str(release.python), "-c", END_TO_END, str(release.workdir / "results")],
        cwd=release.workdir,
        env=release.env,
    )
    result = json.loads(out.strip().splitlines()[-1])
    site = release.venv / "lib"
    assert Path(result["package"]).is_relative_to(site), result["package"]
    assert result["version"] == version_in_source()
    assert result["succeeded"] and result["status"] == "succeeded", result
    assert Path(result["download"]).is_relative_to(release.workdir / "results")
    assert result["size"] > 1000, result
    # The sandbox served the wheel's own sample files.
    served = {Path(result["media"][key].split("?")[0]).name for key in ("video", "audio")}
    samples_dir = Path(result["package"]).parent / "sandbox" / "samples"
    assert served and all((samples_dir / name).is_file() for name in served), served


def test_every_notebook_runs_on_the_base_install(release: Release) -> None:
    missing = subprocess.run(
        [str(release.python), "-c", "import pandas"], env=release.env, capture_output=True
    )
    assert missing.returncode != 0, "pandas must not be in the base install"
    run(
        [str(release.python), "-m", "pip", "install", "--no-input", "-q", "ipykernel", "nbclient"],
        cwd=release.workdir,
        env=release.env,
    )
    report_path = release.workdir / "notebooks.json"
    run(
        [
            str(release.python),
            str(NOTEBOOK_RUNNER),
            str(ROOT),
            str(report_path),
            "--notebooks-only",
        ],
        cwd=release.workdir,
        env=release.env,
    )
    report = json.loads(report_path.read_text())
    assert Path(report["executable"]).is_relative_to(release.venv), report["executable"]
    notebooks = report["notebooks"]
    assert sorted(notebooks) == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for name, result in notebooks.items():
        assert result["failure"] is None and result["errors"] == [], (name, result)
        assert result["outputs"] > 0, name
    assert "pandas is not installed" in notebooks["05_task_history.ipynb"]["stdout"]
